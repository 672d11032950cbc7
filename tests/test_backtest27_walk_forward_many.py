"""backtest sweep --walk-forward with far more windows than the span has klines (a typo's extra
zeros): refused at once, naming how many would do. Its check built every window of the count
asked for, unaligned, to read the first: --walk-forward 100000000 ran for minutes and took 16 GB
of memory before it could refuse. The check now builds no more windows than the span has klines."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import tui_trader.backtest.sweep as sweep
from tui_trader.cli import main

pytestmark = pytest.mark.shared_data


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize("n", [10**8, 10**6])
def test_far_too_many_windows_are_refused_without_building_them(
    n: int, klines_dir: Path, quiet: Path, capsys, monkeypatch: pytest.MonkeyPatch, restore_logging
) -> None:
    built: list[int] = []
    windows = sweep.walk_forward_windows

    def counted(start_ms, end_ms, n_windows, *args, **kwargs):
        built.append(n_windows)
        if n_windows > 10_000:  # more than the 1h klines of the span (about 8,600)
            raise AssertionError(f"built {n_windows} windows")
        return windows(start_ms, end_ms, n_windows, *args, **kwargs)

    monkeypatch.setattr(sweep, "walk_forward_windows", counted)
    args = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--processes", "1",
            "--param", "signal_generation.z_score_threshold=1,2", "--walk-forward", str(n)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--walk-forward {n}: " in err and "use --walk-forward 8580 or fewer" in err
    assert "Traceback" not in err and built
