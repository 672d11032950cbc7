"""`tui-trader export` leaves a book's folder as it found it: the `-wal` and `-shm` files SQLite's
reader makes beside a WAL book closed cleanly go as the export ends, and never those of a book
another program has open, nor a `-wal` that holds commits."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from engine_helpers import schema_book
from test_export_review_out import empty_book

from tui_trader.cli import main


def _audit(con: sqlite3.Connection, ts_ms: int, action: str) -> None:
    con.execute("INSERT INTO audit_log (ts_ms, source, action, args_json, ok, outcome) "
                f"VALUES ({ts_ms}, 'ui', '{action}', '{{}}', 1, 'ok')")


def _audit_rows(db: Path) -> int:
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])
    finally:
        con.close()


def test_an_export_of_a_closed_book_leaves_no_wal_or_shm_beside_it(tmp_path: Path, capsys) -> None:
    book = tmp_path / "book"
    book.mkdir()
    db = book / "book.db"
    empty_book(db, wal=True)
    assert sorted(os.listdir(book)) == ["book.db"]  # closed cleanly: the file alone
    before = db.read_bytes()
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "csv")]) == 0
    assert "audit.csv: 1 row(s)" in capsys.readouterr().out
    assert sorted(os.listdir(book)) == ["book.db"]  # (the reader's empty -wal and its -shm were left)
    assert db.read_bytes() == before
    # and a second export, and the book itself, are as good as before
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "csv")]) == 0
    assert sorted(os.listdir(book)) == ["book.db"]
    assert _audit_rows(db) == 1


def test_an_export_while_another_program_has_the_book_open_leaves_its_files(tmp_path: Path, capsys) -> None:
    db = tmp_path / "book.db"
    empty_book(db, wal=True)
    engine = sqlite3.connect(db, isolation_level=None)  # a running engine: its connection, its -wal
    try:
        engine.execute("PRAGMA wal_autocheckpoint = 0")
        _audit(engine, 2000, "Pause")
        wal = tmp_path / "book.db-wal"
        size = wal.stat().st_size
        assert size > 0
        assert main(["export", "--db", str(db), "--out", str(tmp_path / "csv")]) == 0
        assert "audit.csv: 2 row(s)" in capsys.readouterr().out
        # the engine's -wal and -shm stay (its commit is still only there), and it goes on committing
        assert (tmp_path / "book.db-shm").exists() and wal.stat().st_size == size
        _audit(engine, 3000, "Resume")
        assert _audit_rows(db) == 3
    finally:
        engine.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("book.db")) == ["book.db"]
    assert _audit_rows(db) == 3


def test_an_export_never_copies_commits_left_in_a_wal_into_the_book(tmp_path: Path, capsys) -> None:
    db = tmp_path / "book.db"
    con = schema_book(db, ["journal_mode = WAL", "wal_autocheckpoint = 0"])
    _audit(con, 1000, "Start")
    con.commit()
    # an engine killed with its last commits in the -wal: the files as it left them
    kept = {name: (tmp_path / name).read_bytes() for name in ("book.db", "book.db-wal")}
    con.close()  # (closing would copy the -wal into the file: put back the killed engine's files)
    for name, data in kept.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "book.db-shm").unlink(missing_ok=True)
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "csv")]) == 0
    assert "audit.csv: 1 row(s)" in capsys.readouterr().out
    # read from the -wal, and both files are as they were: the next engine's start recovers them
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept


def test_an_export_refusing_a_file_that_is_not_a_book_leaves_its_folder_as_it_was(tmp_path: Path, capsys) -> None:
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("CREATE TABLE notes (body TEXT)")
    con.commit()
    con.close()
    before = other.read_bytes()
    assert main(["export", "--db", str(other), "--out", str(tmp_path / "csv")]) == 2
    assert "is not a tui-trader database" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]
    assert other.read_bytes() == before
