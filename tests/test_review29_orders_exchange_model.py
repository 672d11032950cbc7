"""The order manager against a scripted exchange that misbehaves at random.

The exchange accepts or loses requests, answers or times out after accepting, fills an open
order in parts between calls, and answers lookups with or without the fills (like Binance's
``GET /order``). Whatever happens, the manager must never get the same client id accepted
twice, and an order it books final must hold exactly what the exchange executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import Fill, Order, OrderRequest, OrderResult, OrderStatus, OrderType, Side, Source

D = Decimal
T0 = 1_700_000_000_000


class _Ex:
    """One order at the exchange."""

    def __init__(self, req: OrderRequest) -> None:
        self.req = req
        self.status = OrderStatus.NEW
        self.fills: list[Fill] = []

    @property
    def executed(self) -> Decimal:
        return sum((f.quantity for f in self.fills), D(0))

    @property
    def quote(self) -> Decimal:
        return sum((f.price * f.quantity for f in self.fills), D(0))


class ChaosExchange:
    """``in_flight_ms`` 0: a request is accepted or lost during the call itself; else a request
    that got no answer may also be accepted up to that long after the call."""

    def __init__(self, rnd: random.Random, clock: ManualClock, in_flight_ms: int = 0) -> None:
        self.rnd = rnd
        self.clock = clock
        self.in_flight_ms = in_flight_ms
        self.late: list[tuple[int, OrderRequest]] = []  # requests still on their way: (arrival ms, request)
        self.orders: dict[str, _Ex] = {}
        self.accepted: list[str] = []  # every client id the exchange accepted a new order for
        # every client id of a request that reached the exchange: a duplicate is refused above, so
        # `accepted` never held one twice - two arrivals are the order sent twice
        self.arrived: list[str] = []
        self.trade = 0

    def _accept(self, req: OrderRequest) -> _Ex | None:
        self.arrived.append(req.client_order_id)
        if req.client_order_id in self.orders:
            return None  # a duplicate client id is refused
        ex = self.orders[req.client_order_id] = _Ex(req)
        self.accepted.append(req.client_order_id)
        return ex

    def _progress(self) -> None:
        """Between calls, a late request may arrive and an open order may trade a part (or the rest)."""
        now = self.clock.now_ms()
        for land in [x for x in self.late if x[0] <= now]:
            self.late.remove(land)
            self._accept(land[1])
        for ex in self.orders.values():
            if ex.status.is_final or self.rnd.random() < 0.5:
                continue
            left = ex.req.quantity - ex.executed
            part = left if self.rnd.random() < 0.4 else (left * D(self.rnd.choice(["0.25", "0.5"]))).quantize(D("0.0001"))
            if part <= 0:
                continue
            self.trade += 1
            price = D(self.rnd.choice(["100", "100.5", "99.75", "101.25", "100.13"]))
            fee = (price * part * D("0.001")).quantize(D("0.00000001"))
            ex.fills.append(Fill(ex.req.client_order_id, ex.req.symbol, ex.req.side, price, part, fee, "USDT",
                                 self.clock.now_ms(), f"t{self.trade}"))
            ex.status = OrderStatus.FILLED if ex.executed == ex.req.quantity else OrderStatus.PARTIALLY_FILLED

    def _result(self, ex: _Ex, bare: bool) -> OrderResult:
        return OrderResult(ex.req.client_order_id, ex.status, "x" + ex.req.client_order_id, ex.executed,
                           ex.quote, [] if bare else list(ex.fills))

    def _flaky(self, what: str) -> None:
        r = self.rnd.random()
        if r < 0.1:
            raise BrokerError(BrokerErrorKind.NETWORK, f"{what}: connection failed")
        if r < 0.15:
            raise BrokerError(BrokerErrorKind.RATE_LIMIT, f"{what}: slow down", retry_after_s=1.0)

    async def submit(self, req: OrderRequest) -> OrderResult:
        self._progress()
        self._flaky("submit")
        if self.rnd.random() < 0.25:
            if self.in_flight_ms and self.rnd.random() < 0.5:  # arrives later, within the window
                self.late.append((self.clock.now_ms() + self.rnd.randrange(self.in_flight_ms), req))
            raise BrokerError(BrokerErrorKind.TIMEOUT, "submit: no answer, outcome unknown")
        ex = self._accept(req)
        if ex is None:
            raise BrokerError(BrokerErrorKind.TIMEOUT, "duplicate order, outcome unknown")
        self._progress()
        if self.rnd.random() < 0.3:
            raise BrokerError(BrokerErrorKind.TIMEOUT, "submit: accepted, but the answer was lost")
        return self._result(ex, bare=self.rnd.random() < 0.3)

    async def query(self, symbol: str, cid: str) -> OrderResult | None:
        self._progress()
        self._flaky("query")
        ex = self.orders.get(cid)
        if ex is None:
            raise BrokerError(BrokerErrorKind.UNKNOWN_ORDER, "order does not exist")
        return self._result(ex, bare=self.rnd.random() < 0.5)

    async def cancel(self, symbol: str, cid: str) -> OrderResult:
        self._progress()
        self._flaky("cancel")
        ex = self.orders.get(cid)
        if ex is None or ex.status.is_final:
            raise BrokerError(BrokerErrorKind.UNKNOWN_ORDER, "unknown order sent")
        ex.status = OrderStatus.CANCELED
        return self._result(ex, bare=True)

    async def open_orders(self) -> list[OrderResult]:
        return [self._result(e, True) for e in self.orders.values() if not e.status.is_final]


class Book:
    def __init__(self) -> None:
        self.fills: list[Fill] = []
        self.intents: list[str] = []

    async def record_intent(self, order: Order) -> None:
        self.intents.append(order.client_order_id)

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        self.fills.extend(fills)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), limit=st.booleans(), in_flight_ms=st.sampled_from([0, 1_500, 6_000]))
def test_no_order_is_accepted_twice_and_a_final_order_books_what_the_exchange_executed(seed, limit, in_flight_ms):
    rnd = random.Random(seed)
    clock = ManualClock(T0)
    ex = ChaosExchange(rnd, clock, in_flight_ms)
    book = Book()
    cfg = Config.model_validate({"order_execution": {"retry_attempts": 3, "order_timeout_ms": 5000},
                                 "risk_management": {"circuit_breaker_failures": 1000}})
    om = OrderManager(ex, book, clock, cfg)
    order = Order("tt-r29-1", "BTCUSDT", Side.BUY, OrderType.LIMIT if limit else OrderType.MARKET, D("2"),
                  D("101") if limit else None, OrderStatus.INTENT, Source.STRATEGY, "test", T0, T0)

    async def run() -> None:
        await om.execute(order)
        for _ in range(20):  # the engine looks an unsettled order up again each period
            if order.status.is_final:
                break
            clock.advance(60_000)
            with contextlib.suppress(BrokerError):  # could not ask: again next period
                await om.resolve(order)

    asyncio.run(run())
    assert ex.arrived.count(order.client_order_id) <= 1, ex.arrived
    assert book.intents == [order.client_order_id]
    booked_qty = sum((f.quantity for f in book.fills), D(0))
    assert booked_qty == order.executed_qty
    if not order.status.is_final:
        return
    exo = ex.orders.get(order.client_order_id)
    if exo is None:
        assert order.executed_qty == 0 and order.status in (OrderStatus.CANCELED, OrderStatus.REJECTED)
        return
    assert order.executed_qty == exo.executed, (order, exo.status)
    booked_quote = sum((f.price * f.quantity for f in book.fills), D(0))
    assert abs(booked_quote - exo.quote) <= D("1e-9"), (booked_quote, exo.quote)
    if exo.status.is_final:
        assert order.status == exo.status or (exo.status == OrderStatus.FILLED and order.executed_qty == exo.executed)
