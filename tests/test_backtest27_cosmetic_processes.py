"""`backtest sweep --processes N` is capped: at most one worker per run and
MAX_PROCESSES_PER_CORE per core (`--processes 10000` on a 10,000-point grid started 10,000)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tui_trader.backtest import sweep
from tui_trader.backtest.sweep import MAX_PROCESSES_PER_CORE, pool_size, run_sweep
from tui_trader.config import Config

Z = "signal_generation.z_score_threshold"


def runner(config_dict: dict, data_spec) -> dict:
    z = config_dict["signal_generation"]["z_score_threshold"]
    return {"total_return": 0.0, "sharpe": z, "max_drawdown": 0.0, "n_trades": 0}


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "default_processes", lambda: 2)


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every pool the sweep makes. One thread runs its jobs in their place: the backtest
    runner's warnings capture (runner.kept_warnings) is per process, so concurrent threads would
    leave the ``tui_trader`` logger without propagation for the tests after this one."""
    made: list[int] = []

    def new_pool(workers: int) -> ThreadPoolExecutor:
        made.append(workers)
        return ThreadPoolExecutor(max_workers=1)

    monkeypatch.setattr(sweep._Jobs, "_new_pool", staticmethod(new_pool))
    return made


def test_pool_size_caps_at_the_runs_and_a_multiple_of_the_cores(two_cores):
    cap = 2 * MAX_PROCESSES_PER_CORE
    assert pool_size(10_000, 10_000) == (cap, f"at most {MAX_PROCESSES_PER_CORE} per core, on 2 cores")
    assert pool_size(cap + 1, 50) == (cap, f"at most {MAX_PROCESSES_PER_CORE} per core, on 2 cores")
    assert pool_size(10_000, 3) == (3, "no more than the 3 runs")
    assert pool_size(3, 1) == (1, "no more than the 1 run")
    assert pool_size(cap, 10_000) == (cap, None)  # as asked: no note
    assert pool_size(None, 10_000) == (2, None)  # the default: one per core
    with pytest.raises(ValueError, match="processes must be >= 1"):
        pool_size(0, 5)


def test_a_sweep_never_starts_more_processes_than_the_cap(two_cores, pools):
    rows = run_sweep(Config(), [f"{Z}=1:3:0.1"], runner, processes=10_000)
    assert len(rows) == 21 and all(r["error"] is None for r in rows)
    assert pools == [2 * MAX_PROCESSES_PER_CORE]


def test_a_sweep_starts_no_more_processes_than_points(two_cores, pools):
    run_sweep(Config(), [f"{Z}=1,2,3"], runner, processes=7)
    assert pools == [3]


def test_help_says_so(capsys):
    from tui_trader.cli import main

    assert main(["backtest", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"at most one per point and {MAX_PROCESSES_PER_CORE} per core" in text


def test_the_cli_says_when_it_caps(klines_dir: Path, capsys, two_cores, pools):
    from tui_trader.cli import main

    args = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT",
            "--start", "2024-02-01", "--end", "2024-02-08", "--json"]  # fmt: skip
    assert main([*args, "--param", f"{Z}=2,2.5", "--processes", "10000"]) == 0
    err = capsys.readouterr().err
    assert "sweep: 2 point(s) on 2 process(es) (--processes 10000: no more than the 2 runs)" in err
    assert main([*args, "--param", f"{Z}=1:3.4:0.2", "--processes", "10000"]) == 0
    err = capsys.readouterr().err
    assert (f"sweep: 13 point(s) on {2 * MAX_PROCESSES_PER_CORE} process(es) (--processes 10000: at most "
            f"{MAX_PROCESSES_PER_CORE} per core, on 2 cores)") in err  # fmt: skip
    assert pools == [2, 2 * MAX_PROCESSES_PER_CORE]
