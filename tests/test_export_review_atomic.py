"""`tui-trader export --out` over an earlier export's folder: a write failing partway (a full disk,
a permission error on the third file) left the new fills.csv and orders.csv beside the earlier
positions.csv, equity.csv and audit.csv, and the third cut short: a book of two moments. The files
are now written under temporary names and renamed into place only once all five are written."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
from test_export_review_out import empty_book

from tui_trader.cli import main
from tui_trader.storage.export import FILES


def _earlier_export(out: Path) -> dict[str, bytes]:
    out.mkdir()
    for name in FILES:
        (out / name).write_text(f"the earlier {name}\n")
    (out / "notes.txt").write_text("mine\n")
    return {p.name: p.read_bytes() for p in out.iterdir()}


def _fail_third_write(monkeypatch: pytest.MonkeyPatch, folder: Path, err: int, text: str) -> list[str]:
    opened: list[str] = []
    real_open = Path.open

    def open_(self: Path, mode: str = "r", *args, **kwargs):
        if "w" in mode and self.parent == folder:
            opened.append(self.name)
            if len(opened) == 3:
                raise OSError(err, text, str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    return opened


@pytest.mark.parametrize(
    ("err", "text"), [(errno.ENOSPC, "No space left on device"), (errno.EACCES, "Permission denied")]
)
def test_a_write_failing_partway_leaves_the_earlier_export_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, err: int, text: str
) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    before = _earlier_export(out)
    opened = _fail_third_write(monkeypatch, out, err, text)
    assert main(["export", "--db", str(db), "--out", str(out)]) == 2
    monkeypatch.undo()
    assert len(opened) == 3
    said = capsys.readouterr()
    assert said.out == ""  # no file reported as written
    # one line, naming the file meant (not its temporary name) and why
    assert (
        said.err
        == f"error: --out: cannot write {out / FILES[2]}: {text} (no file of the export written: the folder's files are as they were)\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing new, no temporary left


def test_a_bad_stored_time_in_a_later_file_replaces_no_earlier_file(tmp_path: Path, capsys) -> None:
    # the audit log (the last file) holds a time that is no date: the export is refused, and the
    # four files before it were already replaced by the new book's
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE audit_log SET ts_ms = 100000000000000000000")
    con.commit()
    con.close()
    before = _earlier_export(out)
    assert main(["export", "--db", str(db), "--out", str(out)]) == 2
    assert "the stored book cannot be read" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_complete_export_replaces_every_file_and_leaves_no_temporary(tmp_path: Path, capsys) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    before = _earlier_export(out)
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(after) == sorted(before)  # the five files and the operator's own, nothing else
    assert after["notes.txt"] == before["notes.txt"]
    assert all(after[name] != before[name] for name in FILES)
    assert after["audit.csv"].decode().splitlines()[1] == "1000,1970-01-01T00:00:01.000Z,ui,Start,{},1,ok"


def test_a_failed_export_into_a_new_folder_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    db, out = tmp_path / "book.db", tmp_path / "csv"
    empty_book(db)
    _fail_third_write(monkeypatch, out, errno.ENOSPC, "No space left on device")
    assert main(["export", "--db", str(db), "--out", str(out)]) == 2
    monkeypatch.undo()
    assert capsys.readouterr().err.startswith(f"error: --out: cannot write {out / FILES[2]}: No space left")
    assert not out.exists()  # made for the export, empty: removed as a book that cannot be read leaves it
