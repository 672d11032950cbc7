"""An emergency stop sent while the start-up reconciliation waits for a resting order that part
filled meanwhile: the order is canceled for the stop at once, and what it bought before the cancel
is booked (the fill, the position, the cash) - the book agrees with the account afterwards."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from test_estop_restart_orders import ex  # noqa: F401 - the stand-in exchange
from test_gaps27_estop_reconcile import reconciling_a_resting_order

from tui_trader.events import EmergencyStop
from tui_trader.models import EngineState, OrderStatus


def _part_fill(ex, cid: str, qty: Decimal, price: Decimal) -> None:  # noqa: F811 - ex is the stand-in here
    """``qty`` of the resting BUY ``cid`` trades at ``price`` at the exchange (fee in the base asset)."""
    o = ex.orders[cid]
    now = ex.clock.now_ms()
    fee = (qty * Decimal("0.001")).quantize(Decimal("0.00000001"))
    ex.balances["USDT"] -= qty * price
    ex.balances["ETH"] = ex.balances.get("ETH", Decimal(0)) + qty - fee
    tid = ex._next_trade_id
    ex._next_trade_id += 1
    o.trades.append(
        {
            "symbol": o.symbol,
            "id": tid,
            "orderId": o.order_id,
            "orderListId": -1,
            "price": f"{price:.8f}",
            "qty": f"{qty:.8f}",
            "quoteQty": f"{qty * price:.8f}",
            "commission": f"{fee:.8f}",
            "commissionAsset": "ETH",
            "time": now,
            "isBuyer": True,
            "isMaker": True,
            "isBestMatch": True,
        }
    )
    o.executed += qty
    o.quote += qty * price
    o.status = "PARTIALLY_FILLED"
    o.update = now


async def test_a_stop_during_the_reconciliation_books_the_part_fill_of_the_order_it_cancels(
    ex,  # noqa: F811 - the fixture
    tmp_path,
    monkeypatch,
) -> None:
    async with reconciling_a_resting_order(ex, tmp_path, monkeypatch) as (e, cid, task):
        held_before = e.portfolio.positions["ETHUSDT"].quantity
        cash_before = e.portfolio.cash
        _part_fill(ex, cid, Decimal("0.02"), Decimal("1000.00"))
        stop = asyncio.create_task(e.submit(EmergencyStop(reason="panic now")))
        await asyncio.wait_for(task, 20)
        res = await asyncio.wait_for(stop, 20)
        assert res.ok, res.message
        assert e.state is EngineState.EMERGENCY_STOPPED and e._error == "", e._error
        assert ex.orders[cid].status == "CANCELED"
        stored = await e.db.get_order(cid)
        assert stored.status is OrderStatus.CANCELED and stored.executed_qty == Decimal("0.02")
        assert stored.error == "canceled: emergency stop sent during the start-up (panic now)"
        # the part bought before the cancel is in the book, as the broker reported its fills
        fills = [f for f in await e.db.load_fills() if f.client_order_id == cid]
        assert sum(f.quantity for f in fills) == Decimal("0.02")
        received = sum(f.quantity - (f.fee / f.price if f.fee_asset == "ETH" else 0) for f in fills)
        assert e.portfolio.positions["ETHUSDT"].quantity == held_before + received
        assert e.portfolio.cash < cash_before
        (row,) = [a for a in await e.db.load_audit(limit=100) if a["action"] == "emergency_stop_restart"]
        assert row["args"] == {"canceled": [cid]}
