"""A sweep stopped by the hang-up of the SSH session it ran in: the sweep turns SIGHUP into
KeyboardInterrupt (its workers stopped) and the CLI says "interrupted", exit 130. With the terminal
gone, that last line's write failed with EIO: a traceback on the dead terminal and exit 1, what a
failed run exits with."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from pty_support import DroppingTerminal, PtyRun

from tui_trader.cli import main


def test_interrupted_on_a_dead_terminal_still_exits_130(quiet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trader.backtest import cli as bt_cli

    def hung_up(args, cfg):
        raise KeyboardInterrupt("SIGHUP")  # as the sweep's handler turns the hang-up

    monkeypatch.setattr(bt_cli, "main_sweep", hung_up)
    monkeypatch.setattr(sys, "stderr", DroppingTerminal(gone=True))
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
    with PtyRun(argv, tmp_path) as run:
        # the bar's total (0/7) is drawn once the pool runs, with SIGHUP turned into KeyboardInterrupt
        run.read_until(b"/7", "the sweep's bar with its total")
        rc = run.hang_up()  # the SSH session dropped: the terminal is gone, and the hang-up arrives
    assert rc == 130
