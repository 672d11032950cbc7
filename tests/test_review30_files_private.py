"""Files the app makes that hold the operator's trading history are the owner's alone.

Under the usual umask (022) the book, SQLite's ``-wal``/``-shm`` beside it, the lock file, the log
file and the CSV files of an export or a backtest were made 0644 (folders 0755): every user of a
shared server could read the trading history and balances, and flock the lock file (a read-only
descriptor takes the lock) to keep the operator's engine from starting. Now what tui-trader
makes is 0600 (folders 0700); what was there already keeps its mode."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path

import pytest
from test_backtest_report import make_result
from test_export_review_out import empty_book

from tui_trader.backtest.report import OUTPUT_FILES, write_outputs
from tui_trader.config import Config
from tui_trader.monitor import logfile
from tui_trader.private import create_file, make_folders
from tui_trader.storage import export
from tui_trader.storage.db import Database
from tui_trader.storage.export import FILES
from tui_trader.storage.lock import EngineLock


@pytest.fixture(autouse=True)
def _usual_umask():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_book_its_wal_shm_and_folders_are_the_owners_alone(tmp_path: Path) -> None:
    db_path = tmp_path / "new" / "folder" / "book.db"

    async def go() -> None:
        db = await Database.open(db_path, start_writer=False)
        try:
            for name in ("book.db", "book.db-wal", "book.db-shm"):  # SQLite gives these the book's mode
                assert mode(db_path.parent / name) == 0o600, name
        finally:
            await db.close()

    asyncio.run(go())
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "folder") == 0o700


def test_a_book_and_folder_that_exist_keep_their_modes(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    db_path = folder / "book.db"
    empty_book(db_path)
    db_path.chmod(0o640)

    async def go() -> None:
        db = await Database.open(db_path, start_writer=False)
        try:
            assert mode(folder / "book.db-wal") == 0o640  # as the book the operator opened to a group
        finally:
            await db.close()

    asyncio.run(go())
    assert mode(db_path) == 0o640 and mode(folder) == 0o750


def test_the_lock_file_and_its_folder_are_the_owners_alone(tmp_path: Path) -> None:
    lock = EngineLock(tmp_path / "new" / "book.db")
    lock.acquire()
    try:
        assert mode(lock.path) == 0o600 and mode(tmp_path / "new") == 0o700
    finally:
        lock.release()


def test_a_new_lock_file_of_a_book_there_has_the_books_mode(tmp_path: Path) -> None:
    # as SQLite gives the WAL and SHM: two operators of one group sharing a book share its lock
    (tmp_path / "book.db").write_bytes(b"")
    (tmp_path / "book.db").chmod(0o660)
    lock = EngineLock(tmp_path / "book.db")
    lock.acquire()
    lock.release()
    assert mode(tmp_path / "book.db.lock") == 0o660


def test_a_lock_file_there_already_keeps_its_mode(tmp_path: Path) -> None:
    # as far as the book's mode gives it (a wider one is tightened: test_lock_mode_tightened)
    (tmp_path / "book.db").write_text("")
    (tmp_path / "book.db").chmod(0o660)
    (tmp_path / "book.db.lock").write_text("")
    (tmp_path / "book.db.lock").chmod(0o660)
    lock = EngineLock(tmp_path / "book.db")
    lock.acquire()
    lock.release()
    assert mode(tmp_path / "book.db.lock") == 0o660


def _log_to(path: Path) -> logfile._LogFile:
    cfg = Config.model_validate({"monitoring": {"log_file": str(path), "log_level": "info"}})
    assert logfile.attach_log_file(cfg) == path
    return next(
        h for h in logging.getLogger("tui_trader").handlers if h.get_name() == logfile.LOG_FILE_HANDLER
    )


def test_a_new_log_file_and_its_folders_are_the_owners_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    path = tmp_path / "logs" / "deep" / "t.log"
    try:
        handler = _log_to(path)
        logging.getLogger("tui_trader.test").warning("a line")
        assert mode(path) == 0o600
        assert mode(tmp_path / "logs") == mode(tmp_path / "logs" / "deep") == 0o700
        handler.doRollover()  # the new file after a rotation: as the one rotated
        logging.getLogger("tui_trader.test").warning("another line")
        assert mode(path) == mode(path.with_name("t.log.1")) == 0o600
    finally:
        logfile.detach_log_file()


def test_a_log_file_the_operator_opened_keeps_its_mode_through_a_rotation(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    path = tmp_path / "t.log"
    path.write_text("")
    path.chmod(0o640)  # read by a log shipper's group
    try:
        handler = _log_to(path)
        logging.getLogger("tui_trader.test").warning("a line")
        handler.doRollover()
        logging.getLogger("tui_trader.test").warning("another line")
        assert path.read_text().count("another line") == 1
        assert mode(path) == mode(path.with_name("t.log.1")) == 0o640
    finally:
        logfile.detach_log_file()


def test_an_export_its_folder_and_files_are_the_owners_alone(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    empty_book(db)
    out = tmp_path / "csv" / "2026"
    export.export_book(db, out)
    assert mode(out) == mode(tmp_path / "csv") == 0o700
    assert {name: mode(out / name) for name in FILES} == dict.fromkeys(FILES, 0o600)


def test_backtest_outputs_and_their_folder_are_the_owners_alone(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "one"
    write_outputs(make_result(), out)
    assert mode(out) == mode(tmp_path / "runs") == 0o700
    assert {name: mode(out / name) for name in OUTPUT_FILES} == dict.fromkeys(OUTPUT_FILES, 0o600)


def test_the_helpers_leave_what_exists_alone(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("kept")
    (tmp_path / "f").chmod(0o644)
    assert create_file(tmp_path / "f") is False and (tmp_path / "f").read_text() == "kept"
    assert mode(tmp_path / "f") == 0o644
    (tmp_path / "d").mkdir()
    (tmp_path / "d").chmod(0o755)
    assert make_folders(tmp_path / "d" / "e" / "g") == [tmp_path / "d" / "e" / "g", tmp_path / "d" / "e"]
    assert mode(tmp_path / "d") == 0o755 and mode(tmp_path / "d" / "e") == 0o700
    with pytest.raises(FileExistsError):  # a file in the way, as mkdir -p says it
        make_folders(tmp_path / "f")
    with pytest.raises(NotADirectoryError):
        make_folders(tmp_path / "f" / "x")
