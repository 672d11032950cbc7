"""`tui-trader export`: a book's history as CSV, exact, and never a new database."""

from __future__ import annotations

import csv
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from tui_trader.cli import main
from tui_trader.config import Config
from tui_trader.headless import run_headless
from tui_trader.models import Fill, Side
from tui_trader.portfolio.portfolio import Portfolio
from tui_trader.storage.export import FILES


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A paper book with trades: a short headless sim run, persistence on."""
    import asyncio

    db = tmp_path_factory.mktemp("book") / "book.db"
    cfg = Config.model_validate({"feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 8}},
                                 "storage": {"path": str(db)}})
    # a count of klines, not 2 s of wall time: on a busy machine those made 10 fills, and the fixture failed
    summary = asyncio.run(run_headless(cfg, None, Console(stderr=True, quiet=True), max_klines=2000))
    assert summary["stopped_by"] == "data ended"
    assert summary["fills"] > 10 and summary["open_positions"] > 0
    return db


def test_export_writes_every_record_of_the_book_exactly(book: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["export", "--db", str(book), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    con = sqlite3.connect(book)
    try:
        stored_fills = con.execute(
            "SELECT client_order_id, symbol, side, price, quantity, fee, ts_ms FROM fills ORDER BY ts_ms, id").fetchall()
        n_orders = con.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        n_equity = con.execute("SELECT COUNT(*) FROM equity_snapshots").fetchone()[0]
        n_audit = con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
        stored_pos = {s: Decimal(q) for s, q in con.execute("SELECT symbol, quantity FROM positions")}
    finally:
        con.close()
    fills = _rows(out / "fills.csv")
    assert f"fills.csv: {len(stored_fills):,} row(s)" in said
    # the same fills, in time order, with the stored decimals verbatim (no float on the way)
    assert [(r["client_order_id"], r["symbol"], r["side"], Decimal(r["price"]), Decimal(r["quantity"]),
             Decimal(r["fee"]), int(r["ts_ms"])) for r in fills] == [
        (c, s, sd, Decimal(p), Decimal(q), Decimal(f), t) for c, s, sd, p, q, f, t in stored_fills]
    assert all(Decimal(r["quote_qty"]) == Decimal(r["price"]) * Decimal(r["quantity"]) for r in fills)
    assert fills[0]["time"].endswith("Z") and fills[0]["time"][:4] == "2025"
    # the positions are the replay of the exported fills
    replayed = Portfolio.replay_fills(Decimal(10**9), (
        Fill(r["client_order_id"], r["symbol"], Side(r["side"]), Decimal(r["price"]), Decimal(r["quantity"]),
             Decimal(r["fee"]), r["fee_asset"], int(r["ts_ms"])) for r in fills))
    positions = {r["symbol"]: Decimal(r["quantity"]) for r in _rows(out / "positions.csv")}
    assert positions == stored_pos == {s: p.quantity for s, p in replayed.positions.items()}
    orders = _rows(out / "orders.csv")
    assert len(orders) == n_orders and len({o["client_order_id"] for o in orders}) == n_orders
    assert {o["client_order_id"] for o in orders} >= {f["client_order_id"] for f in fills}
    assert {o["source"] for o in orders} <= {"strategy", "ui", "risk", "system"}
    assert len(_rows(out / "equity.csv")) == n_equity > 0
    audit = _rows(out / "audit.csv")
    assert len(audit) == n_audit and any(a["action"] == "state" for a in audit)


def test_a_nul_in_a_stored_text_is_written_as_its_escape(book: Path, tmp_path: Path, capsys) -> None:
    # a reason or outcome holding a NUL went into the CSV raw: older csv readers stopped ("line
    # contains NUL"), C-based tools cut the line there; commas and line ends are the csv module's
    copy = tmp_path / "nul.db"
    copy.write_bytes(book.read_bytes())
    con = sqlite3.connect(copy)
    try:
        con.execute("UPDATE audit_log SET outcome = ? WHERE id = (SELECT MIN(id) FROM audit_log)",
                    ("nul\x00here, and\na line",))
        con.commit()
    finally:
        con.close()
    out = tmp_path / "out"
    assert main(["export", "--db", str(copy), "--out", str(out)]) == 0
    capsys.readouterr()
    raw = (out / "audit.csv").read_bytes()
    assert b"\x00" not in raw
    assert any(r["outcome"] == "nul\\x00here, and\na line" for r in _rows(out / "audit.csv"))


def test_export_never_creates_a_database(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.db"
    assert main(["export", "--db", str(missing), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    # the file given is named; the hint to give one with --db was for a default file only
    assert f"error: no database at {missing}\n" == err
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_export_refuses_an_output_that_is_a_file(book: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "out.csv"
    target.write_text("mine\n")
    assert main(["export", "--db", str(book), "--out", str(target)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert target.read_text() == "mine\n"


def test_export_book_picks_the_live_or_paper_default_file(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["export", "--book", "live", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "tui-trader-live.db" in err and "--db" in err
    assert main(["export", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "tui-trader.db" in err and "--book live" in err


def _foreign_db(path: Path) -> bytes:
    """Someone else's SQLite file: one table of its own, rollback journal."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE foo (x)")
    con.execute("INSERT INTO foo VALUES (1)")
    con.commit()
    con.close()
    return path.read_bytes()


def test_export_refuses_a_sqlite_file_that_is_not_a_book_and_leaves_it_as_it_was(tmp_path: Path, capsys) -> None:
    other = tmp_path / "other.db"
    before = _foreign_db(other)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for db in (other, empty):
        assert main(["export", "--db", str(db), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert f"error: {db} is not a tui-trader database" in err and "Traceback" not in err
    assert other.read_bytes() == before and empty.read_bytes() == b""  # no WAL switch, no migration
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "other.db"]  # and no --out folder


def test_export_opens_the_book_read_only(book: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    # a book written by an older tui-trader (version 1) is read as it is: not migrated by an export
    old = tmp_path / "old.db"
    con = sqlite3.connect(book)
    con.execute(f"VACUUM INTO '{old}'")
    con.close()
    con = sqlite3.connect(old)
    con.execute("PRAGMA user_version = 1")
    con.close()
    before = old.read_bytes()
    assert main(["export", "--db", str(old), "--out", str(tmp_path / "out")]) == 0
    assert old.read_bytes() == before
    con = sqlite3.connect(old)
    assert con.execute("PRAGMA user_version").fetchone() == (1,)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    con.close()


@pytest.mark.parametrize("out", ["/proc/tui-trader-export", "/sys/tui-trader-export"])
def test_export_to_a_folder_it_cannot_make_is_a_usage_error(book: Path, out: str, capsys) -> None:
    assert main(["export", "--db", str(book), "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out: cannot write to {out}") and err.count("\n") == 1
    assert "--db" not in err  # not taken for a missing database

