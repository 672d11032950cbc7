"""The health pane shows a stale stream as the engine judges it: a warning to the engine's feed
check (``monitor.health.feed_checks``: a feed keeps a stale stream for minutes while it backs off
recreating it). The pane showed its row, and the streams' summary, as FAIL beside a feed row that
read ``warn``."""

from __future__ import annotations

import pytest
from engine_helpers import make_engine

from tui_trader.ui.widgets.health import MAX_STREAM_ROWS, health_rows


def _stale_feed(health, streams: dict[str, dict]):
    return lambda: {**health(), "streams": streams}


def _feed_check(snap):
    return next(c for c in snap.health.checks if c.name == "feed")


async def test_a_stale_stream_reads_as_the_engine_judges_it(monkeypatch: pytest.MonkeyPatch) -> None:
    async with make_engine() as h:
        now = h.engine.clock.now_ms()
        streams = {
            "btcusdt@kline_1m": {"last_event_ms": now - 90_000, "stale": True, "reconnects": 1},
            "ethusdt@kline_1m": {"last_event_ms": now - 1_000, "stale": False, "reconnects": 0},
        }
        monkeypatch.setattr(h.feed, "health", _stale_feed(h.feed.health, streams))
        snap = h.engine.snapshot()
        engine_says = _feed_check(snap).status
        assert engine_says == "warning"  # the engine's feed check: stale streams warn
        rows = {r.name: r for r in health_rows(snap, 5)}
        assert rows["feed"].status == engine_says
        assert rows["btcusdt@kline_1m"].status == engine_says
        assert rows["btcusdt@kline_1m"].detail.startswith("STALE, ")
        assert rows["ethusdt@kline_1m"].status == "healthy"


async def test_many_streams_some_stale_summarise_as_the_engine_judges_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with make_engine() as h:
        now = h.engine.clock.now_ms()
        n = 2 * MAX_STREAM_ROWS + 3
        streams = {
            f"s{i:03d}@kline_1m": {"last_event_ms": now - 1_000, "stale": i % 2 == 0, "reconnects": 0}
            for i in range(n)
        }
        monkeypatch.setattr(h.feed, "health", _stale_feed(h.feed.health, streams))
        snap = h.engine.snapshot()
        engine_says = _feed_check(snap).status
        assert engine_says == "warning"
        rows = health_rows(snap, 5)
        tail = rows[[r.name for r in rows].index("streams") :]
        # the summary, MAX_STREAM_ROWS stale streams, then "... and N more stale streams"
        assert len(tail) == 1 + MAX_STREAM_ROWS + 1
        assert [r.status for r in tail] == [engine_says] * len(tail)


async def test_a_half_open_order_circuit_reads_as_the_engine_judges_it() -> None:
    """Half open (the next order a trial) lasts until an order is made, weeks in a quiet market:
    the engine's broker row reads healthy then, and the pane's breaker row read warning."""
    async with make_engine() as h:
        breaker = h.engine.order_breaker
        for _ in range(breaker.failures):
            breaker.record_failure()
        h.clock.advance(breaker.cooloff_ms)
        snap = h.engine.snapshot()
        assert snap.health.circuit_breakers["orders"] == "half_open"
        broker = next(c for c in snap.health.checks if c.name == "broker")
        assert broker.status == "healthy"
        rows = {r.name: r for r in health_rows(snap, 5)}
        assert rows["broker"].status == broker.status
        assert rows["breaker orders"].status == broker.status


async def test_the_feed_and_positions_rows_are_always_the_engine_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine sends a feed and a positions row in every snapshot, even when their checks raise:
    the pane needs no judgement of its own for them."""
    import tui_trader.snapshots as snapshots

    def broken(*_a, **_k):
        raise ValueError("nonsense figure")

    monkeypatch.setattr(snapshots, "feed_checks", broken)
    monkeypatch.setattr(snapshots, "positions_check", broken)
    async with make_engine() as h:
        snap = h.engine.snapshot()
        checks = {c.name: c for c in snap.health.checks}
        rows = {r.name: r for r in health_rows(snap, 5)}
        for name in ("feed", "positions"):
            assert (rows[name].status, rows[name].detail) == (checks[name].status, checks[name].message)
            assert checks[name].status == "unhealthy" and "nonsense figure" in checks[name].message


def test_a_snapshot_without_feed_or_positions_rows_gets_the_engine_s_checks() -> None:
    """The pane's own feed and positions rows never ran against the engine, and judged otherwise
    than it: positions at the limit (10 / 10) a warning, where the engine's check reads healthy."""
    from test_ui_units import _snapshot

    from tui_trader.monitor.health import feed_checks, positions_check

    feed = {"connected": False, "error": "socket closed"}
    rows = {r.name: r for r in health_rows(_snapshot([], feed, positions=10), 10)}
    engine_positions = positions_check(10, 10)
    assert (rows["positions"].status, rows["positions"].detail) == (
        engine_positions.status,
        engine_positions.message,
    )
    assert engine_positions.status == "healthy"
    engine_feed = feed_checks(feed, "sim")[0]
    assert (rows["feed"].status, rows["feed"].detail) == (engine_feed.status, engine_feed.message)
