"""The paper close of a symbol the feed no longer carries (booked at its last stored fill) is
stopped by an emergency stop answered at any moment before the sale is booked: while its last
fill is read (tests/test_engine_uncarried_close.py), and while its intent is stored - as every
other order, which the stop halts before it is sent (``OrderManager.halt``)."""

from __future__ import annotations

import asyncio

from engine_helpers import MIN, T0, make_engine, until
from test_engine_uncarried_close import GONE, LEFT, _book_holding_gone

from tui_trader.events import ClosePosition, EmergencyStop
from tui_trader.models import EngineState, OrderStatus, Side


async def test_an_emergency_stop_answered_while_the_closes_intent_is_stored_books_no_sale(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    await _book_holding_gone(db)
    h = await make_engine(db_path=db, symbols=LEFT, start_ms=T0 + 10 * MIN).start()
    try:
        e = h.engine
        qty, cash = e.portfolio.positions[GONE].quantity, e.portfolio.cash
        real_write_intent, storing, answered = e.db.write_order_intent, [], asyncio.Event()

        async def slow_write_intent(order, session_id):
            if order.symbol == GONE:
                storing.append(order.client_order_id)
                await answered.wait()  # the emergency stop is answered meanwhile
            return await real_write_intent(order, session_id)

        e.db.write_order_intent = slow_write_intent
        close = asyncio.create_task(e.submit(ClosePosition(symbol=GONE)))
        await until(lambda: storing, "the close to store its intent")
        stop = await e.submit(EmergencyStop(reason="operator panic"))
        assert stop.ok and e.state is EngineState.EMERGENCY_STOPPED, stop.message
        answered.set()
        res = await close
        assert not res.ok and "emergency stop" in res.message, res.message
        assert e.portfolio.positions[GONE].quantity == qty and e.portfolio.cash == cash
        (order,) = [o for o in e.orders.values() if o.symbol == GONE and o.side is Side.SELL]
        assert order.status is OrderStatus.CANCELED and order.executed_qty == 0, order
        stored = await e.db.get_order(order.client_order_id)
        assert stored is not None and stored.status is OrderStatus.CANCELED
        assert not [a for a in await e.db.load_audit(limit=50) if a["action"] == "close_at_stored_price"]
        assert not [f for f in e.fills if f.symbol == GONE and f.side is Side.SELL]
    finally:
        await h.stop()
