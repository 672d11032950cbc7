"""Commands that overlap: the console sends each command in its own worker, so an operator's
close, flatten or buy can wait behind an order in flight (or a lookup of an earlier one) while an
emergency stop arrives. Whatever was asked before it, nothing is sent after the emergency stop
(except its own closing sells), and every command still gets its audit row."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from engine_helpers import (
    MIN,
    SYMBOLS,
    T0,
    Harness,
    engine_config,
    klines,
    make_engine,
    slow_open_orders,
    store_manual_buy_intent,
    until,
)

from tui_trader.clock import ManualClock
from tui_trader.events import ClosePosition, EmergencyStop, FlattenAll, ManualBuy, Start
from tui_trader.execution.broker import BrokerError, BrokerErrorKind, OrderRequest
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import EngineState, OrderStatus, OrderType, Side

D = Decimal
S = EngineState
REFUSED = "emergency stop is active: no orders until the operator resets it"


async def _flat(h, k0: int, k1: int, price: float = 100.0) -> None:
    for k in range(k0, k1):
        await h.step(klines(T0 + k * MIN, [price] * 4))


class HeldSubmit:
    """Wraps the paper broker's ``submit``: records every order sent and keeps the first one in
    flight (the exchange has not answered yet) until :meth:`release`."""

    def __init__(self, broker: Any) -> None:
        self._real = broker.submit
        self._open = asyncio.Event()
        self._held = False
        self.sent: list[tuple[str, str]] = []
        broker.submit = self.submit

    async def submit(self, req: Any) -> Any:
        self.sent.append((req.symbol, req.side.value))
        if not self._held:
            self._held = True
            await self._open.wait()
        return await self._real(req)

    def release(self) -> None:
        self._open.set()


async def _audit(e, action: str) -> list[dict[str, Any]]:
    return [a for a in await e.db.load_audit(limit=1000) if a["action"] == action]


async def _restart_unable_to_ask(
    db: str, balances: dict[str, D], before: Callable[[PaperBroker], Awaitable[None]] | None = None
) -> tuple[Harness, PaperBroker]:
    """The book at ``db`` started again on a paper exchange holding ``balances`` (``before`` done
    there first) that cannot be asked about orders at start-up: the reconciliation fails and the
    engine comes up paused. The exchange's prices are the engine's own."""
    cfg = engine_config()
    holder: dict[str, Any] = {}
    filters = {s: synthetic_filters(s, 100.0) for s in SYMBOLS}
    broker = PaperBroker(
        cfg,
        ManualClock(0),
        lambda s: holder["e"].last_price(s) if holder else 100.0,
        filters,
        balances=balances,
    )
    if before is not None:
        await before(broker)
    broker.fail_next(BrokerErrorKind.TIMEOUT, n=40, op="query")  # at start-up it cannot be asked
    h = make_engine(cfg, db_path=db, broker=broker)
    holder["e"] = h.engine
    return await h.start(), broker


async def test_a_close_waiting_behind_an_order_in_flight_is_not_sent_after_an_emergency_stop() -> None:
    async with make_engine() as h:
        e = h.engine
        await _flat(h, 0, 3)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500))).ok
        held = HeldSubmit(e.broker)
        buy = asyncio.create_task(e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=500)))
        await until(lambda: held.sent == [("BBBUSDT", "BUY")], "the buy to reach the exchange")
        close = asyncio.create_task(e.submit(ClosePosition(symbol="AAAUSDT")))  # waits for the buy
        await until(lambda: e.counters["commands"] == 3, "the close to be submitted")
        stop = await e.submit(EmergencyStop(reason="operator panic"))
        assert stop.ok and e.state is S.EMERGENCY_STOPPED
        held.release()
        bought, closed = await buy, await close
        assert bought.ok  # it had reached the exchange before the stop: booked, never waited for
        assert not closed.ok and REFUSED in closed.message
        assert held.sent == [("BBBUSDT", "BUY")]  # nothing after the emergency stop
        assert set(e.portfolio.positions) == {"AAAUSDT", "BBBUSDT"}
        assert {p.symbol for p in e.snapshot().positions} == {"AAAUSDT", "BBBUSDT"}
        (row,) = await _audit(e, "ClosePosition")
        assert row["ok"] is False and REFUSED in row["outcome"]
        assert [o.side.value for o in await e.db.load_orders() if o.symbol == "AAAUSDT"] == ["BUY"]


async def test_a_flatten_interrupted_by_an_emergency_stop_sends_no_more_sells() -> None:
    async with make_engine() as h:
        e = h.engine
        await _flat(h, 0, 3)
        for sym in ("AAAUSDT", "BBBUSDT", "CCCUSDT"):
            assert (await e.submit(ManualBuy(symbol=sym, quote_amount=500))).ok
        held = HeldSubmit(e.broker)
        flatten = asyncio.create_task(e.submit(FlattenAll()))
        await until(lambda: len(held.sent) == 1, "the first sell of the flatten to reach the exchange")
        (first, _) = held.sent[0]
        assert (await e.submit(EmergencyStop(reason="operator panic"))).ok
        held.release()
        res = await flatten
        assert held.sent == [(first, "SELL")]  # the sell in flight only
        assert not res.ok and res.message.startswith("flattened 1 position(s); not closed: ")
        assert res.message.count(REFUSED) == 2
        assert set(e.portfolio.positions) == {"AAAUSDT", "BBBUSDT", "CCCUSDT"} - {first}
        (row,) = await _audit(e, "FlattenAll")
        assert row["ok"] is False and row["outcome"] == res.message


async def test_an_emergency_stop_during_the_lookup_before_an_order_stops_that_order() -> None:
    async with make_engine() as h:
        e = h.engine
        await _flat(h, 0, 3)
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)  # it bought, the answer was lost
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, n=8, op="query")  # and the lookups fail for now
        first = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500))
        assert not first.ok and "outcome unknown" in first.message
        e.broker._faults["query"].clear()  # the exchange answers again, but slowly
        real_query, answer, asked = e.broker.query, asyncio.Event(), []

        async def slow_query(symbol: str, cid: str) -> Any:
            asked.append(cid)
            await answer.wait()
            return await real_query(symbol, cid)

        e.broker.query = slow_query
        # the operator buys again (risk overridden): the engine first looks the earlier order up
        again = asyncio.create_task(
            e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500, override_risk=True))
        )
        await until(lambda: asked, "the lookup of the earlier order")
        assert (await e.submit(EmergencyStop(reason="operator panic"))).ok
        answer.set()
        res = await again
        assert not res.ok and REFUSED in res.message
        assert e.broker.submit_calls == 1  # the first buy only
        (order,) = [o for o in await e.db.load_orders() if o.symbol == "AAAUSDT"]
        assert order.status is OrderStatus.FILLED  # the lookup still settled the earlier order
        assert e.portfolio.positions["AAAUSDT"].quantity == D("5.000")


async def test_an_emergency_stop_is_stored_without_waiting_for_the_exchange_to_cancel() -> None:
    """Live, the cancels may take seconds (a slow or unreachable exchange): a crash or kill -9
    meanwhile must find the emergency stop stored, so the restart does not trade again."""
    async with make_engine() as h:
        e = h.engine
        await _flat(h, 0, 3)
        answer, asked = slow_open_orders(e)
        stop = asyncio.create_task(e.submit(EmergencyStop(reason="operator panic")))
        await until(lambda: asked, "the emergency stop to ask the exchange for its open orders")
        # what a restart after a kill would find while the exchange has not answered (stored in
        # parallel with the cancels; the bound only ends a broken test)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while (stored := await e.db.load_engine_state())["state"] is not S.EMERGENCY_STOPPED:
            assert loop.time() < deadline, f"the emergency stop was not stored: {stored}"
            await asyncio.sleep(0)
        assert stored["reason"] == "operator panic" and not stop.done()
        answer.set()
        assert (await stop).ok and e.state is S.EMERGENCY_STOPPED


async def test_a_stop_during_a_manual_order_books_it_and_audits_it_before_storage_closes(tmp_path) -> None:
    """Quitting the console while the exchange is slow to answer a buy: the buy the operator is
    told about is in the book after a restart, with its audit row; a close waiting behind it
    sends nothing and is audited as refused."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _flat(h, 0, 3)
    assert (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=500))).ok
    held = HeldSubmit(e.broker)
    buy = asyncio.create_task(e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500)))
    await until(lambda: held.sent, "the buy to reach the exchange")
    close = asyncio.create_task(e.submit(ClosePosition(symbol="BBBUSDT")))  # waits for the buy
    await until(lambda: e.counters["commands"] == 3, "the close to be submitted")
    stop = asyncio.create_task(h.stop())
    await until(lambda: h.feed.stopped and h.task is not None and h.task.done(), "the stop to begin")
    held.release()
    bought, closed = await buy, await close
    await stop
    assert bought.ok and "FILLED" in bought.message
    assert not closed.ok and "stopping" in closed.message
    assert held.sent == [("AAAUSDT", "BUY")]
    h2 = await make_engine(db_path=db).start()
    e2 = h2.engine
    try:
        assert {s: p.quantity for s, p in e2.portfolio.positions.items()} == {
            "AAAUSDT": D("5.000"),
            "BBBUSDT": D("5.000"),
        }
        (order,) = [o for o in await e2.db.load_orders() if o.symbol == "AAAUSDT"]
        assert order.status is OrderStatus.FILLED
        rows = [
            (a["action"], a["args"].get("symbol"), a["ok"])
            for a in await e2.db.load_audit(limit=100)
            if a["action"] in ("ManualBuy", "ClosePosition")
        ]
        assert rows == [
            ("ManualBuy", "BBBUSDT", True),
            ("ManualBuy", "AAAUSDT", True),
            ("ClosePosition", "BBBUSDT", False),
        ]
    finally:
        await h2.stop()


