from __future__ import annotations

import os

import pytest
from engine_helpers import make_engine

from tui_trader.models import EngineState
from tui_trader.monitor.health import (
    after_stop,
    broker_check,
    database_check,
    engine_check,
    feed_checks,
    maxrss_mb,
    memory_check,
    overall,
    positions_check,
)
from tui_trader.monitor.metrics import EventRate


def test_feed_checks_by_state() -> None:
    ok = feed_checks({"connected": True, "streams": {"a": {"stale": False}}}, "sim")
    assert [(c.name, c.status) for c in ok] == [("feed", "healthy")]
    stale = feed_checks({"connected": True, "streams": {"b": {"stale": True}, "a": {"stale": True}}}, "binance")
    assert stale[0].status == "warning" and "a, b" in stale[0].message
    down = feed_checks({"connected": False, "error": "refused"}, "binance")
    assert down[0].status == "unhealthy" and down[0].critical and "refused" in down[0].message
    rej = feed_checks({"connected": True, "rejected": 5, "rejected_by_reason": {"bad_type": 4, "duplicate": 1}}, "x")
    assert rej[1].name == "messages"
    assert rej[1].message == "5 malformed message(s) rejected (bad_type 4, duplicate 1)"  # the most first


def test_component_checks() -> None:
    assert database_check(False, False).status == "healthy"
    assert database_check(True, False).status == "unhealthy"
    assert database_check(True, True, {"consecutive_failures": 2, "last_error": "locked"}).status == "warning"
    # an open circuit sends nothing, a stop loss neither: unhealthy, so the monitor alerts; half
    # open (the next order a trial) lasts until an order is made, weeks in a quiet market: healthy
    opened = broker_check("paper", "open")
    assert (opened.status, opened.critical) == ("unhealthy", True)
    assert opened.message == "paper · order circuit open: no order is sent until it cools off"
    trial = broker_check("paper", "half_open")
    assert (trial.status, trial.message) == ("healthy", "paper · order circuit half_open: the next order is a trial")
    assert broker_check("paper", "half_open", unsettled=1).status == "warning"
    assert broker_check("paper", "closed").status == "healthy"
    unknown = broker_check("paper", "closed", unsettled=2)  # orders of unknown outcome: not healthy
    assert unknown.status == "warning" and "2 order(s) of unknown outcome" in unknown.message
    assert memory_check(100.0).status == "healthy" and memory_check(5000.0).status == "warning"
    assert memory_check(99.0, warn_mb=100.0).status == "healthy"
    assert memory_check(100.0, warn_mb=100.0).status == "warning"  # the limit itself warns
    # ru_maxrss is KiB on Linux and bytes on macOS: the same 110 MB either way
    assert maxrss_mb(112_640, "linux") == maxrss_mb(115_343_360, "darwin") == 110.0
    assert memory_check().status == "healthy"  # this test process is far below 4 GB


