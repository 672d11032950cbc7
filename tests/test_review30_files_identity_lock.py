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


# An engine started from a login session (``$XDG_RUNTIME_DIR`` set: ``/run/user/<uid>``) kept its
# identity lock there, one started by cron or after ``su`` (no such variable) in the temporary folder:
# neither saw the other's, and both traded the book by its two names.


@pytest.fixture
def two_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """logind's folder of this user (what a session's ``$XDG_RUNTIME_DIR`` names) and the temporary folder."""
    run_user = tmp_path / "run-user"
    session = run_user / str(os.getuid())
    session.mkdir(parents=True, mode=0o700)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(lock_module, "_RUN_USER", str(run_user))
    monkeypatch.setattr(lock_module.tempfile, "gettempdir", lambda: str(tmp))
    monkeypatch.setattr(lock_module, "_SYSTEM_TMP", str(tmp))
    return session, tmp


def _in_session(monkeypatch: pytest.MonkeyPatch, session: Path | None) -> None:
    if session is None:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(session))


@pytest.mark.parametrize("first_in_session", [True, False])
def test_engines_started_with_and_without_a_runtime_folder_see_each_other(
    tmp_path: Path, two_places: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, first_in_session: bool
) -> None:
    session, tmp = two_places
    real, other = _book(tmp_path)
    _in_session(monkeypatch, session if first_in_session else None)
    first = EngineLock(real)
    first.acquire()
    try:
        held_in = session / "tui-trader" if first_in_session else tmp / f"tui-trader-{os.getuid()}"
        assert len(list(held_in.iterdir())) == 1
        _in_session(monkeypatch, None if first_in_session else session)
        with pytest.raises(DatabaseInUseError, match=f"pid {os.getpid()}.* as {real}: .*hard link"):
            EngineLock(other).acquire()
        assert lock_module.engine_by_another_name(other) == (os.getpid(), str(real))  # an export by it
    finally:
        first.release()
    again = EngineLock(other)
    again.acquire()  # the first gone: nothing left to refuse it
    again.release()
    assert [
        p
        for p in (session / "tui-trader", tmp / f"tui-trader-{os.getuid()}")
        if p.exists() and any(p.iterdir())
    ] == []


def test_another_users_folder_is_not_looked_in(
    tmp_path: Path, two_places: tuple[Path, Path], monkeypatch
) -> None:
    session, tmp = two_places
    theirs = tmp / f"tui-trader-{os.getuid()}"
    theirs.mkdir()
    theirs.chmod(0o777)  # anyone's to write in: what it says cannot be trusted
    _in_session(monkeypatch, session)
    (session / "tui-trader").mkdir(mode=0o700)
    assert lock_module._other_identity_dirs(session / "tui-trader") == []
    theirs.chmod(0o700)  # (this user's own: looked in)
    assert lock_module._other_identity_dirs(session / "tui-trader") == [theirs]
