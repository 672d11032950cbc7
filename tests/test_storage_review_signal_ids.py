"""A signal's id is never given twice. An order is committed at once and names its signal; the
signal row goes through the batched writer, so a kill -9 between the two leaves an order naming a
signal that was never stored. The restarted engine numbered its signals after the stored ones
alone: its next signal took that id, and the order's history then pointed at the wrong signal
(another symbol, reason and z-score in an export or a join)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tui_trader.models import Order, OrderStatus, OrderType, Side, Source
from tui_trader.storage.db import Database


def _order(cid: str, signal_id: int | None) -> Order:
    return Order(
        client_order_id=cid,
        symbol="BTCUSDT",
        side=Side.BUY,
        type=OrderType.MARKET,
        quantity=Decimal("0.001"),
        price=None,
        status=OrderStatus.INTENT,
        source=Source.STRATEGY,
        reason="z>2.5",
        created_ms=1_000,
        updated_ms=1_000,
        signal_id=signal_id,
    )


async def test_signal_ids_start_after_the_ones_orders_name_whose_rows_a_kill_lost(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    db = await Database.open(path, start_writer=False)
    try:
        sid = await db.start_session("run", "paper", "sim", {})
        await db.write_order_intent(_order("tt1-1", 7), sid)  # committed; its signal 7 never stored
        await db.write_order_intent(_order("tt1-2", None), sid)  # (a manual order names none)
    finally:
        await db.close()
    db = await Database.open(path, start_writer=False)
    try:
        assert await db.load_signals() == []
        assert await db.max_signal_id() == 7  # the restarted engine's next signal is 8
    finally:
        await db.close()
