"""An emergency stop sent while the start-up reconciles the book's open orders: the
reconciliation does not go on waiting for a resting order until the order timeout (30 s) - it
cancels it at once, for the stop, and the stop then takes effect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine_helpers import until
from test_binance_broker import live_cfg
from test_estop_restart_orders import _book_with_a_resting_order, ex  # noqa: F401 - the stand-in exchange

from tui_trader.events import EmergencyStop
from tui_trader.models import EngineState, OrderStatus
from tui_trader.runtime import build_engine


@asynccontextmanager
async def reconciling_a_resting_order(stand, tmp_path, monkeypatch) -> AsyncIterator[tuple]:
    """A live book left with a resting order starts up on the stand-in, which answers "still
    open": yields ``(engine, cid, start-up task)`` once the reconciliation polls the order."""
    cfg = live_cfg(stand, monkeypatch)
    db = str(tmp_path / "live.db")
    cid = await _book_with_a_resting_order(stand, cfg, db)
    # an order timeout of an hour: however slow this machine, the stop comes long before it
    oe = cfg.order_execution.model_copy(update={"order_timeout_ms": 3_600_000})
    e = build_engine(
        cfg.model_copy(update={"order_execution": oe}), db_path=db, session_kind="run", clock=stand.clock
    )
    polling = asyncio.Event()
    task = asyncio.create_task(e.start_up())
    try:
        await until(lambda: getattr(e, "order_mgr", None) is not None, "the order manager made")
        mgr = e.order_mgr
        await_final = mgr._await_final

        async def noted(*args, **kwargs):
            polling.set()
            return await await_final(*args, **kwargs)

        monkeypatch.setattr(mgr, "_await_final", noted)
        await asyncio.wait_for(polling.wait(), 20)
        yield e, cid, task
    finally:
        if not task.done():
            task.cancel()
        await asyncio.wait_for(e.stop(), 20)


async def test_a_stop_sent_during_the_reconciliation_cancels_the_order_it_waits_for(
    ex,  # noqa: F811 - the fixture
    tmp_path,
    monkeypatch,
) -> None:
    async with reconciling_a_resting_order(ex, tmp_path, monkeypatch) as (e, cid, task):
        mgr = e.order_mgr
        slept_before = mgr.total_slept_s
        stop = asyncio.create_task(e.submit(EmergencyStop(reason="panic now")))
        await asyncio.wait_for(task, 20)
        res = await asyncio.wait_for(stop, 20)
        assert res.ok, res.message
        assert e.state is EngineState.EMERGENCY_STOPPED and e._error == ""
        assert ex.orders[cid].status == "CANCELED"
        stored = await e.db.get_order(cid)
        # canceled for the stop, not by the order timeout once it had run out
        assert stored.status is OrderStatus.CANCELED
        assert stored.error == "canceled: emergency stop sent during the start-up (panic now)"
        assert mgr.total_slept_s - slept_before < 5.0  # (one poll's back-off at most, not the hour)
        (row,) = [a for a in await e.db.load_audit(limit=100) if a["action"] == "emergency_stop_restart"]
        assert row["source"] == "system" and row["args"] == {"canceled": [cid]}


async def test_a_halt_ends_the_reconciliations_wait_and_cancels_the_orders_after_it_too() -> None:
    """The order manager on its own: the wait between two polls of a resting order ends at the
    halt (here a sleep that would never end by itself), and the orders after it are canceled
    with the halt's reason at once, never polled until the order timeout."""
    from test_order_manager import D, Rig

    from tui_trader.models import OrderRequest, OrderType, Side

    r = Rig()
    orders = []
    for cid in ("tt-1", "tt-2"):
        r.broker.hold_next()  # resting at the exchange (left open by the last run)
        await r.broker.submit(OrderRequest(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
        o = r.order(cid)
        o.status = OrderStatus.NEW
        orders.append(o)
    sleeping = asyncio.Event()

    async def endless(seconds: float) -> None:
        sleeping.set()
        await asyncio.Event().wait()

    r.om._sleep = endless
    task = asyncio.create_task(r.om.reconcile(orders))
    await asyncio.wait_for(sleeping.wait(), 20)
    assert orders[0].status is OrderStatus.NEW  # polled, waiting for the next poll
    r.om.halt("canceled: emergency stop sent during the start-up (panic)")
    out = await asyncio.wait_for(task, 20)
    assert [o.status for o in out] == [OrderStatus.CANCELED, OrderStatus.CANCELED]
    assert {o.error for o in out} == {"canceled: emergency stop sent during the start-up (panic)"}
    assert await r.broker.open_orders() == []  # canceled at the exchange, not only in the book
