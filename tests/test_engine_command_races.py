"""A command that lands while a period's signals are being acted on: the operator's pause or lock,
once answered, holds for the strategy's order that was being prepared (its intent being stored),
as it holds for every later signal - no strategy entry goes out after "trading paused"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import LockSymbol, Pause
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
