"""A command that lands while a period's signals are being acted on: the operator's pause or lock,
once answered, holds for the strategy's order that was being prepared (its intent being stored),
as it holds for every later signal - no strategy entry goes out after "trading paused"."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from engine_helpers import MIN, T0, klines, make_engine, slow_open_orders, until

from tui_trader.events import EmergencyStop, LockSymbol, ManualBuy, Pause, ResetEmergency
from tui_trader.models import EngineState, OrderStatus, Signal, SignalType

S = EngineState


async def _one_period(h, price: float = 100.0) -> None:
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [price] * 4, open_=[price] * 4))


def _entry(symbol: str, ts: int) -> Signal:
    return Signal(ts, symbol, SignalType.BUY, 1.0, 1.0, 2.0, "z above threshold")


@pytest.mark.parametrize(
    "command", [Pause(), LockSymbol(symbol="AAAUSDT", locked=True)], ids=["pause", "lock"]
)
async def test_a_pause_or_lock_answered_while_an_entrys_intent_is_stored_stops_that_entry(command) -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h)
        assert e.state is S.RUNNING
        write_intent, answers = e.db.write_order_intent, []

        async def operator_meanwhile(order, session_id):
            await write_intent(order, session_id)
            answers.append(await e.submit(command))  # the operator's key, while the intent is stored

        e.db.write_order_intent = operator_meanwhile
        sig = _entry("AAAUSDT", e.clock.now_ms())
        await e._act_on([sig], e.clock.now_ms())
        assert [a.ok for a in answers] == [True], answers
        assert e.broker.submit_calls == 0  # nothing reached the exchange after the answer
        assert "AAAUSDT" not in e.portfolio.positions
        (order,) = [o for o in e.orders.values() if o.symbol == "AAAUSDT"]
        assert order.status is OrderStatus.CANCELED and order.executed_qty == Decimal(0)
        assert "not sent" in order.error, order.error
        assert not sig.executed and "not sent" in sig.outcome, sig.outcome
    finally:
        await h.stop()


async def test_an_emergency_stop_cancelling_while_the_engine_stops_is_audited_before_storage_closes(
    tmp_path,
) -> None:
    """The operator's emergency stop is asking a slow exchange for its open orders when the
    console quits: the stop's cancels end after the quit began, and its audit rows (the command's
    and the stop's own) are written before storage closes, not dropped."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _one_period(h)
    answer, asked = slow_open_orders(e)
    estop = asyncio.create_task(e.submit(EmergencyStop(reason="operator panic")))
    await until(lambda: asked, "the emergency stop to ask the exchange for its open orders")
    stop = asyncio.create_task(h.stop())
    # the quit goes on while the exchange is slow (it waits for the stop's cancels, or it has closed)
    await until(lambda: e._closing or e._draining_commands, "the quit to close storage or wait for the stop")
    answer.set()
    res = await estop
    await stop
    assert res.ok and e.state is S.EMERGENCY_STOPPED
    h2 = await make_engine(db_path=db).start()
    try:
        assert h2.engine.state is S.EMERGENCY_STOPPED
        rows = [
            (a["action"], a["ok"])
            for a in await h2.engine.db.load_audit(limit=100)
            if a["action"] in ("EmergencyStop", "emergency_stop")
        ]
        assert sorted(rows) == [("EmergencyStop", True), ("emergency_stop", True)], rows
    finally:
        await h2.stop()


async def test_a_reset_while_the_emergency_stop_is_still_being_carried_out_is_refused() -> None:
    """The emergency stop (close all) is still asking a slow exchange for its open orders when the
    operator presses reset: the reset is refused, saying why - accepted, the engine was "stopped"
    while the stop's closing sells still went out after it, and a start could trade meanwhile."""
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(300)))).ok
        answer, asked = slow_open_orders(e)
        estop = asyncio.create_task(e.submit(EmergencyStop(reason="operator panic", close_positions=True)))
        await until(lambda: asked, "the emergency stop to ask the exchange for its open orders")
        reset = await e.submit(ResetEmergency())
        assert not reset.ok and "still being carried out" in reset.message, reset.message
        assert e.state is S.EMERGENCY_STOPPED
        answer.set()
        res = await estop
        assert res.ok and not e.portfolio.positions and e.state is S.EMERGENCY_STOPPED
        assert (await e.submit(ResetEmergency())).ok and e.state is S.STOPPED  # once it has finished
    finally:
        await h.stop()
