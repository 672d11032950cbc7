"""A ``--db`` in a folder that cannot be written is refused up front, naming the option and the
folder: SQLite keeps its journal (``-wal``, ``-shm``) beside the file, and a backtest on a sound
book there said "is not a usable SQLite database: unable to open database file". ``export``
still reads a book in such a folder, and a folder still to be made is made as before."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from test_cli27_db_readonly import read_only

from tui_trader.cli import main

RUN = [
    "run",
    "--feed",
    "sim",
    "--speed",
    "max",
    "--n-symbols",
    "3",
    "--duration",
    "2s",  # long enough to make the book: a start-up cut first removes the new one
    "--status-every",
    "0",
]


@pytest.fixture
def book(quiet: Path, capsys) -> Path:
    (quiet / "ro").mkdir()
    db = quiet / "ro" / "book.db"
    assert main([*RUN, "--json", "--db", str(db)]) == 0
    capsys.readouterr()
    return db


def _said(folder: Path) -> list[str]:
    why = os.strerror(errno.EACCES)  # the folder's mode (root's override off meanwhile)
    return [
        f"error: --db: the folder {folder} cannot be written ({why}): SQLite keeps its journal beside "
        "the database file; export and --report read a book there"
    ]


def _klines(quiet: Path) -> Path:
    folder = quiet / "k" / "BTCUSDT" / "1h"
    folder.mkdir(parents=True)
    row = '[1704067200000, "1", "2", "0.5", "1.5", "10", 1704070799999, "15", 5, "5", "7.5", "0"]'
    (folder / "2024-01-01.json").write_text(f"[{row}]")
    return quiet / "k"


def test_backtest_names_the_folder_not_an_unusable_database(book: Path, quiet: Path, capsys) -> None:
    data = _klines(quiet)
    with read_only(book.parent):
        assert (
            main(["backtest", "--data", str(data), "--interval", "1h", "--no-charts", "--db", str(book)]) == 2
        )
    assert capsys.readouterr().err.splitlines() == _said(book.parent)


def test_run_names_the_folder_of_a_new_book(book: Path, quiet: Path, capsys) -> None:
    with read_only(book.parent):
        assert main([*RUN, "--db", str(book.parent / "new" / "x.db")]) == 2
    assert capsys.readouterr().err.splitlines() == _said(book.parent)
    assert sorted(p.name for p in book.parent.iterdir()) == ["book.db", "book.db.lock"]  # no probe left


def test_export_still_reads_a_book_in_a_read_only_folder(book: Path, quiet: Path, capsys) -> None:
    with read_only(book.parent):
        assert main(["export", "--db", str(book), "--out", str(quiet / "out")]) == 0
    assert (quiet / "out" / "equity.csv").is_file()


def test_a_folder_still_to_be_made_is_made(quiet: Path, capsys) -> None:
    db = quiet / "a" / "b" / "book.db"
    assert main([*RUN, "--json", "--db", str(db)]) == 0
    assert db.is_file()
