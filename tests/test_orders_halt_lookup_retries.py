"""An emergency stop (a halt) while the restart's reconciliation backs off between lookups of a
stored order (the exchange rate-limited or unreachable): the back-off is not waited out and the
lookup is not asked again. The order is left as it was, with the reason, never booked nor sent; a
later lookup books what the exchange has."""

from __future__ import annotations

import asyncio

from test_order_manager import D, Rig

from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side


def _endless(r: Rig, sleeping: asyncio.Event):
    """The order manager's sleep, recording each wait and never ending it (``sleeping`` set)."""

    async def endless(seconds: float) -> None:
        r.sleeps.append(seconds)
        sleeping.set()
        await asyncio.Event().wait()

    return endless


async def test_a_halt_ends_the_reconciliations_lookup_back_off() -> None:
    r = Rig()
    await r.broker.submit(OrderRequest("tt-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    sent = r.broker.submit_calls
    stored = r.order("tt-1")
    stored.status = OrderStatus.NEW
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, n=3, op="query", retry_after_s=30.0)
    sleeping = asyncio.Event()
    real_sleep, r.om._sleep = r.om._sleep, _endless(r, sleeping)  # a 30 s back-off that would not end here
    task = asyncio.create_task(r.om.reconcile([stored]))
    await asyncio.wait_for(sleeping.wait(), 20)
    r.om.halt("canceled: emergency stop sent during the start-up (panic)")
    (left,) = await asyncio.wait_for(task, 20)  # without the halt's end of the wait: a timeout here
    assert r.sleeps == [30.0]  # one back-off begun, none after the halt
    assert [e for e in r.log if e[0] == "query"] == [("query", "tt-1")]  # not asked again
    assert left.status is OrderStatus.NEW and not r.journal.fills
    assert left.error.startswith("could not query the exchange: ")
    assert "emergency stop" in left.error and "not asked again" in left.error
    assert r.broker.submit_calls == sent

    # the next lookup (the exchange answering again) books the fill; nothing is sent again
    r.om._sleep = real_sleep
    await r.om.resolve(left)
    assert left.status is OrderStatus.FILLED and left.executed_qty == D("0.01")
    assert [f.client_order_id for f in r.journal.fills] == ["tt-1"]
    assert r.broker.submit_calls == sent


async def test_without_a_halt_the_lookup_still_backs_off_and_books() -> None:
    r = Rig()
    await r.broker.submit(OrderRequest("tt-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    stored = r.order("tt-1")
    stored.status = OrderStatus.NEW
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, n=2, op="query", retry_after_s=5.0)
    (done,) = await r.om.reconcile([stored])
    assert r.sleeps == [5.0, 5.0]
    assert done.status is OrderStatus.FILLED and [f.client_order_id for f in r.journal.fills] == ["tt-1"]


async def test_an_ip_bans_wait_after_a_halt_is_not_called_the_halts() -> None:
    # the first stored order's back-off is ended by the halt; the second's lookup is told to wait
    # longer than an order ever waits (an IP ban): it is left for that reason, not the halt's
    r = Rig()
    for cid in ("tt-1", "tt-2"):
        await r.broker.submit(OrderRequest(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    stored = []
    for cid in ("tt-1", "tt-2"):
        o = r.order(cid)
        o.status = OrderStatus.NEW
        stored.append(o)
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, op="query", retry_after_s=30.0)
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, op="query", retry_after_s=10 * r.om.max_wait_s)
    sleeping = asyncio.Event()
    r.om._sleep = _endless(r, sleeping)
    task = asyncio.create_task(r.om.reconcile(stored))
    await asyncio.wait_for(sleeping.wait(), 20)
    r.om.halt("canceled: emergency stop sent during the start-up (panic)")
    first, second = await asyncio.wait_for(task, 20)
    assert r.sleeps == [30.0]  # the ban was not waited either
    assert "emergency stop" in first.error and "not asked again" in first.error
    assert second.status is OrderStatus.NEW and second.error.startswith("could not query the exchange: ")
    assert "not asked again" not in second.error and "emergency stop" not in second.error
