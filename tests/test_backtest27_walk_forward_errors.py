"""A walk-forward window whose in-sample runs all failed (a window inside a gap in the data: no
klines to replay) said only "no grid point gave a finite in-sample sharpe", as if the runs had
traded too little to measure; the window's error now carries what the runs failed with."""

from __future__ import annotations

from tui_trader.backtest.sweep import walk_forward
from tui_trader.config import Config

Z = "signal_generation.z_score_threshold"


def failing_in_sample(config_dict: dict, data_spec: dict) -> dict:
    """Fails every run of the first window's in-sample span (top level: picklable)."""
    if data_spec["start_ms"] == 0:
        raise ValueError(f"no klines from {data_spec['start_ms']} to {data_spec['end_ms']}")
    z = config_dict["signal_generation"]["z_score_threshold"]
    return {"sharpe": z, "total_return": 0.0, "max_drawdown": 0.0, "n_trades": 1, "warnings": []}


def flat(config_dict: dict, data_spec: dict) -> dict:
    """Runs that trade nothing: no Sharpe to choose by (top level: picklable)."""
    return {"sharpe": None, "total_return": 0.0, "max_drawdown": 0.0, "n_trades": 0, "warnings": []}


def test_a_window_whose_runs_all_failed_says_why() -> None:
    rows = walk_forward(Config(), [(Z, [1.5, 2.0])], failing_in_sample, {}, 0, 1000, 2, 0.5, processes=1)
    first, second = rows
    assert first["best"] is None and first["oos"] is None
    assert first["error"] == (
        "no grid point gave a finite in-sample sharpe: every point failed: ValueError: no klines from 0 to 333"
    )
    assert second["error"] is None and second["best"] == {Z: 2.0}


def test_a_window_whose_runs_gave_no_sharpe_says_only_that() -> None:
    rows = walk_forward(Config(), [(Z, [1.5, 2.0])], flat, {}, 0, 1000, 2, 0.5, processes=1)
    assert [r["error"] for r in rows] == ["no grid point gave a finite in-sample sharpe"] * 2
