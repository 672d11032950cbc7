"""Storage failures an operator meets on a real disk say what happened, never a traceback nor a
misleading cause: a full disk at the schema's creation, a damaged history table under `export`, a
file locked by another program, a backtest's result that no longer fits on the disk."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from engine_helpers import schema_book

from tui_trader.cli import main
from tui_trader.models import Side
from tui_trader.storage.db import Database
from tui_trader.storage.queries import BacktestTrade
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


def _damage_table(path: Path, table: str) -> None:
    """Overwrite the first page of ``table``'s b-tree with bytes no page starts with."""
    con = sqlite3.connect(path)
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    assert root > 1
    with path.open("r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * 64)


def test_export_of_a_book_whose_equity_table_is_damaged_exits_2_saying_so(tmp_path: Path, capsys) -> None:
    """The equity samples are a bulk table the open does not check: the export met the damage
    while reading them and died with a traceback (exit 1)."""
    db, out = tmp_path / "book.db", tmp_path / "csv"
    con = schema_book(db)
    con.executemany(
        "INSERT INTO equity_snapshots (ts_ms, equity, cash, positions_value, drawdown_pct) VALUES (?, ?, '0', 0, 0)",
        [(1000 * i, 10_000.0 + i) for i in range(1, 2_000)],
    )
    con.commit()
    con.close()
    _damage_table(db, "equity_snapshots")
    assert main(["export", "--db", str(db), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {db}: the book cannot be read: database disk image is malformed")
    assert "(the file is damaged: restore a backup)" in err
    assert "Traceback" not in err
    assert not out.exists()  # no empty folder left behind


@contextlib.contextmanager
def _locked_by_another_program(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (as an sqlite3 shell in locking_mode EXCLUSIVE or a backup
    tool takes it), which keeps even readers out; released at the end."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO kv (key, value) VALUES ('x', 'y')")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


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
    with _locked_by_another_program(path):
        with pytest.raises(StorageError) as err:
            await Database.open(path, start_writer=False, read_only=read_only, busy_timeout_ms=50)
        text = str(err.value)
        assert text.startswith(
            f"cannot open the database {path}: database is locked (another program holds a lock"
        )
        assert "not a usable" not in text


async def test_a_backtest_run_that_does_not_fit_on_the_disk_is_a_storage_error_and_stores_nothing(
    tmp_path: Path,
) -> None:
    """After the whole run its result is stored at once: a full disk then was a raw sqlite3 error
    and a traceback, with the report never shown."""
    path = tmp_path / "bt.db"
    db = await Database.open(path, start_writer=False)
    try:
        pages = int(await db.pragma("page_count"))
        async with db._use() as conn:  # the disk fills up: no page beyond the ones there are
            await conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        trade = BacktestTrade(1000, "XUSDT", Side.BUY, Decimal("1.5"), Decimal("2"), Decimal("0.01"))
        n = 20_000
        with pytest.raises(StorageError) as err:
            await db.save_backtest_run("run-1", 1000, {}, "data", {}, [trade], list(range(n)), [10_000.0] * n)
        assert str(err.value).startswith(
            f"{path}: the backtest run run-1 could not be stored: database or disk is full"
        )
        assert str(err.value).endswith("(the disk is full: free some space)")
        assert await db.load_backtest_run("run-1") is None
    finally:
        await db.close()


@pytest.mark.parametrize("read_only", [False, True])
async def test_a_negative_schema_version_is_refused_before_anything_is_written(
    tmp_path: Path, read_only: bool
) -> None:
    """PRAGMA user_version is a signed number: a hand edit or a damaged header can make it negative.
    The migrations then started at MIGRATIONS[-5] (IndexError, a traceback) or ran the last one
    over a book that has it already."""
    path = tmp_path / "book.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = -5")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match=r"is not a tui-trader database: its schema version .* is -5"):
        await Database.open(path, start_writer=False, read_only=read_only)
    assert path.read_bytes() == before


def _add_audit_rows(con: sqlite3.Connection) -> None:
    rows = [(i, "ui", "x" * 200, "{}", 1, "o") for i in range(3_000)]
    con.executemany(
        "INSERT INTO audit_log (ts_ms, source, action, args_json, ok, outcome) VALUES (?,?,?,?,?,?)", rows
    )


def _restore_beside_a_stale_wal(book: Path, backup: Path) -> None:
    """``backup``: a copy of ``book`` now; ``book`` then changes, and a kill leaves commits in its
    WAL; the backup is restored over it, the WAL and its index left beside it."""
    backup.write_bytes(book.read_bytes())
    con = sqlite3.connect(book, isolation_level=None)
    con.execute("PRAGMA wal_autocheckpoint = 0")
    con.execute("PRAGMA synchronous = OFF")  # no fsync: the test is about which bytes, not the disk
    _add_audit_rows(con)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _add_audit_rows(con)  # commits in the WAL only, as a kill -9 leaves them
    left = {s: Path(f"{book}{s}").read_bytes() for s in ("-wal", "-shm")}
    con.close()
    book.write_bytes(backup.read_bytes())  # the backup restored, without a word about the WAL
    for s, data in left.items():
        Path(f"{book}{s}").write_bytes(data)


def _move_wal_away(book: Path) -> None:
    for s in ("-wal", "-shm"):
        Path(f"{book}{s}").unlink()


async def test_a_backup_restored_beside_the_replaced_file_s_wal_is_left_as_it_was_and_the_wal_named(
    tmp_path: Path,
) -> None:
    """The operator restores a backup over a book that a crash left with a -wal file. SQLite takes
    that WAL for the copy's own last commits: the book reads as damaged and is refused; but the
    refusing connection copied the WAL into the file as it closed, damaging the restored copy for
    good (and the message sent the operator to restore a backup, again)."""
    book, backup = tmp_path / "book.db", tmp_path / "backup.db"
    db = await Database.open(book, start_writer=False)
    await db.close()
    _restore_beside_a_stale_wal(book, backup)
    with pytest.raises(StorageError) as err:
        await Database.open(book, start_writer=False)
    assert "the database file is damaged" in str(err.value)
    assert str(err.value).endswith(
        "if this file was restored from a backup, first move away the book.db-wal and book.db-shm files "
        "beside it: they are the replaced file's"
    )
    assert book.read_bytes() == backup.read_bytes()  # nothing written: the copy is still good
    _move_wal_away(book)
    db = await Database.open(book, start_writer=False)  # what the message says, then it opens
    try:
        assert await db.integrity_check() == "ok"
    finally:
        await db.close()


async def test_a_full_disk_inside_a_nested_transaction_is_said_as_such(tmp_path: Path) -> None:
    """A save nested in the engine's state transaction is a SAVEPOINT; when SQLite rolled the
    whole transaction back itself (a full disk), the ROLLBACK TO that followed failed with "no
    such savepoint", which replaced the cause (and named it in the emergency stop's reason)."""
    db = await Database.open(tmp_path / "book.db")

    def full(raw: sqlite3.Connection) -> None:
        raw.execute("ROLLBACK")  # what SQLite does itself before it reports SQLITE_FULL
        raise sqlite3.OperationalError("database or disk is full")

    try:
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            async with db.transaction(), db.transaction() as conn:  # the inner one a SAVEPOINT
                await conn.execute("ROLLBACK")
                raise sqlite3.OperationalError("database or disk is full")
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            async with db.transaction():
                await db._critical_sync(full)  # the money path's savepoint, on the raw connection
        async with db.transaction() as conn:  # the connection is usable again
            await conn.execute("SELECT 1")
    finally:
        await db.close()


async def test_a_lock_taken_during_the_damage_check_is_no_damage(tmp_path: Path) -> None:
    """Another program may take its exclusive lock after the open read the schema version and
    before the check of the tables: the check took the "database is locked" for damage and sent
    the operator to restore a backup of a good book. It is said as the lock (by the open)."""
    from tui_trader.storage.db import SCHEMA_VERSION, _check_not_damaged

    path = tmp_path / "book.db"
    db = await Database.open(path, start_writer=False)
    await db.close()
    with _locked_by_another_program(path):
        async with aiosqlite.connect(path, isolation_level=None, timeout=0) as conn:
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                await _check_not_damaged(conn, str(path), SCHEMA_VERSION)
