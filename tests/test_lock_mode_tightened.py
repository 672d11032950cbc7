"""A ``<db>.lock`` an older version made ``0644`` (before b430129 a new one took the book's whole
mode; before d2ccc51 every file the umask's) stayed so: any user of the machine could open it to
read, and a read-only descriptor takes the ``flock`` too, keeping the engine of the book from
starting. The engine now tightens its own lock file, on the descriptor it opened, to the mode a
new one gets (the owner's, and the group's or all's only as far as they may write the book):
never looser than it was, and another user's file is never touched."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.storage import lock as lock_mod
from tui_trader.storage.lock import EngineLock
from tui_trader.storage.schema import StorageError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _book(tmp_path: Path, book: int, lock: int) -> Path:
    db = tmp_path / "book.db"
    db.write_bytes(b"")
    db.chmod(book)
    (tmp_path / "book.db.lock").write_bytes(b"")
    (tmp_path / "book.db.lock").chmod(lock)
    return db


@pytest.mark.parametrize(
    ("book", "old", "new"),
    [
        (0o600, 0o644, 0o600),  # the case: a lock left 0644 beside a private book
        (0o644, 0o644, 0o600),  # a book others may only read: they may not read its lock
        (0o600, 0o666, 0o600),
        (0o660, 0o664, 0o660),  # the group that writes the book keeps its share of the lock
        (0o660, 0o666, 0o660),
        (0o666, 0o666, 0o666),  # as wide as the rule gives: left so
        (0o660, 0o600, 0o600),  # tighter than the rule: never loosened
        (0o666, 0o640, 0o640),
    ],
)
def test_an_existing_lock_file_is_tightened_never_loosened(tmp_path: Path, book: int, old: int, new: int) -> None:
    db = _book(tmp_path, book, old)
    engine = EngineLock(db)
    engine.acquire()
    try:
        assert _mode(tmp_path / "book.db.lock") == new
    finally:
        engine.release()
    assert _mode(tmp_path / "book.db.lock") == new


def test_another_users_lock_file_is_not_touched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _book(tmp_path, 0o600, 0o666)
    lock = tmp_path / "book.db.lock"
    if os.geteuid() == 0:  # root opens another user's file: it must still be left as it is
        os.chown(lock, 65534, -1)
        owner = 65534
    else:  # a file this user may open but that is not theirs: stood in for by another euid
        owner = lock.stat().st_uid
        monkeypatch.setattr(lock_mod.os, "geteuid", lambda: owner + 1)
    engine = EngineLock(db)
    engine.acquire()
    engine.release()
    assert _mode(lock) == 0o666 and lock.stat().st_uid == owner


def test_a_symbolic_link_at_the_lock_is_still_refused_untouched(tmp_path: Path) -> None:
    db = _book(tmp_path, 0o600, 0o644)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    target.chmod(0o644)
    (tmp_path / "book.db.lock").unlink()
    (tmp_path / "book.db.lock").symlink_to(target)
    with pytest.raises(StorageError, match="symbolic link"):  # refused, as before
        EngineLock(db).acquire()
    assert _mode(target) == 0o644


def test_a_run_tightens_the_lock_of_its_book(tmp_path: Path, quiet: Path, capsys) -> None:
    db = tmp_path / "book.db"
    argv = ["run", "--feed", "sim", "--speed", "max", "--n-symbols", "3", "--duration", "0.3s", "--json",
            "--status-every", "0", "--db", str(db)]
    # the first run long enough to make the book (a start-up cut before its session began removes
    # the new book it made, lock file and all)
    assert main([*argv, "--duration", "2s"]) == 0
    lock = tmp_path / "book.db.lock"
    lock.chmod(0o644)  # as an older version left it
    assert main(argv) == 0, capsys.readouterr().err
    assert _mode(lock) == 0o600 and _mode(db) == 0o600
