"""An order's ``fees`` (the orders table and ``export``'s orders.csv) is in the quote asset, like
the portfolio's ``fees_paid``: a fill charged in the quote or the base asset counts at its quote
value, a fill charged in a third asset (BNB) is left out - its raw amount is in another unit and
stays on the fill (``fee`` with ``fee_asset``) and in the book's ``other_fees``."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.execution.binance_broker import BinanceBroker
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import Fill, Order, OrderStatus, OrderType, Side, Source
from tui_trader.portfolio import Portfolio

KEY = "k3y-PUBLIC-leftovers27"
SECRET = "s3cr3t-PRIVATE-leftovers27"
T0 = ms("2024-03-01T00:00:30")
D = Decimal


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


def make_cfg(ex: StandinExchange) -> Config:
    return Config.model_validate(
        {"binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0}}
    )


class Journal:
    def __init__(self) -> None:
        self.fills: list[Fill] = []

    async def record_intent(self, order: Order) -> None:
        pass

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        self.fills.extend(fills)


def _answer(fills: list[dict]) -> dict:
    quote = sum((D(f["price"]) * D(f["qty"]) for f in fills), D(0))
    qty = sum((D(f["qty"]) for f in fills), D(0))
    return {
        "symbol": "BTCUSDT",
        "orderId": 78,
        "orderListId": -1,
        "clientOrderId": "tt27-fee-1",
        "transactTime": T0,
        "price": "0.00000000",
        "origQty": f"{qty:.8f}",
        "executedQty": f"{qty:.8f}",
        "cummulativeQuoteQty": f"{quote:.8f}",
        "status": "FILLED",
        "timeInForce": "GTC",
        "type": "MARKET",
        "side": "BUY",
        "workingTime": T0,
        "selfTradePreventionMode": "EXPIRE_TAKER",
        "fills": fills,
    }


def _fill(price: str, qty: str, commission: str, asset: str, tid: int) -> dict:
    return {"price": price, "qty": qty, "commission": commission, "commissionAsset": asset, "tradeId": tid}


async def test_a_bnb_commission_is_not_added_to_the_quote_valued_order_fees(ex):
    """One order charged in BNB, then BTC (the base), then USDT: ``order.fees`` added the BNB
    amount (0.00054 BNB) to the USDT figures, a sum in no unit. It is now the quote value of the
    BTC and USDT fees, the same figure as the portfolio's ``fees_paid`` for these fills."""
    broker = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await asyncio.wait_for(broker.start(), 5)
    try:
        ex.respond_next(
            "POST",
            "order",
            _answer(
                [
                    _fill("61000.00000000", "0.00600000", "0.00054000", "BNB", 31),
                    _fill("61000.01000000", "0.00300000", "0.00000300", "BTC", 32),
                    _fill("61000.02000000", "0.00100000", "0.06100002", "USDT", 33),
                ]
            ),
        )
        journal = Journal()
        om = OrderManager(broker, journal, ex.clock, make_cfg(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
        order = Order(
            "tt27-fee-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01"), None,
            OrderStatus.INTENT, Source.UI, "test", T0, T0,
        )  # fmt: skip
        order = await asyncio.wait_for(om.execute(order), 20)
    finally:
        await asyncio.wait_for(broker.stop(), 5)
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert [f.fee_asset for f in journal.fills] == ["BNB", "BTC", "USDT"]
    quote_valued = D("0.00000300") * D("61000.01") + D("0.06100002")
    assert order.fees == quote_valued
    book = Portfolio(D("1000"))
    for f in journal.fills:
        book.apply_fill(f)
    assert order.fees == book.fees_paid
    assert book.other_fees == {"BNB": D("0.00054")}
