"""Storage failures an operator meets on a real disk say what happened, never a traceback nor a
misleading cause: a full disk at the schema's creation, a file locked by another program."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from tui_trader.storage.db import Database
from tui_trader.storage.schema import StorageError, migrate, user_version


class _FullAtCommit:
    """An aiosqlite connection whose COMMIT meets a full disk, as SQLite does it: the write of the
    WAL fails and SQLite rolls the transaction back by itself before it reports SQLITE_FULL."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            await self._conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return await self._conn.execute(sql, *args)


async def test_a_full_disk_at_the_schema_s_commit_is_said_as_such(tmp_path: Path) -> None:
    """It was "cannot rollback - no transaction is active" (the ROLLBACK after SQLite's own),
    which sends the operator looking for a bug instead of disk space."""
    async with aiosqlite.connect(tmp_path / "new.db", isolation_level=None) as conn:
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            await migrate(_FullAtCommit(conn))  # type: ignore[arg-type]
        assert await user_version(conn) == 0  # nothing of the schema kept


@pytest.mark.parametrize("read_only", [False, True])
async def test_a_file_locked_by_another_program_is_said_locked_not_unusable(
    tmp_path: Path, read_only: bool
) -> None:
    """Another program holding an exclusive lock (an sqlite3 shell in locking_mode EXCLUSIVE, a
    backup tool) keeps even readers out: it was "is not a usable SQLite database: database is
    locked", as if the file were no database."""
    path = tmp_path / "book.db"
    db = await Database.open(path, start_writer=False)
    await db.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO kv (key, value) VALUES ('x', 'y')")
    try:
        with pytest.raises(StorageError) as err:
            await Database.open(path, start_writer=False, read_only=read_only, busy_timeout_ms=50)
        text = str(err.value)
        assert text.startswith(
            f"cannot open the database {path}: database is locked (another program holds a lock"
        )
        assert "not a usable" not in text
    finally:
        other.execute("ROLLBACK")
        other.close()
