"""One engine per database file: a second engine (or a second ``tui-trader run``) on the same book
is refused with the process that holds it; the lock goes with its holder, ``kill -9`` included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import make_engine

from tui_trader.storage.lock import DatabaseInUseError, EngineLock

REPO = Path(__file__).resolve().parent.parent


async def test_a_second_engine_on_the_same_database_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "book.db")
    first = await make_engine(db_path=db).start()
    second = make_engine(db_path=db)
    with pytest.raises(DatabaseInUseError, match=rf"book\.db is in use by another tui-trader \(pid {os.getpid()}\)"):
        await second.engine.start_up()
    await second.engine.stop()  # stopping the refused one leaves the first's lock alone
    other = await make_engine(db_path=str(tmp_path / "other.db")).start()  # another book is fine
    await other.stop()
    with pytest.raises(DatabaseInUseError):
        await make_engine(db_path=db).engine.start_up()
    await first.stop()
    again = await make_engine(db_path=db).start()  # free once the first stopped
    await again.stop()


async def test_a_failed_start_up_releases_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "book.db")
    h = make_engine(db_path=db)

    async def fail() -> None:
        raise OSError("feed down")

    monkeypatch.setattr(h.feed, "start", fail)
    with pytest.raises(OSError, match="feed down"):
        await h.engine.start_up()
    await h.engine.stop()
    h2 = await make_engine(db_path=db).start()
    await h2.stop()


def test_in_memory_databases_take_no_lock() -> None:
    assert EngineLock.for_database(":memory:") is None
    assert EngineLock.for_database("") is None


def test_the_lock_sits_beside_the_database_the_engine_opens(tmp_path: Path) -> None:
    lock = EngineLock.for_database("~/books/main.db")
    assert lock is not None and lock.path == Path.home() / "books" / "main.db.lock"  # ~ expanded, as Database.open does
    where = tmp_path / "new" / "folder" / "book.db"
    lock = EngineLock(where)
    lock.acquire()
    try:
        assert lock.held and (tmp_path / "new" / "folder" / "book.db.lock").read_text().strip() == str(os.getpid())
    finally:
        lock.release()
    assert not lock.held


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc (Linux): a place no one can write")
def test_a_lock_that_cannot_be_created_is_a_storage_error() -> None:
    from tui_trader.storage.schema import StorageError

    with pytest.raises(StorageError, match="cannot create the lock file"):
        EngineLock("/proc/tui-trader-test/book.db").acquire()


def _runner(db: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tui_trader", "run", "--headless", "--db", str(db), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(sys.platform == "win32", reason="the lock uses flock (Unix)")
def test_a_second_runner_is_refused_and_kill_9_frees_the_book(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    lock = tmp_path / "book.db.lock"
    first = _runner(db, "--speed", "max")  # an endless sim at full speed: it also starts the rating worker
    try:
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first runner never took the lock"
            time.sleep(0.1)
        second = _runner(db, "--duration", "1s")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert f"in use by another tui-trader (pid {first.pid})" in err and "Traceback" not in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    third = _runner(db, "--duration", "1s")  # at once: the dead runner's lock went with it
    _, err = third.communicate(timeout=90)
    assert third.returncode == 0, err
