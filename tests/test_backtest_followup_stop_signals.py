"""SIGTERM and SIGHUP (a kill, a dropped SSH session) during a plain backtest or a one-process sweep:
they died with the signal (rc -15 / -1), the backtest's ``--out`` folders left behind, empty. Now
the signal is only noted and the command stops at a safe point, as Ctrl-C does: the folders it
made removed, "interrupted", exit 130. A backtest's replay is cancelled at once; the run's storing
is never cut short; a one-process sweep stops between its points. A signal ignored when the command
starts (`nohup`, `trap '' HUP`) stays ignored."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from backtest_support import default_signals, kline_file  # noqa: F401 - fixtures (kline_file autouse)
from backtest_support import signal_self as _signal_self
from pty_support import PtyRun
from test_backtest_report import make_result

from tui_trader.backtest.cli import main_backtest, main_sweep
from tui_trader.cli import build_parser
from tui_trader.config import Config

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX"),
    pytest.mark.usefixtures("default_signals"),  # SIGTERM and SIGHUP at their defaults, as from a shell
]


def _backtest_args(tmp_path: Path) -> list[str]:
    return ["backtest", "--data", str(tmp_path), "--db", str(tmp_path / "bt.db"),
            "--out", str(tmp_path / "new" / "reports")]  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_while_the_klines_replay_cancels_the_run_and_removes_its_folders(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals
) -> None:
    from tui_trader.backtest import runner

    seen: list[str] = []

    async def replaying(*_a, progress, **_k):
        progress(1, 100)
        _signal_self(sig)
        try:
            await asyncio.sleep(30)  # the rest of the replay
            seen.append("replayed to the end")
        except asyncio.CancelledError:
            seen.append("cancelled")
            _signal_self(sig)  # a second one while the engine stops ...
            await asyncio.sleep(0.01)  # ... does not cut its stop short
            seen.append("stopped")
            raise
        return make_result(72)

    monkeypatch.setattr(runner, "run_backtest", replaying)
    with pytest.raises(KeyboardInterrupt, match=sig.name):
        main_backtest(build_parser().parse_args(_backtest_args(tmp_path)), Config())
    assert seen == ["cancelled", "stopped"]
    assert not (tmp_path / "new").exists()  # the --out folders it made are gone
    assert signal.getsignal(sig) is signal.SIG_DFL  # and the signal is given back


def test_a_signal_while_the_run_is_stored_waits_for_it(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trader.backtest import runner

    seen: list[str] = []

    async def storing(*_a, progress, **_k):
        progress(100, 100)  # the replay is over: what is left is the engine's stop and the storing
        _signal_self(signal.SIGTERM)
        await asyncio.sleep(0.01)
        seen.append("stored")
        return make_result(72)

    monkeypatch.setattr(runner, "run_backtest", storing)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        main_backtest(build_parser().parse_args(_backtest_args(tmp_path)), Config())
    assert seen == ["stored"]
    assert not (tmp_path / "new").exists()  # no report file written after the signal


def test_a_hang_up_ignored_when_the_backtest_starts_stays_ignored(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trader.backtest import runner

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # `nohup`, `trap '' HUP`

    async def hung_up(*_a, progress, **_k):
        progress(1, 100)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.01)
        progress(100, 100)
        return make_result(72)

    monkeypatch.setattr(runner, "run_backtest", hung_up)
    assert main_backtest(build_parser().parse_args(_backtest_args(tmp_path)), Config()) == 0
    assert sorted(p.name for p in (tmp_path / "new" / "reports").iterdir()) == [
        "equity.csv", "report.json", "report.txt", "trades.csv"
    ]  # fmt: skip


def test_a_one_process_sweep_stops_between_its_points(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trader.backtest import cli as bt_cli
    from tui_trader.backtest import runner

    class _Loaded:
        class klines:  # noqa: N801 (the ReplayData's attribute)
            open_time = np.array([0, 3_600_000], dtype=np.int64)

    points: list[float] = []

    def one_point(cfg, spec):
        points.append(cfg["signal_generation"]["z_score_threshold"])
        _signal_self(signal.SIGTERM)  # during the first point, which runs to its end
        return {"total_return": 0.0, "sharpe": None, "max_drawdown": 0.0, "n_trades": 0}

    monkeypatch.setattr(bt_cli, "_sweep_data", lambda *_a, **_k: _Loaded())
    monkeypatch.setattr(runner, "sweep_runner", one_point)
    argv = ["backtest", "sweep", "--data", str(tmp_path), "--processes", "1",
            "--param", "signal_generation.z_score_threshold=1,2,3"]  # fmt: skip
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        main_sweep(build_parser().parse_args(argv), Config())
    assert points == [1.0]  # the points after it never started
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize(
    ("sig", "shown"),
    [(signal.SIGTERM, re.compile(rb"[1-9][0-9]*/[0-9]+")), (signal.SIGHUP, b"backtest")],
    ids=["SIGTERM while replaying", "SIGHUP while loading"],
)
def test_a_backtest_process_stopped_by_a_signal_exits_130_leaving_no_folder(
    klines_dir: Path, tmp_path: Path, sig: signal.Signals, shown: bytes | re.Pattern[bytes]
) -> None:
    out, db = tmp_path / "new" / "reports", tmp_path / "bt.db"
    argv = ["backtest", "--data", str(klines_dir), "--interval", "1h", "--out", str(out), "--db", str(db)]
    with PtyRun(argv, tmp_path) as run:
        run.read_until(shown, "the backtest's bar")  # its bar: loading, or some klines replayed
        run.proc.send_signal(sig)
        text = run.read_rest()
        rc = run.proc.wait(timeout=60)
    assert rc == 130, text.decode(errors="replace")[-2000:]
    assert b"interrupted" in text and b"Traceback" not in text
    assert not (tmp_path / "new").exists()  # it was left behind, empty
    if not db.exists():  # the --db is made once the data has passed its checks: a signal while loading, none
        return
    with sqlite3.connect(str(db)) as con:  # cancelled before its end: no run stored
        assert con.execute("SELECT COUNT(*) FROM backtest_runs").fetchone()[0] == 0
