"""The lock of a book's identity (a book with several names) lives in ``$XDG_RUNTIME_DIR/tui-trader``,
which logind removes at the user's last logout while an engine runs on in ``tmux`` (or a clean-up of
the temporary folder removes ``tui-trader-<uid>``). :meth:`EngineLock.check` looked at the lock
file of the name only: an engine started by another name then made a new identity lock and traded
the same book beside the first. Now a check finds the identity lock gone and locks it again, or
stops the first engine when another took it meanwhile."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tui_trader.storage import lock as lock_module
from tui_trader.storage.lock import DatabaseInUseError, EngineLock, LockLostError

pytestmark = pytest.mark.skipif(
    lock_module.fcntl is None or not hasattr(os, "link"), reason="no flock or links"
)


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's runtime folder (its ``tui-trader`` folder is the real :func:`_identity_dir`'s)."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    return run


def _book(tmp_path: Path) -> tuple[Path, Path]:
    real = tmp_path / "book.db"
    real.write_bytes(b"")
    other = tmp_path / "elsewhere" / "other.db"
    other.parent.mkdir()
    os.link(real, other)
    return real, other


def test_an_identity_lock_removed_under_an_engine_is_locked_again_at_its_check(
    tmp_path: Path, runtime: Path
) -> None:
    real, other = _book(tmp_path)
    first = EngineLock(real)
    first.acquire()
    try:
        assert [p.name for p in (runtime / "tui-trader").iterdir()]  # held
        shutil.rmtree(runtime / "tui-trader")  # the logout's clean-up
        first.check()
        assert (runtime / "tui-trader").is_dir()
        with pytest.raises(DatabaseInUseError, match=f"pid {os.getpid()}.*hard link"):
            EngineLock(other).acquire()
    finally:
        first.release()
    assert list((runtime / "tui-trader").iterdir()) == []  # its own new file went with the release
    again = EngineLock(other)
    again.acquire()
    again.release()


def test_an_engine_that_took_the_identity_meanwhile_stops_the_first(tmp_path: Path, runtime: Path) -> None:
    real, other = _book(tmp_path)
    first = EngineLock(real)
    first.acquire()
    second = EngineLock(other)
    try:
        shutil.rmtree(runtime / "tui-trader")
        second.acquire()  # by the other name, before the first's next check: it made a new identity lock
        with pytest.raises(LockLostError, match="hard link"):
            first.check()
        held = list((runtime / "tui-trader").iterdir())
        first.release()  # the second's identity lock is not the first's to remove
        assert list((runtime / "tui-trader").iterdir()) == held
        with pytest.raises(DatabaseInUseError, match="hard link"):
            EngineLock(real).acquire()
    finally:
        first.release()
        second.release()
