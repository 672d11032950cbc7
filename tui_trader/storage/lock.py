"""One trading engine per database file.

Two engines on the same book would each keep their own cash and positions in memory and write them
back over each other's (and, live, place orders on one account twice). :class:`EngineLock` is an
exclusive advisory lock (``flock``) on ``<database>.lock`` beside the database's real file (a
symbolic link to the book, or to a folder on its path, is followed), held from the engine's
start-up to its stop. The operating system drops it when the process ends in any way, ``kill -9`` included, so a
crash never leaves a stale lock behind. Readers (the report viewer, backtests, which keep their
results in memory and store them once) do not take it.

The lock lives on the lock file's inode, not on its name: a lock file deleted or replaced while an
engine runs (a clean-up script, ``rm *.lock``) lets a second engine make a new one and lock that.
:meth:`EngineLock.check` (one ``stat``) tells: it takes the lock again on the file now there, or
raises :class:`LockLostError` when another engine holds that one. :meth:`EngineLock.acquire` makes
sure the file it locked is still the one at the lock's path (a deletion between the open and the
lock), so that the lock is always on the file a second engine would open.

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

__all__ = ["DatabaseInUseError", "EngineLock", "LockLostError"]

log = logging.getLogger(__name__)


class DatabaseInUseError(StorageError):
    """Another tui-trader engine is running on this database file (:attr:`holder`: its pid, if known)."""

    def __init__(self, message: str, holder: int | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class LockLostError(DatabaseInUseError):
    """The lock file was deleted or replaced while this engine held the lock, and another engine
    holds the lock of the file there now: two engines may have traded the book meanwhile."""


class EngineLock:
    """The lock of one database file (:meth:`acquire` it, :meth:`release` it; idempotent)."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.db_path = Path(db_path).expanduser()  # like Database.open
        # beside the file itself: a symbolic link to the book (or to a folder on its path) named
        # another lock, and two engines traded one book
        real = Path(os.path.realpath(self.db_path))
        self.path = real.with_name(real.name + ".lock")
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None  # (device, inode) of the lock file held

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
        """Take the lock, or raise :class:`DatabaseInUseError` naming the process that holds it. The
        file locked is the one at :attr:`path` after the lock (not one deleted or replaced meanwhile)."""
        if self._fd is not None:
            return
        if fcntl is None:  # pragma: no cover - Windows
            log.warning("no engine lock on this platform: do not run two engines on %s", self.db_path)
            return
        for _ in range(_ATTEMPTS):
            fd, ident = self._lock_file()
            if _identity(self.path, ident) == ident:
                break
            os.close(fd)  # deleted or replaced between the open and the lock: lock the file there now
        else:
            raise StorageError(f"cannot lock {self.path}: the file keeps being deleted or replaced")
        self._fd, self._ident = fd, ident

    def check(self) -> None:
        """While held: make sure the lock file at :attr:`path` is still the one locked (one ``stat``).
        If it was deleted or replaced (a clean-up script), lock the file there now, as
        :meth:`acquire` does, with a WARNING: a second engine would otherwise make a new lock file
        and start on the book. Raises :class:`LockLostError` when another engine holds it already
        (this one must stop trading); the lock this one held is kept until :meth:`release`."""
        if self._fd is None or self._ident is None:
            return
        if _identity(self.path, self._ident) == self._ident:
            return
        log.warning("the lock file %s of %s was deleted or replaced while this engine ran: locking it again",
                    self.path, self.db_path)
        old, self._fd, self._ident = (self._fd, self._ident), None, None
        try:
            self.acquire()
        except DatabaseInUseError as exc:
            self._fd, self._ident = old
            who = f" (pid {exc.holder})" if exc.holder else ""
            raise LockLostError(
                f"{self.db_path} is in use by another tui-trader{who} too: it started after the lock file "
                f"{self.path} was deleted or replaced while this one ran; stop one of them", exc.holder
            ) from None
        except BaseException:
            self._fd, self._ident = old
            raise
        os.close(old[0])

    def _lock_file(self) -> tuple[int, tuple[int, int]]:
        """Open and lock the lock file; its descriptor and (device, inode)."""
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
                f"{self.db_path} is in use by another tui-trader{who}: stop it, or use another --db", holder
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
        st = os.fstat(fd)
        return fd, (st.st_dev, st.st_ino)

    def release(self) -> None:
        fd, self._fd, self._ident = self._fd, None, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock


#: Tries of :meth:`EngineLock.acquire` to lock the file that stays at the lock's path.
_ATTEMPTS = 5


def _identity(path: Path, unknown: tuple[int, int]) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none; ``unknown`` when it cannot
    be looked at (no permission on a folder: taken as unchanged)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return unknown
    return st.st_dev, st.st_ino


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
