"""Output folders given on the command line (``--out``): made if needed and proven writable
before any long work starts, so a bad path fails at once with one line, not after it."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def out_dir_problem(out: Path) -> str:
    """Why ``out`` cannot take files ("" when it can): it is made if missing, then a temporary
    file is written and removed in it. The text names the path: ``--out: cannot write to ...``.
    A refused path leaves none of the folders made for it (each removed only while empty)."""
    if out.exists() and not out.is_dir():
        return f"--out: cannot write to {out}: not a folder"
    made = missing_folders(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".tui-trader-", delete=True):
            pass
    except OSError as exc:
        remove_empty(made)
        return f"--out: cannot write to {out}: {exc.strerror or exc}"
    return ""


def missing_folders(out: Path) -> list[Path]:
    """``out`` and its parents that do not exist yet, deepest first: what making ``out`` makes."""
    return [p for p in (out, *out.parents) if not p.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while each is empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def write_all_or_none(out: Path, writers: Mapping[str, Callable[[Path], T]]) -> dict[str, T]:
    """``writers[name](path)`` writes the file ``out / name`` at ``path``, for every name; all or none
    replace the folder's files (``export --out``, ``backtest --out``). Each is written under a
    temporary name in ``out`` (so a rename, never a copy across file systems) and renamed into place
    once all are written; a name a folder holds is refused before any is renamed, and a file
    replaced keeps its permissions. An ``OSError`` names the file meant, not its temporary name.
    The temporary names are this call's alone: a second write into the folder meanwhile (another
    thread or process) keeps to its own, and none is left behind. Returns name -> what its writer
    returned."""
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    temps = {name: out / f".{name}.{token}.tmp" for name in writers}
    done: dict[str, T] = {}
    try:
        for name, write in writers.items():
            try:
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
