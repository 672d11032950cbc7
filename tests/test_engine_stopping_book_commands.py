"""The operator's acts on the book that take the trade lock (AbandonOrder, AcceptAccount) refuse,
as the manual orders do, when they got the lock only after a quit began: they waited behind an
order in flight, and the quit waits for them before storage closes - an abandon or an accept
that went ahead then changed the book (a write-off, an external sell) while the engine stopped."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from engine_helpers import (
    MIN,
    SYMBOLS,
    T0,
    engine_config,
    klines,
    make_engine,
    store_manual_buy_intent,
    until,
)
from exchange_standin import StandinExchange, SteerableClock
from live_support import live_book_of_sol_and_eth
from test_binance_broker import KEY, live_cfg
from test_binance_broker import T0 as LIVE_T0

from tui_trader.clock import ManualClock
from tui_trader.events import AbandonOrder, AcceptAccount, ClosePosition, ManualBuy, ManualSell
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import EngineState, OrderResult, OrderStatus
from tui_trader.recovery import EXTERNAL_SELL_REASON
from tui_trader.runtime import build_engine

STOPPING = "engine is not running (stopping)"
DELISTED = "tt1-98"


class Delisted(PaperBroker):
    """DDDUSDT is no longer listed: every lookup is answered -1121 (invalid symbol)."""

    async def query(self, symbol: str, client_order_id: str) -> OrderResult | None:
        if symbol == "DDDUSDT":
            raise BrokerError(BrokerErrorKind.REJECTED, "Invalid symbol.", code=-1121)
        return await super().query(symbol, client_order_id)


async def _on_delisted(db: str, start_ms: int):
    """The book ``db`` started on an exchange that no longer lists DDDUSDT."""
    holder: dict = {}
    broker = Delisted(
        engine_config(),
        ManualClock(0),
        lambda s: holder["e"].last_price(s),
        {s: synthetic_filters(s, 100.0) for s in SYMBOLS},
        balances={"USDT": Decimal(10_000), "AAA": Decimal(5)},
    )
    h = make_engine(db_path=db, broker=broker, start_ms=start_ms)
    holder["e"] = h.engine
    return await h.start()


async def test_an_abandon_waiting_behind_a_sell_when_the_quit_begins_is_refused(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    assert (await h.engine.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(500)))).ok
    await store_manual_buy_intent(h.engine, "DDDUSDT", DELISTED)
    await h.stop()

    h2 = await _on_delisted(db, T0 + 10 * MIN)
    e = h2.engine
    await h2.step(klines(T0 + 10 * MIN, [100.0] * 4))  # a price to sell at
    assert e.state is EngineState.PAUSED and DELISTED in e._error
    real_submit, answer, sent = e.broker.submit, asyncio.Event(), []

    async def slow_answer(req: Any) -> Any:
        sent.append(req)
        await answer.wait()
        return await real_submit(req)

    e.broker.submit = slow_answer
    sell = asyncio.create_task(e.submit(ManualSell(symbol="AAAUSDT", quantity=Decimal("1"))))
    await until(lambda: sent, "the sell to reach the exchange")
    abandon = asyncio.create_task(e.submit(AbandonOrder(client_order_id=DELISTED)))
    await until(lambda: bool(e._trade_lock._waiters), "the abandon to wait for the sell")
    stop = asyncio.create_task(h2.stop())
    await until(lambda: e._stopping, "the quit to begin")
    answer.set()
    sold, abandoned = await sell, await abandon
    await stop
    assert sold.ok, sold.message
    assert not abandoned.ok and abandoned.message == STOPPING, abandoned.message

    h3 = await _on_delisted(db, T0 + 20 * MIN)
    try:
        order = await h3.engine.db.get_order(DELISTED)
        assert order is not None and not order.status.is_final, order  # not abandoned
        assert DELISTED in h3.engine._error  # (still to be abandoned)
        rows = [a for a in await h3.engine.db.load_audit(limit=None) if a["action"] == "AbandonOrder"]
        assert [(r["ok"], r["outcome"]) for r in rows] == [(False, STOPPING)], rows
    finally:
        await h3.stop()


async def test_an_accept_waiting_behind_a_close_when_the_quit_begins_is_refused(
    shared_data, tmp_path, monkeypatch
) -> None:
    ex = await StandinExchange(SteerableClock(LIVE_T0), shared_data, api_key=KEY).start()
    try:
        cfg = live_cfg(ex, monkeypatch)
        db = str(tmp_path / "live.db")
        book_sol, step = await live_book_of_sol_and_eth(ex, cfg, db)
        ex.balances["SOL"] = (book_sol / 2).quantize(step)  # half of it sold by hand on the exchange

        e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
        await asyncio.wait_for(e.start_up(), 20)
        stopped = False
        try:
            assert e.state is EngineState.PAUSED and "SOLUSDT: the book holds" in e._error
            real_submit, answer, filled = e.broker.submit, asyncio.Event(), []

            async def slow_answer(req: Any) -> Any:
                res = await real_submit(req)
                filled.append(req.client_order_id)
                await answer.wait()
                return res

            e.broker.submit = slow_answer
            close = asyncio.create_task(e.submit(ClosePosition(symbol="ETHUSDT")))
            await until(lambda: filled, "the ETH sell to fill at the exchange")
            accept = asyncio.create_task(e.submit(AcceptAccount()))
            await until(lambda: bool(e._trade_lock._waiters), "the accept to wait for the sell")
            stop = asyncio.create_task(e.stop())
            await until(lambda: e._stopping, "the quit to begin")
            answer.set()
            closed, accepted = await close, await accept
            await asyncio.wait_for(stop, 20)
            stopped = True
            assert closed.ok, closed.message
            assert not accepted.ok and accepted.message == STOPPING, accepted.message
        finally:
            if not stopped:
                await asyncio.wait_for(e.stop(), 20)

        e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
        await asyncio.wait_for(e.start_up(), 20)
        try:
            orders = await e.db.load_orders(limit=50)
            assert [o for o in orders if o.reason == EXTERNAL_SELL_REASON] == []  # the book was not cut
            assert any(
                o.symbol == "ETHUSDT" and o.status is OrderStatus.FILLED and o.reason == "manual close"
                for o in orders
            )
            rows = [a for a in await e.db.load_audit(limit=None) if a["action"] == "AcceptAccount"]
            assert [(r["ok"], r["outcome"]) for r in rows] == [(False, STOPPING)], rows
        finally:
            await asyncio.wait_for(e.stop(), 20)
    finally:
        await ex.stop()
