"""One trading engine per database file.

Two engines on the same book would each keep their own cash and positions in memory and write them
back over each other's (and, live, place orders on one account twice). :class:`EngineLock` is an
exclusive advisory lock (``flock``) on ``<database>.lock`` beside the database's real file (a
symbolic link to the book, or to a folder on its path, is followed), held from the engine's
start-up to its stop. The operating system drops it when the process ends in any way, ``kill -9`` included, so a
crash never leaves a stale lock behind. Readers (the report viewer, backtests, which keep their
results in memory and store them once) do not take it.

Where ``fcntl`` does not exist (Windows) there is no lock; the engine logs that once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from tui_trader.storage.schema import StorageError, file_in_the_way

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DatabaseInUseError", "EngineLock"]

log = logging.getLogger(__name__)


class DatabaseInUseError(StorageError):
    """Another tui-trader engine is running on this database file."""


class EngineLock:
    """The lock of one database file (:meth:`acquire` it, :meth:`release` it; idempotent)."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.db_path = Path(db_path).expanduser()  # like Database.open
        # beside the file itself: a symbolic link to the book (or to a folder on its path) named
        # another lock, and two engines traded one book
        real = Path(os.path.realpath(self.db_path))
        self.path = real.with_name(real.name + ".lock")
        self._fd: int | None = None

    @classmethod
    def for_database(cls, db_path: str) -> EngineLock | None:
        """A lock for a database file; None for an in-memory database."""
        if not db_path or db_path == ":memory:" or db_path.startswith("file::memory:"):
            return None
        return cls(db_path)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`DatabaseInUseError` naming the process that holds it."""
        if self._fd is not None:
            return
        if fcntl is None:  # pragma: no cover - Windows
            log.warning("no engine lock on this platform: do not run two engines on %s", self.db_path)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            why = file_in_the_way(self.path) or exc
            raise StorageError(f"cannot create the lock file {self.path} for the database: {why}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise DatabaseInUseError(
                f"{self.db_path} is in use by another tui-trader{who}: stop it, or use another --db"
            ) from None
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: a file system that takes no locks
            os.close(fd)
            raise StorageError(
                f"cannot lock {self.path}: {exc.strerror or exc} (a file system without locks, such as some "
                "network shares: keep the database on a local disk)"
            ) from exc
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:  # the disk is full...: the lock is dropped with the file descriptor
            os.close(fd)
            raise StorageError(f"cannot write the lock file {self.path}: {exc.strerror or exc}") from exc
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
