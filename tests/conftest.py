"""Shared fixtures.

Real Binance data lives outside the repo, in ``$TUI_TRADER_SHARED_DATA``
(default ``../shared/data`` next to the checkout). Tests that need it use the
``shared_data`` fixture, which skips with a reason only when the folder is absent.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent

# The suite's property tests draw the same examples on every run ("derandomized"), so a commit's
# CI verdict is the commit's, not the draw's: a random draw failed a CI once on a case the commit
# had not touched. Fresh draws, to look for new cases: ``pytest --hypothesis-profile=explore``
# (with ``--hypothesis-seed=N`` to repeat one); a case found is pinned as its own test.
settings.register_profile("derandomized", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("derandomized")
_KLINE_CACHE: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Parsed kline files are cached, and logs written, in a folder of this test session (inherited
    by the processes the tests start), never in the user's cache or log directory."""
    global _KLINE_CACHE
    _KLINE_CACHE = tempfile.mkdtemp(prefix="tt-kline-cache-")
    os.environ["TUI_TRADER_CACHE_DIR"] = _KLINE_CACHE
    os.environ["TUI_TRADER_LOG_FILE"] = os.path.join(_KLINE_CACHE, "tui-trader.log")  # nor the user's log folder


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (the default, ``addopts``) starts one worker more than the cores this process may
    use: about a fifth of the suite's time is a test waiting - for the process it started and
    killed, an exchange's back-off, a wall-clock limit - and another worker uses that core
    meanwhile (on 2 cores: ~400 s with 2 workers, ~325 s with 3, no gain with 4).
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set; ``-n N`` is not ``auto``."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own rule reads it
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - no affinity call (macOS, Windows)
        cores = os.cpu_count() or 1
    return cores + 1


def pytest_unconfigure(config: pytest.Config) -> None:
    if _KLINE_CACHE:
        shutil.rmtree(_KLINE_CACHE, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """End the SQLite threads of databases a failed test never closed.

    aiosqlite runs each connection on a non-daemon thread; a test that fails before it stops its
    engine leaves that thread waiting, and the interpreter then never exits: one failure became
    a hung run (and a CI timeout) instead of a report. The failure is already recorded here."""
    import threading

    try:
        from aiosqlite.core import _STOP_RUNNING_SENTINEL, _connection_worker_thread
    except ImportError:  # pragma: no cover - another aiosqlite layout: nothing to end
        return
    for t in threading.enumerate():
        if getattr(t, "_target", None) is _connection_worker_thread and t.is_alive():
            t._args[0].put_nowait((None, lambda: _STOP_RUNNING_SENTINEL))  # type: ignore[attr-defined]


def _sqlite_threads() -> set[int]:
    """The idents of the live aiosqlite connection threads (one per open connection)."""
    import threading

    try:
        from aiosqlite.core import _connection_worker_thread
    except ImportError:  # pragma: no cover - another aiosqlite layout: nothing to watch
        return set()
    return {t.ident for t in threading.enumerate()
            if getattr(t, "_target", None) is _connection_worker_thread and t.is_alive() and t.ident is not None}


#: Seconds a connection closed at the end of a test has for its thread to end.
SQLITE_THREAD_GRACE_S = 2.0


@pytest.fixture(autouse=True)
def _no_database_left_open():
    """A test that passes leaves no database connection open: an engine it never stopped kept its
    book's aiosqlite connection, whose thread later reported to a closed event loop - a warning
    pinned on whichever test ran next in that process (a fresh-clone CI showed one)."""
    import time

    before = _sqlite_threads()
    yield
    end = time.monotonic() + SQLITE_THREAD_GRACE_S
    while (left := _sqlite_threads() - before) and time.monotonic() < end:
        time.sleep(0.01)
    if left:
        pytest.fail(f"{len(left)} database connection(s) left open by this test: stop its engine, close its "
                    "Database", pytrace=False)


@pytest.fixture(autouse=True)
def _logging_left_as_found():
    """A test that runs a command in-process (``main([...])``) configures logging as the CLI does
    - root handlers, and the trades logger quietened at speed max: put it back afterwards, so no
    later test (the console's log pane, a command's stderr) depends on which ran before it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("tui_trader", "tui_trader.trades")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def shared_data_dir() -> Path:
    env = os.environ.get("TUI_TRADER_SHARED_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"shared data folder absent: {d} (set TUI_TRADER_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def klines_dir(shared_data: Path) -> Path:
    return shared_data / "binance_spot_klines"


@pytest.fixture
def quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For a command's refusals: no log file, no user config, the default books under tmp_path;
    the console never opens (its launch fails the test)."""
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", "off")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    def no_console(*_a, **_k):
        raise AssertionError("the console opened on bad input")

    monkeypatch.setattr("tui_trader.ui.launch.main_tui", no_console)
    return tmp_path


@pytest.fixture
def log_to(monkeypatch: pytest.MonkeyPatch):
    """``log_to(path)`` attaches the run's log file at ``path`` (info level) and returns its
    handler; detached at the end of the test."""
    from tui_trader.config import Config
    from tui_trader.monitor.logfile import attach_log_file, detach_log_file

    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)

    def attach(path: str) -> logging.Handler:
        assert attach_log_file(Config.model_validate({"monitoring": {"log_file": path, "log_level": "info"}})) == Path(path)
        return next(h for h in logging.getLogger("tui_trader").handlers if h.get_name() == "tui-trader-file")

    yield attach
    detach_log_file()