async def test_an_emergency_stop_whose_cancels_fail_says_so_to_the_operator() -> None:
    """The exchange cannot be asked for the open orders: the engine is stopped all the same, but
    the operator must learn that orders may still be open there (not "0 cancelled", as if none)."""
    async with make_engine() as h:
        e = h.engine
        await _flat(h, 0, 3)

        async def unreachable(*args: Any) -> Any:
            raise BrokerError(BrokerErrorKind.TIMEOUT, "exchange unreachable")

        e.broker.open_orders = unreachable
        res = await e.submit(EmergencyStop(reason="operator panic"))
        assert e.state is S.EMERGENCY_STOPPED
        assert not res.ok
        assert "cancelling open orders failed (timeout: exchange unreachable)" in res.message
        assert "check the exchange for open orders" in res.message
        (row,) = await _audit(e, "EmergencyStop")
        assert row["ok"] is False and row["outcome"] == res.message
        (stop_row,) = await _audit(e, "emergency_stop")
        assert stop_row["outcome"] == (
            "operator panic: 0 order(s) cancelled; cancelling open orders failed: "
            "timeout: exchange unreachable"
        )


async def test_two_starts_after_a_failed_reconciliation_book_the_orders_fills_once(tmp_path) -> None:
    """The start-up reconciliation could not ask the exchange about an order a crash left as an
    intent (it had filled there); the operator presses start twice. Both starts try the
    reconciliation again, one after the other: the fill is booked once, as the exchange holds it."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _flat(h, 0, 3)
    await store_manual_buy_intent(e, "AAAUSDT")  # committed, then a kill -9
    cash = e.portfolio.cash
    await h.stop()

    async def filled_there(broker: PaperBroker) -> None:  # the order reached the exchange before the kill
        await broker.submit(OrderRequest("tt1-99", "AAAUSDT", Side.BUY, OrderType.MARKET, D("1.000"), None))

    h, broker = await _restart_unable_to_ask(db, {"USDT": cash}, filled_there)
    e = h.engine
    try:
        assert e.state is S.PAUSED and "reconciliation failed" in e._reconcile_problem
        broker._faults["query"].clear()  # the exchange answers again
        await _flat(h, 10, 13)
        first, second = await asyncio.gather(e.submit(Start()), e.submit(Start()))
        assert first.ok and first.message == "trading started"
        assert second.ok and second.message == "already running"
        assert e.state is S.RUNNING
        held = await broker.balances()
        assert e.portfolio.positions["AAAUSDT"].quantity == held["AAA"] == D("1.000")
        assert e.portfolio.cash == held["USDT"]
        stored = {s: p.quantity for s, p in (await e.db.load_positions()).items()}
        assert stored == {"AAAUSDT": D("1.000")}
    finally:
        await h.stop()


async def test_a_reconciliation_tried_again_leaves_an_order_in_flight_to_its_own_execution(tmp_path) -> None:
    """Start-up could not reconcile a stored order, so trading waits; sells still run (the
    operator's close here; a stop loss likewise). A start while the close's answer is on its way
    tries the reconciliation again: it must leave the close to its own execution. Before, it found
    the close filled at the exchange and booked it, then the close's own answer booked it again
    (a sell of a position already gone: the close reported failed, though it had sold)."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _flat(h, 0, 3)
    assert (await e.submit(ManualBuy(symbol="CCCUSDT", quote_amount=500))).ok
    await store_manual_buy_intent(e, "AAAUSDT")  # committed, then a kill -9 (never sent)
    cash = e.portfolio.cash
    await h.stop()

    h, broker = await _restart_unable_to_ask(db, {"USDT": cash, "CCC": D("5.000")})
    e = h.engine
    try:
        assert e.state is S.PAUSED and e._reconcile_problem
        broker._faults["query"].clear()  # the exchange answers again
        await _flat(h, 10, 13)
        real_submit, answer, filled = broker.submit, asyncio.Event(), []

        async def slow_answer(req: Any) -> Any:
            res = await real_submit(req)  # the exchange fills it at once...
            filled.append(req.client_order_id)
            await answer.wait()  # ...but its answer is slow to come back
            return res

        broker.submit = slow_answer
        close = asyncio.create_task(e.submit(ClosePosition(symbol="CCCUSDT")))
        await until(lambda: filled, "the close to fill at the exchange")
        start = asyncio.create_task(e.submit(Start()))
        await until(lambda: not e._reconcile_problem, "the reconciliation to pass on its new try")
        answer.set()
        closed, started = await close, await start
        assert closed.ok and closed.message.startswith("SELL CCCUSDT: 5 @ 100"), closed.message
        assert started.ok and e.state is S.RUNNING
        orders = {o.client_order_id: o for o in await e.db.load_orders()}
        (sell,) = [o for o in orders.values() if o.symbol == "CCCUSDT" and o.side is Side.SELL]
        assert sell.status is OrderStatus.FILLED and sell.executed_qty == D("5.000")
        assert orders["tt1-99"].status is OrderStatus.CANCELED  # never sent: settled by the new try
        assert len([f for f in await e.db.load_fills() if f.client_order_id == sell.client_order_id]) == 1
        assert not e.portfolio.positions and e.portfolio.cash == (await broker.balances())["USDT"]
    finally:
        await h.stop()
