"""Second review of the SIGTERM / SIGHUP stop of a backtest and of a one-process sweep.

- A signal noted while the klines replay schedules the replay's cancel; the replay's last batches
  may run before that turn of the loop comes (no pause between them): the cancel then landed in
  the engine's stop or the run's storing, which is never to be cut short.
- A sweep whose start failed (its first progress call, its pool) left its signal handlers
  installed: a later SIGTERM was only noted, or raised KeyboardInterrupt anywhere, for the rest
  of the process.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from backtest_support import kline_file  # noqa: F401 - autouse: the kline file the --data is checked for
from test_backtest_followup_stop_signals import _backtest_args, _signal_self, default_signals  # noqa: F401
from test_backtest_report import make_result

from tui_trader.backtest import sweep
from tui_trader.backtest.cli import main_backtest
from tui_trader.cli import build_parser
from tui_trader.config import Config

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")


def test_a_signal_just_before_the_replay_ends_does_not_cut_the_storing_short(
    tmp_path: Path,
    quiet: Path,
    monkeypatch: pytest.MonkeyPatch,
    default_signals,  # noqa: F811
) -> None:
    from tui_trader.backtest import runner

    seen: list[str] = []

    async def last_batches(*_a, progress, **_k):
        progress(99, 100)
        _signal_self(signal.SIGTERM)  # the cancel is scheduled, not yet delivered ...
        progress(100, 100)  # ... and the last batch replays without a pause: the replay is over
        try:
            await asyncio.sleep(0.01)  # the engine's stop, the run's storing
        except asyncio.CancelledError:
            seen.append("storing cut short")
            raise
        seen.append("stored")
        return make_result(72)

    monkeypatch.setattr(runner, "run_backtest", last_batches)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):  # still stopped, after the storing
        main_backtest(build_parser().parse_args(_backtest_args(tmp_path)), Config())
    assert seen == ["stored"]
    assert not (tmp_path / "new").exists()  # and no report file after the signal
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _one(cfg, spec):
    return {"total_return": 0.0, "sharpe": None, "max_drawdown": 0.0, "n_trades": 0}


@pytest.mark.parametrize("processes", [1, 2], ids=["one process", "a pool"])
def test_a_sweep_whose_start_fails_gives_its_signals_back(default_signals, processes: int) -> None:  # noqa: F811
    def progress(done: int, total: int) -> None:
        raise RuntimeError("the progress display failed")

    with pytest.raises(RuntimeError, match="the progress display failed"):
        sweep.run_sweep(Config(), [("signal_generation.z_score_threshold", [1.0, 2.0])], _one,
                        processes=processes, progress=progress)  # fmt: skip
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


def test_a_noted_stop_interrupted_while_it_installs_gives_back_what_it_installed(
    monkeypatch: pytest.MonkeyPatch,
    default_signals,  # noqa: F811
) -> None:
    real = signal.signal

    def ctrl_c_at_the_second(sig, handler):
        if sig == signal.SIGHUP and handler not in (signal.SIG_DFL, signal.SIG_IGN):
            raise KeyboardInterrupt  # a Ctrl-C landing between the two installs
        return real(sig, handler)

    monkeypatch.setattr(sweep.signal, "signal", ctrl_c_at_the_second)
    with pytest.raises(KeyboardInterrupt), sweep.NotedStop():
        pass
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_second_signal_while_the_pool_stops_does_not_leave_a_worker_running(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    default_signals,  # noqa: F811
) -> None:
    # the first SIGTERM's KeyboardInterrupt stops the workers; a second one (a `kill` repeated,
    # a service manager's) raised another KeyboardInterrupt inside that stop: the held worker
    # ran on, and the exit waited for its point
    from test_backtest_sweep import Z, _alive, _started, toy_runner

    def progress(done: int, total: int) -> None:
        if done:  # the quick point is in: the signal while the other is held
            _started(tmp_path, 1)
            _signal_self(signal.SIGTERM)

    kill_workers = sweep._Jobs._kill_workers

    def signalled_again(self) -> None:
        _signal_self(signal.SIGTERM)
        kill_workers(self)

    monkeypatch.setattr(sweep._Jobs, "_kill_workers", signalled_again)
    spec = {"hold_z": [2.0], "marks": str(tmp_path), "hold": 30.0}
    pids: list[int] = []
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            sweep.run_sweep(
                Config(), [(Z, [1.0, 2.0])], toy_runner, processes=2, progress=progress, data_spec=spec
            )
        pids = _started(tmp_path, 1)
        assert [p for p in pids if _alive(p)] == []
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        for p in pids or _started(tmp_path, 1):  # the test's own worker, if the sweep left it
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_a_signal_after_a_one_process_sweeps_last_check_is_not_lost(
    monkeypatch: pytest.MonkeyPatch,
    default_signals,  # noqa: F811
) -> None:
    # noted after the last point's check, before the handler was given back: the sweep went on
    # to its table and exit 0, as if no signal had come
    run = sweep._Jobs.run

    def then_signalled(self, jobs):
        results = run(self, jobs)
        _signal_self(signal.SIGTERM)
        return results

    monkeypatch.setattr(sweep._Jobs, "run", then_signalled)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        sweep.run_sweep(Config(), [("signal_generation.z_score_threshold", [1.0, 2.0])], _one, processes=1)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_signal_after_a_backtests_last_check_is_not_lost(
    tmp_path: Path,
    quiet: Path,
    monkeypatch: pytest.MonkeyPatch,
    default_signals,  # noqa: F811
) -> None:
    # noted just after main_backtest's last check, before the handler was given back: exit 0, as
    # if no signal had come
    from tui_trader.backtest import cli as bt_cli

    monkeypatch.setattr(bt_cli, "_backtest", lambda args, cfg, stop, stored=None: 0)
    check, signalled = sweep.NotedStop.check, []

    def check_then_signalled(self) -> None:
        check(self)
        if not signalled:
            signalled.append(True)
            _signal_self(signal.SIGHUP)

    monkeypatch.setattr(sweep.NotedStop, "check", check_then_signalled)
    with pytest.raises(KeyboardInterrupt, match="SIGHUP"):
        main_backtest(build_parser().parse_args(_backtest_args(tmp_path)), Config())
    assert signalled and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
