"""A cancel whose answer says the order traded before it (``executedQty`` > 0) lists no fills:
the live broker looks the order's trades up (``myTrades`` by order id), so the book gets the
real prices and commissions, not an estimate at the average price with a guessed quote fee. The
estimate stays the fallback when the trades cannot be read, and says so in the log."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange
from live_support import T0, Journal, running_standin, started_broker

from tui_trader.config import Config
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import Order, OrderStatus, OrderType, Side, Source

D = Decimal
KEY = "k3y-PUBLIC-abc123XYZ"
SECRET = "s3cr3t-PRIVATE-987zyx"


@pytest.fixture
async def ex(shared_data):
    async with running_standin(shared_data, KEY) as stand:
        yield stand


@pytest.fixture
async def broker(ex):
    async with started_broker(ex, KEY, SECRET) as b:
        yield b


TRADES = (("30000.00", "0.0004", "0.00000040"), ("29999.00", "0.0002", "0.00000020"))


def trade_before_cancel(ex: StandinExchange, cid: str) -> None:
    """The resting BUY ``cid`` trades twice (commission in BTC, the base asset) just before a cancel
    reaches it: the cancel's answer says PARTIALLY traded then CANCELED, with no fills."""
    o = ex.orders[cid]
    for price, qty, comm in TRADES:
        tid = ex._next_trade_id
        ex._next_trade_id += 1
        o.trades.append(
            {
                "symbol": o.symbol,
                "id": tid,
                "orderId": o.order_id,
                "orderListId": -1,
                "price": price,
                "qty": qty,
                "quoteQty": str(D(price) * D(qty)),
                "commission": comm,
                "commissionAsset": "BTC",
                "time": ex.clock.now_ms(),
                "isBuyer": True,
                "isMaker": True,
                "isBestMatch": True,
            }
        )
        o.executed += D(qty)
        o.quote += D(price) * D(qty)
    o.status = "PARTIALLY_FILLED"


async def test_a_cancel_after_trades_returns_the_real_fills(ex, broker):
    ex.add_open_order("BTCUSDT", "tt-part", "BUY", "0.001", "30000.00")
    trade_before_cancel(ex, "tt-part")
    res = await broker.cancel("BTCUSDT", "tt-part")
    assert res.status == OrderStatus.CANCELED and res.executed_qty == D("0.0006")
    got = [(f.price, f.quantity, f.fee, f.fee_asset) for f in res.fills]
    want = [(D(p), D(q), D(c) * D(p), "BTC") for p, q, c in TRADES]  # a base commission valued at its price
    assert got == want
    asked = [r for r in ex.requests if r.path == "myTrades"]
    assert len(asked) == 1 and asked[0].params["orderId"] == str(ex.orders["tt-part"].order_id)


async def test_a_cancel_with_nothing_traded_asks_for_no_trades(ex, broker):
    ex.add_open_order("BTCUSDT", "tt-none", "BUY", "0.001", "30000.00")
    res = await broker.cancel("BTCUSDT", "tt-none")
    assert res.status == OrderStatus.CANCELED and res.fills == []
    assert not [r for r in ex.requests if r.path == "myTrades"]


async def test_trades_that_cannot_be_read_leave_the_cancel_standing_and_say_so(ex, broker, caplog):
    ex.add_open_order("BTCUSDT", "tt-lag", "BUY", "0.001", "30000.00")
    trade_before_cancel(ex, "tt-lag")
    ex.fail_next("GET", "myTrades", status=503, code=0, msg="Service Unavailable")
    with caplog.at_level(logging.WARNING, logger="tui_trader.execution.binance"):
        res = await broker.cancel("BTCUSDT", "tt-lag")
    assert res.status == OrderStatus.CANCELED and res.executed_qty == D("0.0006") and res.fills == []
    assert any("estimated fee" in r.getMessage() for r in caplog.records)


async def test_the_order_manager_books_the_real_trades_of_an_order_canceled_after_trading(ex, broker):
    """An order found open at a restart is canceled once its timeout has passed; it traded just
    before the cancel reached it. The book gets the two real trades and their BTC commission."""
    ex.add_open_order("BTCUSDT", "tt-om", "BUY", "0.001", "30000.00")
    real_cancel = ex._cancel

    def cancel_after_trades(p, now):
        trade_before_cancel(ex, p["origClientOrderId"])
        return real_cancel(p, now)

    ex._cancel = cancel_after_trades
    cfg = Config.model_validate({"order_execution": {"order_timeout_ms": 1000}})
    journal = Journal()
    om = OrderManager(
        broker, journal, ex.clock, cfg, sleep=asyncio.sleep, backoff_base_s=0.05, poll_cap_s=0.2
    )
    order = Order(
        "tt-om",
        "BTCUSDT",
        Side.BUY,
        OrderType.LIMIT,
        D("0.001"),
        D("30000.00"),
        OrderStatus.NEW,
        Source.UI,
        "test",
        T0 - 60_000,
        T0 - 60_000,
    )
    [out] = await om.reconcile([order])
    assert out.status == OrderStatus.CANCELED and out.executed_qty == D("0.0006")
    assert [(f.price, f.quantity, f.fee_asset) for f in journal.fills] == [
        (D(p), D(q), "BTC") for p, q, _ in TRADES
    ]
    assert not any("synthetic" in f.trade_id for f in journal.fills)
    assert out.fees == sum(D(c) * D(p) for p, _, c in TRADES)
