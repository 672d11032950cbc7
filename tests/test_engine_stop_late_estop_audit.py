"""An emergency stop sent while a quit waits for the strategy's order in flight (the trade lock,
after the commands were drained) is a command like any other: its audit row is written before
storage closes. The quit closed storage as soon as the order ended, and the stop - still storing
its state - found no database for its row: the operator's stop was answered "stored" and left no
audit row."""

from __future__ import annotations

import asyncio

from engine_helpers import MIN, T0, klines, make_engine, until

from tui_trader.events import EmergencyStop
from tui_trader.models import EngineState, Signal, SignalType


async def test_an_emergency_stop_sent_while_the_quit_waits_for_an_order_is_audited(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4, open_=[100.0] * 4))
    assert e.state is EngineState.RUNNING
    real_submit, answer, sent = e.broker.submit, asyncio.Event(), []

    async def slow_answer(req):
        sent.append(req)
        await answer.wait()
        return await real_submit(req)

    e.broker.submit = slow_answer
    sig = Signal(e.clock.now_ms(), "AAAUSDT", SignalType.BUY, 1.0, 1.0, 2.0, "z above threshold")
    entry = asyncio.create_task(e._act_on([sig], e.clock.now_ms()))  # the strategy's order in flight
    await until(lambda: sent, "the entry to reach the exchange")
    stop = asyncio.create_task(h.stop())
    await until(lambda: bool(e._trade_lock._waiters), "the quit to wait for the order (the commands drained)")
    real_save_state, saving = e._save_state, asyncio.Event()

    async def save_state(*args, **kwargs):
        saving.set()
        answer.set()  # the order ends while the stop's state is stored: the quit goes on
        # a busy database: the quit, its order ended, closes storage meanwhile or waits for this
        await until(lambda: entry.done() and e._trade_lock.locked(), "the quit to take the trade lock")
        for _ in range(20):
            await asyncio.sleep(0)
        if e._closing:
            await until(lambda: e.db is None, "the quit to close storage")
        return await real_save_state(*args, **kwargs)

    e._save_state = save_state
    estop = await e.submit(EmergencyStop(reason="operator panic"))
    await entry
    await stop
    assert saving.is_set() and "EMERGENCY STOP while stopping" in estop.message, estop.message

    h2 = await make_engine(db_path=db, start_ms=T0 + 10 * MIN).start()
    try:
        assert h2.engine.state is EngineState.EMERGENCY_STOPPED
        rows = [a for a in await h2.engine.db.load_audit(limit=None) if a["action"] == "EmergencyStop"]
        assert [(r["ok"], r["outcome"]) for r in rows] == [(estop.ok, estop.message)], rows
    finally:
        await h2.stop()
