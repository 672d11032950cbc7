"""Two ``export`` runs into one --out folder at once (two terminals, a cron job and a hand run): each
wrote its five files under its own temporary names, but their renames interleaved, and the folder
held some files of one book and moment and the rest of the other. An export now holds a lock on the
folder from its read to its last rename; the other is refused, saying why, and writes nothing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from test_export_review_out import empty_book

from tui_trader import outdir
from tui_trader.cli import main
from tui_trader.storage import export as export_module
from tui_trader.storage.export import FILES


def test_a_second_export_into_the_folder_meanwhile_is_refused_and_the_first_stays_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    first, second, out = tmp_path / "first.db", tmp_path / "second.db", tmp_path / "csv"
    empty_book(first)
    empty_book(second)
    with sqlite3.connect(second) as con:  # a book told apart by its audit log
        con.execute(
            "INSERT INTO audit_log (ts_ms, source, action, args_json, ok, outcome) "
            "VALUES (2000, 'ui', 'Pause', '{}', 1, 'ok')"
        )
    con.close()
    real_replace = os.replace
    writer = ["first"]
    last: dict[str, str] = {}
    codes: list[int] = []

    def replace(src, dst) -> None:
        if writer[-1] == "first" and len(last) == 2:  # the first export is half way through its renames
            writer.append("second")
            codes.append(main(["export", "--db", str(second), "--out", str(out)]))
            writer.pop()
        real_replace(src, dst)
        last[Path(dst).name] = writer[-1]

    monkeypatch.setattr(outdir.os, "replace", replace)
    assert main(["export", "--db", str(first), "--out", str(out)]) == 0
    monkeypatch.undo()
    assert set(last) == set(FILES)
    assert set(last.values()) == {"first"}, last  # one export's five files, not a mix of two
    assert codes == [2]
    err = capsys.readouterr().err
    assert f"--out: another tui-trader export is writing into {out}" in err
    assert "Traceback" not in err
    assert (out / "audit.csv").read_text().count("\n") == 2  # the first book's: a header and one row
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no temporary file left behind
    # the folder is free again once the first is done
    assert main(["export", "--db", str(second), "--out", str(out)]) == 0
    assert (out / "audit.csv").read_text().count("\n") == 3


def test_the_folder_lock_is_let_go_when_the_export_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)

    def fail(*_a, **_k):
        raise OSError(28, "No space left on device", str(out / "fills.csv"))

    monkeypatch.setattr(export_module, "write_all_or_none", fail)
    with pytest.raises(ValueError, match="No space left"):
        export_module.export_book(db, out)
    monkeypatch.undo()
    assert export_module.export_book(db, out)["audit.csv"] == 1
