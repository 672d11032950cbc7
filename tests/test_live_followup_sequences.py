"""Failure sequences an operator can meet on a live account, against the stand-in exchange: a 503
storm around an order the exchange carried out, then recovery; an order refused for the balance,
then a deposit. Neither sends an order twice, books it wrong or trips the order breaker."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from live_support import Journal, intent, posts, running_standin, started_broker

from tui_trader.config import Config
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import OrderStatus

KEY = "k" * 64
SECRET = "s" * 64


@pytest.fixture
async def ex(shared_data):
    async with running_standin(shared_data, KEY) as stand:
        yield stand


@pytest.fixture
async def om(ex):
    async with started_broker(ex, KEY, SECRET) as b:
        yield OrderManager(
            b, Journal(), ex.clock, Config(), sleep=asyncio.sleep, backoff_base_s=0.05, backoff_cap_s=0.3
        )


async def test_a_503_storm_around_an_executed_order_never_sends_it_again(ex, om):
    ex.drop_next("POST", "order")  # carried out, the answer lost
    ex.fail_next("GET", "order", status=503, code=0, msg="Service Unavailable", times=10)
    order = await om.execute(intent("tt-storm"))
    assert order.status == OrderStatus.NEW and "outcome unknown" in order.error
    ex.clear_faults()  # the exchange recovers
    order = await om.resolve(order)
    assert order.status == OrderStatus.FILLED and order.executed_qty == Decimal("0.01")
    assert [o.client_id for o in ex.executed] == ["tt-storm"] and len(posts(ex)) == 1
    booked = om.journal.fills
    assert [f.trade_id for f in booked] == [str(t["id"]) for t in ex.orders["tt-storm"].trades]


async def test_an_order_refused_for_the_balance_goes_through_after_a_deposit(ex, om):
    ex.balances["USDT"] = Decimal("10")
    refused = await om.execute(intent("tt-poor"))
    assert refused.status == OrderStatus.REJECTED and "insufficient" in refused.error
    assert om.breaker.state == "closed"  # the order's fault, not the exchange's
    ex.balances["USDT"] = Decimal("10000")  # the operator deposits
    order = await om.execute(intent("tt-rich"))
    assert order.status == OrderStatus.FILLED and order.executed_qty == Decimal("0.01")
    assert [o.client_id for o in ex.executed] == ["tt-rich"]
    assert [p.params["newClientOrderId"] for p in posts(ex)] == ["tt-poor", "tt-rich"]
