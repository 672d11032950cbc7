"""An order's status only moves forward in its life (INTENT -> NEW -> PARTIALLY_FILLED -> a final
state): a stale lookup (an answer the exchange gave before the fills it already reported, served
by a lagging replica or a slow read) must not move a partly filled order back to NEW, and a final
state stays final. The filled quantity never decreases."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import Fill, Order, OrderRequest, OrderResult, OrderStatus, OrderType, Side, Source

D = Decimal
T0 = 1_700_000_000_000


class Journal:
    def __init__(self) -> None:
        self.updates: list[tuple[OrderStatus, Decimal, int]] = []

    async def record_intent(self, order: Order) -> None:
        pass

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        self.updates.append((order.status, order.executed_qty, len(fills)))


def _fill(qty: str, trade: str) -> Fill:
    return Fill("tt-1", "BTCUSDT", Side.BUY, D("100"), D(qty), D("0.01"), "USDT", T0, trade)


class ScriptedBroker:
    """Answers a submit with a part fill, then serves the lookups it is given, in order."""

    in_flight_ms = 0

    def __init__(self, lookups: list[OrderResult]) -> None:
        self.lookups = lookups
        self.cancels = 0

    async def submit(self, req: OrderRequest) -> OrderResult:
        return OrderResult(
            req.client_order_id, OrderStatus.PARTIALLY_FILLED, "x1", D("0.4"), D("40"), [_fill("0.4", "t1")]
        )

    async def query(self, symbol: str, cid: str) -> OrderResult | None:
        return self.lookups.pop(0) if self.lookups else None

    async def cancel(self, symbol: str, cid: str) -> OrderResult:
        self.cancels += 1
        return OrderResult(
            cid, OrderStatus.CANCELED, "x1", D("1"), D("100"), [_fill("0.4", "t1"), _fill("0.6", "t2")]
        )


def _order() -> Order:
    return Order(
        "tt-1",
        "BTCUSDT",
        Side.BUY,
        OrderType.MARKET,
        D("1"),
        None,
        OrderStatus.INTENT,
        Source.UI,
        "test",
        T0,
        T0,
    )


async def _run(lookups: list[OrderResult]) -> tuple[Order, Journal, ScriptedBroker]:
    clock = ManualClock(T0)
    broker = ScriptedBroker(lookups)
    journal = Journal()

    async def sleep(s: float) -> None:
        clock.advance(int(s * 1000))

    om = OrderManager(broker, journal, clock, Config(), sleep)  # type: ignore[arg-type]
    order = await om.execute(_order())
    return order, journal, broker


async def test_a_stale_lookup_never_moves_a_partly_filled_order_back_to_new() -> None:
    stale = OrderResult("tt-1", OrderStatus.NEW, "x1", D("0"), D("0"), [])  # from before the part fill
    filled = OrderResult(
        "tt-1", OrderStatus.FILLED, "x1", D("1"), D("100"), [_fill("0.4", "t1"), _fill("0.6", "t2")]
    )
    order, journal, _ = await _run([stale, filled])
    assert order.status is OrderStatus.FILLED and order.executed_qty == D("1")
    statuses = [s for s, _, _ in journal.updates]
    assert OrderStatus.NEW not in statuses, journal.updates  # never back from PARTIALLY_FILLED
    assert statuses == [OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
    qtys = [q for _, q, _ in journal.updates]
    assert qtys == sorted(qtys)  # the filled quantity never decreases


async def test_a_stale_lookup_of_less_filled_quantity_keeps_the_booked_fills_and_status() -> None:
    stale = OrderResult("tt-1", OrderStatus.PARTIALLY_FILLED, "x1", D("0.1"), D("10"), [_fill("0.1", "t0")])
    order, journal, broker = await _run([stale] * 40)
    # the stale answers book nothing and change nothing; the timeout cancels it and the cancel's
    # answer books the rest
    assert broker.cancels == 1
    assert order.status is OrderStatus.CANCELED and order.executed_qty == D("1")
    assert [s for s, _, _ in journal.updates] == [OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELED]


_STAGE = {
    OrderStatus.INTENT: 0,
    OrderStatus.NEW: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
    OrderStatus.FILLED: 3,
    OrderStatus.CANCELED: 3,
    OrderStatus.EXPIRED: 3,
    OrderStatus.REJECTED: 3,
}
# the order's true life at the exchange: each answer a lookup may serve, stale ones included
_FILLS = [_fill("0.4", "t1"), _fill("0.3", "t2"), _fill("0.3", "t3")]
_LIFE = [
    OrderResult("tt-1", OrderStatus.NEW, "x1", D("0"), D("0"), []),
    OrderResult("tt-1", OrderStatus.PARTIALLY_FILLED, "x1", D("0.4"), D("40"), _FILLS[:1]),
    OrderResult("tt-1", OrderStatus.PARTIALLY_FILLED, "x1", D("0.7"), D("70"), _FILLS[:2]),
    OrderResult("tt-1", OrderStatus.FILLED, "x1", D("1.0"), D("100"), _FILLS),
]


class LaggingBroker(ScriptedBroker):
    """Answers a submit NEW, then serves the lookups given (any of the order's past answers);
    a cancel answers the newest state served so far, canceled."""

    async def submit(self, req: OrderRequest) -> OrderResult:
        self.newest = _LIFE[0]
        return _LIFE[0]

    async def query(self, symbol: str, cid: str) -> OrderResult | None:
        res = self.lookups.pop(0) if self.lookups else self.newest
        if res.executed_qty > self.newest.executed_qty:
            self.newest = res
        return res

    async def cancel(self, symbol: str, cid: str) -> OrderResult:
        self.cancels += 1
        n = self.newest
        return OrderResult(cid, OrderStatus.CANCELED, "x1", n.executed_qty, n.quote_qty, list(n.fills))


@given(st.lists(st.integers(0, len(_LIFE) - 1), min_size=1, max_size=12))
@settings(max_examples=120, deadline=None)
def test_whatever_order_the_lookups_come_in_the_status_only_moves_forward(picks: list[int]) -> None:
    async def run() -> tuple[Order, Journal, LaggingBroker]:
        clock = ManualClock(T0)
        broker = LaggingBroker([_LIFE[i] for i in picks])
        journal = Journal()

        async def sleep(s: float) -> None:
            clock.advance(int(s * 1000))

        om = OrderManager(broker, journal, clock, Config(), sleep)  # type: ignore[arg-type]
        return await om.execute(_order()), journal, broker

    order, journal, broker = asyncio.run(run())
    stages = [_STAGE[s] for s, _, _ in journal.updates]
    qtys = [q for _, q, _ in journal.updates]
    assert stages == sorted(stages), journal.updates  # never back in its life
    assert qtys == sorted(qtys), journal.updates  # the filled quantity never decreases
    assert [s for s in stages if s == 3] == [3]  # final once, and nothing after it
    # all the exchange said it executed (the newest answer served before the order ended), no less
    assert order.status.is_final and order.executed_qty == broker.newest.executed_qty
