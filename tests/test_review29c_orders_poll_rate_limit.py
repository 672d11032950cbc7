"""A poll told by a rate limit to wait past the order timeout does not poll again meanwhile."""

from __future__ import annotations

from test_order_manager import Rig  # the order manager's test rig

from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.models import OrderStatus


async def test_a_rate_limit_wait_past_the_order_timeout_asks_no_more_polls():
    r = Rig()
    r.broker.hold_next()  # the order rests open at the exchange
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=60.0, op="query")  # first poll: wait 60 s
    o = await r.om.execute(r.order())
    assert o.status is OrderStatus.CANCELED and o.error.startswith("timed out")
    # was 2: the wait was cut to the 29.5 s left of the order timeout, then the order was polled
    # again 30 s before the exchange allowed it (an IP ban on Binance), only to be canceled
    assert [c for c in r.log if c[0] == "query"] == [("query", "tt-1")], r.log
    assert r.sleeps == [0.5, 29.5], r.sleeps  # the order timeout still ends the wait
