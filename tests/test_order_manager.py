"""OrderManager: write-ahead intent, never-send-twice retries, backoff, circuit breaker, timeouts, reconcile."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.circuit import CircuitBreaker
from tui_trader.execution.order_manager import OrderManager, backoff_delay
from tui_trader.execution.paper import PaperBroker
from tui_trader.models import (
    Fill,
    Order,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Side,
    Source,
    SymbolFilters,
)

D = Decimal
T0 = 1_700_000_000_000
BTC = SymbolFilters("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("9000"), D("10"))


class Journal:
    """Records every journal call into a log shared with the broker, so call order can be asserted."""

    def __init__(self, log: list) -> None:
        self.log = log
        self.fills: list[Fill] = []
        self.states: list[Order] = []
        self.fail_intent = False

    async def record_intent(self, order: Order) -> None:
        if self.fail_intent:
            raise OSError("disk full")
        self.log.append(("intent", order.client_order_id, order.status))
        self.states.append(order)

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        self.log.append(("update", order.client_order_id, order.status, len(fills)))
        self.states.append(order)
        self.fills.extend(fills)
        order.realized_pnl += sum((f.fee for f in fills), D(0))  # stands in for the portfolio's figure


class LoggedPaper(PaperBroker):
    """The paper exchange, logging each call into the shared log (and optionally raising a raw exception once)."""

    def __init__(self, log: list, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.log = log
        self.raw_error_next: Exception | None = None
        self.strip_query_fills = False

    async def submit(self, req: OrderRequest) -> OrderResult:
        self.log.append(("submit", req.client_order_id))
        if self.raw_error_next is not None:
            exc, self.raw_error_next = self.raw_error_next, None
            raise exc
        return await super().submit(req)

    async def query(self, symbol: str, client_order_id: str) -> OrderResult | None:
        self.log.append(("query", client_order_id))
        res = await super().query(symbol, client_order_id)
        if res is not None and self.strip_query_fills:  # like Binance GET /order: no fills
            res.fills = []
        return res

    async def cancel(self, symbol: str, client_order_id: str) -> OrderResult:
        self.log.append(("cancel", client_order_id))
        return await super().cancel(symbol, client_order_id)


class Rig:
    def __init__(self, cfg: Config | None = None, record_sleeps: bool = True, in_flight_ms: int = 0) -> None:
        self.cfg = cfg or Config()
        self.clock = ManualClock(T0)
        self.log: list = []
        self.sleeps: list[float] = []
        self.broker = LoggedPaper(self.log, self.cfg, self.clock, {"BTCUSDT": 42283.58}.get, {"BTCUSDT": BTC})
        if in_flight_ms:
            self.broker.in_flight_ms = in_flight_ms
        self.journal = Journal(self.log)
        self.on_sleep: list = []  # callables run at each sleep (e.g. an emergency stop meanwhile)

        async def sleep(s: float) -> None:
            self.sleeps.append(s)
            for fn in self.on_sleep:
                fn()
            await asyncio.sleep(0)

        self.om = OrderManager(self.broker, self.journal, self.clock, self.cfg, sleep if record_sleeps else None)

    def order(self, cid: str = "tt-1", side: Side = Side.BUY, qty: str = "0.01", price: str | None = None) -> Order:
        return Order(
            client_order_id=cid,
            symbol="BTCUSDT",
            side=side,
            type=OrderType.LIMIT if price else OrderType.MARKET,
            quantity=D(qty),
            price=D(price) if price else None,
            status=OrderStatus.INTENT,
            source=Source.STRATEGY,
            reason="test",
            created_ms=self.clock.now_ms(),
            updated_ms=self.clock.now_ms(),
        )


def cfg_with(**sections: dict) -> Config:
    return Config.model_validate(sections)


async def test_intent_is_journaled_before_submit_and_fill_recorded():
    r = Rig()
    o = await r.om.execute(r.order())
    assert r.log == [
        ("intent", "tt-1", OrderStatus.INTENT),
        ("submit", "tt-1"),
        ("update", "tt-1", OrderStatus.FILLED, 1),
    ]
    assert o.status == OrderStatus.FILLED and o.attempts == 1
    assert o.executed_qty == D("0.01") and o.avg_price == D("42292.04") and o.fees == D("0.4229204")
    assert o.exchange_order_id == "1"
    (fill,) = r.journal.fills
    assert fill.price == D("42292.04") and fill.client_order_id == "tt-1"
    # the journal got snapshots, not the live object
    assert r.journal.states[0].status == OrderStatus.INTENT and r.journal.states[0] is not o
    assert r.sleeps == [] and r.om.breaker.state == "closed"
    assert o.realized_pnl == fill.fee  # the journal's realised PnL is kept on the live order


async def test_failed_intent_write_sends_nothing():
    r = Rig()
    r.journal.fail_intent = True
    with pytest.raises(OSError):
        await r.om.execute(r.order())
    assert r.broker.submit_calls == 0 and r.log == []
    r.journal.fail_intent = False
    assert (await r.om.execute(r.order())).status == OrderStatus.FILLED  # the id was not burnt


async def test_timeout_after_fill_is_found_by_query_and_not_resent():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.FILLED and o.executed_qty == D("0.01")
    assert [e for e in r.log if e[0] == "submit"] == [("submit", "tt-1")]  # the exchange saw one order
    assert r.log.index(("query", "tt-1")) > r.log.index(("submit", "tt-1"))
    assert len(r.journal.fills) == 1
    assert (await r.broker.balances())["BTC"] == D("0.01")
    assert r.sleeps == [0.5]


async def test_network_error_queries_then_resends_with_same_id():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.NETWORK)
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.FILLED and o.attempts == 2
    assert [e[0] for e in r.log] == ["intent", "submit", "query", "submit", "update"]
    assert r.sleeps == [0.5]
    assert (await r.broker.balances())["BTC"] == D("0.01")


async def test_unexpected_exception_is_treated_as_unknown_outcome():
    r = Rig()
    r.broker.raw_error_next = ConnectionResetError("peer reset")
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.FILLED
    assert [e[0] for e in r.log] == ["intent", "submit", "query", "submit", "update"]


async def test_exponential_backoff_and_retry_limit():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.NETWORK, n=3)
    assert (await r.om.execute(r.order("tt-1"))).status == OrderStatus.FILLED
    assert r.sleeps == [0.5, 1.0, 2.0]
    r.sleeps.clear()
    r.broker.fail_next(BrokerErrorKind.NETWORK, n=4)  # one more than retry_attempts = 3
    o = await r.om.execute(r.order("tt-2"))
    assert o.status == OrderStatus.REJECTED and "network" in o.error
    assert o.attempts == 4 and r.sleeps == [0.5, 1.0, 2.0]
    assert await r.broker.query("BTCUSDT", "tt-2") is None


async def test_backoff_honours_retry_after():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=7.0)
    assert (await r.om.execute(r.order("tt-1"))).status == OrderStatus.FILLED
    assert r.sleeps == [7.0]
    r.sleeps.clear()
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, n=2, retry_after_s=0.2)  # shorter than the backoff
    assert (await r.om.execute(r.order("tt-2"))).status == OrderStatus.FILLED
    assert r.sleeps == [0.5, 1.0]
    assert backoff_delay(1) == 0.5 and backoff_delay(4) == 4.0 and backoff_delay(10, cap_s=30.0) == 30.0
    assert backoff_delay(2, retry_after_s=12.0) == 12.0
    # past ~1024 retries 2.0**n leaves the floats: the cap holds instead of OverflowError
    assert backoff_delay(5000, cap_s=30.0) == 30.0


async def test_ban_longer_than_the_order_timeout_gives_up_without_waiting():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=3600.0)
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.REJECTED and "rate_limit" in o.error
    assert r.sleeps == [] and r.broker.submit_calls == 1


@pytest.mark.parametrize(
    ("order_kw", "setup", "fragment"),
    [
        ({"qty": "1"}, None, "insufficient"),  # 42k USDT with 10k
        ({"qty": "0.0001"}, None, "min_notional"),
        ({}, BrokerErrorKind.REJECTED, "rejected"),
        ({}, BrokerErrorKind.AUTH, "auth"),
    ],
)
async def test_final_errors_are_not_retried(order_kw, setup, fragment):
    r = Rig()
    if setup is not None:
        r.broker.fail_next(setup)
    o = await r.om.execute(r.order(**order_kw))
    assert o.status == OrderStatus.REJECTED and fragment in o.error
    assert r.broker.submit_calls == 1 and r.sleeps == []
    assert [e[0] for e in r.log] == ["intent", "submit", "update"]


async def test_limit_ioc_that_does_not_cross_expires():
    r = Rig()
    o = await r.om.execute(r.order(price="42000.00"))
    assert o.status == OrderStatus.EXPIRED and o.executed_qty == 0 and "did not cross" in o.error
    assert r.journal.fills == []


async def test_unknown_outcome_is_left_open_then_resolved_without_resending():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)
    r.broker.fail_next(BrokerErrorKind.NETWORK, n=3, op="query")
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.NEW and o.error.startswith("outcome unknown")
    assert r.broker.submit_calls == 1 and r.journal.fills == []
    o = await r.om.resolve(o)
    assert o.status == OrderStatus.FILLED and len(r.journal.fills) == 1
    assert r.broker.submit_calls == 1


async def test_a_halt_stops_an_order_waiting_to_retry_and_spares_later_orders():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, n=2, retry_after_s=1.0)
    r.on_sleep.append(lambda: r.om.halt("emergency stop"))  # the operator's stop lands during the wait
    o = await r.om.execute(r.order("tt-1"))
    assert o.status == OrderStatus.CANCELED and o.error == "not sent: emergency stop"
    assert r.broker.submit_calls == 1  # the rate-limited try only: never sent after the stop
    assert [e[0] for e in r.log] == ["intent", "submit", "query", "update"]
    assert (await r.broker.balances()).get("BTC", D(0)) == 0
    assert r.om.breaker.state == "closed" and r.om.unsettled() == {}
    r.on_sleep.clear()
    assert (await r.om.execute(r.order("tt-2"))).status == OrderStatus.FILLED  # placed after the stop


async def test_a_gate_closed_during_a_retrys_wait_stops_the_resend_and_a_gate_left_open_does_not():
    """The engine's gate for a signal's order (the operator paused meanwhile): asked before each
    send, as the halt is; its reason ends the order "not sent"."""
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, n=2, retry_after_s=1.0)
    why = [""]
    r.on_sleep.append(lambda: why.__setitem__(0, "engine paused"))  # the pause lands during the wait
    o = await r.om.execute(r.order("tt-1"), lambda: why[0])
    assert o.status == OrderStatus.CANCELED and o.error == "not sent: engine paused"
    assert r.broker.submit_calls == 1  # the rate-limited try only
    assert r.om.breaker.state == "closed" and r.om.unsettled() == {}
    r.on_sleep.clear()
    assert (await r.om.execute(r.order("tt-2"), lambda: "")).status == OrderStatus.FILLED


async def test_the_broker_error_of_the_last_rejected_order_is_kept_by_its_client_id():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.FILTER_FAILURE)
    await r.om.execute(r.order("tt-1"))
    err = r.om.rejection("tt-1")
    assert err is not None and err.kind is BrokerErrorKind.FILTER_FAILURE
    assert r.om.rejection("tt-2") is None
    assert (await r.om.execute(r.order("tt-2"))).status == OrderStatus.FILLED
    assert r.om.rejection("tt-1") is not None and r.om.rejection("tt-2") is None  # a fill is no rejection


async def test_not_found_while_an_unanswered_send_may_still_arrive_is_no_leave_to_resend():
    r = Rig(in_flight_ms=6000)  # e.g. Binance: recvWindow 5 s + 1 s
    r.broker.fail_next(BrokerErrorKind.TIMEOUT)  # no answer; the lookups find nothing
    o = await r.om.execute(r.order())
    # lookups at 0.5, 1.5 and 3.5 s prove nothing and are no retries; at 7.5 s the request can no
    # longer arrive: sent once more, with the same id
    assert r.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert o.status == OrderStatus.FILLED and o.attempts == 2 and r.broker.submit_calls == 2
    assert (await r.broker.balances())["BTC"] == D("0.01")


async def test_resolve_leaves_an_order_unknown_while_its_unanswered_send_may_still_arrive():
    r = Rig(in_flight_ms=6000)
    r.broker.fail_next(BrokerErrorKind.TIMEOUT)
    r.broker.fail_next(BrokerErrorKind.NETWORK, n=3, op="query")  # and the exchange cannot be asked
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.NEW and o.error.startswith("outcome unknown")
    assert r.broker.submit_calls == 1 and r.om.unsettled() == {"tt-1": "BTCUSDT"}
    r.clock.advance(2_000)
    assert (await r.om.resolve(o)).status == OrderStatus.NEW  # not found, but still within the window
    r.clock.advance(5_000)
    o = await r.om.resolve(o)
    assert o.status == OrderStatus.CANCELED and o.error == "not found at the exchange"
    assert r.broker.submit_calls == 1 and r.om.unsettled() == {}


async def test_not_found_after_the_in_flight_window_allows_one_resend():
    r = Rig(in_flight_ms=2000)
    r.broker.fail_next(BrokerErrorKind.TIMEOUT)
    o = await r.om.execute(r.order())
    # lookups at 0.5 s and 1.5 s prove nothing; at 3.5 s the request can no longer arrive
    assert o.status == OrderStatus.FILLED and o.attempts == 2 and r.sleeps == [0.5, 1.0, 2.0]
    assert r.broker.submit_calls == 2 and (await r.broker.balances())["BTC"] == D("0.01")


async def test_fills_synthesised_when_the_lookup_has_none():
    r = Rig()
    r.broker.strip_query_fills = True
    r.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.FILLED
    (f,) = r.journal.fills
    assert f.quantity == D("0.01") and f.price == D("42292.04")
    assert f.fee == D("0.42292040")  # estimated at the configured fee rate
    assert o.avg_price == D("42292.04")


async def test_circuit_breaker_opens_and_half_opens_after_cooloff():
    r = Rig(cfg_with(risk_management={"circuit_breaker_failures": 2, "circuit_breaker_cooloff_ms": 60_000}))
    for cid in ("tt-1", "tt-2"):
        r.broker.fail_next(BrokerErrorKind.AUTH)
        assert (await r.om.execute(r.order(cid))).status == OrderStatus.REJECTED
    assert r.om.breaker.state == "open"
    calls = r.broker.submit_calls
    refused = await r.om.execute(r.order("tt-3"))
    assert refused.status == OrderStatus.REJECTED and refused.error == "circuit open"
    assert r.broker.submit_calls == calls
    assert r.log[-2:] == [("intent", "tt-3", OrderStatus.INTENT), ("update", "tt-3", OrderStatus.REJECTED, 0)]
    r.clock.advance(59_999)
    assert r.om.breaker.state == "open"
    r.clock.advance(1)
    assert r.om.breaker.state == "half_open"
    # a failed trial re-opens for another cool-off
    r.broker.fail_next(BrokerErrorKind.NETWORK, n=4)
    assert (await r.om.execute(r.order("tt-4"))).status == OrderStatus.REJECTED
    assert r.om.breaker.state == "open"
    r.clock.advance(60_000)
    assert (await r.om.execute(r.order("tt-5"))).status == OrderStatus.FILLED
    assert r.om.breaker.state == "closed"


async def test_order_faults_do_not_trip_the_breaker():
    r = Rig(cfg_with(risk_management={"circuit_breaker_failures": 2}))
    for i in range(3):
        assert (await r.om.execute(r.order(f"tt-{i}", qty="1"))).status == OrderStatus.REJECTED
    assert r.om.breaker.state == "closed"


def test_circuit_breaker_allows_one_trial_when_half_open():
    clock = ManualClock(0)
    b = CircuitBreaker(3, 1000, clock)
    for _ in range(2):
        b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open" and not b.allow()
    clock.advance(1000)
    assert b.state == "half_open"
    assert b.allow() and not b.allow()  # one trial only
    b.record_success()
    assert b.state == "closed" and b.consecutive_failures == 0
    with pytest.raises(ValueError):
        CircuitBreaker(0, 10, clock)


async def test_open_order_times_out_and_is_canceled_on_clock_time():
    r = Rig(record_sleeps=False)  # default sleep: the ManualClock's virtual time
    r.broker.hold_next()
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.CANCELED and o.error.startswith("timed out after 30000 ms")
    assert r.clock.now_ms() - T0 >= 30_000
    statuses = [e[2] for e in r.log if e[0] in ("intent", "update")]
    assert statuses == [OrderStatus.INTENT, OrderStatus.NEW, OrderStatus.CANCELED]
    assert ("cancel", "tt-1") in r.log and r.broker.submit_calls == 1


async def test_timeout_terminates_with_a_sleep_that_does_not_move_the_clock():
    r = Rig()
    r.broker.hold_next()
    o = await r.om.execute(r.order())
    assert o.status == OrderStatus.CANCELED
    assert sum(r.sleeps) == pytest.approx(30.0)
    assert r.clock.now_ms() == T0


async def test_reconcile_adopts_found_orders_and_cancels_unsent_ones():
    r = Rig()
    unsent = r.order("tt-1")
    sent = r.order("tt-2")
    await r.broker.submit(OrderRequest("tt-2", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))  # crash after send
    r.broker.hold_next()
    stuck = r.order("tt-3")
    await r.broker.submit(OrderRequest("tt-3", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    stuck.status = OrderStatus.NEW
    done = r.order("tt-0")
    done.status = OrderStatus.FILLED
    r.clock.advance(31_000)
    calls = r.broker.submit_calls
    r.log.clear()
    out = await r.om.reconcile([done, unsent, sent, stuck])
    assert out == [done, unsent, sent, stuck]
    assert unsent.status == OrderStatus.CANCELED and unsent.error == "not sent before restart"
    assert sent.status == OrderStatus.FILLED and sent.executed_qty == D("0.01")
    assert stuck.status == OrderStatus.CANCELED  # open and older than the order timeout
    assert r.broker.submit_calls == calls  # never resent
    assert not any(e[1] == "tt-0" for e in r.log)  # final orders untouched
    assert [f.client_order_id for f in r.journal.fills] == ["tt-2"]
    assert await r.broker.open_orders() == []


async def test_cancel_all_cancels_our_open_orders_only():
    r = Rig()
    r.broker.hold_next(2)
    foreign = OrderRequest("manual-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01"))
    await r.broker.submit(foreign)
    task = asyncio.create_task(r.om.execute(r.order("tt-1")))
    for _ in range(20):
        await asyncio.sleep(0)
        if len(await r.broker.open_orders()) == 2:
            break
    assert await r.om.cancel_all() == 1
    o = await task
    assert o.status == OrderStatus.CANCELED and sum(r.sleeps) < 30.0  # booked by the poll, before the timeout
    assert [x.client_order_id for x in await r.broker.open_orders()] == ["manual-1"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: setattr(o, "status", OrderStatus.NEW),
        lambda o: setattr(o, "client_order_id", "bad id!"),
        lambda o: setattr(o, "quantity", D("0")),
        lambda o: setattr(o, "quantity", 0.01),
        lambda o: (setattr(o, "type", OrderType.LIMIT), setattr(o, "price", None)),
    ],
)
async def test_malformed_orders_raise_before_anything_happens(mutate):
    r = Rig()
    o = r.order()
    mutate(o)
    with pytest.raises(ValueError):
        await r.om.execute(o)
    assert r.log == []


async def test_client_id_cannot_be_executed_twice():
    r = Rig()
    await r.om.execute(r.order("tt-1"))
    with pytest.raises(ValueError, match="already used"):
        await r.om.execute(r.order("tt-1"))
    assert r.broker.submit_calls == 1


async def test_broker_error_text_reaches_the_order():
    r = Rig()
    r.broker.fail_next(BrokerErrorKind.REJECTED)
    o = await r.om.execute(r.order())
    assert o.error == str(BrokerError(BrokerErrorKind.REJECTED, "injected rejected on submit (before the order "
                                                                  "reached the exchange)"))


async def test_a_submit_that_never_answers_is_cut_off_by_the_order_timeout_and_looked_up():
    """The broker call is bounded by the real (event-loop) timer: a submit that hangs becomes a
    TIMEOUT whose outcome is unknown, so the order is looked up, and found missing, sent again
    with the same client id."""
    r = Rig(cfg_with(order_execution={"order_timeout_ms": 50}))
    hang_once = [True]
    real_submit = r.broker.submit

    async def submit(req: OrderRequest) -> OrderResult:
        if hang_once[0]:
            hang_once[0] = False
            r.log.append(("hang", req.client_order_id))
            await asyncio.Event().wait()  # never answers
        return await real_submit(req)

    r.broker.submit = submit
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    o = await r.om.execute(r.order())
    assert 0.04 <= loop.time() - t0 < 2.0  # waited for the 50 ms timeout, not forever
    assert o.status == OrderStatus.FILLED and o.attempts == 2
    assert [e[0] for e in r.log if e[0] in ("hang", "query", "submit")] == ["hang", "query", "submit"]
    assert len(r.journal.fills) == 1


async def test_resolve_backs_off_on_query_failures_and_gives_up_without_resending():
    r = Rig()
    for cid in ("tt-1", "tt-2", "tt-3"):  # sent before a crash: the exchange filled them
        await r.broker.submit(OrderRequest(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    sent = r.broker.submit_calls

    def stored(cid: str) -> Order:
        o = r.order(cid)
        o.status = OrderStatus.NEW
        return o

    # transient failures: backed off (at least Retry-After for a rate limit), then found and booked
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, n=2, op="query", retry_after_s=5.0)
    r.broker.fail_next(BrokerErrorKind.NETWORK, op="query")
    o = await r.om.resolve(stored("tt-1"))
    assert o.status == OrderStatus.FILLED and o.executed_qty == D("0.01")
    assert r.sleeps == [5.0, 5.0, 2.0] and [f.client_order_id for f in r.journal.fills] == ["tt-1"]
    # one failure more than retry_attempts: the order stays open with the reason, nothing booked
    r.sleeps.clear()
    r.broker.fail_next(BrokerErrorKind.NETWORK, n=4, op="query")
    o = await r.om.resolve(stored("tt-2"))
    assert o.status == OrderStatus.NEW and o.error.startswith("could not query the exchange: ")
    assert r.sleeps == [0.5, 1.0, 2.0] and len(r.journal.fills) == 1
    # a final error is not retried
    r.sleeps.clear()
    r.broker.fail_next(BrokerErrorKind.AUTH, op="query")
    o = await r.om.resolve(stored("tt-3"))
    assert o.status == OrderStatus.NEW and "auth" in o.error and r.sleeps == []
    assert r.broker.submit_calls == sent  # never resent
    # once the exchange answers, both are booked from what it says, the lookup's error gone (a
    # FILLED order kept "could not query the exchange: ...")
    assert o.error
    again = await r.om.resolve(o)
    assert again.status == OrderStatus.FILLED and again.error == ""
    assert (await r.om.resolve(stored("tt-2"))).status == OrderStatus.FILLED
    assert [f.client_order_id for f in r.journal.fills] == ["tt-1", "tt-3", "tt-2"]
    assert r.broker.submit_calls == sent


@pytest.mark.parametrize("query_fails", [False, True])
async def test_a_timed_out_order_whose_cancel_fails_stays_open_with_the_reason(query_fails):
    r = Rig()
    r.broker.hold_next()
    r.broker.fail_next(BrokerErrorKind.NETWORK, op="cancel")
    if query_fails:
        r.broker.fail_next(BrokerErrorKind.NETWORK, n=1000, op="query")
    o = await r.om.execute(r.order())
    # not booked as canceled: it is still open at the exchange, and the error says why
    assert o.status == OrderStatus.NEW
    assert o.error.startswith("timed out after 30000 ms; cancel failed: ")
    assert ("; query failed: " in o.error) == query_fails
    assert [x.client_order_id for x in await r.broker.open_orders()] == ["tt-1"]
    assert r.journal.states[-1].status == OrderStatus.NEW and r.journal.fills == []
    assert r.broker.submit_calls == 1


async def test_a_half_open_trial_stopped_by_a_halt_does_not_jam_the_breaker():
    """The breaker lets one trial order through after its cool-off. When an emergency stop halts
    that trial before it reaches the exchange, the trial says nothing about the exchange's health,
    but it must still end: else the breaker waits for its verdict for ever and refuses every later
    order - the emergency stop's own closing sells too - as "circuit open"."""
    r = Rig(cfg_with(risk_management={"circuit_breaker_failures": 1, "circuit_breaker_cooloff_ms": 60_000}))
    r.broker.fail_next(BrokerErrorKind.AUTH)
    assert (await r.om.execute(r.order("tt-1"))).status == OrderStatus.REJECTED
    r.clock.advance(60_000)
    assert r.om.breaker.state == "half_open"
    r.broker.fail_next(BrokerErrorKind.RATE_LIMIT, retry_after_s=1.0)
    r.on_sleep.append(lambda: r.om.halt("emergency stop"))  # the stop lands while the trial waits
    trial = await r.om.execute(r.order("tt-2"))
    assert trial.status == OrderStatus.CANCELED and trial.error == "not sent: emergency stop"
    r.on_sleep.clear()
    closing = await r.om.execute(r.order("tt-3"))  # placed after the stop
    assert closing.error != "circuit open"
    assert closing.status == OrderStatus.FILLED and r.om.breaker.state == "closed"


