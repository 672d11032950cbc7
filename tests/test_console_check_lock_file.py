"""The console checks that its book is free before it draws anything (``database_in_use``): it took
the engine's lock for a moment and let it go, which made ``<db>.lock`` - so a console then refused
for its replay window (the engine loads the data before it opens the book) left an empty ``.lock``
beside a book never made. The check now removes a lock file it made itself, while still holding it."""

from __future__ import annotations

import os
from pathlib import Path

from tui_trader.storage.lock import EngineLock
from tui_trader.ui.launch import database_in_use


def test_the_check_on_a_new_book_leaves_no_lock_file(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    assert database_in_use(str(db)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_lock_file_there_before_the_check_stays(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    first = EngineLock(db)  # an engine that ran on the book earlier leaves its (empty) lock file
    first.acquire()
    first.release()
    ident = os.stat(first.path).st_ino
    assert database_in_use(str(db)) is None
    assert first.path.is_file() and os.stat(first.path).st_ino == ident and first.path.read_text() == ""


def test_a_book_in_use_is_still_refused_and_its_lock_file_kept(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    held = EngineLock(db)
    held.acquire()
    try:
        assert "is in use by another tui-trader" in (database_in_use(str(db)) or "")
        assert held.path.read_text() == f"{os.getpid()}\n"
    finally:
        held.release()


def test_an_engine_after_the_check_locks_a_file_of_its_own(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    assert database_in_use(str(db)) is None
    engine = EngineLock(db)
    engine.acquire()
    try:
        assert engine.path.read_text() == f"{os.getpid()}\n"
        assert "is in use" in (database_in_use(str(db)) or "")  # the file it made is the one locked
    finally:
        engine.release()
    assert engine.path.is_file()  # an engine's own release keeps its lock file (removing it races)


def test_remove_made_leaves_a_file_put_at_the_path_meanwhile(tmp_path: Path) -> None:
    lock = EngineLock(tmp_path / "book.db")
    lock.acquire()
    lock.path.unlink()  # replaced while held (a clean-up script, then another process's new file)
    lock.path.write_text("")
    other = os.stat(lock.path).st_ino
    lock.release(remove_made=True)
    assert os.stat(lock.path).st_ino == other  # not the file this lock made: left alone
