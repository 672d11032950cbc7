"""Output folders given on the command line (``--out``): made if needed and proven writable
before any long work starts, so a bad path fails at once with one line, not after it."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from tui_trader.private import create_file, make_folders

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")

#: How long an all-or-none write waits for another one into the same folder (seconds): a write
#: holds it for its renames only, milliseconds, unless an export reads its book meanwhile.
OUT_LOCK_WAIT_S = 10.0


class OutLock:
    """A hold on an ``--out`` folder: two writes into one folder at once (two terminals, a cron job
    and a hand run) renamed their files in turn, and the folder held a mix of two books or runs.
    An exclusive ``flock`` on the folder itself (nothing is left in it); the operating system drops
    it with the process. A folder that takes no locks (some network shares) is written without."""

    def __init__(self) -> None:
        self._fd: int | None = None

    def take(self, out: Path, wait_s: float = 0.0) -> bool:
        """Lock ``out``, waiting up to ``wait_s``; False when another holds it still. True when
        held, or when the folder cannot be locked (its writes name what is wrong with it)."""
        if self._fd is not None or fcntl is None:
            return True
        try:
            fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return True
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.01)
                continue
            except OSError:  # a file system without locks
                os.close(fd)
                return True
            self._fd = fd
            return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def out_dir_problem(out: Path, *, private: bool = False) -> str:
    """Why ``out`` cannot take files ("" when it can): it is made if missing, then a temporary
    file is written and removed in it. The text names the path: ``--out: cannot write to ...``.
    A refused path leaves none of the folders made for it (each removed only while empty).
    ``private``: the folders made are the owner's alone (:func:`tui_trader.private.make_folders`)."""
    try:
        if out.exists() and not out.is_dir():
            return f"--out: cannot write to {out}: not a folder"
    except OSError as exc:  # a parent that cannot be searched (mode 0600): a traceback, exit 1
        return cannot_write(out, exc)
    made = missing_folders(out)
    try:
        if private:
            make_folders(out)
        else:
            out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".tui-trader-", delete=True):
            pass
    except OSError as exc:
        remove_empty(made)
        return cannot_write(out, exc)
    return ""


def cannot_write(out: Path, exc: OSError) -> str:
    """The one line of an ``--out`` folder that cannot take files: the path and the system's reason
    (``--out: cannot write to /x/y: Permission denied``)."""
    return f"--out: cannot write to {out}: {exc.strerror or exc}"


def names_in(out: Path) -> set[str]:
    """The names in the folder ``out`` (an earlier run's files, as a rule): none when it is no
    folder yet, or one that cannot be listed (mode 0300 takes files without being listed; mode
    0000 is refused by the write that follows, naming it: its listing failed with a traceback)."""
    try:
        return {p.name for p in out.iterdir()} if out.is_dir() else set()
    except OSError:
        return set()


def _missing(path: Path) -> bool:
    """``path`` is known not to exist: one that cannot be looked at (a parent that cannot be
    searched) is taken to exist, never made, so never removed."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def missing_folders(out: Path) -> list[Path]:
    """``out`` and its parents that do not exist yet, deepest first: what making ``out`` makes."""
    return [p for p in (out, *out.parents) if _missing(p)]


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while each is empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def write_all_or_none(
    out: Path, writers: Mapping[str, Callable[[Path], T]], held: OutLock | None = None
) -> dict[str, T]:
    """``writers[name](path)`` writes the file ``out / name`` at ``path``, for every name; all or none
    replace the folder's files (``export --out``, ``backtest --out``). Each is written under a
    temporary name in ``out`` (so a rename, never a copy across file systems) and renamed into place
    once all are written; a name a folder holds is refused before any is renamed, and a file
    replaced keeps its permissions (a new one is the owner's alone: :mod:`tui_trader.private`). An ``OSError`` names the file meant, not its temporary name.
    The temporary names are this call's alone: a second write into the folder meanwhile (another
    thread or process) keeps to its own, and none is left behind; the folder is locked
    (:class:`OutLock`) from the first write to the last rename, so that a second write waits for
    the first, up to :data:`OUT_LOCK_WAIT_S`, and the folder holds one whole set, never a mix
    (kept out longer: ``BlockingIOError`` naming the folder, nothing written). ``held``: the
    caller's lock on the folder already (an export holds it from before its read). Returns
    name -> what its writer returned."""
    if held is None:
        lock = OutLock()
        if not lock.take(out, OUT_LOCK_WAIT_S):
            raise BlockingIOError(errno.EAGAIN, "another tui-trader is writing into the folder now", str(out))
        try:
            return write_all_or_none(out, writers, lock)
        finally:
            lock.release()
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    temps = {name: out / f".{name}.{token}.tmp" for name in writers}
    done: dict[str, T] = {}
    try:
        for name, write in writers.items():
            try:
                create_file(temps[name])  # owner-only from the start: the writer's open keeps the mode
                done[name] = write(temps[name])
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror or str(exc), str(out / name)) from exc
        for name in writers:  # found at its rename, the files before it were already replaced
            if (out / name).is_dir() and not (out / name).is_symlink():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(out / name))
            with contextlib.suppress(OSError):  # a file replaced keeps its mode, as one written in place did
                os.chmod(temps[name], stat.S_IMODE(os.stat(out / name).st_mode))
        for name in writers:
            try:
                os.replace(temps[name], out / name)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror or str(exc), str(out / name)) from exc
    finally:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return done
