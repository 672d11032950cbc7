"""The engine lock on a file system that takes no locks, or a disk that takes no bytes: one line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import EngineLock
from tui_trader.storage.schema import StorageError

pytestmark = pytest.mark.skipif(lock_module.fcntl is None, reason="no flock on this platform (Windows)")


def test_a_file_system_without_locks_is_a_storage_error_naming_it(tmp_path: Path, monkeypatch) -> None:
    def flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lock_module.fcntl, "flock", flock)
    lock = EngineLock(tmp_path / "book.db")
    # it was the OSError itself: a traceback out of `tui-trader run`
    with pytest.raises(
        StorageError, match=r"cannot lock .*book\.db\.lock: No locks available \(a file system"
    ):
        lock.acquire()
    assert not lock.held


def test_a_lock_file_that_cannot_be_written_is_a_storage_error_and_holds_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if data == f"{os.getpid()}\n".encode():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    lock = EngineLock(tmp_path / "book.db")
    with pytest.raises(
        StorageError, match=r"cannot write the lock file .*book\.db\.lock: No space left on device"
    ):
        lock.acquire()
    assert not lock.held
    monkeypatch.setattr(os, "write", real_write)
    again = EngineLock(tmp_path / "book.db")  # the failed one let go of the lock
    again.acquire()
    try:
        assert again.held and (tmp_path / "book.db.lock").read_text() == f"{os.getpid()}\n"
    finally:
        again.release()
