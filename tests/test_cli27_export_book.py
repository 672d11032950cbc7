"""``export --book`` picks between the two default books; beside ``--db`` (or ``storage.path``),
which names the file, it was dropped without a word: ``export --book live --db paper.db`` wrote
the paper book's CSV. It is refused, as any flag a command would not use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main


@pytest.mark.parametrize("book", ["live", "paper"])
def test_book_beside_db_is_refused(book: str, quiet: Path, capsys) -> None:
    argv = ["export", "--book", book, "--db", str(quiet / "paper.db"), "--out", str(quiet / "out")]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --book does not apply with --db: the book is the file --db names (drop one of them)"
    ]
    assert not (quiet / "out").exists()


def test_book_beside_storage_path_is_refused(quiet: Path, capsys) -> None:
    cfg = quiet / "c.toml"
    cfg.write_text(f'[storage]\npath = "{quiet / "paper.db"}"\n')
    assert main(["export", "--config", str(cfg), "--book", "live", "--out", str(quiet / "out")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --book does not apply with storage.path: the book is the file storage.path names (drop one of them)"
    ]


def test_without_book_db_is_read(quiet: Path, capsys) -> None:
    # no --book: --db alone, as before (a missing file says so)
    assert main(["export", "--db", str(quiet / "nope.db"), "--out", str(quiet / "out")]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: no database at {quiet / 'nope.db'}"]
