"""A book that restarts emergency-stopped keeps no working order at the exchange.

An emergency stop sent during a start-up is stored at once; a kill -9 before the start-up ends
brings the book back emergency-stopped, but the stop's own actions (cancel the open orders,
optionally close the positions) never ran. The restart's reconciliation cancels every open order
of the book at once (not after the order timeout), audited by the system with the stop named;
the close of all positions is not redone days later at another price - it is logged and audited
as not done, for the operator to decide."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from engine_helpers import until
from exchange_standin import StandinExchange, SteerableClock
from test_binance_broker import KEY, T0, live_cfg

from tui_trader.events import EmergencyStop, ManualBuy, Start
from tui_trader.models import EngineState, Order, OrderStatus, OrderType, Side, Source
from tui_trader.runtime import build_engine
from tui_trader.storage.db import Database


@pytest.fixture
async def ex(shared_data):
    # sleeps capped: an order waited for until the (30 s) order timeout is polled within a second
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.02), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


async def _book_with_a_resting_order(ex, cfg, db: str) -> str:
    """A live book holding ETH, with a resting LIMIT buy at the exchange that it placed (a kill
    left it open). Returns the order's id."""
    async with _started(ex, cfg, db) as e:
        assert (await e.submit(Start())).ok
        assert (await e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(60)))).ok
        now = e.clock.now_ms()
        cid = e._next_client_id()
        order = Order(
            client_order_id=cid,
            symbol="ETHUSDT",
            side=Side.BUY,
            type=OrderType.LIMIT,
            quantity=Decimal("0.05"),
            price=Decimal("1000.00"),
            status=OrderStatus.INTENT,
            source=Source.STRATEGY,
            reason="entry",
            created_ms=now,
            updated_ms=now,
        )
        await e.db.write_order_intent(order, e.session_id)
    ex.add_open_order("ETHUSDT", cid, "BUY", "0.05", "1000.00")  # sent, resting (the stand-in's GTC)
    return cid


async def _book_killed_with_a_waiting_stop(ex, cfg, db: str, close_positions: bool) -> str:
    """That book, whose start-up then got an emergency stop (stored at once) and was killed."""
    cid = await _book_with_a_resting_order(ex, cfg, db)
    # what a stop sent during the next start-up stored before the kill (_store_waiting_stop)
    async with await Database.open(db, clock=ex.clock) as store:
        now = ex.clock.now_ms()
        await store.save_engine_state_only(EngineState.EMERGENCY_STOPPED, "operator panic", now)
        await store.audit(
            now,
            Source.UI,
            "emergency_stop_waiting",
            {"close_positions": close_positions},
            True,
            "operator panic: stored; takes effect when the start-up ends",
        )
    return cid


def _restarting_held(ex, cfg, db: str, monkeypatch) -> tuple[Any, asyncio.Event]:
    """The live book's engine for a restart whose reconciliation waits for the returned gate (its
    start-up not begun)."""
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    gate = asyncio.Event()
    reconcile = e._reconcile

    async def held() -> str:
        await gate.wait()
        return await reconcile()

    monkeypatch.setattr(e, "_reconcile", held)
    return e, gate


async def _end_held(e, gate: asyncio.Event, task: asyncio.Task) -> None:
    """The held start-up let through (if a failed step left it waiting) and the engine stopped."""
    if not task.done():
        gate.set()
        await asyncio.wait_for(task, 20)
    await asyncio.wait_for(e.stop(), 20)


@asynccontextmanager
async def _started(ex, cfg, db: str) -> AsyncIterator[Any]:
    """The live book's engine, started up (again) on ``db``; stopped when the block ends."""
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        yield e
    finally:
        await asyncio.wait_for(e.stop(), 20)


async def _stop_while_held(e, cmd: EmergencyStop) -> asyncio.Task:
    """``cmd`` sent once the starting engine's book is open; returns once the stop waits for the
    start-up's end (the task gives its outcome)."""
    await until(lambda: e._stops_storable, "the book opened")
    stop = asyncio.create_task(e.submit(cmd))
    await until(lambda: e._startup_stops, "the stop waiting")
    return stop


