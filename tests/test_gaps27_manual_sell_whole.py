"""A manual sell of the whole holding, its quantity typed in (the sell dialog with the position's
quantity, not left blank), is a close: with ``use_limit_orders``, a LIMIT order whose value at the
limit price misses the minimum notional goes at market, as the close (blank quantity) already did
(tests/test_limit_dust_close.py). Before, it was refused as "dust that cannot be sold" - or, with
the risk override, sent and rejected by the exchange - and the position stayed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_helpers import MIN, T0, engine_config, klines, make_engine, prices
from test_limit_dust_close import LIMITS, NO_STOP, _held_just_above_the_minimum

from tui_trader.events import ManualBuy, ManualSell
from tui_trader.models import OrderStatus, OrderType, Side


@pytest.mark.parametrize("override", [False, True])
async def test_a_manual_sell_of_the_whole_holding_below_the_minimum_at_its_limit_goes_at_market(
    override: bool,
) -> None:
    h = await make_engine(engine_config(order_execution=LIMITS, risk_management=NO_STOP)).start()
    e = h.engine
    try:
        await _held_just_above_the_minimum(h)  # 0.06 held, worth 5.04 at 84, 4.99 at the limit price
        res = await e.submit(ManualSell(symbol="AAAUSDT", quantity=Decimal("0.06"), override_risk=override))
        assert res.ok, res.message
        assert "AAAUSDT" not in e.portfolio.positions  # sold, nothing left behind
        (sell,) = [o for o in e.orders.values() if o.side is Side.SELL]
        assert sell.type is OrderType.MARKET and sell.status is OrderStatus.FILLED
        assert sell.executed_qty == Decimal("0.06")
    finally:
        await h.stop()


async def test_a_manual_sell_of_part_of_the_holding_stays_a_limit_order() -> None:
    """Only a sell of the whole holding is a close: a part is refused as before (no MARKET order)."""
    h = await make_engine(engine_config(order_execution=LIMITS, risk_management=NO_STOP)).start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(12)))).ok
        assert e.portfolio.positions["AAAUSDT"].quantity == Decimal("0.12")
        await h.step(prices(T0 + 3 * MIN + 1000, [84.0], symbols=[0]))
        res = await e.submit(ManualSell(symbol="AAAUSDT", quantity=Decimal("0.06")))
        assert not res.ok and "minimum notional" in res.message
        assert e.portfolio.positions["AAAUSDT"].quantity == Decimal("0.12")
        assert not [o for o in e.orders.values() if o.side is Side.SELL]
    finally:
        await h.stop()
