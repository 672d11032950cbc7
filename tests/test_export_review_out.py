"""`tui-trader export --out` onto a folder that already holds files."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from tui_trader.cli import main
from tui_trader.storage.export import FILES, FILL_COLUMNS
from tui_trader.storage.schema import MIGRATIONS, SCHEMA_VERSION


def _empty_book(path: Path) -> None:
    con = sqlite3.connect(path)
    for script in MIGRATIONS:
        con.executescript(script)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    con.execute(
        "INSERT INTO audit_log (ts_ms, source, action, args_json, ok, outcome) VALUES (1000, 'ui', 'Start', '{}', 1, 'ok')"
    )
    con.commit()
    con.close()


def test_an_export_into_a_used_folder_says_which_files_it_replaced(tmp_path: Path, capsys) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    _empty_book(db)
    out.mkdir()
    (out / "fills.csv").write_text("an earlier export\n")
    (out / "notes.txt").write_text("mine\n")
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0] == f"{out / 'fills.csv'}: 0 row(s) (replaced the earlier file)"
    assert said[1:] == [f"{out / name}: {n} row(s)" for name, n in zip(FILES[1:], (0, 0, 0, 1), strict=True)]
    assert (out / "notes.txt").read_text() == "mine\n"  # not one of the export's files: never touched
    with (out / "fills.csv").open(newline="") as fh:
        assert list(csv.reader(fh)) == [list(FILL_COLUMNS)]  # the earlier content is gone
    # a second export replaces all five, and says so for each
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert len(said) == len(FILES) and all(ln.endswith(" (replaced the earlier file)") for ln in said)
