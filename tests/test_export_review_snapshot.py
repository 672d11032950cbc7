"""`tui-trader export` beside a running engine: the five files show one committed state of the book."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from engine_helpers import schema_book

from tui_trader.cli import main
from tui_trader.storage.db import Database

ORDER = (
    "INSERT INTO orders (client_order_id, symbol, side, type, quantity, status, created_ms, updated_ms, "
    "executed_qty, avg_price, source) VALUES (?, 'XUSDT', 'BUY', 'MARKET', '1', 'FILLED', ?, ?, '1', '2', 'strategy')"
)
FILL = (
    "INSERT INTO fills (client_order_id, symbol, side, price, quantity, fee, ts_ms, trade_id) "
    "VALUES (?, 'XUSDT', 'BUY', '2', '1', '0.002', ?, ?)"
)


def _book(path: Path) -> None:
    con = schema_book(path, ["journal_mode = WAL"])  # as the engine keeps it: a reader and a writer at once
    con.execute(ORDER, ("tt1-1", 1000, 1000))
    con.execute(FILL, ("tt1-1", 1000, "t1"))
    con.commit()
    con.close()


def _ids(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [r["client_order_id"] for r in csv.DictReader(fh)]


def test_an_order_filled_while_the_export_reads_is_in_none_of_its_files(tmp_path: Path, monkeypatch) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    _book(db)
    load_fills = Database.load_fills

    async def fills_then_an_engine_commits(self: Database, *args: object, **kwargs: object) -> object:
        fills = await load_fills(self, *args, **kwargs)
        engine = sqlite3.connect(db)  # the running engine books its next order and fill, in one commit
        try:
            engine.execute(ORDER, ("tt1-2", 2000, 2000))
            engine.execute(FILL, ("tt1-2", 2000, "t2"))
            engine.commit()
        finally:
            engine.close()
        return fills

    monkeypatch.setattr(Database, "load_fills", fills_then_an_engine_commits)
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    # orders.csv was read after the commit: it listed tt1-2 as FILLED while fills.csv had no fill of it
    assert _ids(out / "fills.csv") == ["tt1-1"]
    assert _ids(out / "orders.csv") == ["tt1-1"]
    # the next export has both
    monkeypatch.setattr(Database, "load_fills", load_fills)
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    assert _ids(out / "fills.csv") == _ids(out / "orders.csv") == ["tt1-1", "tt1-2"]
