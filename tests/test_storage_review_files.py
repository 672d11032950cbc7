"""Database files an operator may bring along after months: each refused with one line, untouched."""

from __future__ import annotations

import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from engine_helpers import schema_book

from tui_trader.cli import main
from tui_trader.storage import Database
from tui_trader.storage.schema import MIGRATIONS, SCHEMA_VERSION, MigrationError, StorageError


def _book_without(path: Path, table: str) -> bytes:
    """A tui-trader database of the current version, one of whose tables was dropped."""
    con = schema_book(path)
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


def _book_with_bad_amount(path: Path) -> None:
    """A book whose account cash and one position's quantity no longer read as amounts (a hand edit)."""
    con = schema_book(path)
    con.execute(
        "INSERT INTO account (id, cash, quote_asset, starting_balance, peak_equity, day_start_ms, "
        "day_start_equity, updated_ms) VALUES (1, '1.2.3', 'USDT', '10000', '10000', 0, '10000', 0)"
    )
    con.execute(
        "INSERT INTO positions (symbol, quantity, avg_entry, entry_ms, updated_ms) VALUES ('BTCUSDT', 'abc', '1', 0, 0)"
    )
    con.commit()
    con.close()


def test_run_on_a_book_whose_cash_cannot_be_read_exits_2_naming_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "book.db"
    _book_with_bad_amount(path)
    # the account was read (for its quote asset) before the guard of the rest of the book: a traceback
    rc = main(["run", "--headless", "--feed", "sim", "--speed", "max", "--duration", "5s", "--db", str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        f"error: {path}: the stored book cannot be read (money column holds '1.2.3': not a decimal number); "
        "restore a backup of this file, or start a new book with another --db"
    ]
    con = sqlite3.connect(path)
    try:  # refused before anything was written: no session, the amounts as they were
        assert con.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
        assert con.execute("SELECT cash FROM account").fetchone() == ("1.2.3",)
    finally:
        con.close()


def test_export_of_a_book_with_an_unreadable_amount_names_the_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "book.db"
    _book_with_bad_amount(path)
    assert main(["export", "--db", str(path), "--out", str(tmp_path / "csv")]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: the stored book cannot be read (money column holds 'abc': not a decimal number); "
        "restore a backup of this file\n"
    )
    assert not (tmp_path / "csv").exists()  # the folder it made for the files is gone again


def _v1_book(path: Path) -> None:
    """A book written by the first schema (version 1): an account and a filled order."""
    con = sqlite3.connect(path)
    con.executescript(MIGRATIONS[0])
    con.execute("PRAGMA user_version = 1")
    con.execute(
        "INSERT INTO account (id, cash, quote_asset, starting_balance, realized_pnl, fees_paid, peak_equity, "
        "day_start_ms, day_start_equity, updated_ms) VALUES (1, '7636.95769470', 'USDT', '10000.0', "
        "'1457.80011531', '130.94407227', '11493.44168119', 0, '11133.7567814', 0)"
    )
    con.execute(
        "INSERT INTO orders (client_order_id, symbol, side, type, quantity, status, created_ms, updated_ms, "
        "executed_qty, avg_price, fees, realized_pnl, source) VALUES ('tt1-1', 'ZIUSDT', 'SELL', 'MARKET', "
        "'178.6', 'FILLED', 1, 1, '178.6', '2.941400000000', '0.52533404', '24.21074810', 'strategy')"
    )
    con.commit()
    con.close()


async def test_a_version_1_book_is_upgraded_with_its_amounts_exact(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    _v1_book(path)
    db = await Database.open(path, start_writer=False)
    try:
        assert await db.schema_version() == SCHEMA_VERSION
        account = await db.load_account()
        assert account is not None
        assert (account["cash"], account["realized_pnl"], account["fees_paid"]) == (
            Decimal("7636.95769470"),
            Decimal("1457.80011531"),
            Decimal("130.94407227"),
        )
        (order,) = await db.load_orders(limit=None)
        assert (str(order.avg_price), str(order.fees), str(order.realized_pnl)) == (
            "2.941400000000",
            "0.52533404",
            "24.21074810",
        )
    finally:
        await db.close()


async def test_an_upgrade_that_fails_half_way_leaves_the_version_1_book_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    _v1_book(path)
    con = sqlite3.connect(path)  # an index of that name, added by hand: the upgrade's CREATE INDEX fails
    con.execute("CREATE INDEX glicko_ratings_ts_symbol ON sessions (started_ms)")
    con.commit()
    con.close()
    with pytest.raises(MigrationError, match="migration 1 -> 2 failed"):
        await Database.open(path, start_writer=False)
    con = sqlite3.connect(path)
    try:  # its two DROP INDEX statements before the failure were rolled back with it
        assert con.execute("PRAGMA user_version").fetchone() == (1,)
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"glicko_ratings_symbol_ts", "glicko_ratings_ts"} <= indexes
        assert con.execute("SELECT cash FROM account").fetchone() == ("7636.95769470",)
    finally:
        con.close()
