"""A book with several names (hard links) whose last commits sit in the WAL of one name (SQLite keeps
it by name; an engine killed before it stopped left it): an engine by another name opened the book
without them and wrote a WAL of its own, and a later open by the first name laid the old frames over
the new pages (a damaged book); an export by another name read a stale book. Both are refused now,
naming the name to open it by."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_export_review_out import empty_book

from tui_trader.cli import main
from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import EngineLock
from tui_trader.storage.schema import StorageError

pytestmark = pytest.mark.skipif(lock_module.fcntl is None or not hasattr(os, "link"), reason="no flock or links")

_KILLED = """
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("PRAGMA wal_autocheckpoint = 0")
con.execute("INSERT INTO audit_log (ts_ms, source, action, args_json, ok, outcome) VALUES (2000, 'ui', 'Pause', '{}', 1, 'ok')")
con.commit()
os._exit(0)  # as kill -9: no checkpoint, the WAL stays
"""


@pytest.fixture
def book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    folder = tmp_path / "identity-locks"
    folder.mkdir()
    monkeypatch.setattr(lock_module, "_identity_dir", lambda: folder)
    db, link = tmp_path / "book.db", tmp_path / "other.db"
    empty_book(db, wal=True)
    os.link(db, link)
    subprocess.run([sys.executable, "-c", _KILLED, str(db)], check=True)
    assert Path(f"{db}-wal").stat().st_size > 0
    return db, link


def test_an_engine_by_another_name_than_the_one_holding_the_last_commits_is_refused(book) -> None:
    db, link = book
    lock = EngineLock(link)
    with pytest.raises(StorageError, match=rf"its last commits are in {db}-wal.*--db {db}"):
        lock.acquire()
    assert not lock.held
    assert list((db.parent / "identity-locks").iterdir()) == []  # the refused one holds nothing
    assert lock.path.read_text() == ""
    by_name = EngineLock(db)  # by the name of its WAL: SQLite brings the commits in
    by_name.acquire()
    by_name.release()


def test_an_export_by_another_name_than_the_one_holding_the_last_commits_is_refused(
    book, tmp_path: Path, capsys
) -> None:
    db, link = book
    assert main(["export", "--db", str(link), "--out", str(tmp_path / "by-link")]) == 2
    err = capsys.readouterr().err
    assert f"its last commits are in {db}-wal" in err and f"--db {db}" in err
    assert not (tmp_path / "by-link").exists()
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "by-name")]) == 0
    assert (tmp_path / "by-name" / "audit.csv").read_text().count("\n") == 3
