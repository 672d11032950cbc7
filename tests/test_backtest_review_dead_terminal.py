"""A backtest or sweep whose terminal went away while it ran, the hang-up ignored (`trap '' HUP`,
as `data download` allows): the run went on to the end and was stored, but its report, bar or
JSON written to the dead terminal raised EIO: a traceback and exit 1, as if the run had failed."""

from __future__ import annotations

import errno
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_backtest_report import make_result

from tui_trader.backtest.cli import main_backtest
from tui_trader.cli import build_parser
from tui_trader.config import Config

REPO = Path(__file__).resolve().parents[1]


class _Terminal:
    """A terminal whose session drops: from then on every write and flush fails with EIO."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.gone = False

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.gone:
            raise OSError(errno.EIO, "Input/output error")
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        if self.gone:
            raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize("as_json", [False, True], ids=["report", "json"])
def test_a_backtest_whose_terminal_went_away_still_exits_0(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    from tui_trader.backtest import runner

    out, err = _Terminal(), _Terminal()
    ran: list[bool] = []

    async def gone_meanwhile(*_a, progress, **_k):
        progress(1, 2)
        out.gone = err.gone = True  # the SSH session drops, its hang-up ignored: the run goes on
        ran.append(True)
        return make_result(72)

    monkeypatch.setattr(runner, "run_backtest", gone_meanwhile)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    argv = ["backtest", "--data", str(tmp_path), "--db", str(tmp_path / "bt.db")] + (
        ["--json"] if as_json else []
    )
    assert main_backtest(build_parser().parse_args(argv), Config()) == 0
    assert ran == [True]
    assert err.text  # the bar was drawn while there was a terminal


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP and ptys are POSIX")
def test_a_sweep_whose_terminal_went_away_with_the_hang_up_ignored_exits_0(
    klines_dir: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TUI_TRADER_LOG_FILE": "off",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    argv = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--processes", "2",
            "--start", "2024-03-01", "--end", "2024-05-01", "--param", "signal_generation.z_score_threshold=1.5,2.5"]  # fmt: skip
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trader", *argv],
        cwd=str(tmp_path),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # `trap '' HUP`
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while b"0/2" not in seen:  # the bar's total: the pool runs, no point has ended
            assert proc.poll() is None, seen.decode(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the sweep's bar never showed its total"
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        os.close(master)  # the terminal is gone ...
        proc.send_signal(signal.SIGHUP)  # ... and its hang-up is ignored: the sweep goes on
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0
