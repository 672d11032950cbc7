"""``export`` of a book by another name (a hard link) than the one a running engine opened: SQLite
keeps the WAL by name, so the export read the book without the engine's commits still in its WAL
(a stale book, exported without a word) and left ``-wal``/``-shm`` files of its own beside the link.
It is now refused, naming the engine and the name to export instead."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from test_export_review_out import empty_book

from tui_trader.cli import main
from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import EngineLock

pytestmark = pytest.mark.skipif(lock_module.fcntl is None or not hasattr(os, "link"), reason="no flock or links")


def test_an_export_by_another_name_than_the_engines_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    folder = tmp_path / "identity-locks"
    folder.mkdir()
    monkeypatch.setattr(lock_module, "_identity_dir", lambda: folder)
    db, link = tmp_path / "book.db", tmp_path / "other.db"
    empty_book(db, wal=True)
    os.link(db, link)
    engine = EngineLock(db)
    engine.acquire()
    writer = sqlite3.connect(db)  # the engine's commit, still in book.db-wal
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute(
        "INSERT INTO audit_log (ts_ms, source, action, args_json, ok, outcome) VALUES (2000, 'ui', 'Pause', '{}', 1, 'ok')"
    )
    writer.commit()
    try:
        assert main(["export", "--db", str(link), "--out", str(tmp_path / "by-link")]) == 2
        err = capsys.readouterr().err
        assert f"in use by a tui-trader (pid {os.getpid()}) that opened it as {db}" in err
        assert f"export --db {db}" in err
        assert not (tmp_path / "by-link").exists()
        assert not Path(f"{link}-wal").exists() and not Path(f"{link}-shm").exists()
        # by the engine's name: the book as last committed
        assert main(["export", "--db", str(db), "--out", str(tmp_path / "by-name")]) == 0
        assert (tmp_path / "by-name" / "audit.csv").read_text().count("\n") == 3
    finally:
        writer.close()
        engine.release()
    capsys.readouterr()
    # no engine: the book closed cleanly is whole by any name
    assert main(["export", "--db", str(link), "--out", str(tmp_path / "later")]) == 0
    assert (tmp_path / "later" / "audit.csv").read_text().count("\n") == 3
