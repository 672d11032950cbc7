"""One engine per book when the book has several names: a hard link (``ln book.db other.db``) is the
same file under another path, and its ``<db>.lock`` was another file, so two engines traded one
book (each with its own SQLite WAL, named by path: the book itself could be damaged). A book with
more than one name is also locked on its identity (device and inode), which every name shares."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import make_engine

from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import DatabaseInUseError, EngineLock, LockLostError

pytestmark = pytest.mark.skipif(lock_module.fcntl is None or not hasattr(os, "link"), reason="no flock or links")


@pytest.fixture(autouse=True)
def _own_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "identity-locks"
    monkeypatch.setattr(lock_module, "_identity_dir", lambda: folder.mkdir(exist_ok=True) or folder)
    return folder


def _book(tmp_path: Path) -> tuple[Path, Path]:
    real = tmp_path / "book.db"
    real.write_bytes(b"")
    other = tmp_path / "elsewhere" / "other.db"
    other.parent.mkdir()
    os.link(real, other)
    return real, other


def test_a_hard_link_to_a_locked_book_is_refused_naming_the_holder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    real, other = _book(tmp_path)
    first = EngineLock(real)
    first.acquire()
    assert "2 names" in caplog.text  # SQLite names its WAL by path: always open a book by one name
    second = EngineLock(other)
    try:
        with pytest.raises(DatabaseInUseError) as err:
            second.acquire()
        msg = str(err.value)
        assert f"{other} is in use by another tui-trader (pid {os.getpid()})" in msg
        assert str(real) in msg and "hard link" in msg
        assert err.value.holder == os.getpid()
        assert not second.held
        assert EngineLock(other).path.read_text() == ""  # the refused one names no holder
    finally:
        first.release()
    second.acquire()  # free once the first let go
    second.release()


def test_the_identity_lock_file_goes_with_its_release(tmp_path: Path, _own_lock_dir: Path) -> None:
    real, _ = _book(tmp_path)
    lock = EngineLock(real)
    lock.acquire()
    assert len(list(_own_lock_dir.iterdir())) == 1
    lock.release()
    assert list(_own_lock_dir.iterdir()) == []
    lock.release()  # idempotent


def test_a_link_made_while_an_engine_runs_is_locked_at_its_next_check(tmp_path: Path) -> None:
    real = tmp_path / "book.db"
    first = EngineLock(real)
    first.acquire()  # a new book: no file yet
    real.write_bytes(b"")  # the engine's Database.open makes it
    other = tmp_path / "other.db"
    os.link(real, other)
    first.check()  # before its next order, or a health check
    with pytest.raises(DatabaseInUseError, match="hard link"):
        EngineLock(other).acquire()
    first.release()


def test_an_engine_that_took_a_link_first_stops_the_other(tmp_path: Path) -> None:
    real = tmp_path / "book.db"
    real.write_bytes(b"")
    first = EngineLock(real)
    first.acquire()  # one name when it started
    other = tmp_path / "other.db"
    os.link(real, other)
    second = EngineLock(other)
    second.acquire()  # nothing could stop it: the first had not looked since
    try:
        with pytest.raises(LockLostError, match=rf"{real} is in use by another tui-trader \(pid {os.getpid()}\)"):
            first.check()  # the first stops trading
        assert first.held  # kept until its release, as for a lock file replaced
    finally:
        second.release()
        first.release()


async def test_a_second_engine_on_a_hard_link_of_the_book_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    first = await make_engine(db_path=str(db)).start()
    try:
        other = tmp_path / "other.db"
        os.link(db, other)
        first.engine._db_lock.check()  # a health check
        second = make_engine(db_path=str(other))
        with pytest.raises(DatabaseInUseError, match=rf"other\.db is in use by another tui-trader \(pid {os.getpid()}\)"):
            await second.engine.start_up()
        await second.engine.stop()
    finally:
        await first.stop()


_HOLD = """
import sys
from pathlib import Path
from tui_trader.storage import lock
folder = Path(sys.argv[2])
lock._identity_dir = lambda: folder
lock.EngineLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock (Unix)")
def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path, _own_lock_dir: Path) -> None:
    real, other = _book(tmp_path)
    _own_lock_dir.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(real), str(_own_lock_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseInUseError, match=f"pid {holder.pid}"):
            EngineLock(other).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    assert list(_own_lock_dir.iterdir())  # kill -9: its identity lock file stays behind...
    again = EngineLock(other)
    again.acquire()  # ...and blocks nothing: the lock went with the process
    again.release()


def test_the_identity_lock_folder_is_private_to_the_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real folder
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    folder = lock_module._identity_dir()
    assert folder == tmp_path / "tui-trader"
    assert folder.is_dir() and (folder.stat().st_mode & 0o077) == 0
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    monkeypatch.setattr(lock_module.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert lock_module._identity_dir() == tmp_path / "tmp" / f"tui-trader-{os.getuid()}"
    (tmp_path / "tmp" / f"tui-trader-{os.getuid()}").rmdir()
    (tmp_path / "tmp" / f"tui-trader-{os.getuid()}").symlink_to(tmp_path)  # not ours to trust
    assert lock_module._identity_dir() is None


def test_a_lock_file_replaced_under_a_book_of_two_names_keeps_its_identity_lock(tmp_path: Path) -> None:
    real, other = _book(tmp_path)
    first = EngineLock(real)
    first.acquire()
    try:
        os.remove(first.path)  # a clean-up script
        first.check()  # the lock file locked again; the identity lock still held
        with pytest.raises(DatabaseInUseError, match="hard link"):
            EngineLock(other).acquire()
    finally:
        first.release()
