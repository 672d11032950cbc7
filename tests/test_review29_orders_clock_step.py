"""The order manager when the wall clock steps back (NTP) while an order's outcome is unknown."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tui_trader.clock import WallClock
from tui_trader.config import Config
from tui_trader.execution import order_manager as order_manager_module
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.order_manager import OUTCOME_UNKNOWN, OrderManager
from tui_trader.models import Fill, Order, OrderRequest, OrderResult, OrderStatus, OrderType, Side, Source

T0 = 1_700_000_000_000


class SteppingClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1000)
        await asyncio.sleep(0)


class LostExchange:
    """Every new order's answer is lost and the exchange never gets one; lookups find nothing."""

    in_flight_ms = 6_000

    def __init__(self) -> None:
        self.sent = 0

    async def submit(self, req: OrderRequest) -> OrderResult:
        self.sent += 1
        raise BrokerError(BrokerErrorKind.TIMEOUT, "no answer, outcome unknown")

    async def query(self, symbol: str, cid: str) -> OrderResult | None:
        raise BrokerError(BrokerErrorKind.UNKNOWN_ORDER, "order does not exist", -2013)

    async def cancel(self, symbol: str, cid: str) -> OrderResult:
        raise BrokerError(BrokerErrorKind.UNKNOWN_ORDER, "unknown order sent", -2011)

    async def open_orders(self) -> list[OrderResult]:
        return []


class Journal:
    async def record_intent(self, order: Order) -> None:
        pass

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        pass


def test_an_unknown_outcome_settles_one_in_flight_window_after_the_clock_stepped_back():
    clock = SteppingClock(T0)
    om = OrderManager(LostExchange(), Journal(), clock, Config(), clock.sleep)
    order = Order("tt-r29-clk-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None,
                  OrderStatus.INTENT, Source.STRATEGY, "test", T0, T0)

    async def run() -> None:
        await om.execute(order)
        assert order.status is OrderStatus.NEW and order.error.startswith(OUTCOME_UNKNOWN)
        clock.now -= 3_600_000  # the system clock is corrected back an hour
        await om.resolve(order)
        assert order.status is OrderStatus.NEW  # within the window (from the step): still unknown
        clock.now += 7_000  # more than the broker's in-flight window has passed since
        await om.resolve(order)

    asyncio.run(run())
    # was still NEW: "not found" counted only an hour later, the symbol blocked (stop losses too)
    assert order.status is OrderStatus.CANCELED, (order.status, order.error)


def test_a_restart_waits_at_most_one_in_flight_window_for_the_last_runs_orders_after_a_step_back():
    clock = SteppingClock(T0)
    om = OrderManager(LostExchange(), Journal(), clock, Config(), clock.sleep)
    stored = Order("tt-r29-clk-0", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None,
                   OrderStatus.INTENT, Source.STRATEGY, "test", T0 - 1_000, T0 - 1_000)
    clock.now -= 3_600_000  # corrected back an hour during the start-up

    asyncio.run(om.reconcile([stored]))
    assert stored.status is OrderStatus.CANCELED
    # waited an hour of (real) time, trading off meanwhile, for a window of 6 s
    assert om.total_slept_s <= LostExchange.in_flight_ms / 1000.0, om.total_slept_s


class LateExchange(LostExchange):
    """The first new order's request gets no answer but reaches the exchange 3 s later (within
    Binance's recvWindow, counted on the exchange's own clock); a duplicate id is accepted once
    the first order is no longer open (a market order fills at once), as on Binance."""

    def __init__(self, clock: SteppingClock, real: list[int]) -> None:
        super().__init__()
        self.clock = clock
        self.real = real  # real (monotonic) ms elapsed, moved only by the waits
        self.accepted: list[int] = []
        self.arrives_at: int | None = None

    def _land(self) -> None:
        if self.arrives_at is not None and self.real[0] >= self.arrives_at:
            self.accepted.append(self.real[0])
            self.arrives_at = None

    async def submit(self, req: OrderRequest) -> OrderResult:
        self._land()
        self.sent += 1
        if self.sent == 1:
            self.arrives_at = self.real[0] + 3_000
            raise BrokerError(BrokerErrorKind.TIMEOUT, "no answer, outcome unknown")
        self.accepted.append(self.real[0])
        return OrderResult(req.client_order_id, OrderStatus.FILLED, "x1", req.quantity, req.quantity * 100,
                           [Fill(req.client_order_id, req.symbol, req.side, Decimal(100), req.quantity,
                                 Decimal(0), "USDT", self.clock.now, f"t{self.sent}")])

    async def query(self, symbol: str, cid: str) -> OrderResult | None:
        self._land()
        if self.accepted:
            q = Decimal("0.01")
            return OrderResult(cid, OrderStatus.FILLED, "x1", q, q * 100, [])
        return await super().query(symbol, cid)


