"""A symbolic link at ``<db>.lock`` was followed: the engine truncated the file at its end and
wrote its pid there (at the start, the release and each re-lock). In a book's folder shared with a
group (whose lock file takes the book's group mode), a member could so have any file of the
owner's emptied. A lock file is now never opened through a link: the error names it (exit 2), and
the file it points to is left as it was; the same holds for the lock of a book's identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_cli_bad_input import one_error_line

from tui_trader.cli import main
from tui_trader.storage.lock import EngineLock
from tui_trader.storage.schema import StorageError


def test_a_symbolic_link_at_the_lock_files_path_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    lock = tmp_path / "book.db.lock"
    lock.symlink_to(victim)
    with pytest.raises(StorageError) as err:
        EngineLock(tmp_path / "book.db").acquire()
    assert str(err.value) == (
        f"the lock file {lock} of the database is a symbolic link (to {victim}): remove it (a lock file is made "
        "there; a link is not followed)"
    )
    assert victim.read_text() == "precious\n"


def test_a_lock_file_replaced_by_a_link_under_an_engine_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    engine = EngineLock(tmp_path / "book.db")
    engine.acquire()
    try:
        engine.path.unlink()
        engine.path.symlink_to(victim)
        with pytest.raises(StorageError, match="symbolic link"):
            engine.check()
        assert engine.held  # the lock it held is kept until the release
    finally:
        engine.release()
    assert victim.read_text() == "precious\n"


def test_the_command_names_a_linked_lock_file_and_exits_2(quiet: Path, capsys) -> None:
    victim = quiet / "victim.txt"
    victim.write_text("precious\n")
    (quiet / "book.db.lock").symlink_to(victim)
    assert main(["run", "--speed", "max", "--db", str(quiet / "book.db")]) == 2
    assert one_error_line(capsys).startswith(
        f"error: the lock file {quiet / 'book.db.lock'} of the database is a symbolic link"
    )
    assert victim.read_text() == "precious\n"


def test_the_identity_lock_is_not_written_through_a_link(tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    real = tmp_path / "book.db"
    real.write_bytes(b"")
    os.link(real, tmp_path / "other.db")
    st = real.stat()
    (run / "tui-trader").mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (run / "tui-trader" / f"{st.st_dev:x}-{st.st_ino:x}.lock").symlink_to(victim)
    engine = EngineLock(real)
    engine.acquire()  # (its identity is not locked: said in a warning)
    engine.release()
    assert victim.read_text() == "precious\n"
