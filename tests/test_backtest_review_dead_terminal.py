"""A backtest or sweep whose terminal went away while it ran, the hang-up ignored (`trap '' HUP`,
as `data download` allows): the run went on to the end and was stored, but its report, bar or
JSON written to the dead terminal raised EIO: a traceback and exit 1, as if the run had failed."""

from __future__ import annotations

import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from backtest_support import kline_file  # noqa: F401 - autouse: the kline file the --data is checked for
from pty_support import DroppingTerminal, PtyRun
from test_backtest_report import make_result

from tui_trader.backtest.cli import main_backtest
from tui_trader.cli import build_parser
from tui_trader.config import Config


@pytest.mark.parametrize("as_json", [False, True], ids=["report", "json"])
def test_a_backtest_whose_terminal_went_away_still_exits_0(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    from tui_trader.backtest import runner

    out, err = DroppingTerminal(), DroppingTerminal()
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
    db = tmp_path / "sweep.db"
    argv = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--processes", "2",
            "--start", "2024-03-01", "--end", "2024-05-01", "--param", "signal_generation.z_score_threshold=1.5,2.5",
            "--db", str(db)]  # fmt: skip
    with PtyRun(argv, tmp_path, ignore_hup=True) as run:  # `trap '' HUP`
        run.read_until(b"0/2", "the sweep's bar with its total")  # the pool runs, no point has ended
        shown = run.pause()  # all it wrote before the terminal goes
        # the sweep was still running when its terminal went: the results table was not yet drawn
        assert b"Sharpe" not in shown, shown.decode(errors="replace")[-2000:]
        rc = run.hang_up(timeout=120)  # the terminal is gone, and its hang-up is ignored: the sweep goes on
    assert rc == 0
    with sqlite3.connect(str(db)) as con:  # both points ran to the end, after the terminal had gone
        assert con.execute("SELECT COUNT(*) FROM backtest_runs").fetchone()[0] == 2
