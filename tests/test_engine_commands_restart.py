"""The state machine across a restart: what the operator's commands and the breakers left
stored is what the next session starts from."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from engine_helpers import (
    MIN,
    SYMBOLS,
    T0,
    bought_half_then,
    engine_config,
    klines,
    make_engine,
    store_manual_buy_intent,
    until,
)

from tui_trader.clock import ManualClock
from tui_trader.events import (
    EmergencyStop,
    LockSymbol,
    ManualBuy,
    Pause,
    ResetEmergency,
    SetZThreshold,
    Start,
    StateChange,
)
from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import EngineState

S = EngineState


async def test_a_daily_loss_limit_reached_today_holds_after_a_restart_whose_reconciliation_failed(
    tmp_path,
) -> None:
    """Reducing after the daily-loss limit, then a crash; the restart (same UTC day) cannot ask
    the exchange about an order and stays paused. Once it can, a start must go back to reducing,
    even though the prices have come back above the limit meanwhile: the limit was reached today."""
    db = str(tmp_path / "book.db")
    cfg = engine_config(risk_management={"stop_loss_percent": 50.0})  # the holding is kept
    h = await bought_half_then(cfg, db, 75.0)  # -12.5 % of equity, limit 10 %
    e = h.engine
    assert e.state is S.REDUCING
    await store_manual_buy_intent(e, "BBBUSDT")  # then a kill -9
    cash, held = e.portfolio.cash, e.portfolio.positions["AAAUSDT"].quantity
    await h.stop()

    holder: dict[str, Any] = {}
    filters = {s: synthetic_filters(s, 100.0) for s in SYMBOLS}
    broker = PaperBroker(
        cfg,
        ManualClock(0),
        lambda s: holder["e"].last_price(s),
        filters,
        balances={"USDT": cash, "AAA": held},
    )
    broker.fail_next(BrokerErrorKind.TIMEOUT, n=40, op="query")  # at start-up it cannot be asked
    h = make_engine(cfg, db_path=db, broker=broker, start_ms=T0 + 10 * MIN)
    holder["e"] = h.engine
    await h.start()
    e = h.engine
    try:
        assert e.state is S.PAUSED and e._reconcile_problem
        broker._faults["query"].clear()  # the exchange answers again
        for k in range(12, 15):
            await h.step(klines(T0 + k * MIN, [95.0, 100.0, 100.0, 100.0]))  # -2.5 %: below the limit now
        assert e.breakers.last_daily_loss_pct < cfg.risk_management.max_daily_loss_percent
        started = await e.submit(Start())
        assert started.ok and e.state is S.REDUCING, started.message
        assert "daily loss limit" in started.message and "start again to override" in started.message
        buy = await e.submit(ManualBuy(symbol="CCCUSDT", quote_amount=100))
        assert not buy.ok and "only exits" in buy.message
    finally:
        await h.stop()


async def test_a_command_whose_state_cannot_be_stored_says_what_is_in_effect() -> None:
    """The database refuses the write (locked by another program, disk full). A start, a reset, a
    threshold or a lock that could not be stored is not in effect, as its result says; a pause or
    an emergency stop is (the safe side), and its result says so. Before, a start reported as
    failed had the engine trading all the same."""
    h = await make_engine(autostart=False).start()
    e = h.engine
    seen: list[StateChange] = []
    e.bus.subscribe(seen.append, StateChange)
    try:
        real = e.db.save_engine_state

        async def locked_database(*args: Any, **kwargs: Any) -> None:
            raise sqlite3.OperationalError("database is locked")

        e.db.save_engine_state = locked_database
        steps = [
            (Start(), S.STOPPED, "Start failed: database is locked"),
            (SetZThreshold(value=2.0), S.STOPPED, "SetZThreshold failed: database is locked"),
            (LockSymbol(symbol="AAAUSDT"), S.STOPPED, "LockSymbol failed: database is locked"),
        ]
        for cmd, state, message in steps:
            res = await e.submit(cmd)
            assert (res.ok, res.message, e.state) == (False, message, state)
        assert e.threshold == 1.0 and not e.locked
        assert [(c.old, c.new) for c in seen] == [(S.STOPPED, S.RUNNING), (S.RUNNING, S.STOPPED)]  # and back
        e.db.save_engine_state = real
        assert (await e.submit(Start())).ok and e.state is S.RUNNING
        e.db.save_engine_state = locked_database
        paused = await e.submit(Pause())
        assert (
            not paused.ok and paused.message == "Pause failed: database is locked; the engine is paused now"
        )
        assert e.state is S.PAUSED
        stop = await e.submit(EmergencyStop(reason="operator panic"))
        assert not stop.ok and stop.message.endswith("; the engine is emergency_stopped now")
        reset = await e.submit(ResetEmergency())
        assert (reset.ok, reset.message) == (False, "ResetEmergency failed: database is locked")
        assert e.state is S.EMERGENCY_STOPPED  # an emergency stop is left only when that is stored
        e.db.save_engine_state = real
        rows = [
            (a["action"], a["ok"], a["outcome"])
            for a in await e.db.load_audit(limit=100)
            if a["action"] not in ("state", "emergency_stop")
        ]
        assert [r[:2] for r in rows] == [
            ("Start", False),
            ("SetZThreshold", False),
            ("LockSymbol", False),
            ("Start", True),
            ("Pause", False),
            ("EmergencyStop", False),
            ("ResetEmergency", False),
        ]
    finally:
        await h.stop()


async def test_a_start_that_cannot_be_stored_never_undoes_an_emergency_stop_made_meanwhile() -> None:
    h = await make_engine(autostart=False).start()
    e = h.engine
    try:
        real, release, writing = e.db.save_engine_state, asyncio.Event(), []

        async def slow_then_failing(*args: Any, **kwargs: Any) -> None:
            if not writing:  # the start's write: slow, then refused
                writing.append(True)
                await release.wait()
                raise sqlite3.OperationalError("disk I/O error")
            await real(*args, **kwargs)

        e.db.save_engine_state = slow_then_failing
        start = asyncio.create_task(e.submit(Start()))
        await until(lambda: writing, "the start's state to be written")
        assert (await e.submit(EmergencyStop(reason="operator panic"))).ok
        release.set()
        res = await start
        assert not res.ok and "disk I/O error" in res.message
        assert e.state is S.EMERGENCY_STOPPED and e.state_reason == "operator panic"
        assert (await e.db.load_engine_state())["state"] is S.EMERGENCY_STOPPED
    finally:
        await h.stop()


async def test_a_threshold_that_cannot_be_stored_never_undoes_one_set_meanwhile() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        real, release, writing = e.db.save_engine_state, asyncio.Event(), []

        async def slow_then_failing(*args: Any, **kwargs: Any) -> None:
            if not writing:  # the first write: slow, then refused
                writing.append(True)
                await release.wait()
                raise sqlite3.OperationalError("disk I/O error")
            await real(*args, **kwargs)

        e.db.save_engine_state = slow_then_failing
        first = asyncio.create_task(e.submit(SetZThreshold(value=2.0)))
        await until(lambda: writing, "the first threshold to be written")
        assert (await e.submit(SetZThreshold(value=3.0))).ok
        release.set()
        assert not (await first).ok
        assert e.threshold == 3.0 and (await e.db.load_engine_state())["z_threshold"] == 3.0
    finally:
        await h.stop()
