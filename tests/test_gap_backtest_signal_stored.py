"""A signal (SIGTERM, SIGHUP, Ctrl-C) that comes after a backtest's replay has ended - while its
run is stored, or after its ``--out`` files are written - exits 130 as before, but the run is in
the database: it said only "interrupted", and the operator could not tell whether the run was
kept nor find it. Now it says the run is stored, under which run id, in which database, and how
to show it again."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from backtest_support import default_signals, kline_file  # noqa: F401 - fixtures (kline_file autouse)
from backtest_support import signal_self as _signal_self
from test_backtest_report import make_result

from tui_trader.backtest import report, runner
from tui_trader.cli import main

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX"),
    pytest.mark.usefixtures("default_signals"),  # SIGTERM and SIGHUP at their defaults, as from a shell
]


def _args(tmp_path: Path) -> list[str]:
    return ["backtest", "--data", str(tmp_path), "--db", str(tmp_path / "bt.db"), "--out", str(tmp_path / "reports")]


def _replay_ending(result, then=lambda: None):
    """A stand-in for ``run_backtest``: its replay over (the engine's stop and the storing left),
    ``then()``, and ``result`` returned."""

    async def replayed(*_a, progress, **_k):
        progress(100, 100)
        then()
        await asyncio.sleep(0)
        return result

    return replayed


def test_a_signal_while_the_run_is_stored_names_the_run(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    result = make_result(72)
    monkeypatch.setattr(runner, "run_backtest", _replay_ending(result, lambda: _signal_self(signal.SIGTERM)))
    assert main(_args(tmp_path)) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err
    assert f"the run is stored as {result.run_id} in {tmp_path / 'bt.db'}" in err, err
    assert f"tui-trader --report {result.run_id} --db {tmp_path / 'bt.db'}" in err, err
    assert not (tmp_path / "reports").exists()  # no --out file after the signal (as before)


def test_a_signal_after_the_files_are_written_names_the_run_and_keeps_them(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    result = make_result(72)
    write = report.write_outputs

    def written_then_hung_up(*a, **k):
        paths = write(*a, **k)
        _signal_self(signal.SIGHUP)
        return paths

    monkeypatch.setattr(runner, "run_backtest", _replay_ending(result))
    monkeypatch.setattr(report, "write_outputs", written_then_hung_up)
    assert main([*_args(tmp_path), "--json"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and f"the run is stored as {result.run_id}" in err, err
    assert "report.json" in err  # the files it wrote are named (kept: the run is whole)
    assert (tmp_path / "reports" / "report.json").is_file()


def test_ctrl_c_after_the_run_is_stored_names_it(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    result = make_result(72)
    def ctrl_c(*_a, **_k):  # while the report is printed
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_backtest", _replay_ending(result))
    monkeypatch.setattr(report, "render_report", ctrl_c)
    assert main(_args(tmp_path)) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and f"the run is stored as {result.run_id}" in err, err


def test_a_signal_during_the_replay_stores_nothing_and_names_no_run(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    async def replaying(*_a, progress, **_k):
        progress(1, 100)
        _signal_self(signal.SIGTERM)
        await asyncio.sleep(30)
        return make_result(72)

    monkeypatch.setattr(runner, "run_backtest", replaying)
    assert main(_args(tmp_path)) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "stored" not in err, err


def test_a_sweep_stopped_between_its_points_names_the_runs_it_stored(
    tmp_path: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import sqlite3

    import numpy as np

    from tui_trader.backtest import cli as bt_cli

    class _Loaded:
        class klines:  # noqa: N801 (the ReplayData's attribute)
            open_time = np.array([0, 3_600_000], dtype=np.int64)

    def one_point(cfg, spec):  # stores its run, as a point given --db does, then the signal comes
        with sqlite3.connect(spec["db_path"]) as con:
            con.execute("INSERT INTO backtest_runs (run_id, created_ms) VALUES ('bt-point-1', 0)")
        _signal_self(signal.SIGTERM)
        return {"total_return": 0.0, "sharpe": None, "max_drawdown": 0.0, "n_trades": 0, "run_id": "bt-point-1"}

    monkeypatch.setattr(bt_cli, "_sweep_data", lambda *_a, **_k: _Loaded())
    monkeypatch.setattr(runner, "sweep_runner", one_point)
    db = tmp_path / "sweep.db"
    bt_cli._check_db(db)  # made (the schema) as the sweep makes it
    with sqlite3.connect(db) as con:  # an earlier run in the same database: not this sweep's
        con.execute("INSERT INTO backtest_runs (run_id, created_ms) VALUES ('bt-earlier', 0)")
    argv = ["backtest", "sweep", "--data", str(tmp_path), "--processes", "1", "--db", str(db),
            "--param", "signal_generation.z_score_threshold=1,2,3"]  # fmt: skip
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err
    assert f"stored 1 run(s) in {db} before the stop: bt-point-1" in err, err
    assert "bt-earlier" not in err
