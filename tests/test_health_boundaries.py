"""The health checks at the thresholds the README documents, on the clock they are given: exactly
at a threshold, just past it, a clock that steps back, no data yet, no symbols."""

from __future__ import annotations

from tui_trader.events import HealthCheck
from tui_trader.monitor.health import (
    CLOCK_WARN_MS,
    RECONNECT_GRACE_MS,
    REJECTS_RECENT_MS,
    STALL_FAIL_PERIODS,
    STALL_WARN_PERIODS,
    RejectWatch,
    clock_check,
    feed_checks,
    maxrss_mb,
    memory_check,
    overall,
    positions_check,
    progress_check,
)

MIN = 60_000


def _reconnecting(last_event_ms: int) -> dict:
    return {
        "connected": False,
        "connections": [{"index": 0, "state": "reconnecting", "last_reason": "closed"}],
        "streams": {"btcusdt@kline_1m": {"last_event_ms": last_event_ms, "connection": 0}},
    }


def test_a_reconnecting_feed_warns_under_a_minute_and_fails_from_one() -> None:
    t = 10 * MIN
    row = feed_checks(_reconnecting(t), "binance", None, t + RECONNECT_GRACE_MS - 1)[0]
    assert (row.status, row.critical) == ("warning", True) and "no data for 59 s" in row.message
    assert feed_checks(_reconnecting(t), "binance", None, t + RECONNECT_GRACE_MS)[0].status == "unhealthy"
    assert feed_checks({"connected": True}, "binance", None, t + 10 * MIN)[0].status == "healthy"  # recovered


def test_a_clock_behind_the_last_event_reads_no_negative_silence() -> None:
    row = feed_checks(_reconnecting(10 * MIN), "binance", None, 10 * MIN - 5_000)[0]
    assert row.status == "warning" and "no data for 0 s" in row.message and "-" not in row.message


def test_a_reconnecting_feed_with_no_data_yet_fails_without_a_grace() -> None:
    row = feed_checks(_reconnecting(-1), "binance", None, 10 * MIN)[0]
    assert row.status == "unhealthy" and "no data for" not in row.message


def test_a_stale_stream_warns_and_the_feed_recovers_once_it_streams_again() -> None:
    stale = {"connected": True, "streams": {"a": {"stale": True}, "b": {"stale": False}}}
    row = feed_checks(stale, "binance")[0]
    assert (row.status, row.message) == ("warning", "stale: a")
    fresh = {"connected": True, "streams": {"a": {"stale": False}, "b": {"stale": False}}}
    assert feed_checks(fresh, "binance")[0].status == "healthy"


def test_the_rating_period_stall_thresholds_are_exclusive_and_a_clock_back_is_no_stall() -> None:
    ok = HealthCheck("feed", "healthy", "sim connected", critical=True)
    last = 100 * MIN
    assert progress_check(ok, last + STALL_WARN_PERIODS * MIN, last, MIN) is ok
    assert progress_check(ok, last + STALL_WARN_PERIODS * MIN + 1, last, MIN).status == "warning"
    assert progress_check(ok, last + STALL_FAIL_PERIODS * MIN, last, MIN).status == "warning"
    assert progress_check(ok, last + STALL_FAIL_PERIODS * MIN + 1, last, MIN).status == "unhealthy"
    assert progress_check(ok, last - 10 * MIN, last, MIN) is ok  # the clock stepped back
    assert progress_check(ok, last, 0, MIN) is ok  # no period yet (start-up)
    assert progress_check(ok, last, last, 0) is ok  # the period length not known yet


def test_rejected_messages_read_healthy_exactly_fifteen_minutes_after_the_last() -> None:
    watch = RejectWatch()
    assert watch.quiet_ms(0, 0) is None  # none yet
    assert watch.quiet_ms(2, 1_000) == 0
    assert watch.quiet_ms(2, 1_000 + REJECTS_RECENT_MS) == REJECTS_RECENT_MS
    assert watch.quiet_ms(2, 0) == 0  # a clock that steps back: no negative quiet time
    fh = {"connected": True, "rejected": 2}
    assert feed_checks(fh, "x", REJECTS_RECENT_MS - 1)[1].status == "warning"
    assert feed_checks(fh, "x", REJECTS_RECENT_MS)[1].status == "healthy"


def test_the_clock_offset_thresholds_are_exclusive_both_ways() -> None:
    assert clock_check(CLOCK_WARN_MS, 0, 5000, 0).status == "healthy"
    assert clock_check(-CLOCK_WARN_MS - 1, 0, 5000, 0).status == "warning"
    assert clock_check(2500, 0, 5000, 0).status == "warning"
    assert clock_check(-2501, 0, 5000, 0).status == "unhealthy"
    row = clock_check(0, 10_000, 5000, 0)  # measured "after" now: a clock that stepped back
    assert row.status == "healthy" and "measured 0 s ago" in row.message


def test_memory_is_in_megabytes_on_each_platform_and_warns_at_the_limit() -> None:
    assert maxrss_mb(512 * 1024, "linux") == 512.0  # KiB
    assert maxrss_mb(512 * 1024 * 1024, "darwin") == 512.0  # bytes
    assert memory_check(4095.0, warn_mb=4096.0).status == "healthy"
    assert memory_check(4096.0, warn_mb=4096.0).status == "warning"
    assert memory_check(100.4).message == "100 MB RSS"


def test_no_symbols_and_no_positions_read_healthy() -> None:
    assert feed_checks({"connected": True, "streams": {}}, "binance")[0].status == "healthy"
    assert positions_check(0, 0).status == "healthy" and positions_check(1, 0).status == "warning"
    assert overall([]) == "healthy"


def test_a_stale_stream_warning_does_not_hide_a_stall_of_the_rating_periods() -> None:
    # a feed keeps a partly stale connection for minutes while it backs off recreating it: the
    # row's "stale" warning returned the row as it was, so periods that stopped for hours never
    # failed the feed nor alerted
    stale = feed_checks({"connected": True, "streams": {"a": {"stale": True}}}, "binance")[0]
    assert stale.status == "warning"
    last = 100 * MIN
    assert progress_check(stale, last + STALL_WARN_PERIODS * MIN, last, MIN) is stale
    late = progress_check(stale, last + STALL_FAIL_PERIODS * MIN, last, MIN)
    assert late.status == "warning" and late.message.startswith("stale: a, but no rating period for")
    dead = progress_check(stale, last + 60 * MIN, last, MIN)
    assert (dead.status, dead.critical) == ("unhealthy", True)
    assert dead.message == "stale: a, but no rating period for 60 min (one is due every 60 s)"
