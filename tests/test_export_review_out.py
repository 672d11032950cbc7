"""`tui-trader export --out` onto a folder that already holds files."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from engine_helpers import schema_book

from tui_trader.cli import main
from tui_trader.storage.export import FILES, FILL_COLUMNS


def empty_book(path: Path, wal: bool = False) -> None:
    """A tui-trader book (``wal``: in WAL mode, closed cleanly) with one audit row and nothing else."""
    con = schema_book(path, ["journal_mode = WAL"] if wal else [])
    con.execute(
        "INSERT INTO audit_log (ts_ms, source, action, args_json, ok, outcome) VALUES (1000, 'ui', 'Start', '{}', 1, 'ok')"
    )
    con.commit()
    con.close()


def test_an_export_into_a_used_folder_says_which_files_it_replaced(tmp_path: Path, capsys) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    out.mkdir()
    (out / "fills.csv").write_text("an earlier export\n")
    (out / "notes.txt").write_text("mine\n")
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0] == f"{out / 'fills.csv'}: 0 row(s) (replaced the earlier file)"
    assert said[1:] == [f"{out / name}: {n} row(s)" for name, n in zip(FILES[1:], (0, 0, 0, 1, 0), strict=True)]
    assert (out / "notes.txt").read_text() == "mine\n"  # not one of the export's files: never touched
    with (out / "fills.csv").open(newline="") as fh:
        assert list(csv.reader(fh)) == [list(FILL_COLUMNS)]  # the earlier content is gone
    # a second export replaces all six, and says so for each
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert len(said) == len(FILES) and all(ln.endswith(" (replaced the earlier file)") for ln in said)


def test_the_csv_headers_are_the_ones_an_operator_s_sheets_read(tmp_path: Path, capsys) -> None:
    # a renamed or reordered column silently breaks every spreadsheet and script built on an export
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    headers = {name: (out / name).read_text(encoding="utf-8").splitlines()[0] for name in FILES}
    assert headers == {
        "fills.csv": "ts_ms,time,client_order_id,symbol,side,quantity,price,quote_qty,fee,fee_asset,trade_id,fee_charged",
        "orders.csv": "created_ms,created_time,updated_ms,client_order_id,exchange_order_id,symbol,side,type,"
        "status,quantity,limit_price,executed_qty,avg_price,fees,realized_pnl,source,reason,signal_id,error",
        "positions.csv": "symbol,quantity,avg_entry,cost,fees,realized_pnl,entry_ms,entry_time",
        "equity.csv": "ts_ms,time,equity",
        "audit.csv": "ts_ms,time,source,action,args,ok,outcome",
        "sessions.csv": "id,kind,mode,feed,label,started_ms,started_time,ended_ms,ended_time,ended,summary",
    }
    audit = (out / "audit.csv").read_text(encoding="utf-8").splitlines()[1]
    assert audit == "1000,1970-01-01T00:00:01.000Z,ui,Start,{},1,ok"


def test_fills_csv_gives_a_base_asset_fee_as_charged_beside_its_booked_value(tmp_path: Path, capsys) -> None:
    # the live broker books a buy's 0.000005 BTC commission at 61501.11 as 0.30750555 (quote-valued,
    # what replays the book): fee keeps that, fee_charged says what the exchange took, in fee_asset
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    con = sqlite3.connect(db)
    con.executemany(
        "INSERT INTO fills (client_order_id, symbol, side, price, quantity, fee, fee_asset, ts_ms, trade_id)"
        " VALUES (?, 'BTCUSDT', 'BUY', '61501.11', '0.005', ?, ?, 1000, ?)",
        [("c1", "0.30750555", "BTC", "1"), ("c2", "0.30750555", "USDT", "2"), ("c3", "0.0001", "BNB", "3")])
    con.commit()
    con.close()
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    with (out / "fills.csv").open(newline="") as fh:
        rows = {r["client_order_id"]: r for r in csv.DictReader(fh)}
    assert [(rows[c]["fee"], rows[c]["fee_asset"], rows[c]["fee_charged"]) for c in ("c1", "c2", "c3")] == [
        ("0.30750555", "BTC", "0.000005"), ("0.30750555", "USDT", "0.30750555"), ("0.0001", "BNB", "0.0001")]


def test_sessions_csv_says_how_each_session_ended_even_when_a_summary_cannot_be_read(tmp_path: Path, capsys) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    with sqlite3.connect(db) as con:
        con.executemany(
            "INSERT INTO sessions (started_ms, ended_ms, mode, feed_kind, config_json, kind, summary_json) "
            "VALUES (?, ?, 'paper', 'sim', ?, ?, ?)",
            [(1000, 2000, "{}", "tui", '{"periods": 3}'),
             (3000, 4000, "{not json", "run", '{"ended": "unclean", "note": "killed"}'),
             (5000, 6000, "{}", "run", "{cut off"),  # a hand edit, a damaged page: the export goes on
             (7000, None, "{}", "tui", None)])
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    with (out / "sessions.csv").open(newline="", encoding="utf-8") as f:
        rows = [(r["id"], r["kind"], r["started_time"], r["ended_ms"], r["ended"], r["summary"]) for r in csv.DictReader(f)]
    assert rows == [
        ("1", "tui", "1970-01-01T00:00:01.000Z", "2000", "clean", '{"periods": 3}'),
        ("2", "run", "1970-01-01T00:00:03.000Z", "4000", "unclean", '{"ended": "unclean", "note": "killed"}'),
        ("3", "run", "1970-01-01T00:00:05.000Z", "6000", "unknown", "{cut off"),
        ("4", "tui", "1970-01-01T00:00:07.000Z", "", "open", ""),
    ]
