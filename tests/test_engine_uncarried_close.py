"""A position restored in a symbol this session's feed does not carry (the book was made over a
universe that held it): the operator must be able to get out of it.

Paper: a close (``x``, a sell of the whole holding, flatten) books the sale at the last price the
book stored for the symbol - its last fill - with the paper fee, and says so in the result, the
audit and the log. Live (a broker given to the engine): nothing is booked that the exchange did
not do; the refusal says why and what to do."""

from __future__ import annotations

import logging
from decimal import Decimal

from engine_helpers import MIN, SYMBOLS, T0, engine_config, klines, make_engine

from tui_trader.clock import ManualClock
from tui_trader.events import ClosePosition, FlattenAll, ManualBuy, ManualSell
from tui_trader.execution.filters import fill_fee
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import OrderStatus

GONE = "DDDUSDT"
LEFT = [s for s in SYMBOLS if s != GONE]


async def _book_holding_gone(db: str) -> Decimal:
    """A book that bought DDD (and AAA) in a session whose feed carried all four symbols; returns
    the price of DDD's fill."""
    h = await make_engine(db_path=db).start()
    try:
        e = h.engine
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0, 100.0, 100.0, 80.0]))
        assert (await e.submit(ManualBuy(symbol=GONE, quote_amount=Decimal(400)))).ok
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(300)))).ok
        (fill,) = [f for f in e.fills if f.symbol == GONE]
        for k in range(3, 6):  # DDD moves on after the buy: the book stores no price of it but its fill
            await h.step(klines(T0 + k * MIN, [100.0, 100.0, 100.0, 80.5]))
        return fill.price
    finally:
        await h.stop()


async def test_a_paper_close_of_a_symbol_the_feed_no_longer_carries_books_it_at_its_last_fill(
    tmp_path, caplog
):
    db = str(tmp_path / "book.db")
    price = await _book_holding_gone(db)
    h = await make_engine(db_path=db, symbols=LEFT, start_ms=T0 + 10 * MIN).start()
    try:
        e = h.engine
        pos = e.portfolio.positions[GONE]
        qty, cash = pos.quantity, e.portfolio.cash
        assert GONE not in e.sym_index
        assert not (await e.submit(ManualSell(symbol=GONE, quantity=qty / 2))).ok  # only a whole close
        with caplog.at_level(logging.WARNING, logger="tui_trader.engine"):
            res = await e.submit(ClosePosition(symbol=GONE))
        assert res.ok, res.message
        assert "not in this session's market" in res.message and "last stored price" in res.message, (
            res.message
        )
        assert GONE not in e.portfolio.positions and "AAAUSDT" in e.portfolio.positions
        fee = fill_fee(qty * price, Decimal("0.001"))  # the paper fee (broker.fee_rate)
        assert e.portfolio.cash == cash + qty * price - fee
        (order,) = [o for o in e.orders.values() if o.symbol == GONE and o.side.value == "SELL"]
        assert order.status is OrderStatus.FILLED and order.avg_price == price
        # the order row holds its fill's fee, as every order's does (it said 0: orders.csv's fees
        # summed short of the fills' and the summary's)
        assert order.fees == fee
        (stored,) = [o for o in await e.db.load_orders(limit=50) if o.client_order_id == order.client_order_id]
        assert stored.fees == fee
        assert any(GONE in r.getMessage() and "last stored price" in r.getMessage() for r in caplog.records)
        audit = [a for a in await e.db.load_audit(limit=50) if a["action"] == "close_at_stored_price"]
        assert len(audit) == 1 and "last stored price" in audit[0]["outcome"], audit
        # the paper account sold it too: a later buy is paid from the proceeds, not refused
        assert (await e.broker.balances()).get("DDD", Decimal(0)) == 0
    finally:
        await h.stop()


async def test_flatten_closes_a_paper_position_the_feed_no_longer_carries(tmp_path, caplog):
    db = str(tmp_path / "book.db")
    await _book_holding_gone(db)
    with caplog.at_level(logging.WARNING, logger="tui_trader.engine"):
        h = await make_engine(db_path=db, symbols=LEFT, start_ms=T0 + 10 * MIN).start()
    # the start-up warning names the symbol and says what the operator can do about it
    (warning,) = [r.getMessage() for r in caplog.records if "does not carry" in r.getMessage()]
    assert GONE in warning and "feed.symbols" in warning and "close them" in warning, warning
    try:
        e = h.engine
        await h.step(klines(T0 + 10 * MIN, [100.0] * 3))
        res = await e.submit(FlattenAll())
        assert res.ok, res.message
        assert GONE in res.message and "last stored price" in res.message, res.message
        assert not e.portfolio.positions
    finally:
        await h.stop()


