"""Review of the pre-trade checks at the PRICE_FILTER.

A LIMIT order's price must lie within PRICE_FILTER's [minPrice, maxPrice] (Binance refuses it
otherwise, and so does the paper broker): the pre-trade checks passed such an order, which the
broker then refused with a filter failure instead of the checks giving their reason.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.filters import limit_price
from tui_trader.execution.paper import PaperBroker
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side, SymbolFilters
from tui_trader.risk.checks import PreTradeChecks, TradeContext

# min price 1, max price 100 (as Binance's PRICE_FILTER of a symbol gives them, strings with zeros)
F = SymbolFilters("YUSDT", "Y", "USDT", D("0.00010000"), D("0.01000000"), D("0.01000000"), D("90000.00000000"),
                  D("5.00000000"), min_price=D("1.00000000"), max_price=D("100.00000000"))
LIMIT_CFG = Config.model_validate({"order_execution": {"use_limit_orders": True}})  # buffer 0.1 %


def entry(qty: str, price: str, order_type: OrderType | None = None) -> TradeContext:
    return TradeContext("YUSDT", D(qty), D(price), D("0.001"), D("100000"), D("1000000"), filters=F,
                        recent_quote_volume=D("1e12"), volatility=0.01, order_type=order_type)


def paper(price: float, balances: dict[str, D], cfg: Config = LIMIT_CFG) -> PaperBroker:
    return PaperBroker(cfg, ManualClock(0), {"YUSDT": price}.get, {"YUSDT": F}, balances=balances)


def test_a_limit_entry_priced_outside_the_price_filter_is_refused_with_its_reason():
    checks = PreTradeChecks(LIMIT_CFG)
    # 0.5 + 0.1 % = 0.5005: below the minimum price 1
    assert checks.check_entry(entry("20", "0.5")) == [
        "limit price 0.5005 below the minimum price 1 (PRICE_FILTER)"
    ]
    # 150 + 0.1 % = 150.15: above the maximum price 100
    assert checks.check_entry(entry("1", "150")) == [
        "limit price 150.15 above the maximum price 100 (PRICE_FILTER)"
    ]
    # inside the range, and at the range's ends, nothing to say
    assert checks.check_entry(entry("1", "50")) == []
    assert limit_price(D("99.9"), Side.BUY, 0.1, F) == D("99.9999")
    assert checks.check_entry(entry("1", "99.9")) == []
    # a MARKET order is not held to PRICE_FILTER (its price is the market's)
    assert checks.check_entry(entry("1", "150", OrderType.MARKET)) == []


def test_a_limit_exit_priced_outside_the_price_filter_is_refused_a_market_one_passes():
    checks = PreTradeChecks(LIMIT_CFG)
    # 150 - 0.1 % = 149.85 (rounded up to the tick for a sell)
    assert checks.check_exit("YUSDT", D("1"), D("150"), D("1"), F) == [
        "limit price 149.85 above the maximum price 100 (PRICE_FILTER)"
    ]
    assert checks.check_exit("YUSDT", D("20"), D("0.5"), D("20"), F) == [
        "limit price 0.4995 below the minimum price 1 (PRICE_FILTER)"
    ]
    assert checks.check_exit("YUSDT", D("1"), D("150"), D("1"), F, order_type=OrderType.MARKET) == []


def test_a_limit_buy_whose_price_rounds_below_one_tick_is_refused():
    # a last price below one tick: the buy limit rounds down to 0, a price no order can carry
    f = SymbolFilters("ZUSDT", "Z", "USDT", D("0.01"), D("1"), D("1"), D("0"), D("0"))
    ctx = TradeContext("ZUSDT", D("1000"), D("0.004"), D("0.001"), D("100000"), D("1000000"), filters=f,
                       recent_quote_volume=D("1e12"), volatility=0.01)
    assert PreTradeChecks(LIMIT_CFG).check_entry(ctx) == ["limit price 0.00 is not positive (PRICE_FILTER)"]


@pytest.mark.parametrize("price, ok", [(0.5, False), (150.0, False), (50.0, True)])
async def test_what_the_checks_pass_the_paper_broker_takes_and_what_it_refuses_they_refuse(price, ok):
    # the same LIMIT buy, as the engine prices it, through the checks and the broker
    qty = "20" if price < 1 else "1"
    ctx = entry(qty, repr(price))
    reasons = PreTradeChecks(LIMIT_CFG).check_entry(ctx)
    b = paper(price, {"USDT": D("100000")})
    lp = limit_price(D(repr(price)), Side.BUY, 0.1, F)
    req = OrderRequest("tt-1", "YUSDT", Side.BUY, OrderType.LIMIT, D(qty), lp)
    if ok:
        assert reasons == []
        assert (await b.submit(req)).status == OrderStatus.FILLED
    else:
        assert len(reasons) == 1 and "(PRICE_FILTER)" in reasons[0]
        with pytest.raises(BrokerError) as ei:
            await b.submit(req)
        assert ei.value.kind == BrokerErrorKind.FILTER_FAILURE and "PRICE_FILTER" in str(ei.value)
