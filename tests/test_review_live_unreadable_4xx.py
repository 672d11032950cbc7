"""A new order answered with a 4xx whose body is not Binance's error (an HTML page, JSON ``null``,
an object without a ``code``): something in front of the exchange answered, not the exchange.

Binance words every refusal of its own as ``{"code": ..., "msg": ...}``; a body without one came
from a proxy, a CDN or a gateway, which may have put its own page over the exchange's answer (an
order placed, or Binance's HTTP 400 "execution status unknown", -1006/-1007). Booked REJECTED,
an order the exchange had filled was lost from the book; as TIMEOUT it is looked up by client id
before anything is sent again, and sent again (same id) only once the exchange does not know it
and the first request can no longer arrive: never twice, nothing lost."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange, SteerableClock
from live_support import T0, Journal, standin_config

from tui_trader.execution.binance_broker import BinanceBroker
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import Order, OrderRequest, OrderStatus, OrderType, Side, Source

KEY = "k3y-PUBLIC-review4xx"
SECRET = "s3cr3t-PRIVATE-review4xx"
PAGE = "<html><head><title>400 Bad Request</title></head><body>cloudfront</body></html>"


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


@pytest.fixture
async def broker(ex):
    b = BinanceBroker(standin_config(ex), ex.clock, KEY, SECRET)
    await asyncio.wait_for(b.start(), 5)
    yield b
    await asyncio.wait_for(b.stop(), 5)


def _order(cid: str) -> Order:
    return Order(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None, OrderStatus.INTENT, Source.UI,
                 "test", T0, T0)


def _posts(ex: StandinExchange) -> int:
    return len([r for r in ex.requests if r.path == "order" and r.method == "POST"])


@pytest.mark.parametrize("status", [400, 404, 409, 451])
@pytest.mark.parametrize("body", [PAGE, "null", '{"error": "upstream"}'])
async def test_a_new_orders_4xx_without_binances_error_is_an_unknown_outcome(ex, broker, status, body):
    ex.respond_next_html("POST", "order", status, body)
    with pytest.raises(BrokerError) as ei:
        await broker.submit(OrderRequest("tt-r4xx-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert ei.value.kind is BrokerErrorKind.TIMEOUT, ei.value
    assert f"HTTP {status}" in str(ei.value) and "outcome unknown" in str(ei.value), ei.value


async def test_binances_own_4xx_refusal_is_still_a_rejection(ex, broker):
    ex.fail_next("POST", "order", status=400, code=-1102, msg="Mandatory parameter 'quantity' was not sent.")
    with pytest.raises(BrokerError) as ei:
        await broker.submit(OrderRequest("tt-r4xx-2", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert ei.value.kind is BrokerErrorKind.REJECTED, ei.value


@pytest.mark.parametrize("body", [PAGE, "null"])
async def test_an_order_placed_behind_a_garbled_4xx_is_booked_filled_not_lost(ex, broker, body):
    # the exchange carries the order out; a gateway answers 400 with its own page
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, standin_config(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.rewrite_next("POST", "order", lambda _answer: body, status=400)
    order = await asyncio.wait_for(om.execute(_order("tt-r4xx-3")), 20)
    assert ex.orders["tt-r4xx-3"].status == "FILLED"
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert _posts(ex) == 1  # looked up, never sent again
    assert sorted(f.trade_id for f in journal.fills) == sorted(str(t["id"]) for t in ex.orders["tt-r4xx-3"].trades)


async def test_an_order_refused_behind_a_4xx_page_is_sent_again_once_the_exchange_does_not_know_it(ex, broker):
    # refused in front of the exchange: looked up, unknown there, sent again with the same id after
    # the first request can no longer arrive - one order at the exchange
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, standin_config(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.respond_next_html("POST", "order", 404, PAGE)
    order = await asyncio.wait_for(om.execute(_order("tt-r4xx-4")), 30)
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert _posts(ex) == 2 and list(ex.orders) == ["tt-r4xx-4"]
    lookups = [r for r in ex.requests if r.path == "order" and r.method == "GET"]
    assert lookups, "sent again without a lookup"
