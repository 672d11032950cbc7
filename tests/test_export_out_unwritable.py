"""An ``--out`` that cannot be written is refused with one line naming the folder and the system's
reason (exit 2), for ``export`` and ``backtest`` alike. An export into a folder that could not be
listed (mode 0000, 0100), or under a parent that could not be searched, ended in a traceback
(exit 1); a book kept in a folder of mode 0500 (``--out`` there, or beside it) was "not a usable
SQLite database: attempt to write a readonly database" instead of being read as a book on a
read-only disk is, and the folder named. Root passes every mode check: the folders' refusals are
stood in for (as the other ``--out`` tests do), and the 0500 book's export runs without root's override."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from file_modes import modes_apply
from test_export_review_out import empty_book

from tui_trader.cli import main


def _denied(path: object) -> PermissionError:
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))


@pytest.fixture
def unlistable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path / "locked"``, a folder of mode 0000 to this process: it can be neither listed,
    nor searched (nothing under it can be looked at), nor written."""
    locked = tmp_path / "locked"
    locked.mkdir()
    inside = f"{locked}{os.sep}"
    real_listdir, real_stat, real_mkdir = os.listdir, os.stat, os.mkdir
    real_tmp = __import__("tempfile").NamedTemporaryFile

    def listdir(path=".", *a, **k):
        if os.fspath(path) == str(locked):
            raise _denied(path)
        return real_listdir(path, *a, **k)

    def stat(path, *a, **k):
        if isinstance(path, str | os.PathLike) and os.fspath(path).startswith(inside):
            raise _denied(path)
        return real_stat(path, *a, **k)

    def mkdir(path, *a, **k):
        if os.fspath(path).startswith(inside):
            raise _denied(path)
        return real_mkdir(path, *a, **k)

    def named_temporary_file(*a, dir=None, **k):  # noqa: A002 - tempfile's name
        if dir is not None and (os.fspath(dir) == str(locked) or os.fspath(dir).startswith(inside)):
            raise _denied(dir)
        return real_tmp(*a, dir=dir, **k)

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr("tui_trader.outdir.tempfile.NamedTemporaryFile", named_temporary_file)
    return locked


@pytest.mark.parametrize("under", [False, True], ids=["the folder", "a folder in it"])
def test_an_export_into_a_folder_it_cannot_list_or_search_names_it(
    under: bool, tmp_path: Path, unlistable: Path, quiet: Path, capsys
) -> None:
    db = tmp_path / "book.db"
    empty_book(db, wal=True)
    out = unlistable / "csv" if under else unlistable
    assert main(["export", "--db", str(db), "--out", str(out)]) == 2
    cap = capsys.readouterr()
    assert cap.err.splitlines() == [f"error: --out: cannot write to {out}: Permission denied"], cap.err
    assert cap.out == ""


def test_a_backtest_out_under_a_folder_it_cannot_search_names_it(
    tmp_path: Path, unlistable: Path, quiet: Path, capsys
) -> None:
    out = unlistable / "reports" / "march"
    data = tmp_path / "data" / "AAAUSDT" / "1h"
    data.mkdir(parents=True)
    (data / "2024-01.json").write_text("[]")
    argv = ["backtest", "--data", str(tmp_path / "data"), "--interval", "1h", "--db", str(tmp_path / "bt.db"),
            "--out", str(out)]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --out: cannot write to {out}: Permission denied"]
    assert not (tmp_path / "bt.db").exists()


def _as_a_user(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``tui-trader argv``'s exit code and stderr, file modes stopping it (root's override off
    meanwhile: :func:`modes_apply`)."""
    capsys.readouterr()
    with modes_apply():
        code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("out_name", [".", "csv"], ids=["--out the book's folder", "--out a folder in it"])
def test_an_export_from_a_book_in_a_folder_of_mode_0500_names_the_out_folder(
    out_name: str, tmp_path: Path, quiet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    empty_book(backup / "book.db", wal=True)  # closed cleanly: no -wal, no -shm beside it
    out = backup if out_name == "." else backup / out_name
    backup.chmod(0o500)
    try:
        code, err = _as_a_user(["export", "--db", str(backup / "book.db"), "--out", str(out)], capsys)
    finally:
        backup.chmod(0o700)
    assert code == 2, err
    assert err.splitlines() == [f"error: --out: cannot write to {out}: Permission denied"], err
    assert sorted(os.listdir(backup)) == ["book.db"]  # nothing made beside the book


def test_the_book_in_a_folder_of_mode_0500_is_read(
    tmp_path: Path, quiet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    empty_book(backup / "book.db", wal=True)
    backup.chmod(0o500)
    try:
        code, err = _as_a_user(["export", "--db", str(backup / "book.db"), "--out", str(tmp_path / "csv")], capsys)
    finally:
        backup.chmod(0o700)
    assert code == 0, err
    assert (tmp_path / "csv" / "audit.csv").read_text().count("\n") == 2
    assert sorted(os.listdir(backup)) == ["book.db"]
