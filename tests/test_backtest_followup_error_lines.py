"""The error lines a backtest or sweep prints after (or instead of) its run: on a terminal that went
away meanwhile (EIO), the plain ``print`` of the data error or of the ``--out`` write failure raised
past the documented exit code 2: a traceback and exit 1."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest
from backtest_support import kline_file  # noqa: F401 - autouse: the kline file the --data is checked for
from pty_support import DroppingTerminal
from test_backtest_report import make_result

from tui_trader.backtest.cli import main_backtest, main_sweep
from tui_trader.cli import build_parser
from tui_trader.config import Config
from tui_trader.market.replay import ReplayError


def _on_stderr(monkeypatch: pytest.MonkeyPatch) -> DroppingTerminal:
    """A terminal on ``sys.stderr``, put there in the test itself (pytest's capture sets it anew
    when the test's call begins, over what a fixture put there)."""
    terminal = DroppingTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    return terminal


def test_a_backtests_data_error_on_a_dead_terminal_exits_2(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_stderr = _on_stderr(monkeypatch)
    from tui_trader.backtest import runner

    async def bad_data(*_a, progress, **_k):
        progress(1, 2)
        dead_stderr.gone = True  # the SSH session drops, its hang-up ignored
        raise ReplayError("no 1h klines in the data")

    monkeypatch.setattr(runner, "run_backtest", bad_data)
    args = build_parser().parse_args(["backtest", "--data", str(tmp_path), "--db", str(tmp_path / "bt.db")])
    assert main_backtest(args, Config()) == 2
    assert dead_stderr.text  # the bar was drawn while there was a terminal


def test_a_backtests_out_write_failure_on_a_dead_terminal_exits_2(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_stderr = _on_stderr(monkeypatch)
    from tui_trader.backtest import runner

    async def ran(*_a, progress, **_k):
        progress(1, 2)
        dead_stderr.gone = True
        return make_result(72)

    def full(result, out_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(out_dir) / "trades.csv"))

    monkeypatch.setattr(runner, "run_backtest", ran)
    monkeypatch.setattr("tui_trader.backtest.report.write_outputs", full)
    argv = [
        "backtest",
        "--data",
        str(tmp_path),
        "--db",
        str(tmp_path / "bt.db"),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main_backtest(build_parser().parse_args(argv), Config()) == 2
    assert dead_stderr.text


def _sweep_args(data: Path) -> list[str]:
    return ["backtest", "sweep", "--data", str(data), "--param", "signal_generation.z_score_threshold=1,2",
            "--processes", "1"]  # fmt: skip


def test_a_sweeps_data_error_on_a_dead_terminal_exits_2(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_stderr = _on_stderr(monkeypatch)
    from tui_trader.backtest import cli as bt_cli

    def bad_data(*_a, **_k):
        raise ReplayError("no 1h klines in the data")

    monkeypatch.setattr(bt_cli, "_sweep_data", bad_data)
    dead_stderr.gone = True  # gone before the sweep began
    assert main_sweep(build_parser().parse_args(_sweep_args(tmp_path)), Config()) == 2


def test_a_sweeps_error_after_its_run_on_a_dead_terminal_exits_2(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_stderr = _on_stderr(monkeypatch)
    import numpy as np

    from tui_trader.backtest import cli as bt_cli
    from tui_trader.backtest import sweep

    class _Loaded:
        class klines:  # noqa: N801 (the ReplayData's attribute)
            open_time = np.array([0, 3_600_000], dtype=np.int64)

    def failed(*_a, progress, **_k):
        progress(1, 2)
        dead_stderr.gone = True
        raise ValueError("a point's configuration is invalid")

    monkeypatch.setattr(bt_cli, "_sweep_data", lambda *_a, **_k: _Loaded())
    monkeypatch.setattr(sweep, "run_sweep", failed)
    assert main_sweep(build_parser().parse_args(_sweep_args(tmp_path)), Config()) == 2
    assert dead_stderr.text  # "sweep: 2 point(s) ..." and the bar, while there was a terminal


def test_the_error_line_is_still_said_on_a_live_terminal(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from tui_trader.backtest import cli as bt_cli

    def bad_data(*_a, **_k):
        raise ReplayError("no 1h klines in the data")

    monkeypatch.setattr(bt_cli, "_sweep_data", bad_data)
    assert main_sweep(build_parser().parse_args(_sweep_args(tmp_path)), Config()) == 2
    assert capsys.readouterr().err == "error: no 1h klines in the data\n"
