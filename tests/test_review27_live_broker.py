"""Review of the live Binance broker against the stand-in exchange: orders with more trades
than one ``myTrades`` page, and malformed items in the open-orders and account answers."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.execution.binance_broker import BinanceBroker
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side

KEY = "k3y-PUBLIC-review27"
SECRET = "s3cr3t-PRIVATE-review27"
T0 = ms("2024-03-01T00:00:30")


def make_cfg(ex: StandinExchange) -> Config:
    return Config.model_validate(
        {"binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0}}
    )


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


@pytest.fixture
async def broker(ex):
    b = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await asyncio.wait_for(b.start(), 5)
    yield b
    await asyncio.wait_for(b.stop(), 5)


def _split_into_trades(ex: StandinExchange, cid: str, n: int, first_id: int) -> list[dict[str, Any]]:
    """Make the stand-in's order ``cid`` one that executed in ``n`` trades (its executed quantity
    split), with trade ids from ``first_id`` on, as a large order would on Binance."""
    o = ex.orders[cid]
    t0 = o.trades[0]
    part = (o.executed / n).quantize(Decimal("1e-12"), rounding="ROUND_DOWN")
    qtys = [part] * (n - 1) + [o.executed - part * (n - 1)]
    trades = [
        dict(t0, id=first_id + i, qty=str(q), quoteQty=str(q * Decimal(t0["price"])), commission="0")
        for i, q in enumerate(qtys)
    ]
    o.trades = trades
    return trades


async def test_an_order_with_more_trades_than_one_page_is_settled(ex, broker):
    """myTrades lists at most 1,000 trades per request, the most recent ones: an order that
    executed in 1,500 trades read as 1,000 trades for its whole quantity, so every lookup found
    trades missing and failed (TIMEOUT) for ever - the order could never be settled."""
    await broker.submit(OrderRequest("tt27r-big", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.015")))
    # another order of the symbol traded in between: its trades are not this one's
    await broker.submit(OrderRequest("tt27r-other", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    trades = _split_into_trades(ex, "tt27r-big", 1500, first_id=10_000)
    for i, t in enumerate(ex.orders["tt27r-other"].trades):
        t["id"] = 10_000 + 1500 + i
    res = await broker.query("BTCUSDT", "tt27r-big")
    assert res is not None and res.status is OrderStatus.FILLED
    assert [f.trade_id for f in res.fills] == [str(t["id"]) for t in trades]
    assert sum((f.quantity for f in res.fills), Decimal(0)) == ex.orders["tt27r-big"].executed
    pages = [r for r in ex.requests if r.path == "myTrades"]
    assert all(int(r.params["limit"]) <= 1000 for r in pages)
    assert all(r.params["orderId"] == str(ex.orders["tt27r-big"].order_id) for r in pages)


async def test_an_order_with_fewer_trades_than_a_page_takes_one_request(ex, broker):
    """The everyday case is unchanged: one myTrades request."""
    await broker.submit(OrderRequest("tt27r-small", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    _split_into_trades(ex, "tt27r-small", 999, first_id=500)
    res = await broker.query("BTCUSDT", "tt27r-small")
    assert res is not None and len(res.fills) == 999
    assert len([r for r in ex.requests if r.path == "myTrades"]) == 1
