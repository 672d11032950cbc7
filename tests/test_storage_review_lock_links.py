"""One engine per book, whatever name the book is given: a symbolic link to it (or to a folder on
its path) named another lock file, and two engines traded the same book, each writing its own cash
and positions over the other's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import DatabaseInUseError, EngineLock

pytestmark = pytest.mark.skipif(
    lock_module.fcntl is None or not hasattr(os, "symlink"), reason="no flock or symbolic links here"
)


@pytest.mark.parametrize("link", ["file", "folder"])
def test_a_book_reached_through_a_symbolic_link_is_the_same_book(tmp_path: Path, link: str) -> None:
    books = tmp_path / "books"
    books.mkdir()
    real = books / "book.db"
    real.write_bytes(b"")
    if link == "file":
        other = tmp_path / "link.db"
        other.symlink_to(real)
    else:
        (tmp_path / "linked").symlink_to(books, target_is_directory=True)
        other = tmp_path / "linked" / "book.db"
    first = EngineLock(real)
    first.acquire()
    try:
        second = EngineLock(other)
        with pytest.raises(
            DatabaseInUseError, match=rf"{other} is in use by another tui-trader \(pid {os.getpid()}\)"
        ):
            second.acquire()
        assert not second.held
        assert second.path == first.path == books / "book.db.lock"
    finally:
        first.release()
    second.acquire()  # free again once the first engine let go
    second.release()