async def test_a_lookup_answered_invalid_symbol_is_named_and_only_it_lets_an_order_be_abandoned():
    """Binance -1121 on a lookup: the symbol is no longer listed. reconcile leaves the order open
    and says so; unlisted_refusal passes only on that answer; abandon books it canceled, no fill."""
    r = Rig()
    stored = r.order("tt-9", side=Side.SELL)
    real_query = r.broker.query
    answer: list = [BrokerError(BrokerErrorKind.REJECTED, "query tt-9: Invalid symbol.", code=-1121)]

    async def query(symbol: str, cid: str):
        if answer:
            raise answer[0]
        return await real_query(symbol, cid)

    r.broker.query = query
    (left,) = await r.om.reconcile([stored])
    assert left.status is OrderStatus.INTENT
    assert left.error.startswith("could not query the exchange") and "no longer lists BTCUSDT" in left.error
    assert await r.om.unlisted_refusal(left) == ""
    answer[:] = [BrokerError(BrokerErrorKind.AUTH, "Invalid API-key", code=-2015)]
    assert "did not say BTCUSDT is no longer listed" in await r.om.unlisted_refusal(left)
    answer.clear()  # the exchange answers, and does not know the order
    assert "BTCUSDT is listed: the exchange does not know it" in await r.om.unlisted_refusal(left)
    await r.om.abandon(left)
    assert left.status is OrderStatus.CANCELED and left.error == "abandoned: symbol no longer listed"
    assert r.journal.fills == [] and r.om.unsettled() == {}
    assert ("submit", "tt-9") not in r.log and ("cancel", "tt-9") not in r.log  # nothing sent
