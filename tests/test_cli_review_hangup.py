"""A sweep stopped by the hang-up of the SSH session it ran in: the sweep turns SIGHUP into
KeyboardInterrupt (its workers stopped) and the CLI says "interrupted", exit 130. With the terminal
gone, that last line's write failed with EIO: a traceback on the dead terminal and exit 1, what a
failed run exits with."""

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

from tui_trader.cli import main

REPO = Path(__file__).resolve().parents[1]


class _GoneTerminal:
    """A terminal whose session dropped: every write and flush fails with EIO."""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EIO, "Input/output error")

    def flush(self) -> None:
        raise OSError(errno.EIO, "Input/output error")


def test_interrupted_on_a_dead_terminal_still_exits_130(quiet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trader.backtest import cli as bt_cli

    def hung_up(args, cfg):
        raise KeyboardInterrupt("SIGHUP")  # as the sweep's handler turns the hang-up

    monkeypatch.setattr(bt_cli, "main_sweep", hung_up)
    monkeypatch.setattr(sys, "stderr", _GoneTerminal())
    argv = ["backtest", "sweep", "--data", str(quiet), "--param", "signal_generation.z_score_threshold=1,2"]
    assert main(argv) == 130


def test_interrupted_is_still_said_on_a_live_terminal(
    quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from tui_trader.backtest import cli as bt_cli

    def interrupted(args, cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(bt_cli, "main_sweep", interrupted)
    argv = ["backtest", "sweep", "--data", str(quiet), "--param", "signal_generation.z_score_threshold=1,2"]
    assert main(argv) == 130
    assert capsys.readouterr().err == "interrupted\n"


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP and ptys are POSIX")
def test_a_sweep_hung_up_with_its_terminal_gone_exits_130(klines_dir: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TUI_TRADER_LOG_FILE": "off",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    argv = [
        "backtest",
        "sweep",
        "--data",
        str(klines_dir),
        "--interval",
        "1h",
        "--processes",
        "2",
        "--param",
        "signal_generation.z_score_threshold=1.5:3.0:0.25",
    ]
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trader", *argv],
        cwd=str(tmp_path),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 60
        # the bar's total (0/7) is drawn once the pool runs, with SIGHUP turned into KeyboardInterrupt
        while b"/7" not in seen:
            assert proc.poll() is None, seen.decode(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the sweep's bar never showed its total"
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        os.close(master)  # the SSH session dropped: the terminal is gone ...
        proc.send_signal(signal.SIGHUP)  # ... and the hang-up arrives
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 130
