"""An emergency stop (a halt) during the restart's in-flight wait: the reconciliation does not
wait out the window the last run's request may still land in. The order is left unsettled
(outcome unknown), never booked "not sent before restart" nor sent: a later lookup books what
the exchange has."""

from __future__ import annotations

import asyncio

from test_order_manager import D, Rig

from tui_trader.execution.order_manager import OUTCOME_UNKNOWN
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side


async def test_a_halt_ends_the_restarts_in_flight_wait_and_leaves_the_order_unsettled() -> None:
    r = Rig(in_flight_ms=6000)  # the last run's request may land up to 6 s after this manager was made
    stored = r.order("tt-1")  # its intent, stored: the last run may have sent it
    sleeping = asyncio.Event()

    async def endless(seconds: float) -> None:  # a window that would not end by itself
        sleeping.set()
        await asyncio.Event().wait()

    real_sleep, r.om._sleep = r.om._sleep, endless
    task = asyncio.create_task(r.om.reconcile([stored]))
    await asyncio.wait_for(sleeping.wait(), 20)
    r.om.halt("canceled: emergency stop sent during the start-up (panic)")
    (left,) = await asyncio.wait_for(task, 20)
    # not called unsent (its request may still land), and not sent either
    assert left.status is OrderStatus.INTENT
    assert left.error.startswith(OUTCOME_UNKNOWN) and "emergency stop" in left.error
    assert r.om.unsettled() == {"tt-1": "BTCUSDT"}
    assert r.broker.submit_calls == 0

    # the last run's request lands after all: the next lookup books it, nothing is sent again
    await r.broker.submit(OrderRequest("tt-1", "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01")))
    r.om._sleep = real_sleep
    await r.om.resolve(left)
    assert left.status is OrderStatus.FILLED and left.executed_qty == D("0.01")
    assert r.broker.submit_calls == 1  # the late request only
    assert [f.client_order_id for f in r.journal.fills] == ["tt-1"]
