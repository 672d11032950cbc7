"""Files and folders that hold the operator's trading history are made for the owner alone.

Under the usual umask (022) a file is made readable by every user of the machine: on a shared
server the book (and SQLite's ``-wal``/``-shm`` beside it, which SQLite makes with the book's own
mode), the log file, the lock files and the CSV files of an export or a backtest were open to all.
What tui-trader makes itself is now made ``0600`` (a folder ``0700``); a file or folder that
exists already keeps its mode: the operator's own choice (a group that reads the logs) is kept.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["FILE_MODE", "FOLDER_MODE", "create_file", "make_folders"]

#: The mode of a file tui-trader makes (before the umask, which may take more away).
FILE_MODE = 0o600
#: The mode of a folder tui-trader makes.
FOLDER_MODE = 0o700


def make_folders(folder: str | os.PathLike[str]) -> list[Path]:
    """Make ``folder`` and its missing parents, each :data:`FOLDER_MODE` (as ``mkdir -p``: one
    there already is fine, a file in the way raises ``FileExistsError``). Returns the folders this
    call made, deepest first."""
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    made: list[Path] = []
    for p in reversed(missing):
        try:
            p.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            if not p.is_dir():
                raise
            continue  # made by another process meanwhile
        made.append(p)
    if not folder.is_dir():  # a file there already
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(folder))
    return made[::-1]


def create_file(path: str | os.PathLike[str], mode: int = FILE_MODE) -> bool:
    """Create the empty file ``path`` with ``mode`` if nothing is there (a symbolic link counts as
    something); True when this call made it. Other errors (no such folder, no permission) raise."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    os.close(fd)
    return True