def test_a_clock_stepped_forward_does_not_end_the_in_flight_window_early_and_send_an_order_twice():
    clock = SteppingClock(T0)
    real = [0]

    async def sleep(seconds: float) -> None:
        if real[0] == 0:
            clock.now += 3_600_000  # the system clock is corrected forward an hour during the first wait
        clock.now += int(seconds * 1000)
        real[0] += int(seconds * 1000)
        await asyncio.sleep(0)

    ex = LateExchange(clock, real)
    om = OrderManager(ex, Journal(), clock, Config(), sleep)
    order = Order("tt-r29-clk-2", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None,
                  OrderStatus.INTENT, Source.STRATEGY, "test", T0, T0)
    asyncio.run(om.execute(order))
    real[0] += 10_000  # later, whatever was still on its way has arrived
    ex._land()
    assert len(ex.accepted) == 1, ex.accepted  # was 2: sent again after 0.5 s, then the first one landed too
    assert order.status is OrderStatus.FILLED and order.executed_qty == Decimal("0.01")


class SteppedWallClock(WallClock):
    """The real clock, as ``time.time`` gives it: set forward by NTP at the test's word."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


def test_a_wall_clock_stepped_forward_does_not_end_an_unknown_orders_window_early(monkeypatch):
    mono = [1_000.0]  # the monotonic clock (s): real time
    monkeypatch.setattr(order_manager_module, "_monotonic", lambda: mono[0])
    clock = SteppedWallClock(T0)

    async def sleep(seconds: float) -> None:
        clock.now += int(seconds * 1000)
        mono[0] += seconds

    om = OrderManager(LostExchange(), Journal(), clock, Config(), sleep)
    order = Order("tt-r29-clk-3", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None,
                  OrderStatus.INTENT, Source.STRATEGY, "test", T0, T0)

    async def run() -> None:
        await om.execute(order)
        assert order.status is OrderStatus.NEW and order.error.startswith(OUTCOME_UNKNOWN)
        clock.now += 3_600_000  # set forward an hour; 2 s of real time pass
        mono[0] += 2.0
        await om.resolve(order)

    asyncio.run(run())
    # was CANCELED "not found": the last request may still arrive for 4 s more
    assert order.status is OrderStatus.NEW, (order.status, order.error)


def test_a_restart_after_a_wall_clock_stepped_forward_still_waits_for_the_last_runs_requests(monkeypatch):
    mono = [1_000.0]
    monkeypatch.setattr(order_manager_module, "_monotonic", lambda: mono[0])
    clock = SteppedWallClock(T0)

    async def sleep(seconds: float) -> None:
        clock.now += int(seconds * 1000)
        mono[0] += seconds

    om = OrderManager(LostExchange(), Journal(), clock, Config(), sleep)
    stored = Order("tt-r29-clk-4", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None,
                   OrderStatus.INTENT, Source.STRATEGY, "test", T0 - 1_000, T0 - 1_000)
    clock.now += 3_600_000  # set forward an hour during the start-up; no real time passed
    asyncio.run(om.reconcile([stored]))
    assert stored.status is OrderStatus.CANCELED
    # was 0: called "not sent" at once, while the crashed run's request could still arrive
    assert om.total_slept_s >= LostExchange.in_flight_ms / 1000.0, om.total_slept_s
