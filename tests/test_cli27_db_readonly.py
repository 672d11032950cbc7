"""A ``--db`` file that cannot be written is refused before anything runs, naming the option,
exit 2: ``backtest`` replayed the whole data and then ended in a traceback (sqlite3
OperationalError: attempt to write a readonly database); ``run`` said "storage failure" after its
start-up. ``export`` and ``--report`` only read a book: a read-only file is theirs to read."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from file_modes import modes_apply

from tui_trader.cli import main


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a file or a folder) made unwritable by its mode, which stops root too meanwhile."""
    ro, rw = (0o555, 0o755) if path.is_dir() else (0o444, 0o644)
    path.chmod(ro)
    try:
        with modes_apply():
            yield
    finally:
        path.chmod(rw)


@pytest.fixture
def book(quiet: Path, capsys) -> Path:
    db = quiet / "book.db"
    argv = ["run", "--feed", "sim", "--speed", "max", "--n-symbols", "3", "--duration", "2s", "--json"]
    assert main([*argv, "--status-every", "0", "--db", str(db)]) == 0
    capsys.readouterr()
    return db


def _said(db: Path) -> list[str]:
    why = os.strerror(errno.EACCES)
    return [f"error: --db: {db} cannot be written ({why}): export and --report read a read-only book"]


def test_run_refuses_a_read_only_book(book: Path, quiet: Path, capsys) -> None:
    with read_only(book):
        assert main(["run", "--feed", "sim", "--speed", "max", "--duration", "1s", "--db", str(book)]) == 2
    assert capsys.readouterr().err.splitlines() == _said(book)


def test_backtest_refuses_it_before_the_replay(book: Path, quiet: Path, capsys) -> None:
    folder = quiet / "k" / "BTCUSDT" / "1h"
    folder.mkdir(parents=True)
    row = '[1704067200000, "1", "2", "0.5", "1.5", "10", 1704070799999, "15", 5, "5", "7.5", "0"]'
    (folder / "2024-01-01.json").write_text(f"[{row}]")
    with read_only(book):
        assert main(["backtest", "--data", str(quiet / "k"), "--interval", "1h", "--db", str(book)]) == 2
    assert capsys.readouterr().err.splitlines() == _said(book)


def test_export_reads_a_read_only_book(book: Path, quiet: Path, capsys) -> None:
    with read_only(book):
        assert main(["export", "--db", str(book), "--out", str(quiet / "out")]) == 0
    assert (quiet / "out" / "fills.csv").is_file()
