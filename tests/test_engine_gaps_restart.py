"""What a kill -9 or a restart leaves behind around the operator's commands: an emergency stop's
reset stores its state and the drawdown's new peak together, so a restart never finds one without
the other; a command sent while the engine starts is never applied before the reconciliation, and
is audited with its source and outcome (an emergency stop takes effect once the start-up is done)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from engine_helpers import (
    MIN,
    T0,
    bought_half_then,
    drawdown_cfg,
    drawdown_tripped,
    engine_config,
    klines,
    make_engine,
    store_manual_buy_intent,
    until,
)

from tui_trader.events import (
    EmergencyStop,
    LockSymbol,
    ManualBuy,
    Pause,
    ResetEmergency,
    SetZThreshold,
    Start,
)
from tui_trader.models import EngineState, Source
from tui_trader.storage.db import Database

S = EngineState


class Killed(BaseException):
    """Stands in for a kill -9 at this point: nothing after it is written."""


@pytest.mark.parametrize("kill_at", ["account", "none"])
async def test_a_kill_during_an_emergency_reset_never_trips_the_drawdown_breaker_again_on_restart(
    tmp_path, monkeypatch: pytest.MonkeyPatch, kill_at: str
) -> None:
    db = str(tmp_path / "book.db")
    h = await drawdown_tripped(db)
    e = h.engine
    if kill_at == "account":

        async def killed(**_fields: object) -> None:  # the peak equity's save: killed right there
            raise Killed

        monkeypatch.setattr(e.db, "save_account", killed)
        with pytest.raises(Killed):
            await e.submit(ResetEmergency(reason="loss accepted"))
    else:
        assert (await e.submit(ResetEmergency(reason="loss accepted"))).ok
    monkeypatch.setattr(e, "_close_session", lambda db: _nothing())  # a kill writes nothing at the end
    await h.stop()

    async with await Database.open(db) as store:
        state, account = await store.load_engine_state(), await store.load_account()
    reset = state["state"] is S.STOPPED
    # one transaction: either both the reset and the new peak are stored, or neither
    assert reset == (float(account["peak_equity"]) < 9_500), (state, account["peak_equity"])
    assert reset == (kill_at == "none")

    h2 = await make_engine(drawdown_cfg(), db_path=db, start_ms=T0 + 10 * MIN, autostart=False).start()
    try:
        for k in range(10, 13):
            await h2.step(klines(T0 + k * MIN, [80.0, 100.0, 100.0, 100.0]))  # the same prices as before
        if reset:
            assert h2.engine.state is S.STOPPED, h2.engine.state_reason  # not tripped again
        else:
            assert h2.engine.state is S.EMERGENCY_STOPPED and "Drawdown" in h2.engine.state_reason
    finally:
        await h2.stop()


async def _nothing() -> None:
    return None


# ---------------------------------------------------------------- commands during start-up


async def _starting(
    db: str, monkeypatch: pytest.MonkeyPatch, fails: str = ""
) -> tuple[Any, asyncio.Event, asyncio.Task]:
    """An engine held in its start-up right before the open orders are reconciled (warm-up done,
    prices known), with a stored buy intent a kill left for that reconciliation; with ``fails``,
    the reconciliation then raises OSError(fails)."""
    h = await make_engine(db_path=db).start()
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    await store_manual_buy_intent(h.engine, "BBBUSDT")
    monkeypatch.setattr(h.engine, "_close_session", lambda db: _nothing())  # then a kill -9
    await h.stop()
    history = klines(T0 + 5 * MIN, [100.0] * 4)
    h2 = make_engine(db_path=db, autostart=False, start_ms=T0 + 6 * MIN, history=history)
    e = h2.engine
    gate = asyncio.Event()
    reconcile = e._reconcile

    async def held() -> str:
        await gate.wait()
        if fails:
            raise OSError(fails)
        return await reconcile()

    monkeypatch.setattr(e, "_reconcile", held)
    task = asyncio.create_task(e.start_up())
    await until(lambda: e.last_price("AAAUSDT") is not None and e.db is not None, "the warm-up")
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()
    return h2, gate, task


async def test_commands_sent_during_start_up_are_refused_and_audited_never_applied_before_reconciling(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "book.db")
    h0 = make_engine(db_path=db)
    early = await h0.engine.submit(Pause())  # before start_up(): no database open yet
    assert not early.ok and "not started" in early.message
    await h0.engine.start_up()  # (the early command's audit row is written to this book)
    await h0.stop()

    h, gate, task = await _starting(db, monkeypatch)
    e = h.engine
    sent = [
        await e.submit(c)
        for c in (
            Start(),
            ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(500)),
            LockSymbol(symbol="CCCUSDT", locked=True),
            SetZThreshold(value=3.0),
            Pause(source=Source.RISK),
        )
    ]
    try:
        for res in sent:
            assert not res.ok and "starting up" in res.message, res
        assert e.state is S.STOPPED and not e.locked and e.threshold == 1.0  # nothing applied
        assert not [
            o for o in e.orders.values() if o.symbol == "AAAUSDT"
        ]  # no order before the reconciliation
        gate.set()
        await task
        assert e.state is S.RUNNING  # as stored by the last run (the refused start did not count)
        assert "CCCUSDT" not in e.locked and e.threshold == 1.0
        audit = [a for a in await e.db.load_audit(limit=100) if a["action"] != "state"]
        rows = [(a["action"], a["source"], a["ok"]) for a in audit]
        assert rows[0] == ("Pause", "ui", False) and "not started" in audit[0]["outcome"]
        assert rows[-5:] == [
            ("Start", "ui", False),
            ("ManualBuy", "ui", False),
            ("LockSymbol", "ui", False),
            ("SetZThreshold", "ui", False),
            ("Pause", "risk", False),
        ]
        assert all("starting up" in a["outcome"] for a in audit[-5:])
    finally:
        gate.set()
        await h.stop()


@pytest.mark.parametrize("close_positions", [False, True])
async def test_an_emergency_stop_sent_during_start_up_takes_effect_when_the_reconciliation_is_done(
    tmp_path, monkeypatch: pytest.MonkeyPatch, close_positions: bool
) -> None:
    db = str(tmp_path / "book.db")
    h, gate, task = await _starting(db, monkeypatch)
    e = h.engine
    stop = asyncio.create_task(
        e.submit(EmergencyStop(reason="wrong config", close_positions=close_positions))
    )
    try:
        for _ in range(20):
            await asyncio.sleep(0)
        assert not stop.done() and e.state is S.STOPPED  # waits for the reconciliation, sends nothing
        gate.set()
        await task  # applied before start_up() returns: the run loop never trades first
        assert e.state is S.EMERGENCY_STOPPED and e.state_reason == "wrong config"
        res = await stop
        assert res.ok and res.message.startswith("EMERGENCY STOP"), res
        assert (await e.db.load_engine_state())["state"] is S.EMERGENCY_STOPPED
        rows = [a for a in await e.db.load_audit(limit=100) if a["action"] == "EmergencyStop"]
        assert [(a["source"], a["ok"]) for a in rows] == [("ui", True)]
    finally:
        gate.set()
        await h.stop()


async def test_an_emergency_stop_sent_during_a_start_up_that_fails_says_so(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "book.db")
    h, gate, task = await _starting(db, monkeypatch, fails="disk gone")
    e = h.engine
    stop = asyncio.create_task(e.submit(EmergencyStop(reason="wrong config")))
    for _ in range(20):
        await asyncio.sleep(0)
    gate.set()
    with pytest.raises(OSError):
        await task
    res = await asyncio.wait_for(stop, 5)
    assert not res.ok and "did not start" in res.message and "disk gone" in res.message
    await h.stop()


# ---------------------------------------------------------------- the daily-loss override


async def _overridden(db: str) -> Any:
    """Reducing after the daily-loss limit (10 %), then the operator's start overrides it."""
    cfg = engine_config(risk_management={"stop_loss_percent": 50.0, "max_drawdown_percent": 60.0})  # held
    h = await bought_half_then(cfg, db, 75.0)  # -12.5 % of equity
    e = h.engine
    assert e.state is S.REDUCING
    res = await e.submit(Start())
    assert res.ok and "overridden" in res.message and e.state is S.RUNNING
    return h, cfg


