"""The batched writer at shutdown on a full disk: what is lost is said, and the book is not."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tui_trader.storage import Database
from tui_trader.storage.schema import StorageError


async def test_a_final_flush_on_a_full_disk_says_what_is_lost_and_that_money_is_not(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    db = await Database.open(path, flush_interval_s=3600, max_batch_size=10_000, max_buffered_rows=10_000)
    await db.init_account(Decimal("10000.10"), "USDT", Decimal("10000.10"), 1000)
    sid = await db.start_session("run", "paper", "sim", {})
    for i in range(500):
        await db.queue_equity(sid, 1000 + i, 10_000.1, Decimal("10000.10"), 0.0, 0.0)
    async with db._use() as conn:  # the disk is full: SQLite may not grow the file by one page
        pages = list(await conn.execute_fetchall("PRAGMA page_count"))[0][0]
        await conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageError) as caught:
        await db.close()
    said = str(caught.value)
    assert said.startswith(f"closing {path}: final flush failed, 500 buffered rows lost (")
    assert "orders, fills and cash were committed before" in said
    assert said.endswith("database or disk is full (the disk is full: free some space)")
    assert db.closed
    db = await Database.open(path, start_writer=False)
    try:
        account = await db.load_account()
        assert account is not None and account["cash"] == Decimal("10000.10")
    finally:
        await db.close()
