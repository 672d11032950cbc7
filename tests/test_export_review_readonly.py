"""`tui-trader export` of a book kept where nothing can be written: a backup on a read-only disk."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import schema_book
from file_modes import modes_apply
from test_export_review_out import empty_book

from tui_trader.cli import main


def _wal_book(path: Path) -> None:
    """A tui-trader book in WAL mode, closed cleanly (no -wal or -shm file left), with one audit row."""
    empty_book(path, wal=True)
    assert sorted(os.listdir(path.parent)) == [path.name]


@contextlib.contextmanager
def _read_only(folder: Path, by_mode: bool) -> Iterator[None]:
    """``folder`` made read-only for this process: a read-only bind mount (a read-only disk) where
    root may mount, else (or ``by_mode``) the folder's mode, which stops root too meanwhile
    (:func:`modes_apply`)."""
    mount = shutil.which("mount") if os.geteuid() == 0 and not by_mode else None
    if mount is None or subprocess.run([mount, "--bind", str(folder), str(folder)], capture_output=True).returncode:
        folder.chmod(0o555)
        try:
            with modes_apply():
                yield
        finally:
            folder.chmod(0o755)
        return
    try:
        done = subprocess.run([mount, "-o", "remount,ro,bind", str(folder)], capture_output=True)
        assert done.returncode == 0, done.stderr
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


BY = pytest.mark.parametrize("by_mode", [False, True], ids=["read-only disk", "folder of mode 0555"])


@BY
def test_export_reads_a_closed_book_from_a_read_only_folder(by_mode: bool, tmp_path: Path, capsys) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    db = backup / "book.db"
    _wal_book(db)
    before = db.read_bytes()
    with _read_only(backup, by_mode):
        with pytest.raises(OSError):
            (backup / "probe").touch()  # the folder really is read-only
        # it was "not a usable SQLite database: unable to open database file": a reader of a WAL
        # file must make its -shm index file, and the folder took none
        assert main(["export", "--db", str(db), "--out", str(tmp_path / "csv")]) == 0
        assert sorted(os.listdir(backup)) == ["book.db"]
    assert capsys.readouterr().err == ""
    with (tmp_path / "csv" / "audit.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["ts_ms"], r["action"], r["outcome"]) for r in rows] == [("1000", "Start", "ok")]
    assert db.read_bytes() == before


@BY
def test_a_book_with_commits_in_its_wal_on_a_read_only_disk_says_how_to_read_it(
    by_mode: bool, tmp_path: Path, capsys
) -> None:
    live, backup = tmp_path / "live", tmp_path / "backup"
    live.mkdir()
    backup.mkdir()
    con = schema_book(live / "book.db", ["journal_mode = WAL", "wal_autocheckpoint = 0"])
    con.commit()
    try:  # a backup taken while the engine ran: the file and its -wal, not the -shm index
        shutil.copy(live / "book.db", backup / "book.db")
        shutil.copy(live / "book.db-wal", backup / "book.db-wal")
    finally:
        con.close()
    with _read_only(backup, by_mode):
        assert main(["export", "--db", str(backup / "book.db"), "--out", str(tmp_path / "csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot open the database {backup / 'book.db'}: ")
    assert err.endswith(
        " (its last commits are in book.db-wal, and its folder takes no files: copy both to a folder you can "
        "write to, and read the copy)\n"
    )
    assert not (tmp_path / "csv").exists()
