"""A stop while the start-up is still opening the book (the console's quit during the start-up:
it cancels its engine worker, then stops the engine). The stop went on at once: it found no book
yet, released the lock, and the cancelled start-up then finished opening the book (it lets an open
in progress finish, so that a stop can close it) - a connection nobody closed, its -wal and -shm
left beside the book. The stop now ends the start-up and waits for it first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from engine_helpers import engine_config

from tui_trader.runtime import build_engine
from tui_trader.storage.db import Database


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("host_cancels", [True, False], ids=["host-cancels-first", "stop-alone"])
async def test_a_stop_during_the_book_s_opening_closes_the_book_and_then_lets_the_lock_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host_cancels: bool
) -> None:
    opened = Database.open.__func__
    opening = asyncio.Event()
    books: list[Database] = []

    async def slow_open(cls, *args, **kwargs):
        opening.set()
        book = await opened(cls, *args, **kwargs)
        await asyncio.sleep(0.2)  # still opening when the stop comes
        books.append(book)
        return book

    monkeypatch.setattr(Database, "open", classmethod(slow_open))
    db = tmp_path / "book.db"
    engine = build_engine(engine_config(), db_path=str(db), session_kind="tui")
    start = asyncio.create_task(engine.start_up())
    await asyncio.wait_for(opening.wait(), 10)
    if host_cancels:
        start.cancel()
        await asyncio.sleep(0)
    await asyncio.wait_for(engine.stop(), 20)
    assert start.done()  # ended before the stop went on
    assert len(books) == 1 and books[0].closed
    assert engine._db_lock is not None and not engine._db_lock.held
    assert _names(tmp_path) == ["book.db", "book.db.lock"]  # no -wal/-shm left
    with pytest.raises(asyncio.CancelledError):
        await start
