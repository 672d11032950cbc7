"""What the backtest CLI's tests share: the kline file a stood-in replay's ``--data`` holds, and
the stop signals (SIGTERM, SIGHUP) at their defaults, sent to the test's own process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def kline_file(tmp_path: Path) -> None:
    """A kline file of the default interval in ``tmp_path`` (the ``--data`` of the tests that
    import this, whose replay is stood in for): the backtest checks its data is there before it
    runs. Autouse in every test module that imports it."""
    (tmp_path / "AAAUSDT" / "1m").mkdir(parents=True)
    (tmp_path / "AAAUSDT" / "1m" / "2024-01.json").write_text("[]")


@pytest.fixture
def default_signals():
    """SIGTERM and SIGHUP at their defaults, as in a command started from a shell (restored after)."""
    old = {sig: signal.signal(sig, signal.SIG_DFL) for sig in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in old.items():
        signal.signal(sig, handler)


def signal_self(sig: signal.Signals) -> None:
    """``sig`` to this process; the command must have trapped it: at its default it would end the
    test run itself."""
    assert signal.getsignal(sig) not in (signal.SIG_DFL, None), f"{sig.name} is not trapped"
    os.kill(os.getpid(), sig)
