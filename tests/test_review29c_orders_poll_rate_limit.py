"""A poll told by a rate limit to wait past the order timeout does not poll again meanwhile."""

from __future__ import annotations

from test_order_manager import Rig  # the order manager's test rig

from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.models import OrderStatus


async def test_a_rate_limit_wait_past_the_order_timeout_asks_no_more_polls():
    r = Rig()
    r.broker.hold_next()  # the order rests open at the exchange
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=45.0, op="query")  # first poll: wait 45 s
    o = await r.om.execute(r.order())
    assert o.status is OrderStatus.CANCELED and o.error.startswith("timed out")
    # was 2: the wait was cut to the 29.5 s left of the order timeout, then the order was polled
    # again 30 s before the exchange allowed it (an IP ban on Binance), only to be canceled
    assert [c for c in r.log if c[0] == "query"] == [("query", "tt-1")], r.log
    # the order timeout still ends the polls' wait; the cancel waits out the rest of the 45 s
    assert r.sleeps == [0.5, 29.5, 15.5], r.sleeps


async def test_a_later_lookup_told_to_wait_longer_than_allowed_gives_up_instead_of_sleeping():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)  # executed, the answer lost
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=3_600.0, op="query")  # an IP ban (418)
    o = await r.om.execute(r.order())
    assert o.status is OrderStatus.NEW and r.sleeps == [0.5]  # outcome unknown, no lookup during the ban
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=3_600.0, op="query")
    await r.om.resolve(o)  # the engine's next look (it holds the trade lock meanwhile)
    # was [0.5, 3600.0]: slept out the hour's ban, every symbol's trading (stop losses too) waiting
    assert r.sleeps == [0.5], r.sleeps
    assert o.status is OrderStatus.NEW and "could not query the exchange" in o.error
    await r.om.resolve(o)  # the next period: it is asked, and found
    assert o.status is OrderStatus.FILLED
