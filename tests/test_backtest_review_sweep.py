"""What ``backtest sweep`` tells an operator: on an 80-column terminal the heat map of a 7 x 13
grid and a walk-forward with a window that chose nothing keep every number whole, not cut to '…';
a refused ``--walk-forward N`` names a count of windows that runs."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from tui_trader.backtest.cli import IN_SAMPLE_FRACTION, _check_windows
from tui_trader.backtest.report import fit
from tui_trader.backtest.sweep import _fmt, run_sweep, walk_forward_table, walk_forward_windows
from tui_trader.cli import UsageError
from tui_trader.config import Config

Z = "signal_generation.z_score_threshold"
MA = "signal_generation.moving_average_period"
H = 3_600_000


def sharpe_of(config_dict: dict, data_spec: object) -> dict:
    sg = config_dict["signal_generation"]
    z, ma = sg["z_score_threshold"], sg["moving_average_period"]
    return {"total_return": z / 10, "sharpe": (z - 2.1) * ma / 7.0, "max_drawdown": 0.01, "n_trades": ma}


def test_heat_map_of_a_wide_grid_keeps_every_cell_whole_at_80_columns():
    params = [f"{Z}=1.5:3.0:0.25", f"{MA}=10:130:10"]  # 7 x 13 points
    console = Console(record=True, width=80, color_system=None)
    rows = run_sweep(Config(), params, sharpe_of, processes=1, console=console)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    heat = text[text.index("sharpe by") :]
    for r in rows:
        assert _fmt(r["metrics"]["sharpe"]) in heat, r["point"]
    words = " ".join(heat.split())
    assert "columns 1-" in words and "of 13" in words  # split, each part saying which columns it holds
    for ma in range(10, 140, 10):
        assert f" {ma}.0 " not in heat and f" {ma} " in heat  # every column header, whole
    wide = Console(record=True, width=200, color_system=None)
    run_sweep(Config(), params, sharpe_of, processes=1, console=wide)
    wide_text = wide.export_text()
    assert "z_score_threshold \\ moving_average_period" in wide_text and "columns 1-" not in wide_text
    assert wide_text.count("sharpe by") == 1


def test_walk_forward_error_goes_under_the_table_not_into_its_numbers():
    day, t0 = 86_400_000, 1_704_067_200_000  # 2024-01-01
    rows = [{"window": i, "best": {Z: 2.5}, "error": None,
             "is": {"total_return": 0.0241, "sharpe": 0.47},
             "oos": {"total_return": -0.0365, "sharpe": -12.48, "max_drawdown": 0.1262},
             "is_start_ms": t0 + i * 68 * day, "is_end_ms": t0 + (i * 68 + 160) * day,
             "oos_start_ms": t0 + (i * 68 + 160) * day, "oos_end_ms": t0 + (i * 68 + 228) * day}
            for i in range(3)]  # fmt: skip
    rows[1].update(
        {"best": None, "is": None, "oos": None, "error": "no grid point gave a finite in-sample sharpe"}
    )
    console = Console(record=True, width=80, color_system=None)
    console.print(fit(console, lambda compact: walk_forward_table(rows, [Z], compact)))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert text.count("12.62 %") == 2 and text.count("-12.48") == 3  # two windows and the mean
    assert "[1] window 2: no grid point gave a finite in-sample sharpe" in text


@pytest.mark.parametrize(("hours", "n"), [(24, 25), (24, 30), (24, 100_000), (48, 47), (24 * 9, 300)])
def test_walk_forward_refusal_names_a_count_that_runs(hours: int, n: int):
    """``--walk-forward 25`` over a day of hourly klines passed the check, then failed in the sweep
    with 'span of 86400000 ms is too short ... aligned to 3600000 ms'; and the refusal of 30 said
    'use --walk-forward 25 or fewer', which failed that way too."""
    start = 1_709_251_200_000  # 2024-03-01
    end = start + hours * H
    params = [(Z, [2.0, 3.0])]
    with pytest.raises(UsageError, match=r"or fewer|too short for any window") as refused:
        _check_windows(Config(), params, "1h", start, end, n)
    assert " ms " not in str(refused.value)
    most = int(re.search(r"use --walk-forward (\d+) or fewer", str(refused.value)).group(1))
    _check_windows(Config(), params, "1h", start, end, most)  # the count it names passes
    windows = walk_forward_windows(start, end, most, IN_SAMPLE_FRACTION, H)  # and cuts on kline times
    assert len(windows) == most and all(w[0] < w[1] < w[3] for w in windows)
    with pytest.raises(UsageError):
        _check_windows(Config(), params, "1h", start, end, most + 1)  # and is the most that does


def test_sweep_table_keeps_a_failed_points_error_at_80_columns():
    """An Error column holding the text was squeezed to nothing at 80 columns: the error was lost
    and every row ran over eight blank lines."""
    from tui_trader.backtest.sweep import WORKER_DIED, sweep_table

    paths = [Z, "risk_management.stop_loss_percent"]
    metrics = {"total_return": -0.0365, "sharpe": -0.48, "max_drawdown": 0.1262, "n_trades": 862}
    rows = [
        {"point": {paths[0]: z, paths[1]: s}, "metrics": metrics, "error": None}
        for z in (2.0, 2.5)
        for s in (2, 3)
    ]
    rows[1] = {**rows[1], "metrics": None, "error": WORKER_DIED}
    console = Console(record=True, width=80, color_system=None)
    console.print(sweep_table(rows, paths))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert len(text.splitlines()) == 1 + 3 + 4 + 1 + 1  # title, ruled header, a line per row, rule, note
    assert f"[1] {WORKER_DIED}" in " ".join(text.split())
    assert text.count("12.62 %") == 3


def fixed_figures(config_dict: dict, data_spec: object) -> dict:
    return {"total_return": -0.0365, "sharpe": -2.48, "max_drawdown": 0.1262, "n_trades": 40}


def test_walk_forward_of_two_parameters_keeps_every_number_whole_at_80_columns():
    """Two parameters (the README's sweep) wrapped the OOS max DD to '12.62' over '%' at 80
    columns: the windows' equal lengths now go to the title instead."""
    from tui_trader.backtest.sweep import walk_forward

    start, end = 1_704_067_200_000, 1_735_689_600_000  # 2024
    params = [f"{Z}=2.25", "risk_management.stop_loss_percent=1.5"]
    console = Console(record=True, width=80, color_system=None)
    walk_forward(
        Config(), params, fixed_figures, {}, start, end, 4, 0.7, processes=1, console=console, align_ms=H
    )
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert text.count("12.62 %") == 4 and text.count("-3.65 %") == 8  # in and out of sample
    assert "in sample" in text and "01-01 00:00" in text
    wide = Console(record=True, width=160, color_system=None)
    walk_forward(
        Config(), params, fixed_figures, {}, start, end, 4, 0.7, processes=1, console=wide, align_ms=H
    )
    assert re.search(r"01-01 00:00 \+\d+d ", wide.export_text())  # room enough: lengths beside each span


@pytest.mark.shared_data
def test_refused_walk_forward_is_not_announced_as_a_sweep(klines_dir, tmp_path):
    """'sweep: 2 point(s) on 1 process(es)' came before the refusal of its windows."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "tui_trader", "backtest", "sweep", "--data", str(klines_dir), "--interval", "1h",
         "--db", str(tmp_path / "s.db"), "--start", "2024-03-01", "--end", "2024-03-02",
         "--param", f"{Z}=2,3", "--processes", "1", "--walk-forward", "30"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "--walk-forward 30: each in-sample window" in r.stderr
    assert "sweep:" not in r.stderr and r.stdout == ""


def test_walk_forward_windows_are_cut_over_the_data_not_a_start_before_it(klines_dir, capsys, monkeypatch):
    """The 15m data begins 2025-01-06; with --start 2024-01-01 the four windows were cut over
    2024-2025, and every in-sample window but the last held no kline: each "failed: no grid point
    gave a finite in-sample sharpe". They are now cut from the data's first kline, and it says so."""
    import json

    from tui_trader.cli import main

    monkeypatch.setenv("TUI_TRADER_CACHE_DIR", "off")
    argv = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "15m", "--start", "2024-01-01",
            "--param", f"{Z}=2,2.5", "--processes", "1", "--walk-forward", "4", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr()
    assert (
        "the 15m klines begin at 2025-01-06 00:00 UTC, after --start: the windows are cut from there"
        in out.err
    )
    rows = json.loads(out.out)
    assert len(rows) == 4 and not any(r["error"] for r in rows), [r["error"] for r in rows]
    assert all(r["best"] for r in rows)  # each window chose a point
    assert rows[0]["is_start_ms"] == 1736121600000  # 2025-01-06 00:00, not 2024-01-01
    assert rows[-1]["oos_end_ms"] <= 1738540800000  # up to the data's last kline (2025-02-02 23:45)
