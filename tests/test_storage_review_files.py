"""Database files an operator may bring along after months: each refused with one line, untouched."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.storage import Database
from tui_trader.storage.schema import MIGRATIONS, SCHEMA_VERSION, StorageError


def _book_without(path: Path, table: str) -> bytes:
    """A tui-trader database of the current version, one of whose tables was dropped."""
    con = sqlite3.connect(path)
    for script in MIGRATIONS:
        con.executescript(script)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    con.execute(f"DROP TABLE {table}")
    con.commit()
    con.close()
    return path.read_bytes()


async def test_a_book_missing_a_table_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    before = _book_without(path, "positions")
    # an engine opened it, wrote its session row, and failed only at "no such table: positions"
    with pytest.raises(StorageError, match="is not a tui-trader database: it lacks the tables positions"):
        await Database.open(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["book.db"]


def test_run_on_a_book_missing_a_table_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "book.db"
    before = _book_without(path, "orders")
    rc = main(["run", "--headless", "--feed", "sim", "--speed", "max", "--duration", "5s", "--db", str(path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        f"error: {path} is not a tui-trader database: it lacks the tables orders"
    ]
    assert path.read_bytes() == before
