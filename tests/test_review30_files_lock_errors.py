"""A ``<db>.lock`` that cannot be opened to write said "cannot create the lock file ...:
[Errno 13] Permission denied" (or "[Errno 21] Is a directory") of a file that exists: now the
error says what is wrong with it (not writable by this user, whose it is and its mode; a folder
there), and the command exits 2 as for other bad input. Root may write any file, so a lock file
another user owns is played by an ``os.open`` that refuses it, as the kernel would."""

from __future__ import annotations

import errno
import os
import pwd
from pathlib import Path

import pytest
from test_cli_bad_input import one_error_line

from tui_trader.cli import main
from tui_trader.storage import lock as lock_mod
from tui_trader.storage.lock import EngineLock
from tui_trader.storage.schema import StorageError
from tui_trader.ui.launch import main_tui  # the real one: the fixture stubs the module's

ME = pwd.getpwuid(os.getuid()).pw_name


def _refuse(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """``os.open`` of ``path`` to write fails with EACCES (a file or folder of another user's)."""
    real = os.open

    def fake(p, flags, *args, **kwargs):
        if os.fspath(p) == os.fspath(path) and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(p))
        return real(p, flags, *args, **kwargs)

    monkeypatch.setattr(lock_mod.os, "open", fake)


@pytest.fixture
def console_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console's real launch, its app never opening (it must refuse before drawing)."""
    import tui_trader.ui.app

    monkeypatch.setattr("tui_trader.ui.launch.main_tui", main_tui)
    monkeypatch.setattr(tui_trader.ui.app, "run_tui", lambda *a, **k: pytest.fail("the console opened"))


@pytest.mark.parametrize("command", [["run", "--speed", "max"], []])
def test_a_lock_file_not_writable_by_this_user_is_named_with_its_owner(
    command: list[str], quiet: Path, console_refuses: None, monkeypatch, capsys
) -> None:
    db = quiet / "book.db"
    lock = quiet / "book.db.lock"
    lock.write_text("")
    lock.chmod(0o444)
    _refuse(monkeypatch, lock)
    assert main([*command, "--db", str(db)]) == 2
    assert one_error_line(capsys) == (
        f"error: the lock file {lock} of the database is not writable by this user ({ME}): it is {ME}'s, mode 0444; "
        "run as that user, or remove the file when no tui-trader runs on the book"
    )


def test_a_lock_file_its_folder_cannot_take_is_said_so(tmp_path: Path, monkeypatch) -> None:
    lock = tmp_path / "book.db.lock"
    _refuse(monkeypatch, lock)  # no file there: the folder is what refuses
    with pytest.raises(StorageError) as err:
        EngineLock(tmp_path / "book.db").acquire()
    assert str(err.value) == (
        f"cannot create the lock file {lock} for the database: its folder {tmp_path} is not writable by this "
        f"user ({ME}): permission denied"
    )


@pytest.mark.parametrize("command", [["run", "--speed", "max"], []])
def test_a_folder_at_the_lock_files_path_is_said_so(
    command: list[str], quiet: Path, console_refuses: None, capsys
) -> None:
    db = quiet / "book.db"
    (quiet / "book.db.lock").mkdir()
    assert main([*command, "--db", str(db)]) == 2
    assert one_error_line(capsys) == (
        f"error: the lock file {db}.lock of the database is a folder: remove it (a lock file is made there)"
    )