@pytest.mark.parametrize("close_positions", [True, False])
async def test_an_emergency_stopped_restart_cancels_every_open_order_and_does_not_redo_the_close(
    ex, tmp_path, monkeypatch, caplog, close_positions
) -> None:
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    cid = await _book_killed_with_a_waiting_stop(ex, cfg, db, close_positions)
    assert ex.orders[cid].status == "NEW"

    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.EMERGENCY_STOPPED and e.state_reason == "operator panic"
        assert e._error == ""  # the reconciliation passed
        assert ex.orders[cid].status == "CANCELED"  # nothing left working at the exchange
        stored = await e.db.get_order(cid)
        assert stored.status is OrderStatus.CANCELED and stored.executed_qty == 0
        # canceled because of the stop, at once - not after the order timeout
        assert stored.error == "canceled at restart: emergency stop (operator panic)"
        audit = await e.db.load_audit(limit=100)
        cancels = [a for a in audit if a["action"] == "emergency_stop_restart"]
        assert [(a["source"], a["args"]["canceled"]) for a in cancels] == [("system", [cid])]
        assert "emergency stop (operator panic)" in cancels[0]["outcome"]
        # the position is still held: the close is not redone; said so when the stop asked for it
        assert "ETHUSDT" in e.portfolio.positions
        assert not [x for x in ex.executed if x.side == "SELL"]
        skipped = [a for a in audit if a["action"] == "emergency_stop_close_skipped"]
        said = [r for r in caplog.records if "did not run" in r.getMessage()]
        if close_positions:
            assert [(a["source"], a["ok"]) for a in skipped] == [("system", False)]
            assert "close of all positions did not run" in skipped[0]["outcome"]
            assert "ETHUSDT" in skipped[0]["outcome"]
            assert said and said[0].levelno == logging.WARNING
        else:
            assert not skipped and not said
    finally:
        await asyncio.wait_for(e.stop(), 20)

    # a later restart (the stop still holds, nothing open) says nothing more
    async with _started(ex, cfg, db) as e:
        assert e.state is EngineState.EMERGENCY_STOPPED
        audit = await e.db.load_audit(limit=100)
        again = [
            a for a in audit if a["action"] in ("emergency_stop_restart", "emergency_stop_close_skipped")
        ]
        assert again == cancels + skipped


async def test_a_stop_sent_during_the_start_up_has_the_open_orders_canceled_at_once(
    ex, tmp_path, monkeypatch
) -> None:
    """The waiting stop takes effect when the start-up ends, but the reconciliation before that
    does not wait for the book's open orders until the order timeout: it cancels them."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    cid = await _book_with_a_resting_order(ex, cfg, db)
    e, gate = _restarting_held(ex, cfg, db, monkeypatch)
    task = asyncio.create_task(e.start_up())
    try:
        stop = await _stop_while_held(e, EmergencyStop(reason="panic now"))
        gate.set()
        await asyncio.wait_for(task, 20)
        res = await asyncio.wait_for(stop, 20)
        assert res.ok, res.message
        assert e.state is EngineState.EMERGENCY_STOPPED and e._error == ""
        assert ex.orders[cid].status == "CANCELED"
        stored = await e.db.get_order(cid)
        assert stored.status is OrderStatus.CANCELED
        assert stored.error == "canceled: emergency stop sent during the start-up (panic now)"
        (row,) = [a for a in await e.db.load_audit(limit=100) if a["action"] == "emergency_stop_restart"]
        assert row["source"] == "system" and row["args"] == {"canceled": [cid]}
        assert "ETHUSDT" in e.portfolio.positions  # the stop did not ask to close
    finally:
        await _end_held(e, gate, task)


async def test_a_skipped_close_is_reported_when_an_earlier_of_two_waiting_stops_asked_for_it(
    ex, tmp_path, monkeypatch
) -> None:
    """Two stops sent during one start-up (the first closes, the second does not), both stored,
    then a kill: the close the first one asked for never ran - said so, whatever the last asked."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    await _book_killed_with_a_waiting_stop(ex, cfg, db, close_positions=True)
    async with await Database.open(db, clock=ex.clock) as store:
        await store.audit(
            ex.clock.now_ms(),
            Source.UI,
            "emergency_stop_waiting",
            {"close_positions": False},
            True,
            "operator panic: stored; takes effect when the start-up ends",
        )
    async with _started(ex, cfg, db) as e:
        assert e.state is EngineState.EMERGENCY_STOPPED
        audit = await e.db.load_audit(limit=100)
        assert [a["source"] for a in audit if a["action"] == "emergency_stop_close_skipped"] == ["system"]


