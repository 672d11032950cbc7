"""The history of a held symbol this session's feed does not carry (a position restored from a
book made over a universe that held it).

The engine's ``symbol_history`` refuses such a symbol (KeyError: there are no prices, ratings or
z-scores of it, and the main screen's chart says so), and the symbol detail showed no orders or
fills at all: the operator, asked to close it at its last stored price, could not see that price
nor when the position was bought. ``uncarried_history`` gives its stored orders and fills (read
only), with those of this session (its close) after them, once each."""

from __future__ import annotations

import pytest
from engine_helpers import MIN, T0, make_engine
from test_engine_uncarried_close import GONE, LEFT, _book_holding_gone

from tui_trader.events import ClosePosition
from tui_trader.models import OrderStatus, Side


async def test_the_stored_orders_and_fills_of_an_uncarried_held_symbol_are_shown(tmp_path):
    db = str(tmp_path / "book.db")
    price = await _book_holding_gone(db)  # a book that bought DDD (and AAA) while the feed carried it
    h = await make_engine(db_path=db, symbols=LEFT, start_ms=T0 + 10 * MIN).start()
    try:
        e = h.engine
        (stored,) = await e.db.load_fills(GONE)
        cid = stored.client_order_id
        assert GONE not in e.sym_index and GONE in e.portfolio.positions
        with pytest.raises(KeyError):  # no prices of it: the main chart says "not traded"
            e.symbol_history(GONE)
        hist = e.uncarried_history(GONE)
        assert hist.symbol == GONE and hist.ts_ms.size == 0 and hist.price.size == 0
        assert [(o.client_order_id, o.side, o.status) for o in hist.orders] == [(cid, Side.BUY, OrderStatus.FILLED)]
        assert [(f.client_order_id, f.price) for f in hist.fills] == [(cid, price)]
        assert hist.position is not None and hist.position.quantity == e.portfolio.positions[GONE].quantity
        assert all(o.symbol == GONE for o in hist.orders) and all(f.symbol == GONE for f in hist.fills)

        # the orders and fills that memory no longer holds (the recent ones only): read from the book
        e.orders.clear()
        e.fills.clear()
        hist = e.uncarried_history(GONE)
        assert [o.client_order_id for o in hist.orders] == [cid]
        assert [f.client_order_id for f in hist.fills] == [cid]

        # its close at the stored price: after the buy, once each
        assert (await e.submit(ClosePosition(symbol=GONE))).ok
        hist = e.uncarried_history(GONE)
        assert [o.side for o in hist.orders] == [Side.BUY, Side.SELL], hist.orders
        assert [f.side for f in hist.fills] == [Side.BUY, Side.SELL], hist.fills
        assert hist.fills[1].price == price and hist.position is None
    finally:
        await h.stop()


async def test_a_carried_symbol_has_no_uncarried_history(tmp_path):
    db = str(tmp_path / "book.db")
    await _book_holding_gone(db)
    h = await make_engine(db_path=db, symbols=LEFT, start_ms=T0 + 10 * MIN).start()
    try:
        with pytest.raises(KeyError):  # its history is symbol_history's, with its prices
            h.engine.uncarried_history("AAAUSDT")
    finally:
        await h.stop()
