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


def _binance_health(state: str, reason: str, last_event_ms: int) -> dict:
    """The Binance feed's health() while its one connection is in ``state``."""
    up = state in ("streaming", "backfilling")
    return {
        "connected": up,
        "streams": {
            "!miniTicker@arr": {
                "last_event_ms": last_event_ms,
                "stale": False,
                "reconnects": 3,
                "connection": 0,
            },
            "btcusdt@kline_1m": {
                "last_event_ms": last_event_ms,
                "stale": False,
                "reconnects": 3,
                "connection": 0,
            },
        },
        "connections": [{"index": 0, "state": state, "streams": 2, "reconnects": 3, "last_reason": reason}],
    }


def test_a_reconnecting_feed_says_why_and_alarms_only_when_it_stays_down() -> None:
    # the row read "disconnected" and nothing else, and a planned reconnect (each connection every
    # day) read as unhealthy as an outage: the health monitor raised an alert and rang the bell
    from tui_trader.monitor.health import RECONNECT_GRACE_MS

    now = 1_000_000_000
    quick = feed_checks(
        _binance_health("backoff", "stale: no message for 30 s", now - 5_000), "binance", None, now
    )[0]
    assert (quick.status, quick.critical) == ("warning", True)
    assert (
        quick.message
        == "reconnecting (connection 0 backoff after stale: no message for 30 s), no data for 5 s"
    )
    long = _binance_health("connecting", "connect failed: refused", now - RECONNECT_GRACE_MS - 240_000)
    down = feed_checks(long, "binance", None, now)[0]
    assert down.status == "unhealthy"
    assert (
        down.message
        == "reconnecting (connection 0 connecting after connect failed: refused), no data for 5 min"
    )
    back = feed_checks(_binance_health("streaming", "connect failed: refused", now), "binance", None, now)[0]
    assert (back.status, back.message) == ("healthy", "binance connected")
    # without the engine's time, or any event yet: fails, as before
    assert feed_checks(_binance_health("backoff", "closed", now - 1_000), "binance")[0].status == "unhealthy"
    assert feed_checks(_binance_health("connecting", "", -1), "binance", None, now)[0].status == "unhealthy"


def test_a_feed_that_moves_no_rating_period_forward_is_not_healthy() -> None:
    from tui_trader.monitor.health import progress_check

    period = 5 * MIN
    ok = feed_checks({"connected": True, "streams": {}}, "binance")[0]
    assert (
        progress_check(ok, 100 * period, 97 * period, period) is ok
    )  # three periods: the normal lag and more
    late = progress_check(ok, 100 * period, 96 * period, period)
    assert late.status == "warning" and late.critical
    assert late.message == "binance connected, but no rating period for 20 min (one is due every 5 min)"
    assert progress_check(ok, 100 * period, 94 * period, period).status == "warning"
    assert progress_check(ok, 100 * period, 94 * period - 1, period).status == "unhealthy"
    assert progress_check(ok, 100 * period, 0, period) is ok  # no period yet
    down = feed_checks({"connected": False}, "binance")[0]
    assert progress_check(down, 100 * period, 0, period) is down  # already failing: its own reason


async def test_the_engine_flags_a_feed_whose_klines_stop_closing() -> None:
    # the prices kept coming (the streams fresh, the feed "connected") but no kline closed, so no
    # period was rated and no signal made, for hours, with every health row green
    from engine_helpers import T0, klines

    h = await make_engine().start()
    try:
        for k in range(4):
            await h.step(klines(T0 + k * MIN, [100.0, 100.0, 100.0, 100.0]))
        period = h.engine.period_ms
        last = h.engine._period_ts
        assert last > 0

        def feed_row() -> tuple[str, str]:
            row = {c.name: c for c in h.engine.snapshot().health.checks}["feed"]
            return row.status, row.message

        assert feed_row() == ("healthy", "sim connected")
        h.clock.advance_to(last + 3 * period)
        assert feed_row()[0] == "healthy"
        h.clock.advance_to(last + 3 * period + MIN)
        assert feed_row()[0] == "warning" and "no rating period for" in feed_row()[1]
        h.clock.advance_to(last + 7 * period)
        assert feed_row()[0] == "unhealthy" and h.engine.snapshot().health.overall == "unhealthy"
        k = (h.clock.now_ms() - T0) // MIN + 1
        await h.step(klines(T0 + k * MIN, [100.0] * 4), klines(T0 + (k + 1) * MIN, [100.0] * 4))
        await h.step(*(klines(T0 + (k + j) * MIN, [100.0] * 4) for j in range(2, 6)))
        assert feed_row() == ("healthy", "sim connected")  # periods again: green again
    finally:
        await h.stop()


def test_the_health_of_an_engine_not_started_yet_reads_without_error() -> None:
    # the console shows snapshots while the engine starts: the rating period is not known yet
    h = make_engine()
    health = h.engine.snapshot().health
    assert {c.name: c.status for c in health.checks}["feed"] == "unhealthy"  # not started: not connected


async def test_the_monitor_alerts_when_the_order_circuit_opens_and_logs_its_recovery(caplog) -> None:
    # with the circuit open no order goes out, a stop loss neither: the broker row only warned, so
    # the health monitor, which alerts on failing critical checks, said nothing
    import logging

    from engine_helpers import engine_config, until

    from tui_trader.events import RiskAlert

    cfg = engine_config(monitoring={"health_check_interval_ms": 20, "alerting_enabled": True})
    h = await make_engine(cfg).start()
    alerts: list[RiskAlert] = []
    h.engine.bus.subscribe(alerts.append, RiskAlert)
    breaker = h.engine.order_breaker
    try:
        with caplog.at_level(logging.INFO, logger="tui_trader.engine"):
            for _ in range(breaker.failures):
                breaker.record_failure()
            assert breaker.state == "open"
            await until(lambda: bool(alerts), "the health alert")
            assert [(a.severity, a.code) for a in alerts] == [("critical", "health:broker")]
            assert "order circuit open" in alerts[0].message
            breaker.record_success()
            await until(lambda: any("broker recovered" in r.getMessage() for r in caplog.records), "recovery")
    finally:
        await h.stop()
    assert len(alerts) == 1
