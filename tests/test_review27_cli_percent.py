"""The "percent given as a fraction" warning names what was probably meant: for
max_position_percent, whose safety limit is 20 %, 0.5 can be no fraction of 50 % (refused), so a
deliberate 0.5 % position is not warned about, where 0.05 (5 %) still is. Legit small percents of
the other kinds, and the shipped configuration, are clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.config import REPO_DEFAULT_CONFIG, check, load_data


def _warned(rm: dict[str, float]) -> list[str]:
    res = check({"risk_management": rm})
    assert res.ok, res.errors
    return [w.path for w in res.warnings]


@pytest.mark.parametrize("v", [0.25, 0.5, 0.9])
def test_a_small_position_no_fraction_could_mean_is_not_warned(v: float) -> None:
    assert "risk_management.max_position_percent" not in _warned({"max_position_percent": v})


@pytest.mark.parametrize(("v", "meant"), [(0.05, "5 %"), (0.2, "20 %")])
def test_a_position_given_as_a_fraction_is_still_warned(v: float, meant: str) -> None:
    res = check({"risk_management": {"max_position_percent": v}})
    said = [w.message for w in res.warnings if w.path == "risk_management.max_position_percent"]
    assert len(said) == 1 and f": {meant}, perhaps?" in said[0]


def test_legit_small_percents_and_the_shipped_file_are_clean() -> None:
    data = {
        "order_execution": {"limit_order_buffer_percent": 0.1, "max_slippage_percent": 0.5},
        "risk_management": {"stop_loss_percent": 1.5, "profit_target_percent": 3.0},
    }
    assert check(data).warnings == []
    res = check(load_data(Path(REPO_DEFAULT_CONFIG)), require_keys=True)
    assert res.ok and res.warnings == []
