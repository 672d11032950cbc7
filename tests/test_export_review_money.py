"""`tui-trader export` writes amounts as a spreadsheet should read them: no float noise, no exponents."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from engine_helpers import schema_book

from tui_trader.cli import main


def _book(path: Path) -> None:
    con = schema_book(path)
    con.execute(
        "INSERT INTO orders (client_order_id, symbol, side, type, quantity, status, created_ms, updated_ms, "
        "executed_qty, avg_price, fees, source) VALUES ('tt1-1', 'XUSDT', 'BUY', 'MARKET', '1E-8', 'FILLED', "
        "1000, 1000, '1E-8', '0.1', '1E+2', 'ui')"
    )
    # text as an older writer or a hand edit may have left it: an exponent, not positional digits
    con.execute(
        "INSERT INTO fills (client_order_id, symbol, side, price, quantity, fee, fee_asset, ts_ms, trade_id) "
        "VALUES ('tt1-1', 'XUSDT', 'BUY', '0.1', '1E-8', '1E+2', 'USDT', 1000, 't1')"
    )
    # equity is a float valuation (cash + quantity x the float price): its sum carries float noise
    con.executemany(
        "INSERT INTO equity_snapshots (ts_ms, equity, cash, positions_value, drawdown_pct) VALUES (?, ?, '0', 0, 0)",
        [(1000, 10023.587000250001), (2000, 0.1 + 0.2), (3000, 10000.0)],
    )
    con.commit()
    con.close()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_exported_amounts_have_no_float_noise_and_no_exponent(tmp_path: Path, capsys) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    _book(db)
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    assert [r["equity"] for r in _rows(out / "equity.csv")] == ["10023.58700025", "0.3", "10000"]
    fill = _rows(out / "fills.csv")[0]
    assert (fill["quantity"], fill["price"], fill["quote_qty"], fill["fee"]) == (
        "0.00000001",
        "0.1",
        "0.000000001",
        "100",
    )
    order = _rows(out / "orders.csv")[0]
    assert (order["quantity"], order["executed_qty"], order["fees"]) == ("0.00000001", "0.00000001", "100")


def test_a_stored_time_that_is_no_date_is_named_not_taken_for_a_disk_error(tmp_path: Path, capsys) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    _book(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE fills SET ts_ms = 100000000000000000000")  # beyond time_t: an OSError
    con.commit()
    con.close()
    # it was "--out: cannot write to csv: Value too large for defined data type", blaming the disk
    assert main(["export", "--db", str(db), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {db}: the stored book cannot be read (the time 100000000000000000000 ms is no date"
    )
    assert err.endswith("restore a backup of this file\n")
