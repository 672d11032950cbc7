"""Health checks as an operator who leaves the bot running for weeks reads them: a check goes
amber while its cause lasts and back to green once it has cleared, never amber for good."""

from __future__ import annotations

from engine_helpers import MIN, make_engine

from tui_trader.monitor.health import REJECTS_RECENT_MS, RejectWatch, feed_checks


def _messages(quiet_ms: int | None) -> tuple[str, str]:
    fh = {"connected": True, "rejected": 3, "rejected_by_reason": {"price_jump": 2, "malformed": 1}}
    row = {c.name: c for c in feed_checks(fh, "binance", quiet_ms)}["messages"]
    return row.status, row.message


def test_rejected_messages_warn_while_recent_then_read_healthy_with_their_total() -> None:
    assert _messages(None) == ("warning", "3 malformed message(s) rejected (price_jump 2, malformed 1)")
    assert _messages(REJECTS_RECENT_MS - 1)[0] == "warning"
    assert _messages(REJECTS_RECENT_MS) == (
        "healthy",
        "3 malformed message(s) rejected, none for 15 min (price_jump 2, malformed 1)",
    )


def test_the_reject_watch_follows_the_count_by_the_clock_it_is_given() -> None:
    w = RejectWatch()
    assert w.quiet_ms(0, 1_000) is None  # nothing rejected yet
    assert w.quiet_ms(2, 5_000) == 0
    assert w.quiet_ms(2, 65_000) == 60_000  # the same count: quiet since it grew
    assert w.quiet_ms(3, 70_000) == 0  # grew again
    assert w.quiet_ms(1, 80_000) == 0  # a new feed's count, afresh: news too
    assert w.quiet_ms(1, 79_000) == 0  # never negative


async def test_one_bad_message_does_not_leave_the_health_amber_for_weeks() -> None:
    # a feed rejected one message on the first day: the messages row, and the overall health,
    # stayed "warning" for as long as the bot ran, so the operator learnt to ignore amber
    h = await make_engine().start()
    try:
        rejected = {"n": 0}
        real = h.feed.health
        h.feed.health = lambda: {
            **real(),
            "rejected": rejected["n"],
            "rejected_by_reason": {"price_jump": rejected["n"]},
        }

        def state() -> tuple[str, str]:
            health = h.engine.snapshot().health
            return health.overall, {c.name: c.status for c in health.checks}.get("messages", "-")

        assert state() == ("healthy", "-")
        rejected["n"] = 1
        assert state() == ("warning", "warning")
        h.clock.advance_to(h.clock.now_ms() + 14 * MIN)
        assert state() == ("warning", "warning")  # still recent
        h.clock.advance_to(h.clock.now_ms() + MIN)
        assert state() == ("healthy", "healthy")  # quiet for 15 min (engine time)
        h.clock.advance_to(h.clock.now_ms() + 7 * 24 * 60 * MIN)
        assert state() == ("healthy", "healthy")
        rejected["n"] = 5  # rejects again: amber again
        assert state() == ("warning", "warning")
    finally:
        await h.stop()


def test_a_failing_writer_says_its_backlog_and_what_it_dropped() -> None:
    # the database row said only "writer failing: <error>": not how many rows wait in memory
    # for the disk, nor, once it recovered, that rows were lost while it failed
    from tui_trader.monitor.health import database_check

    failing = database_check(
        True,
        True,
        {
            "consecutive_failures": 4,
            "last_error": "database is locked",
            "pending": 12_345,
            "dropped": {"a": 0},
        },
    )
    assert (failing.status, failing.message) == (
        "warning",
        "writer failing: database is locked; 12,345 row(s) waiting",
    )
    full = database_check(
        True,
        True,
        {
            "consecutive_failures": 9,
            "last_error": "disk I/O error",
            "pending": 100_000,
            "dropped": {"a": 7, "b": 3},
        },
    )
    assert (
        full.message == "writer failing: disk I/O error; 100,000 row(s) waiting; 10 buffered row(s) dropped"
    )
    recovered = database_check(
        True, True, {"consecutive_failures": 0, "pending": 0, "dropped": {"a": 7, "b": 3}}
    )
    assert (recovered.status, recovered.message) == ("healthy", "connected; 10 buffered row(s) dropped")
    assert (
        database_check(True, True, {"consecutive_failures": 0, "pending": 5, "dropped": {}}).message
        == "connected"
    )
