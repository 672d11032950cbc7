"""Soft warnings for settings that are valid alone but defeat themselves: a z-score threshold the
z-score can never reach (the bot then never trades by signal, and only "below 50: may be too
short" hinted at it), and a health check interval of a few milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tui_trader.cli import main
from tui_trader.config import check
from tui_trader.rating.zscore import RollingZScore


def _zmax(window: int) -> float:
    """The largest z the engine's z-score gives over ``window``: w - 1 equal values, then an outlier."""
    zs = RollingZScore(1, window)
    for _ in range(window - 1):
        zs.update(np.array([1500.0]))
    z, _, _ = zs.update(np.array([1500.0 + 400.0]))
    return float(z[0])


def _z_warnings(threshold: float, period: int) -> list[str]:
    res = check({"signal_generation": {"z_score_threshold": threshold, "moving_average_period": period}})
    assert res.ok
    return [
        w.message
        for w in res.warnings
        if w.path == "signal_generation.z_score_threshold" and "range 1-5" not in w.message
    ]


@pytest.mark.parametrize("period", [2, 5, 7, 8, 26])
def test_a_threshold_above_the_reachable_z_is_warned_and_one_below_is_not(period: int) -> None:
    reach = _zmax(period)
    assert reach == pytest.approx(np.sqrt(period - 1))  # the bound the warning is built on
    above = _z_warnings(reach * 1.01, period)
    assert len(above) == 1 and "never reached" in above[0] and "moving_average_period" in above[0]
    assert _z_warnings(reach * 0.99, period) == []


def test_config_check_names_both_fields_for_the_default_threshold_over_7_periods(
    tmp_path: Path, capsys
) -> None:
    f = tmp_path / "short.toml"
    f.write_text("[signal_generation]\nmoving_average_period = 7\n")  # threshold 2.5 > sqrt(6) = 2.449
    assert main(["config", "check", str(f)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "never reached" in ln)
    assert line.startswith("warning: signal_generation.z_score_threshold: 2.5 ")
    assert "signal_generation.moving_average_period = 7" in line and "2.45" in line


def test_the_shipped_window_and_threshold_are_not_warned() -> None:
    assert _z_warnings(2.5, 200) == []


@pytest.mark.parametrize(("ms", "warned"), [(1, True), (99, True), (100, False), (30_000, False)])
def test_a_health_check_interval_below_100_ms_is_warned(ms: int, warned: bool) -> None:
    res = check({"monitoring": {"health_check_interval_ms": ms}})
    assert res.ok
    hits = [w for w in res.warnings if w.path == "monitoring.health_check_interval_ms"]
    assert len(hits) == int(warned)
    if warned:
        assert f"{ms} ms is below 100 ms" in hits[0].message