@pytest.mark.parametrize("kill", [False, True])
async def test_an_override_of_the_daily_loss_limit_survives_a_restart_the_same_utc_day(
    tmp_path, monkeypatch: pytest.MonkeyPatch, kill: bool
) -> None:
    db = str(tmp_path / "book.db")
    h, cfg = await _overridden(db)
    if kill:  # the override is stored with the state it made: nothing written at the end
        monkeypatch.setattr(h.engine, "_close_session", lambda db: _nothing())
    await h.stop()
    h2 = await make_engine(cfg, db_path=db, start_ms=T0 + 10 * MIN).start()
    e = h2.engine
    try:
        for k in range(10, 16):
            await h2.step(klines(T0 + k * MIN, [75.0, 100.0, 100.0, 100.0]))  # still beyond the limit
        assert e.breakers.last_daily_loss_pct > cfg.risk_management.max_daily_loss_percent
        assert e.state is S.RUNNING, e.state_reason  # not reducing again: the operator's override holds
        assert (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=100))).ok
    finally:
        await h2.stop()


async def test_an_override_of_the_daily_loss_limit_ends_with_its_utc_day_across_a_restart(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    h, cfg = await _overridden(db)
    await h.stop()
    day = 86_400_000
    h2 = await make_engine(cfg, db_path=db, start_ms=T0 + day + 10 * MIN).start()  # the next UTC day
    e = h2.engine
    try:
        assert not e._daily_override_day
        for k in range(3):  # the new day starts from here; a new loss of 10 % trips the limit again
            await h2.step(klines(T0 + day + (10 + k) * MIN, [75.0, 100.0, 100.0, 100.0]))
        for k in range(3, 6):
            await h2.step(klines(T0 + day + (10 + k) * MIN, [55.0, 100.0, 100.0, 100.0]))
        assert e.state is S.REDUCING
    finally:
        await h2.stop()