async def test_a_stop_sent_during_a_restart_that_reports_a_skipped_close_is_checked_at_the_next(
    ex, tmp_path, monkeypatch
) -> None:
    """The restart reports the stored stop's skipped close after a new stop (closing too) was
    stored during it; that new stop never takes effect either: the next restart reports it."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    await _book_killed_with_a_waiting_stop(ex, cfg, db, close_positions=True)
    e, gate = _restarting_held(ex, cfg, db, monkeypatch)

    async def killed_before_it_ran(reason, source, close_positions):  # (its state is stored already)
        e.sm.force(EngineState.EMERGENCY_STOPPED, source, reason)
        e.state_reason = reason
        raise RuntimeError("killed")

    monkeypatch.setattr(e, "_emergency", killed_before_it_ran)
    task = asyncio.create_task(e.start_up())
    try:
        stop = await _stop_while_held(e, EmergencyStop(reason="second panic", close_positions=True))
        gate.set()
        await asyncio.wait_for(task, 20)
        assert not (await asyncio.wait_for(stop, 20)).ok
        audit = await e.db.load_audit(limit=100)
        assert len([a for a in audit if a["action"] == "emergency_stop_close_skipped"]) == 1
    finally:
        await _end_held(e, gate, task)

    async with _started(ex, cfg, db) as e:
        assert e.state is EngineState.EMERGENCY_STOPPED
        audit = await e.db.load_audit(limit=100)
        skipped = [a for a in audit if a["action"] == "emergency_stop_close_skipped"]
        assert len(skipped) == 2 and "second panic" in skipped[1]["outcome"]


async def test_a_cancel_the_exchange_refuses_at_restart_keeps_the_stop_and_says_so(
    ex, tmp_path, monkeypatch
) -> None:
    """The stop's cancel at restart is rate-limited: the order stays open, booked as it is (its
    part fill included), the start-up does not fail but the book stays emergency-stopped with the
    reconciliation's failure named; the next restart cancels it."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    cid = await _book_killed_with_a_waiting_stop(ex, cfg, db, close_positions=False)
    o = ex.orders[cid]
    o.executed, o.quote, o.status = Decimal("0.02"), Decimal("20"), "PARTIALLY_FILLED"
    o.trades.append(
        {
            "symbol": "ETHUSDT",
            "id": 990001,
            "orderId": o.order_id,
            "orderListId": -1,
            "price": "1000.00",
            "qty": "0.02",
            "quoteQty": "20.00",
            "commission": "0.00002",
            "commissionAsset": "ETH",
            "time": ex.clock.now_ms(),
            "isBuyer": True,
            "isMaker": True,
            "isBestMatch": True,
        }
    )
    ex.fail_next("DELETE", "order", status=429, code=-1003)
    async with _started(ex, cfg, db) as e:
        assert e.state is EngineState.EMERGENCY_STOPPED
        assert "reconciliation failed" in e._error and cid in e._error and "cancel failed" in e._error
        assert ex.orders[cid].status == "PARTIALLY_FILLED"
        stored = await e.db.get_order(cid)
        assert stored.status is OrderStatus.PARTIALLY_FILLED and stored.executed_qty == Decimal("0.02")
        audit = await e.db.load_audit(limit=100)
        assert not [a for a in audit if a["action"] == "emergency_stop_restart"]

    async with _started(ex, cfg, db) as e:
        assert e.state is EngineState.EMERGENCY_STOPPED and e._error == ""
        assert ex.orders[cid].status == "CANCELED"
        stored = await e.db.get_order(cid)
        assert stored.status is OrderStatus.CANCELED and stored.executed_qty == Decimal("0.02")
        (row,) = [a for a in await e.db.load_audit(limit=100) if a["action"] == "emergency_stop_restart"]
        assert row["args"] == {"canceled": [cid]}


async def test_a_waiting_stop_that_closed_the_positions_is_not_reported_skipped_at_the_next_restart(
    ex, tmp_path, monkeypatch
) -> None:
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    await _book_with_a_resting_order(ex, cfg, db)
    e, gate = _restarting_held(ex, cfg, db, monkeypatch)
    task = asyncio.create_task(e.start_up())
    try:
        stop = await _stop_while_held(e, EmergencyStop(reason="panic now", close_positions=True))
        gate.set()
        await asyncio.wait_for(task, 20)
        assert (await asyncio.wait_for(stop, 20)).ok
        assert not e.portfolio.positions  # the stop closed them
    finally:
        await _end_held(e, gate, task)

    async with _started(ex, cfg, db) as e:
        assert e.state is EngineState.EMERGENCY_STOPPED
        audit = await e.db.load_audit(limit=100)
        assert [a["action"] for a in audit if a["action"].startswith("emergency_stop")] == [
            "emergency_stop_waiting",
            "emergency_stop_restart",
            "emergency_stop",
        ]


async def _audit_rows(ex, db: str, *rows: tuple[str, bool]) -> None:
    """Emergency-stop audit rows as a start-up writes them: (action, close_positions)."""
    async with await Database.open(db, clock=ex.clock) as store:
        for action, close in rows:
            await store.audit(ex.clock.now_ms(), Source.UI, action, {"close_positions": close}, True, action)


async def _skipped_rows(ex, cfg, db: str) -> list[str]:
    async with _started(ex, cfg, db) as e:
        assert e.state is EngineState.EMERGENCY_STOPPED
        audit = await e.db.load_audit(limit=100)
        return [a["outcome"] for a in audit if a["action"] == "emergency_stop_close_skipped"]


async def test_of_two_waiting_stops_the_first_ran_the_second_closing_one_did_not(
    ex, tmp_path, monkeypatch
) -> None:
    """Waiting stops take effect in the order sent: a kill after the first (no close) took effect
    but before the second (close) did leaves the second's close undone - said so."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    await _book_killed_with_a_waiting_stop(ex, cfg, db, close_positions=False)
    await _audit_rows(ex, db, ("emergency_stop_waiting", True), ("emergency_stop", False))
    assert len(await _skipped_rows(ex, cfg, db)) == 1


async def test_a_waiting_stop_noted_at_a_restart_does_not_stand_for_a_later_one(
    ex, tmp_path, monkeypatch
) -> None:
    """A stop that never took effect (no close asked) is noted at the restart; a stop sent during
    a later start-up that closed as asked is not reported skipped in its place."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    await _book_killed_with_a_waiting_stop(ex, cfg, db, close_positions=False)
    assert await _skipped_rows(ex, cfg, db) == []
    await _audit_rows(ex, db, ("emergency_stop_waiting", True), ("emergency_stop", True))
    assert await _skipped_rows(ex, cfg, db) == []
