"""After ``su`` (without ``-``) the engine keeps the first user's ``$XDG_RUNTIME_DIR``, a folder
not its own: the identity lock of a book with two names was then not taken at all (a warning), and
an engine started by cron (no such variable, the temporary folder) traded the book by its other
name beside it. The temporary folder is now taken when the runtime folder is not this user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import DatabaseInUseError, EngineLock


def test_an_engine_under_another_users_runtime_folder_locks_in_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(lock_module.tempfile, "gettempdir", lambda: str(tmp))
    monkeypatch.setattr(lock_module, "_SYSTEM_TMP", str(tmp))
    monkeypatch.setattr(lock_module, "_RUN_USER", str(tmp_path / "run-user"))
    # the first user's /run/user/<uid>: its tui-trader folder is not this user's (played by a link,
    # refused as another user's folder is, whoever runs the tests)
    theirs = tmp_path / "run-theirs"
    theirs.mkdir(mode=0o700)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (theirs / "tui-trader").symlink_to(tmp_path / "elsewhere")
    real = tmp_path / "book.db"
    real.write_bytes(b"")
    other = tmp_path / "other.db"
    os.link(real, other)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(theirs))  # after su
    first = EngineLock(real)
    first.acquire()
    try:
        monkeypatch.delenv("XDG_RUNTIME_DIR")  # cron
        with pytest.raises(DatabaseInUseError, match="hard link"):
            EngineLock(other).acquire()
    finally:
        first.release()
    assert list((tmp / f"tui-trader-{os.getuid()}").iterdir()) == []  # where it was held
