"""A health check that raises (a source answering nonsense) is one failed row with its error: the
rest of the health view, and the snapshot the console and the status line read, carry on."""

from __future__ import annotations

import math

from engine_helpers import make_engine

from tui_trader.events import HealthCheck
from tui_trader.monitor.health import checked, feed_counts, overall


def test_a_check_that_raises_is_a_failed_row_with_its_error() -> None:
    def boom() -> HealthCheck:
        raise RuntimeError("stats unreadable")

    rows = checked("database", boom, critical=True)
    assert [(r.name, r.status, r.critical) for r in rows] == [("database", "unhealthy", True)]
    assert rows[0].message == "check failed: RuntimeError: stats unreadable"
    assert overall(rows) == "unhealthy"
    long = checked("memory", lambda: (_ for _ in ()).throw(ValueError("x" * 1000)))
    assert len(long[0].message) <= len("check failed: ") + 200 and not long[0].critical
    ok = HealthCheck("positions", "healthy", "0 / 3 positions")
    assert checked("positions", lambda: ok) == [ok]
    assert checked("feed", lambda: [ok, ok]) == [ok, ok]


def test_a_feed_counter_that_is_infinite_is_left_out_not_raised() -> None:
    assert feed_counts({"prices_dropped": math.inf, "late_dropped": 2, "relevels": "x"}) == {
        "late_dropped": 2
    }


async def test_a_feed_health_figure_that_is_no_number_fails_the_feed_row_not_the_snapshot() -> None:
    h = await make_engine().start()
    try:
        h.engine.feed.health = lambda: {"connected": True, "rejected": "lots"}
        snap = h.engine.snapshot()
        rows = {c.name: c for c in snap.health.checks}
        assert rows["feed"].status == "unhealthy" and rows["feed"].critical
        assert "check failed: ValueError" in rows["feed"].message and "'lots'" in rows["feed"].message
        assert {"database", "broker", "memory", "positions"} <= rows.keys()
        assert rows["database"].status == "healthy"
        assert snap.health.overall == "unhealthy"
        assert snap.market is not None  # the rest of the snapshot is there
    finally:
        h.engine.feed.health = lambda: {"connected": True}
        await h.stop()


async def test_a_writer_whose_stats_raise_fails_the_database_row_only() -> None:
    h = await make_engine().start()
    try:
        writer = h.engine.db.writer
        real = writer.stats

        def broken() -> dict:
            raise OSError("disk I/O error")

        writer.stats = broken
        try:
            rows = {c.name: c for c in h.engine.snapshot().health.checks}
        finally:
            writer.stats = real
        assert (rows["database"].status, rows["database"].message) == (
            "unhealthy",
            "check failed: OSError: disk I/O error",
        )
        assert rows["feed"].status == "healthy" and rows["positions"].status == "healthy"
    finally:
        await h.stop()


async def test_a_feed_health_that_answers_no_figures_fails_the_feed_row_not_the_snapshot() -> None:
    """A ``health()`` that answers None (or a list) rather than its figures: every row read it,
    and the snapshot the console and the status line read raised at each refresh."""
    h = await make_engine().start()
    try:
        for answer in (None, [1, 2]):
            h.engine.feed.health = lambda answer=answer: answer
            snap = h.engine.snapshot()
            rows = {c.name: c for c in snap.health.checks}
            assert rows["feed"].status == "unhealthy" and rows["feed"].critical
            assert f"answered {type(answer).__name__}, not its figures" in rows["feed"].message
            assert rows["database"].status == "healthy" and snap.health.overall == "unhealthy"
    finally:
        h.engine.feed.health = lambda: {"connected": True}
        await h.stop()
