"""The database file deleted (or replaced) while an engine has it open.

On a POSIX system SQLite keeps writing to the open file after it was unlinked: every commit
"succeeds" into a file nobody can open again, the order intent is "written" before it is sent,
and all of it is gone when the process ends. A deleted or replaced book must stop every write
with a storage failure that says so, as a full disk does: the intent is not sent."""

from __future__ import annotations

import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from engine_helpers import make_engine
from test_crash_recovery import _price_shocks, _trend

from tui_trader.models import EngineState, Order, OrderStatus, OrderType, Side, Source
from tui_trader.storage.db import Database
from tui_trader.storage.schema import StorageError, failure_hint


def _intent(cid: str) -> Order:
    return Order(client_order_id=cid, symbol="AAAUSDT", side=Side.BUY, type=OrderType.MARKET,
                 quantity=Decimal("1.5"), price=None, status=OrderStatus.INTENT, source=Source.STRATEGY,
                 reason="t", created_ms=1, updated_ms=1)


async def test_writes_to_a_deleted_book_fail_and_say_so(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    db = await Database.open(path, start_writer=False)
    await db.init_account(Decimal("100"), "USDT", Decimal("100"), 1)
    os.remove(path)
    with pytest.raises(sqlite3.OperationalError) as err:
        await db.write_order_intent(_intent("c1"), None)  # it was "committed" into the deleted file
    assert "deleted or replaced" in str(err.value) and "restore" in failure_hint(err.value)
    for write in (lambda: db.save_account(cash=Decimal("5")), lambda: db.kv_set("k", "v"),
                  lambda: db.audit(1, Source.SYSTEM, "x", {}, True, ""), lambda: db.start_session("run", "paper", "sim", None),
                  lambda: db.next_sequence("s")):
        with pytest.raises(sqlite3.OperationalError, match="deleted or replaced"):
            await write()
    await db.queue_equity(None, 1, 1.0, Decimal("1"), 0.0, 0.0)
    with pytest.raises(sqlite3.OperationalError, match="deleted or replaced"):
        await db.flush()
    assert db.writer.pending == 1  # kept, as after any failed flush
    assert (await db.load_account())["cash"] == Decimal("100")  # reads still work
    with pytest.raises(sqlite3.OperationalError, match="deleted or replaced"):
        await db.checkpoint()  # its connection, opened on first use, made a new empty file there
    with pytest.raises(StorageError, match="1 buffered rows lost"):
        await db.close()
    assert not path.exists()  # not made again by the close
    db = await Database.open(path, start_writer=False)  # a new book there (SQLite's stale -wal is no harm)
    try:
        assert await db.load_account() is None
    finally:
        await db.close()


async def test_writes_to_a_replaced_book_fail(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    db = await Database.open(path, start_writer=False)
    await db.init_account(Decimal("100"), "USDT", Decimal("100"), 1)
    other = tmp_path / "other.db"
    other.write_bytes(b"")
    os.replace(other, path)  # e.g. a backup restored over the file while the engine runs
    with pytest.raises(sqlite3.OperationalError, match="deleted or replaced"):
        await db.save_account(cash=Decimal("5"))
    await db.close()  # nothing was buffered: nothing lost
    assert path.read_bytes() == b""  # the file put there is left as it is


async def test_a_book_in_place_keeps_writing(tmp_path: Path) -> None:
    """Through a symbolic link and after a checkpoint the file is the same one."""
    real = tmp_path / "real.db"
    link = tmp_path / "link.db"
    link.symlink_to(real)
    db = await Database.open(link, start_writer=False)
    await db.init_account(Decimal("100"), "USDT", Decimal("100"), 1)
    await db.checkpoint()
    await db.write_order_intent(_intent("c1"), None)
    await db.close()
    con = sqlite3.connect(real)
    assert con.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1
    con.close()


async def test_an_engine_whose_book_is_deleted_stops_and_sends_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "gone.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _trend(h, 6)
    await e.db.flush()
    cash, n_fills, sent = e.portfolio.cash, e.counters["fills"], e.broker.submit_calls
    os.remove(db)
    with pytest.raises(StorageError) as err:
        await _price_shocks(h)
    assert f"storage failure on {db}" in str(err.value) and "deleted or replaced" in str(err.value)
    assert e.state is EngineState.PAUSED
    assert e.broker.submit_calls == sent and e.counters["fills"] == n_fills and e.portfolio.cash == cash
    with pytest.raises(StorageError):
        await h.stop()
