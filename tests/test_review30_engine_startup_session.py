"""A start-up cut (a signal, a --duration end) while its session row is being written: the row
written is ended by the stop all the same, so no session of the book is left without an end."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from engine_helpers import make_engine, until

from tui_trader.storage.db import Database


async def test_a_start_up_cancelled_inside_start_session_ends_the_session_it_wrote(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "book.db")
    real = Database.start_session
    written, release = asyncio.Event(), asyncio.Event()

    async def slow_start_session(self: Database, *args: Any, **kwargs: Any) -> int:
        sid = await real(self, *args, **kwargs)  # the row is committed ...
        written.set()
        await release.wait()  # ... and its id not yet handed back when the cancel comes
        return sid

    monkeypatch.setattr(Database, "start_session", slow_start_session)
    h = make_engine(db_path=db)
    start = asyncio.create_task(h.engine.start_up())
    await until(written.is_set, "the session row written")
    start.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await start
    await h.engine.stop()

    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT id, ended_ms, summary_json FROM sessions").fetchall()
    assert len(rows) == 1
    ((_, ended, summary),) = rows
    assert ended is not None and summary is not None  # ended by this stop, not left open


async def test_a_start_up_cancelled_while_the_database_opens_closes_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut inside the database's open (a --duration of a few ms, a signal then): the connection
    opened meanwhile was left open in its thread, whose answer then failed on the closed loop."""
    real = Database.open.__func__  # type: ignore[attr-defined]
    opened: list[Database] = []
    release = asyncio.Event()

    async def slow_open(cls: type[Database], *args: Any, **kwargs: Any) -> Database:
        db = await real(cls, *args, **kwargs)
        opened.append(db)
        await release.wait()  # open, and not yet handed back when the cancel comes
        return db

    monkeypatch.setattr(Database, "open", classmethod(slow_open))
    h = make_engine(db_path=str(tmp_path / "book.db"))
    start = asyncio.create_task(h.engine.start_up())
    await until(lambda: bool(opened), "the database opened")
    start.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await start
    await h.engine.stop()
    (db,) = opened
    assert db._conn is None  # closed by the stop, not left open
