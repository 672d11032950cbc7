"""The cancel at an order's timeout honours a rate limit's back-off like every other request: it
is sent once the exchange's wait is over, and not at all while a back-off longer than an order
may wait (an IP ban) runs - the order is left open then, and a later lookup cancels it."""

from __future__ import annotations

import asyncio

from test_order_manager import D, Rig  # the order manager's test rig

from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side


def _waited_before_cancel(r: Rig) -> float:
    """The sleeps' sum before the first cancel (the rig's sleep logs each, in order)."""
    calls = [c for c in r.log if c[0] in ("query", "cancel")]
    assert calls and calls[-1][0] == "cancel", r.log
    return sum(r.sleeps)


async def test_the_timeout_cancel_waits_until_the_rate_limits_back_off_is_over() -> None:
    r = Rig()
    r.broker.hold_next()  # the order rests open at the exchange
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=40.0, op="query")  # first poll: wait 40 s
    o = await r.om.execute(r.order())
    assert o.status is OrderStatus.CANCELED and o.error.startswith("timed out")
    # the poll (after 0.5 s) was told to wait 40 s: the cancel goes no sooner than 40.5 s in
    # (it was sent at the 30 s timeout, 10 s into the back-off: an IP ban on Binance)
    assert _waited_before_cancel(r) >= 40.5, r.sleeps
    assert [c[0] for c in r.log if c[0] in ("query", "cancel")] == ["query", "cancel"]


async def test_a_back_off_longer_than_allowed_sends_no_cancel_and_a_later_lookup_cancels() -> None:
    r = Rig()
    r.broker.hold_next()
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=3_600.0, op="query")  # an IP ban (418)
    o = await r.om.execute(r.order())
    assert ("cancel", "tt-1") not in r.log  # nothing sent during the ban
    assert o.status is OrderStatus.NEW and "cancel not sent yet" in o.error
    assert r.om.unsettled() == {"tt-1": "BTCUSDT"}
    assert max(r.sleeps) <= r.om.max_wait_s  # the hour's ban is not slept out, holding every trade
    await r.om.resolve(o)  # the engine's next look, once the exchange answers again
    assert o.status is OrderStatus.CANCELED and o.error.startswith("timed out")
    assert await r.broker.open_orders() == []


async def test_a_cancel_answered_with_a_rate_limit_is_not_followed_by_a_lookup_at_once() -> None:
    r = Rig()
    r.broker.hold_next()
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=5.0, op="cancel")
    o = await r.om.execute(r.order())
    after_cancel = r.log[[c[0] for c in r.log].index("cancel") + 1 :]
    assert not any(c[0] == "query" for c in after_cancel), r.log  # no request while told to back off
    assert o.status is OrderStatus.NEW and "cancel failed" in o.error
    await r.om.resolve(o)  # the next look cancels it
    assert o.status is OrderStatus.CANCELED


async def test_a_halt_during_the_back_off_before_a_reconciled_orders_cancel_cancels_it_at_once() -> None:
    """A restart finds the last run's order resting; its poll is told to back off past the order
    timeout, and an emergency stop comes while the cancel waits that out: the cancel goes at once,
    with the stop's reason (as a halt during any other wait of a reconciliation)."""
    r = Rig()
    r.broker.hold_next()
    await r.broker.submit(OrderRequest("tt-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    stored = r.order("tt-1")  # its intent, stored by the last run, which then died
    halted_at: list[float] = []

    def on_sleep() -> None:
        if len(r.sleeps) == 1:  # the first poll's wait: that poll is told to back off 40 s
            r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=40.0, op="query")

    r.on_sleep.append(on_sleep)
    real_sleep = r.om._sleep

    async def sleep(s: float) -> None:
        if len(r.sleeps) == 2:  # the wait up to the timeout is over; this is the back-off's rest
            halted_at.append(s)
            r.om.halt("canceled: emergency stop (panic)")
            await asyncio.Event().wait()  # a wait that would not end by itself
        await real_sleep(s)

    r.om._sleep = sleep
    (done,) = await asyncio.wait_for(r.om.reconcile([stored]), 20)
    assert halted_at, r.sleeps  # the halt came during the back-off before the cancel
    assert done.status is OrderStatus.CANCELED and "emergency stop" in done.error
    assert ("cancel", "tt-1") in r.log and r.broker.submit_calls == 1
