"""A new ``<db>.lock`` took its book's whole mode: a book ``0644`` (as every book was made before
they became the owner's alone) got a lock file any user could open to read, and a read-only
descriptor takes the ``flock`` too: any user of the machine could keep its engine from starting.
The lock file now shares with a group (or all) only the writing of the book: its engines'."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tui_trader.storage.lock import EngineLock


@pytest.mark.parametrize(
    ("book", "lock"),
    [
        (0o644, 0o600),
        (0o640, 0o600),
        (0o444, 0o600),
        (0o600, 0o600),
        (0o660, 0o660),
        (0o664, 0o660),
        (0o666, 0o666),
    ],
)
def test_a_new_lock_file_is_open_only_to_those_who_may_write_the_book(
    tmp_path: Path, book: int, lock: int
) -> None:
    (tmp_path / "book.db").write_bytes(b"")
    (tmp_path / "book.db").chmod(book)
    engine = EngineLock(tmp_path / "book.db")
    engine.acquire()
    engine.release()
    assert stat.S_IMODE((tmp_path / "book.db.lock").stat().st_mode) == lock
