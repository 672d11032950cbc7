"""`data download` stopped by the hang-up of the SSH session it ran in: the terminal is gone, every
write to it fails with EIO. The download wrote its files and stops as interrupted (exit 130, "run
the same command again to resume"); the progress bar's last draw on the dead terminal raised past
that: a traceback and exit 1, what a network failure exits with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pty_support import DroppingTerminal

from tui_trader.cli import main
from tui_trader.market import download


def test_a_download_stopped_by_a_hang_up_exits_130_with_its_terminal_gone(
    quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = DroppingTerminal()

    async def hung_up(cfg, symbols, interval, start_ms, end_ms, out_dir, progress, attempts=6):
        progress("BTCUSDT", 3, 10)
        terminal.gone = True  # the SSH session drops ...
        raise download._Stopped("SIGHUP")  # ... and its hang-up stops the download

    monkeypatch.setattr(download, "download_klines", hung_up)
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["data", "download", "--symbols", "BTCUSDT", "--interval", "1h", "--start", "2024-01-01"]
    assert main([*argv, "--out", str(quiet / "klines")]) == 130
    assert terminal.text  # the bar was drawn on the terminal while there was one


@pytest.mark.shared_data
def test_a_sweep_stopped_by_a_hang_up_is_not_turned_into_an_eio_by_its_bar(
    klines_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sweep turns SIGHUP into KeyboardInterrupt (its workers stopped, "interrupted", exit 130);
    # its progress bar's last draw on the dead terminal raised EIO in its place
    from tui_trader.backtest import sweep
    from tui_trader.backtest.cli import main_sweep
    from tui_trader.cli import build_parser
    from tui_trader.config import Config

    terminal = DroppingTerminal()

    def hung_up(*args, progress, **kwargs):
        progress(1, 4)
        terminal.gone = True
        raise KeyboardInterrupt("SIGHUP")

    monkeypatch.setattr(sweep, "run_sweep", hung_up)
    monkeypatch.setattr(sys, "stderr", terminal)
    args = build_parser().parse_args(
        [
            "backtest",
            "sweep",
            "--data",
            str(klines_dir),
            "--interval",
            "1d",
            "--symbols",
            "BTCUSDT,ETHUSDT",
            "--param",
            "signal_generation.z_score_threshold=1.0,2.0",
            "--processes",
            "1",
        ]
    )
    with pytest.raises(KeyboardInterrupt, match="SIGHUP"):
        main_sweep(args, Config())
    assert terminal.text  # the bar was drawn on the terminal while there was one
