"""The engine lock lives on the lock file's inode: a ``<db>.lock`` deleted or replaced while an engine
runs let a second engine make a new one, lock it and start on the same book. ``EngineLock.check``
(one stat, for the engine to call as it runs) finds it: it locks the file there again, or says that
another engine holds it. ``acquire`` never ends up holding a file already deleted."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import DatabaseInUseError, EngineLock, LockLostError


def _inode(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def test_a_deleted_lock_file_is_locked_again_and_keeps_a_second_engine_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = EngineLock(tmp_path / "book.db")
    first.acquire()
    first.check()  # in place: nothing to do
    assert caplog.records == []
    os.remove(first.path)  # a clean-up script
    first.check()
    assert first.held and first.path.read_text() == f"{os.getpid()}\n"
    assert "deleted or replaced" in caplog.text
    second = EngineLock(tmp_path / "book.db")
    with pytest.raises(DatabaseInUseError, match=f"pid {os.getpid()}"):
        second.acquire()  # it took a new lock file and started on the book
    first.release()
    second.acquire()
    second.release()


def test_a_replaced_lock_file_is_locked_again(tmp_path: Path) -> None:
    first = EngineLock(tmp_path / "book.db")
    first.acquire()
    other = tmp_path / "other"
    other.write_text("")
    os.replace(other, first.path)
    first.check()
    held = os.fstat(first._fd)
    assert (held.st_dev, held.st_ino) == _inode(first.path)
    with pytest.raises(DatabaseInUseError):
        EngineLock(tmp_path / "book.db").acquire()
    first.release()


def test_an_engine_that_took_the_new_lock_file_is_named(tmp_path: Path) -> None:
    first = EngineLock(tmp_path / "book.db")
    first.acquire()
    os.remove(first.path)
    second = EngineLock(tmp_path / "book.db")
    second.acquire()  # nothing could stop it: its lock file is a new one
    with pytest.raises(LockLostError, match=rf"in use by another tui-trader \(pid {os.getpid()}\) too: .*deleted"):
        first.check()
    assert first.held and second.held  # each keeps what it holds until it stops
    first.release()
    with pytest.raises(DatabaseInUseError):
        EngineLock(tmp_path / "book.db").acquire()
    second.release()


def test_acquire_locks_the_file_at_the_path_not_one_deleted_meanwhile(tmp_path: Path, monkeypatch) -> None:
    real_flock = lock_module.fcntl.flock
    calls = []

    def flock(fd: int, op: int) -> None:
        calls.append(op)
        if len(calls) == 1:  # between the open and the lock: the file deleted, another made there
            os.remove(tmp_path / "book.db.lock")
            (tmp_path / "book.db.lock").write_text("")
        real_flock(fd, op)

    monkeypatch.setattr(lock_module.fcntl, "flock", flock)
    first = EngineLock(tmp_path / "book.db")
    first.acquire()
    monkeypatch.setattr(lock_module.fcntl, "flock", real_flock)
    held = os.fstat(first._fd)
    assert (held.st_dev, held.st_ino) == _inode(first.path)
    with pytest.raises(DatabaseInUseError):  # it held the deleted file: this one got in
        EngineLock(tmp_path / "book.db").acquire()
    first.release()


def test_check_without_the_lock_does_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    lock = EngineLock(tmp_path / "book.db")
    lock.check()
    assert not lock.held and not lock.path.exists() and caplog.records == []
