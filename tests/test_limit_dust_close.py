"""With ``order_execution.use_limit_orders``, a holding worth a little more than the minimum
notional at the last price is worth less than it at a LIMIT sell's limit price (below the last
price by the buffer). The pre-trade check refused that LIMIT close as "dust that cannot be sold",
but the write-off judges at the last price, so the position was neither sold nor written off:
stuck. Such a close goes out as a MARKET order (Binance holds a MARKET sell to the minimum notional
at its average price, applyMinToMarket); the default MARKET behaviour is unchanged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_helpers import MIN, T0, engine_config, klines, make_engine, prices

from tui_trader.events import ClosePosition, EmergencyStop, ManualBuy
from tui_trader.models import OrderStatus, OrderType, Side

# min notional 5 (the synthetic filters), buffer 1 %: at 84 the 0.06 held are worth 5.04, but a
# LIMIT sell at 83.16 only 4.99
LIMITS = {"use_limit_orders": True, "limit_order_buffer_percent": 1.0}
NO_STOP = {"stop_loss_percent": 50.0}  # the operator closes, not the stop loss


async def _held_just_above_the_minimum(h) -> None:
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(6)))).ok
    assert e.portfolio.positions["AAAUSDT"].quantity == Decimal("0.06")
    await h.step(prices(T0 + 3 * MIN + 1000, [84.0], symbols=[0]))


@pytest.mark.parametrize("how", ["close", "emergency"])
async def test_a_limit_close_below_the_minimum_at_its_limit_price_is_sold_at_market(how) -> None:
    h = await make_engine(engine_config(order_execution=LIMITS, risk_management=NO_STOP)).start()
    e = h.engine
    try:
        await _held_just_above_the_minimum(h)
        if how == "close":
            res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        else:
            res = await e.submit(EmergencyStop(close_positions=True))
        assert res.ok, res.message
        assert "AAAUSDT" not in e.portfolio.positions  # sold, not stuck
        (sell,) = [o for o in e.orders.values() if o.side is Side.SELL]
        assert sell.type is OrderType.MARKET and sell.price is None
        assert sell.status is OrderStatus.FILLED and sell.executed_qty == Decimal("0.06")
        assert "written off" not in res.message
        (buy,) = [o for o in e.orders.values() if o.side is Side.BUY]
        assert buy.type is OrderType.LIMIT  # every other order stays a LIMIT one
    finally:
        await h.stop()


async def test_a_limit_close_that_meets_the_minimum_stays_a_limit_order() -> None:
    h = await make_engine(engine_config(order_execution=LIMITS, risk_management=NO_STOP)).start()
    e = h.engine
    try:
        await _held_just_above_the_minimum(h)
        await h.step(prices(T0 + 3 * MIN + 2000, [90.0], symbols=[0]))  # 0.06 at 89.10: 5.35
        assert (await e.submit(ClosePosition(symbol="AAAUSDT"))).ok
        (sell,) = [o for o in e.orders.values() if o.side is Side.SELL]
        assert sell.type is OrderType.LIMIT and sell.status is OrderStatus.FILLED
    finally:
        await h.stop()


async def test_without_limit_orders_the_same_close_is_a_market_order_as_before() -> None:
    h = await make_engine(engine_config(risk_management=NO_STOP)).start()
    e = h.engine
    try:
        await _held_just_above_the_minimum(h)
        assert (await e.submit(ClosePosition(symbol="AAAUSDT"))).ok
        assert "AAAUSDT" not in e.portfolio.positions
        assert {o.type for o in e.orders.values()} == {OrderType.MARKET}
    finally:
        await h.stop()


async def test_a_limit_close_whose_limit_price_is_below_the_price_filter_is_sold_at_market() -> None:
    # PRICE_FILTER's min_price 84: at 84.5 a LIMIT sell's price (1 % below, 83.66) is refused by the
    # checks and would be by the exchange, so the position was stuck; a MARKET sell is not held to it
    from dataclasses import replace

    h = make_engine(engine_config(order_execution=LIMITS, risk_management=NO_STOP))
    h.feed._filters["AAAUSDT"] = replace(h.feed._filters["AAAUSDT"], min_price=Decimal(84))
    await h.start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(60)))).ok
        await h.step(prices(T0 + 3 * MIN + 1000, [84.5], symbols=[0]))
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert res.ok, res.message
        assert "AAAUSDT" not in e.portfolio.positions
        (sell,) = [o for o in e.orders.values() if o.side is Side.SELL]
        assert sell.type is OrderType.MARKET and sell.status is OrderStatus.FILLED
    finally:
        await h.stop()
