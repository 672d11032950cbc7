"""An order's fills are booked all or none. ``record_update`` applied them to the portfolio one by
one before committing them: when a later fill was refused (a live market buy that slipped past the
cash the book has), the earlier ones stayed applied in memory but were never committed, so the
running book and the stored one went apart until a restart."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_helpers import T0, make_engine

from tui_trader.models import Fill, Order, OrderStatus, OrderType, Side, Source
from tui_trader.portfolio import Portfolio


def _fill(cid: str, price: str, qty: str, trade: str, side: Side = Side.BUY) -> Fill:
    return Fill(cid, "AAAUSDT", side, Decimal(price), Decimal(qty), Decimal("0.01"), "USDT", T0, trade)


def test_the_portfolio_books_a_list_of_fills_all_or_none() -> None:
    pf = Portfolio(Decimal(100))
    fills = [_fill("c1", "10", "5", "1"), _fill("c1", "10", "6", "2")]  # 50.01, then 60.01: past the cash
    with pytest.raises(ValueError, match="cash is"):
        pf.apply_fills(fills)
    assert pf.cash == Decimal(100) and pf.positions == {} and pf.fees_paid == 0
    assert pf.apply_fills(fills[:1]) == 0
    assert pf.cash == Decimal("49.99") and pf.positions["AAAUSDT"].quantity == 5
    sells = [_fill("c2", "12", "2", "3", Side.SELL), _fill("c2", "12", "4", "4", Side.SELL)]  # 6 > 5 held
    with pytest.raises(ValueError, match="only 3 held"):
        pf.apply_fills(sells)
    assert pf.cash == Decimal("49.99") and pf.positions["AAAUSDT"].quantity == 5
    assert pf.realized_pnl == 0 and pf.fees_paid == Decimal("0.01")


async def test_an_order_whose_later_fill_is_refused_leaves_the_running_book_as_stored() -> None:
    h = await make_engine().start()
    try:
        eng = h.engine
        cash = eng.portfolio.cash
        now = eng.clock.now_ms()
        order = Order("tt-aon-1", "AAAUSDT", Side.BUY, OrderType.MARKET, Decimal("11"), None, OrderStatus.FILLED,
                      Source.UI, "manual buy", now, now)
        big = str(cash)  # 11 at this price costs more than all the cash
        fills = [_fill("tt-aon-1", "1", "1", "a1"), _fill("tt-aon-1", big, "10", "a2")]
        fills_before, count_before = len(eng.fills), eng.counters["fills"]
        with pytest.raises(ValueError):
            await eng.record_update(order, fills)
        assert eng.portfolio.cash == cash and "AAAUSDT" not in eng.portfolio.positions
        assert (len(eng.fills), eng.counters["fills"]) == (fills_before, count_before)
        assert await eng.db.load_fills("AAAUSDT") == []
    finally:
        await h.stop()
