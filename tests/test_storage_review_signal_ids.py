"""A signal's id is never given twice. An order is committed at once and names its signal; the
signal row goes through the batched writer, so a kill -9 between the two leaves an order naming a
signal that was never stored. The restarted engine numbered its signals after the stored ones
alone: its next signal took that id, and the order's history then pointed at the wrong signal
(another symbol, reason and z-score in an export or a join)."""

from __future__ import annotations

from pathlib import Path

from test_storage import make_order

from tui_trader.storage.db import Database


async def test_signal_ids_start_after_the_ones_orders_name_whose_rows_a_kill_lost(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    db = await Database.open(path, start_writer=False)
    try:
        sid = await db.start_session("run", "paper", "sim", {})
        # committed at once; its signal 7 never stored (the kill came before the writer flushed it)
        await db.write_order_intent(make_order("tt1-1", signal_id=7), sid)
        await db.write_order_intent(make_order("tt1-2"), sid)  # (a manual order names none)
    finally:
        await db.close()
    db = await Database.open(path, start_writer=False)
    try:
        assert await db.load_signals() == []
        assert await db.max_signal_id() == 7  # the restarted engine's next signal is 8
    finally:
        await db.close()
