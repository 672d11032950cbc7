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

A book with several names - hard links (``ln book.db other.db``), which ``realpath`` cannot tell
apart - had a lock file for each name, and two engines traded it, each with its own WAL (SQLite
names the WAL and its index by path: the book itself could be damaged). Such a book is locked on
its identity too, the (device, inode) every name shares: ``<dev>-<ino>.lock`` in a folder of the
user's own (``$XDG_RUNTIME_DIR/tui-trader``, else ``tui-trader-<uid>`` in the temporary folder),
removed at the release. An engine started in another environment (cron or ``su``: no
``$XDG_RUNTIME_DIR``) locks it in the other folder, so each looks in this user's other folders too. A link made while an engine runs is locked at its next :meth:`check`, and
so is an identity lock removed meanwhile (``$XDG_RUNTIME_DIR`` goes at the user's logout).
(Engines of two different users on one book by two names are not told apart.)

Where ``fcntl`` does not exist (Windows) there is no lock; the engine logs that once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

from tui_trader.private import FILE_MODE, make_folders
from tui_trader.storage.schema import StorageError, file_in_the_way

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DatabaseInUseError", "EngineLock", "LockLostError", "commits_under_another_name", "engine_by_another_name"]

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
        self._book_fd: int | None = None  # the lock on the book's identity (a book with several names)
        self._book_lock: Path | None = None
        self._names_noted = False  # the warnings of a book with several names: said once
        self._identity_off = False  # no folder or file system for the identity lock: not tried again
        self._made = False  # the lock file last opened was made by this lock (see release)

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
        had_identity = self._book_fd is not None  # check() locking a lock file replaced: kept as it is
        try:
            self._lock_identity()
            if not had_identity and (pending := commits_under_another_name(self.db_path)) is not None:
                raise StorageError(pending)
        except BaseException:
            if not had_identity:
                self._drop_identity()
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # as a release leaves it: the pid of no holder
            os.close(fd)
            raise
        self._fd, self._ident = fd, ident

    def check(self) -> None:
        """While held: make sure the lock file at :attr:`path` is still the one locked (one ``stat``).
        If it was deleted or replaced (a clean-up script), lock the file there now, as
        :meth:`acquire` does, with a WARNING: a second engine would otherwise make a new lock file
        and start on the book. Raises :class:`LockLostError` when another engine holds it already
        (this one must stop trading); the lock this one held is kept until :meth:`release`."""
        if self._fd is None or self._ident is None:
            return
        if self._book_fd is None:  # a hard link made since (or the book made since the start-up)
            try:
                self._lock_identity()
            except DatabaseInUseError as exc:
                raise LockLostError(
                    f"{self.db_path} is in use by another tui-trader{_who(exc.holder)} too: it started on the same "
                    f"file under another name (a hard link) while this one ran; stop one of them", exc.holder
                ) from None
        elif self._book_lock is not None:
            held = os.fstat(self._book_fd)
            if _identity(self._book_lock, (held.st_dev, held.st_ino)) != (held.st_dev, held.st_ino):
                self._relock_identity()
        if _identity(self.path, self._ident) == self._ident:
            return
        log.warning("the lock file %s of %s was deleted or replaced while this engine ran: locking it again",
                    self.path, self.db_path)
        old, self._fd, self._ident = (self._fd, self._ident), None, None
        try:
            self.acquire()
        except DatabaseInUseError as exc:
            self._fd, self._ident = old
            raise LockLostError(
                f"{self.db_path} is in use by another tui-trader{_who(exc.holder)} too: it started after the lock file "
                f"{self.path} was deleted or replaced while this one ran; stop one of them", exc.holder
            ) from None
        except BaseException:
            self._fd, self._ident = old
            raise
        os.close(old[0])

    def _lock_identity(self) -> None:
        """A book with more than one name (hard links): lock its identity too, or raise
        :class:`DatabaseInUseError` naming the engine holding it and the name it opened. A book of
        one name (symbolic links resolve to it) or none yet needs nothing beyond :attr:`path`."""
        if self._book_fd is not None or self._identity_off:
            return
        # no book yet (Database.open makes it, and no other name can exist before it), or one name
        if (st := _linked_file(self.db_path)) is None:
            return
        noted, self._names_noted = self._names_noted, True
        if not noted:
            log.warning("%s has %d names (hard links): SQLite keeps its WAL by name, so always open the book by "
                        "the same one", self.db_path, st.st_nlink)
        folder = _identity_dir()
        if folder is None:
            self._identity_off = True
            log.warning("no private folder for the lock of %s's identity: another name (a hard link) of it is "
                        "not locked", self.db_path)
            return
        path = folder / f"{st.st_dev:x}-{st.st_ino:x}.lock"
        for _ in range(_ATTEMPTS):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
            except OSError as exc:
                self._identity_off = True
                log.warning("cannot lock the identity of %s (%s): another name (a hard link) of it is not locked",
                            self.db_path, exc.strerror or exc)
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                text = _read_text(fd)
                os.close(fd)
                raise DatabaseInUseError(_in_use_by_link(self.db_path, text), _pid(text)) from None
            except OSError:  # a folder without locks: the lock at self.path still holds for this name
                os.close(fd)
                self._identity_off = True
                return
            held = os.fstat(fd)
            if _identity(path, (held.st_dev, held.st_ino)) == (held.st_dev, held.st_ino):
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n{os.path.abspath(self.db_path)}\n".encode())
                self._book_fd, self._book_lock = fd, path
                # an engine started in another environment (with or without $XDG_RUNTIME_DIR: cron, su,
                # a systemd unit) locked it in another folder; looked for once this one holds its own,
                # so that of two starting together at least one sees the other
                for other in _other_identity_dirs(folder):
                    if (text := _held_text(other / path.name)) is not None:
                        self._drop_identity()
                        raise DatabaseInUseError(_in_use_by_link(self.db_path, text), _pid(text)) from None
                return
            os.close(fd)  # removed by its holder's release meanwhile: lock the file there now
        log.warning("cannot lock the identity of %s: its lock file keeps being replaced", self.db_path)

    def _relock_identity(self) -> None:
        """The identity lock file was deleted or replaced while held (``$XDG_RUNTIME_DIR`` removed at the
        user's logout while the engine ran on in ``tmux``, a clean-up of the temporary folder): an
        engine by another name would make a new one and start on the book. Locked again, as the lock
        file is; :class:`LockLostError` when another engine holds the one there now (the old kept)."""
        log.warning("the lock of %s's identity (%s) was deleted or replaced while this engine ran: locking it again",
                    self.db_path, self._book_lock)
        old = self._book_fd, self._book_lock
        self._book_fd, self._book_lock = None, None
        try:
            self._lock_identity()
        except DatabaseInUseError as exc:
            self._book_fd, self._book_lock = old
            raise LockLostError(
                f"{self.db_path} is in use by another tui-trader{_who(exc.holder)} too: it started on the same file "
                f"under another name (a hard link) after the lock of its identity {old[1]} was deleted while this "
                "one ran; stop one of them", exc.holder
            ) from None
        except BaseException:
            self._book_fd, self._book_lock = old
            raise
        if old[0] is not None:
            os.close(old[0])

    def _drop_identity(self) -> None:
        book_fd, book_lock, self._book_fd, self._book_lock = self._book_fd, self._book_lock, None, None
        if book_fd is None or book_lock is None:
            return
        held = os.fstat(book_fd)
        if _identity(book_lock, (-1, -1)) == (held.st_dev, held.st_ino):
            with contextlib.suppress(OSError):  # removed while locked: one locking it next finds it gone
                os.unlink(book_lock)
        os.close(book_fd)

    def _lock_file(self) -> tuple[int, tuple[int, int]]:
        """Open and lock the lock file; its descriptor and (device, inode)."""
        try:
            make_folders(self.path.parent)
            # a new one is the owner's, and the group's when the group may write the book (its engines
            # share the lock); never open to mere readers: a read-only descriptor takes the lock too,
            # and another user could keep the engine out
            fd, made = _open_lock_file(self.path)
        except OSError as exc:
            raise StorageError(_cannot_open_lock(self.path, exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DatabaseInUseError(
                f"{self.db_path} is in use by another tui-trader{_who(holder)}: stop it, or use another --db", holder
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
        self._made = made
        return fd, (st.st_dev, st.st_ino)

    def release(self, *, remove_made: bool = False) -> None:
        """Let the lock go (the lock file stays, empty). ``remove_made``: a lock file this lock made
        is removed too - by a check that the book is free, before an engine that may yet refuse to
        start (nothing left beside a book never made). It goes while still locked, so an engine
        that opened it meanwhile is refused as by any holder, or, locking it after, finds it
        replaced and locks the file there then (:meth:`acquire`)."""
        self._drop_identity()
        fd, self._fd, self._ident = self._fd, None, None
        if fd is None:
            return
        if remove_made and self._made:
            with contextlib.suppress(OSError):
                st = os.fstat(fd)
                if _identity(self.path, (st.st_dev, st.st_ino)) == (st.st_dev, st.st_ino):
                    self.path.unlink()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock


def engine_by_another_name(db_path: str | os.PathLike[str]) -> tuple[int | None, str] | None:
    """(pid, name) of an engine running on the book at ``db_path`` by another of its names (a hard
    link), or None. A reader by this name would miss the commits still in that engine's WAL (SQLite
    keeps it by name), and leave ``-wal``/``-shm`` files of its own beside this name."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    if (st := _linked_file(db_path)) is None:
        return None
    folder = _identity_dir()
    for where in [*([folder] if folder is not None else []), *_other_identity_dirs(folder)]:
        if (text := _held_text(where / f"{st.st_dev:x}-{st.st_ino:x}.lock")) is None:
            continue  # no engine holds it there
        name = text.partition("\n")[2].strip()
        if name and os.path.realpath(name) != os.path.realpath(db_path):
            return _pid(text), name
    return None


def _held_text(path: Path) -> str | None:
    """What the identity lock file at ``path`` says (its holder's pid and name) when an engine holds
    it; None when none does (or there is no such file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_text(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    return None  # nobody holds it


def _pid(text: str) -> int | None:
    pid = text.partition("\n")[0].strip()
    return int(pid) if pid.isdigit() else None


def _in_use_by_link(db_path: Path, text: str) -> str:
    """The error of a book held by an engine by another of its names (``text``: its identity lock's)."""
    name = text.partition("\n")[2].strip()
    as_ = f" that opened it as {name}" if name else ""
    return (f"{db_path} is in use by another tui-trader{_who(_pid(text))}{as_}: the same file under another name "
            "(a hard link); stop it, or use another --db")


def commits_under_another_name(db_path: str | os.PathLike[str]) -> str | None:
    """Why the book at ``db_path`` must not be opened by this name ("" never; None when it may): it
    has another name (a hard link in its folder) whose WAL holds commits, left by an engine that did
    not stop cleanly. SQLite keeps the WAL by name: opened by this one, the book misses them, and a
    later open by the other name lays the old frames over pages written since (a damaged book).
    Links in other folders are not looked for."""
    if (st := _linked_file(db_path)) is None:
        return None
    real = Path(os.path.realpath(db_path))
    try:
        names = os.listdir(real.parent)
    except OSError:
        return None
    for wal_name in sorted(names):
        if not wal_name.endswith("-wal") or wal_name == f"{real.name}-wal":
            continue
        other, wal = real.parent / wal_name[: -len("-wal")], real.parent / wal_name
        try:
            same = os.path.samestat(os.stat(other), st)
            pending = os.stat(wal).st_size > 0
        except OSError:
            continue
        if same and pending:
            return (f"{db_path} is the same file as {other} (a hard link), and its last commits are in {wal}, which "
                    f"SQLite reads by that name only (an engine stopped without closing it): run the console or "
                    f"`tui-trader run` once with --db {other}; stopped cleanly, it brings them into the book (an "
                    f"export or the report viewer by that name reads them but leaves them there)")
    return None


#: Tries of :meth:`EngineLock.acquire` to lock the file that stays at the lock's path.
_ATTEMPTS = 5
#: A lock file is never opened through a symbolic link (0 where the flag does not exist).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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
    text = _read_text(fd, 32).strip()
    return int(text) if text.isdigit() else None


def _read_text(fd: int, size: int = 4096) -> str:
    try:
        return os.pread(fd, size, 0).decode(errors="replace")
    except OSError:
        return ""


def _linked_file(db_path: str | os.PathLike[str]) -> os.stat_result | None:
    """The status of the regular file at ``db_path`` when it has more than one name (hard links),
    else None (none there, one name only, no regular file)."""
    try:
        st = os.stat(db_path)
    except OSError:
        return None
    return st if st.st_nlink >= 2 and stat.S_ISREG(st.st_mode) else None


def _open_lock_file(path: Path) -> tuple[int, bool]:
    """A descriptor of the lock file at ``path`` open to read and write, and whether this call
    made the file; made if missing with :func:`_book_mode`, the umask aside (a book a group writes,
    a lock the group's engines share). One there already is tightened to that mode (:func:`_tighten`)."""
    mode = _book_mode(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        # not through a symbolic link: one put there (a book's folder shared with a group) would
        # have this user's file at its end truncated and written by the engine
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, mode)  # (O_CREAT: removed meanwhile)
        _tighten(fd, path, mode)
        return fd, False
    with contextlib.suppress(OSError):
        os.fchmod(fd, mode)
    return fd, True


def _tighten(fd: int, path: Path, mode: int) -> None:
    """The lock file open at ``fd`` no wider than ``mode`` (:func:`_book_mode`): one an older
    version left ``0644`` beside a book ``0600`` stayed open to every user, whose read-only
    descriptor takes the ``flock`` too and keeps the engine from starting. Only the bits beyond
    ``mode`` are taken away (one tighter stays so), and only from this user's own file: another
    user's is never touched (the descriptor's file, not whatever the path names by now)."""
    try:
        st = os.fstat(fd)
    except OSError:
        return
    now = stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or not now & ~mode:
        return
    try:
        os.fchmod(fd, now & mode)
    except OSError as exc:  # a file system without modes: the lock works all the same
        log.warning("cannot tighten the mode of %s from %04o to %04o: %s", path, now, now & mode, exc.strerror or exc)
        return
    log.info("%s was mode %04o: tightened to %04o (readable only by those who may write the book)", path, now, now & mode)


def _book_mode(lock_path: Path) -> int:
    """The mode of a new lock file of the book whose lock file is ``lock_path``: the owner's
    (:data:`~tui_trader.private.FILE_MODE`), and read and write for the group, or all, that may write
    the book (its engines share the lock). Never readable by those who may only read the book: a
    read-only descriptor takes the ``flock`` too, and any user could keep the engine of a book
    ``0644`` (as all were made before) from starting."""
    try:
        st = os.stat(lock_path.with_name(lock_path.name[: -len(".lock")]))
    except OSError:
        return FILE_MODE
    if not stat.S_ISREG(st.st_mode):
        return FILE_MODE
    return FILE_MODE | (0o060 if st.st_mode & stat.S_IWGRP else 0) | (0o006 if st.st_mode & stat.S_IWOTH else 0)


def _cannot_open_lock(path: Path, exc: OSError) -> str:
    """The error of a lock file that cannot be opened to write: what is wrong with it, named."""
    if why := file_in_the_way(path):
        return f"cannot create the lock file {path} for the database: {why}"
    try:
        target = os.readlink(path)
    except OSError:
        target = None  # no symbolic link there
    if target is not None:
        return (f"the lock file {path} of the database is a symbolic link (to {target}): remove it "
                "(a lock file is made there; a link is not followed)")
    try:
        st = os.stat(path)
    except OSError:
        st = None  # none there: the folder takes no new file
    if st is not None and stat.S_ISDIR(st.st_mode):
        return f"the lock file {path} of the database is a folder: remove it (a lock file is made there)"
    if st is not None and isinstance(exc, PermissionError):
        return (f"the lock file {path} of the database is not writable by this user ({_user(os.getuid())}): it is "
                f"{_user(st.st_uid)}'s, mode {stat.S_IMODE(st.st_mode):04o}; run as that user, or remove the file "
                "when no tui-trader runs on the book")
    if isinstance(exc, PermissionError):
        return (f"cannot create the lock file {path} for the database: its folder {path.parent} is not writable "
                f"by this user ({_user(os.getuid())}): permission denied")
    verb = "open" if st is not None else "create"
    return f"cannot {verb} the lock file {path} for the database: {exc.strerror or exc}"


def _user(uid: int) -> str:
    """The name of user ``uid`` ("uid 1001" when it has none, or no ``pwd`` module)."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def _who(holder: int | None) -> str:
    return f" (pid {holder})" if holder else ""


def _identity_dir() -> Path | None:
    """The user's own folder for identity locks (made 0700 if missing): ``$XDG_RUNTIME_DIR/tui-trader``,
    else (none, or not a folder of this user's: another user's kept by ``su``) ``tui-trader-<uid>`` in the
    temporary folder; None when neither is a folder of this user's (another user's, a symbolic link)
    or can be made."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    # (another user's runtime folder, kept by su: the temporary folder, where cron's engine looks)
    for folder in (
        *([Path(runtime) / "tui-trader"] if runtime and os.path.isdir(runtime) else []),
        Path(tempfile.gettempdir()) / f"tui-trader-{os.getuid()}",
    ):
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            st = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022:
            return folder
    return None


#: Where logind keeps the users' runtime folders (``/run/user/<uid>``, ``$XDG_RUNTIME_DIR`` in a session).
_RUN_USER = "/run/user"
#: The temporary folder without ``$TMPDIR``.
_SYSTEM_TMP = "/tmp"


def _other_identity_dirs(primary: Path | None) -> list[Path]:
    """The folders of this user's own besides ``primary`` where an engine started in another
    environment keeps its identity locks: ``$XDG_RUNTIME_DIR`` is set in a login session or a
    systemd unit, not in cron or after ``su``, and ``$TMPDIR`` differs too. Only folders that exist,
    are this user's and take no other user's files (none is made)."""
    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    seen = {_identity(primary, (-1, -1))} if primary is not None else set()
    found: list[Path] = []
    for folder in (
        *([Path(runtime) / "tui-trader"] if runtime else []),
        Path(_RUN_USER) / str(uid) / "tui-trader",
        Path(tempfile.gettempdir()) / f"tui-trader-{uid}",
        Path(_SYSTEM_TMP) / f"tui-trader-{uid}",
    ):
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o022:
            continue  # (another user's cannot hold this user's engines' locks)
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            found.append(folder)
    return found
