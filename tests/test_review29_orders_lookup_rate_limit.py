"""A lookup after a send that got no answer honours the exchange's rate-limit wait."""

from __future__ import annotations

from decimal import Decimal

from test_order_manager import Rig  # the order manager's test rig

from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.models import OrderStatus


async def test_a_rate_limited_lookup_after_a_timed_out_send_waits_as_long_as_the_exchange_asks():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)  # executed, the answer lost
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=20.0, op="query")  # 429: wait 20 s
    o = await r.om.execute(r.order())
    assert o.status is OrderStatus.FILLED and r.broker.submit_calls == 1
    assert o.executed_qty == Decimal("0.01")
    # was [0.5, 1.0]: asked again after 1 s though told to wait 20 (Binance bans an IP that does)
    assert r.sleeps[0] == 0.5 and r.sleeps[1] >= 20.0, r.sleeps


async def test_a_rate_limit_wait_longer_than_allowed_leaves_the_outcome_unknown_without_asking_again():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=3_600.0, op="query")  # an IP ban (418)
    o = await r.om.execute(r.order())
    assert o.status is OrderStatus.NEW and o.error.startswith("outcome unknown")
    assert r.sleeps == [0.5], r.sleeps  # given up at once, not looked up again during the ban
    assert r.broker.submit_calls == 1


async def test_polls_of_an_open_order_wait_as_long_as_a_rate_limit_asks():
    r = Rig()
    r.broker.hold_next()  # the order rests open at the exchange
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=7.0, op="query")  # the first poll: 429
    o = await r.om.execute(r.order())
    assert o.status is OrderStatus.CANCELED and o.error.startswith("timed out")  # after the order timeout
    # was [0.5, 1.0, ...]: polled again 1 s after being told to wait 7 s
    assert r.sleeps[0] == 0.5 and r.sleeps[1] >= 7.0, r.sleeps
    assert sum(r.sleeps) == 30.0  # the order timeout still ends the wait
