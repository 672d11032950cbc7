"""Start-up recovery on a book whose stored state does not hold together fails closed."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from engine_helpers import make_engine, schema_book
from test_crash_recovery import _trend

from tui_trader.cli import main
from tui_trader.events import ManualBuy
from tui_trader.storage.db import Database
from tui_trader.storage.money import from_db
from tui_trader.storage.schema import StorageError


def _start_errors(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The ``error:`` lines of a headless run started on the book at ``path``, which must exit 2."""
    rc = main(["run", "--headless", "--feed", "sim", "--speed", "max", "--duration", "5s", "--db", str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    return [ln for ln in err.splitlines() if ln.startswith("error:")]


async def test_a_book_with_positions_but_no_account_row_is_refused_not_started_afresh(tmp_path: Path) -> None:
    """It was taken for a new book: a fresh account with the starting balance, the stored positions
    and orders left out of it - and brought back by the restart after that, next to cash that never
    paid for them."""
    db = str(tmp_path / "b.db")
    h = await make_engine(db_path=db).start()
    await _trend(h, 6)
    free = next(s for s in h.engine.symbols if s not in h.engine.portfolio.positions)
    assert (await h.engine.submit(ManualBuy(symbol=free, quote_amount=Decimal(700)))).ok
    await h.stop()
    con = sqlite3.connect(db)
    con.execute("DELETE FROM account")  # lost (a hand edit, a partial restore)
    con.commit()
    n_pos = con.execute("SELECT COUNT(*) FROM positions").fetchone()[0]
    con.close()
    assert n_pos >= 1

    h2 = make_engine(db_path=db)
    with pytest.raises(StorageError) as err:
        await h2.engine.start_up()
    await h2.engine.stop()
    msg = str(err.value)
    assert msg.startswith(f"{db}: the stored book cannot be read") and "no account row" in msg
    assert f"{n_pos} position(s)" in msg and "restore a backup" in msg
    async with await Database.open(db) as store:
        assert await store.load_account() is None  # nothing made up in its place
        assert len(await store.load_positions()) == n_pos


async def test_a_new_book_still_gets_its_account(tmp_path: Path) -> None:
    db = str(tmp_path / "n.db")
    h = await make_engine(db_path=db).start()
    try:
        assert h.engine.portfolio.cash == h.engine.portfolio.starting_cash
    finally:
        await h.stop()
    async with await Database.open(db) as store:
        assert (await store.load_account())["cash"] == h.engine.portfolio.starting_cash


@pytest.mark.parametrize("stored", ["5", "null"])
def test_locked_symbols_that_are_no_list_of_symbols_exit_2_naming_the_file(tmp_path: Path, capsys, stored: str) -> None:
    """It was a traceback (TypeError: 'int' object is not iterable) from the start-up."""
    path = tmp_path / "book.db"
    con = schema_book(path)
    con.execute("INSERT INTO engine_state (id, state, reason, updated_ms, locked_symbols_json) "
                "VALUES (1, 'paused', '', 0, ?)", (stored,))
    con.commit()
    con.close()
    lines = _start_errors(path, capsys)
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: the stored book cannot be read")
    assert "locked symbols" in lines[0]


def test_a_money_column_holding_a_blob_exits_2_naming_the_file(tmp_path: Path, capsys) -> None:
    """It was a traceback (TypeError: money column holds bytes): a BLOB is not converted to text by
    the column's TEXT affinity, as a number written by hand is."""
    path = tmp_path / "book.db"
    con = schema_book(path)
    con.execute(
        "INSERT INTO account (id, cash, quote_asset, starting_balance, peak_equity, day_start_ms, "
        "day_start_equity, updated_ms) VALUES (1, X'3130', 'USDT', '10000', '10000', 0, '10000', 0)"
    )
    con.commit()
    con.close()
    lines = _start_errors(path, capsys)
    assert lines == [f"error: {path}: the stored book cannot be read (money column holds bytes b'10': expected "
                     "decimal text); restore a backup of this file, or start a new book with another --db"]
    with pytest.raises(TypeError):  # still a TypeError for callers that expect one
        from_db(b"10")  # type: ignore[arg-type]
