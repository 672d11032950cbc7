"""Review of the paper broker: a LIMIT buy locks its limit amount.

A LIMIT buy locks ``quantity x limit price`` of the quote asset on Binance, however low it then
fills: the paper broker took a LIMIT buy whose cost at the fill price fitted the free balance but
whose limit amount did not, an order the exchange refuses.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side, SymbolFilters

F = SymbolFilters("YUSDT", "Y", "USDT", D("0.00010000"), D("0.01000000"), D("0.01000000"), D("90000.00000000"),
                  D("5.00000000"))


def paper(price: float, balances: dict[str, D]) -> PaperBroker:
    return PaperBroker(Config(), ManualClock(0), {"YUSDT": price}.get, {"YUSDT": F}, balances=balances)


async def test_a_limit_buy_needs_its_limit_amount_free_as_the_exchange_locks_it():
    # last 50, slippage 2 bps: a buy of 1 fills at 50.01 (fee 0.05001) - 50.06001 in all - but a
    # LIMIT at 60 locks 60 USDT until it fills: with 55 free Binance refuses it
    b = paper(50.0, {"USDT": D("55")})
    with pytest.raises(BrokerError) as ei:
        await b.submit(OrderRequest("tt-1", "YUSDT", Side.BUY, OrderType.LIMIT, D("1"), D("60")))
    assert ei.value.kind == BrokerErrorKind.INSUFFICIENT_BALANCE and "need 60" in str(ei.value)
    assert await b.balances() == {"USDT": D("55")}  # nothing changed
    assert await b.query("YUSDT", "tt-1") is None  # never created
    # with the limit amount free it fills at the (lower) market price, paying that and its fee
    b = paper(50.0, {"USDT": D("60")})
    res = await b.submit(OrderRequest("tt-2", "YUSDT", Side.BUY, OrderType.LIMIT, D("1"), D("60")))
    assert res.status == OrderStatus.FILLED and res.fills[0].price == D("50.0100")
    assert await b.balances() == {"USDT": D("60") - D("50.0100") - D("0.05001000"), "Y": D("1")}
    # the fee on top of the fill counts too when it is above the limit amount (a limit at the fill)
    b = paper(50.0, {"USDT": D("50.06")})
    with pytest.raises(BrokerError, match="need 50.06001"):
        await b.submit(OrderRequest("tt-3", "YUSDT", Side.BUY, OrderType.LIMIT, D("1"), D("50.01")))
    # a MARKET buy locks nothing beyond its cost and fee
    b = paper(50.0, {"USDT": D("50.06001")})
    res = await b.submit(OrderRequest("tt-4", "YUSDT", Side.BUY, OrderType.MARKET, D("1"), None))
    assert res.status == OrderStatus.FILLED and (await b.balances())["USDT"] == 0