async def test_a_live_close_of_a_symbol_the_feed_no_longer_carries_is_refused_saying_what_to_do(tmp_path):
    """With a broker given to the engine (live: the exchange) nothing is booked at a stored price:
    a sale the exchange did not make would put the book and the account apart."""
    db = str(tmp_path / "book.db")
    await _book_holding_gone(db)
    filters = {s: synthetic_filters(s, 100.0) for s in SYMBOLS}
    holder: dict = {}
    cfg = engine_config()
    exchange = PaperBroker(cfg, ManualClock(0), lambda s: holder["e"].last_price(s), filters)
    h = make_engine(cfg, db_path=db, symbols=LEFT, start_ms=T0 + 10 * MIN, broker=exchange)
    holder["e"] = h.engine
    await h.start()
    try:
        e = h.engine
        qty = e.portfolio.positions[GONE].quantity
        res = await e.submit(ClosePosition(symbol=GONE))
        assert not res.ok
        assert "not in this session's market" in res.message and "feed.symbols" in res.message, res.message
        assert e.portfolio.positions[GONE].quantity == qty and exchange.submit_calls == 0
        res = await e.submit(ManualBuy(symbol=GONE, quote_amount=Decimal(100)))
        assert not res.ok and "not in this session's market" in res.message, res.message
    finally:
        await h.stop()


async def test_an_emergency_stop_answered_while_the_stored_price_is_read_books_no_close(tmp_path):
    """The operator closes the uncarried position and, while its last fill is read from the book,
    presses the emergency stop (closing nothing): the stop is answered, and the close was booked
    after it all the same. As for every order (the last check before one exists), an emergency
    stop made meanwhile stops it; the position stays."""
    import asyncio

    from engine_helpers import until

    from tui_trader.events import EmergencyStop
    from tui_trader.models import EngineState

    db = str(tmp_path / "book.db")
    await _book_holding_gone(db)
    h = await make_engine(db_path=db, symbols=LEFT, start_ms=T0 + 10 * MIN).start()
    try:
        e = h.engine
        qty, cash = e.portfolio.positions[GONE].quantity, e.portfolio.cash
        real_load_fills, read, answered = e.db.load_fills, [], asyncio.Event()

        async def slow_load_fills(*args, **kwargs):
            read.append(True)
            await answered.wait()  # the emergency stop is answered meanwhile
            return await real_load_fills(*args, **kwargs)

        e.db.load_fills = slow_load_fills
        close = asyncio.create_task(e.submit(ClosePosition(symbol=GONE)))
        await until(lambda: read, "the close to read the last fill")
        stop = await e.submit(EmergencyStop(reason="operator panic"))
        assert stop.ok and e.state is EngineState.EMERGENCY_STOPPED, stop.message
        answered.set()
        res = await close
        assert not res.ok and "emergency stop" in res.message, res.message
        assert e.portfolio.positions[GONE].quantity == qty and e.portfolio.cash == cash
        assert not [o for o in e.orders.values() if o.symbol == GONE and o.side.value == "SELL"]
        assert not [a for a in await e.db.load_audit(limit=50) if a["action"] == "close_at_stored_price"]
    finally:
        await h.stop()


async def test_an_emergency_stop_that_closes_positions_closes_an_uncarried_one_at_its_last_fill(tmp_path):
    from tui_trader.events import EmergencyStop

    db = str(tmp_path / "book.db")
    price = await _book_holding_gone(db)
    h = await make_engine(db_path=db, symbols=LEFT, start_ms=T0 + 10 * MIN).start()
    try:
        e = h.engine
        await h.step(klines(T0 + 10 * MIN, [100.0] * 3))
        res = await e.submit(EmergencyStop(reason="operator panic", close_positions=True))
        assert res.ok and "2 position(s) closed" in res.message, res.message
        (order,) = [o for o in e.orders.values() if o.symbol == GONE and o.side.value == "SELL"]
        assert order.status is OrderStatus.FILLED and order.avg_price == price and not e.portfolio.positions
    finally:
        await h.stop()