def test_one_memory_spike_does_not_leave_the_memory_check_amber(monkeypatch) -> None:
    # it read the peak RSS, which never falls: a 5 GB spike (a big history loaded once) kept the
    # row, and the overall health, at warning for the rest of the run
    from tui_trader.monitor import health

    monkeypatch.setattr(health, "peak_rss_mb", lambda: 5000.0)
    monkeypatch.setattr(health, "current_rss_mb", lambda: 800.0)
    after = memory_check()
    assert (after.status, after.message) == ("healthy", "800 MB RSS, 5000 MB peak")
    monkeypatch.setattr(health, "current_rss_mb", lambda: 4500.0)
    assert memory_check().status == "warning"  # the memory now, over the limit
    monkeypatch.setattr(health, "current_rss_mb", lambda: None)  # no /proc (macOS): the peak, as before
    assert (memory_check().status, memory_check().message) == ("warning", "5000 MB peak RSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="the RSS now is read from Linux's /proc")
def test_the_current_rss_is_read_and_below_the_peak() -> None:
    from tui_trader.monitor.health import current_rss_mb, peak_rss_mb

    now, peak = current_rss_mb(), peak_rss_mb()
    assert now is not None and peak is not None
    assert 1.0 < now <= peak + 1.0
    assert positions_check(11, 10).status == "warning" and positions_check(10, 10).status == "healthy"
    assert engine_check("") is None and engine_check("boom").status == "unhealthy"


def test_overall_rules() -> None:
    h = positions_check(0, 1)
    w = positions_check(2, 1)  # warning, not critical
    u_noncrit = type(h)("x", "unhealthy", "", critical=False)
    u_crit = database_check(True, False)
    assert overall([h]) == "healthy"
    assert overall([h, w]) == "warning"
    assert overall([h, u_noncrit]) == "warning"
    assert overall([h, w, u_crit]) == "unhealthy"


def test_event_rate() -> None:
    t = [0.0]
    r = EventRate(window=4, now=lambda: t[0])
    assert r.per_second() == 0.0
    for n in (10, 20, 30):
        r.note(n)
        t[0] += 0.5
    t[0] -= 0.5
    # 20 + 30 events over 1.0 s since the first note
    assert r.per_second() == 50.0


def test_event_rate_falls_when_the_events_stop() -> None:
    # it measured up to the last note: a feed that went silent kept showing its last busy rate
    t = [0.0]
    r = EventRate(window=64, now=lambda: t[0])
    for _ in range(64):
        r.note(100)
        t[0] += 1.0
    t[0] -= 1.0
    assert 99.0 < r.per_second() <= 100.0
    t[0] += 3600.0  # an hour without an event
    assert r.per_second() < 2.0


def test_counter_rate_re_measures_at_most_once_per_interval() -> None:
    from tui_trader.monitor.metrics import CounterRate

    t = [0.0]
    r = CounterRate(min_interval_s=1.0, now=lambda: t[0])
    t[0] = 0.5
    assert r.read(100) == 0.0  # too soon: no measurement yet
    t[0] = 2.0
    assert r.read(400) == 200.0  # 400 over 2 s
    t[0] = 2.5
    assert r.read(10_000) == 200.0  # held until a second has passed
    t[0] = 4.0
    assert r.read(1_000) == 300.0  # 600 more over 2 s


async def test_a_cleanly_stopped_engine_reads_stopped_not_failing() -> None:
    # the replay ended (or the operator quit): the console showed RUNNING, "unhealthy" and
    # "database FAIL closed" for an engine that had simply finished
    h = await make_engine().start()
    snap = h.engine.snapshot()
    assert snap.state is EngineState.RUNNING and snap.health.overall == "healthy"
    await h.stop()
    snap = h.engine.snapshot()
    assert snap.state is EngineState.STOPPED
    rows = {c.name: (c.status, c.message) for c in snap.health.checks}
    assert rows["feed"][0] == "healthy" and "stopped" in rows["feed"][1]
    assert rows["database"] == ("healthy", "closed") and snap.health.overall == "healthy"
    # only the feed and database rows change; an engine error still shows (engine_check)
    before = [*feed_checks({"connected": False}, "sim"), database_check(True, False), memory_check(1.0)]
    after = after_stop(before, "sim")
    assert [c.status for c in before] == ["unhealthy", "unhealthy", "healthy"]
    assert [(c.name, c.status) for c in after] == [("feed", "healthy"), ("database", "healthy"), ("memory", "healthy")]
    assert after[2] is before[2]


async def _watched_engine(caplog, alerting: bool):
    import asyncio
    import logging

    from engine_helpers import engine_config

    from tui_trader.events import RiskAlert

    cfg = engine_config(monitoring={"health_check_interval_ms": 20, "alerting_enabled": alerting})
    h = await make_engine(cfg).start()
    alerts: list = []
    h.engine.bus.subscribe(alerts.append, RiskAlert)
    connected = {"up": True}
    real = h.feed.health
    h.feed.health = lambda: {**real(), "connected": connected["up"]}
    with caplog.at_level(logging.INFO, logger="tui_trader.engine"):
        await asyncio.sleep(0.1)
        assert not alerts
        connected["up"] = False  # the exchange went away
        await asyncio.sleep(0.15)
        connected["up"] = True
        await asyncio.sleep(0.1)
    await h.stop()
    return alerts, [r.getMessage() for r in caplog.records if r.getMessage().startswith("health:")]


async def test_the_health_monitor_alerts_once_when_a_critical_check_fails(caplog) -> None:
    alerts, logged = await _watched_engine(caplog, alerting=True)
    # one alert for the whole outage (checked every 20 ms), not one per check
    assert [(a.severity, a.code) for a in alerts] == [("critical", "health:feed")]
    assert "disconnected" in alerts[0].message
    assert logged == ["health: feed unhealthy: disconnected", "health: feed recovered"]


async def test_without_alerting_the_monitor_only_logs(caplog) -> None:
    alerts, logged = await _watched_engine(caplog, alerting=False)
    assert alerts == []
    assert logged == ["health: feed unhealthy: disconnected", "health: feed recovered"]


async def test_batch_processing_off_commits_each_period_and_metrics_off_samples_nothing(tmp_path) -> None:
    import sqlite3

    from engine_helpers import MIN, T0, engine_config, klines

    for batching in (True, False):
        db = str(tmp_path / f"b{batching}.db")
        cfg = engine_config(data_processing={"batch_processing_enabled": batching},
                            monitoring={"metrics_collection_enabled": batching})
        h = await make_engine(cfg, db_path=db).start()
        try:
            for k in range(6):  # two rating periods (the first is flushed by the first pruning)
                await h.step(klines(T0 + k * MIN, [100.0 + k, 100.0, 99.0 - k, 100.0]))
            with sqlite3.connect(db) as other:  # what a crash now would leave
                rows = other.execute("SELECT COUNT(*) FROM glicko_ratings").fetchone()[0]
            memory = {c.name: c.message for c in h.engine.snapshot().health.checks}["memory"]
            if batching:  # the second period's rows wait in the writer's batch for a few seconds
                assert rows == 4 and memory.endswith("MB peak") and h.engine._events_per_s() > 0
            else:
                assert rows == 8 and memory == "not collected (metrics off)" and h.engine._events_per_s() == 0
        finally:
            await h.stop()


async def test_warnings_and_non_critical_failures_reach_the_log_once_each(caplog) -> None:
    # only a critical check turning unhealthy was logged: a writer failing, orders of unknown
    # outcome or a memory warning showed in the health pane and never in the log file
    import asyncio
    import logging

    from engine_helpers import engine_config

    from tui_trader.events import HealthCheck, RiskAlert

    cfg = engine_config(monitoring={"health_check_interval_ms": 20, "alerting_enabled": True})
    h = await make_engine(cfg).start()
    alerts: list = []
    h.engine.bus.subscribe(alerts.append, RiskAlert)
    extra: list[HealthCheck] = []
    real = h.engine._health

    def health():
        view = real()
        view.checks = [*view.checks, *extra]
        return view

    h.engine._health = health
    try:
        with caplog.at_level(logging.INFO, logger="tui_trader.engine"):
            await asyncio.sleep(0.1)
            extra[:] = [HealthCheck("database", "warning", "writer failing: disk I/O error")]
            await asyncio.sleep(0.1)  # several checks: logged once
            extra[:] = [HealthCheck("database", "unhealthy", "writer failing: disk I/O error")]
            await asyncio.sleep(0.1)
            extra[:] = []
            await asyncio.sleep(0.1)
    finally:
        await h.stop()
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("health: database")]
    levels = [r.levelno for r in caplog.records if r.getMessage().startswith("health: database")]
    assert logged == [
        "health: database warning: writer failing: disk I/O error",
        "health: database unhealthy: writer failing: disk I/O error",
        "health: database recovered",
    ]
    assert levels == [logging.INFO, logging.WARNING, logging.INFO]
    assert alerts == []  # a non-critical check is logged, not alerted
