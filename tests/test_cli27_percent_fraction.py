"""A percent field given as a fraction (``stop_loss_percent = 0.05`` meaning 5 %) is valid, and
was taken as 0.05 % without a word: a stop inside the fees, a profit target that loses money, a
position too small for any order, a breaker that trips at once. ``config check`` and every
command that loads the configuration now warn, naming the field and what was probably meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import check


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "stop_loss_percent",
            0.05,
            "0.05 % is within the round-trip fee (0.2 %): 5 %, perhaps? (in percent: 5 = 5 %)",
        ),
        (
            "profit_target_percent",
            0.1,
            "0.1 % is within the round-trip fee (0.2 %): 10 %, perhaps? (in percent: 5 = 5 %)",
        ),
        ("max_position_percent", 0.05, "0.05 % of equity: 5 %, perhaps? (in percent: 5 = 5 %)"),
        ("max_daily_loss_percent", 0.1, "0.1 % of equity: 10 %, perhaps? (in percent: 5 = 5 %)"),
        ("max_drawdown_percent", 0.15, "0.15 % of equity: 15 %, perhaps? (in percent: 5 = 5 %)"),
    ],
)
def test_a_fraction_in_a_percent_field_is_warned_about(field: str, value: float, message: str) -> None:
    res = check({"risk_management": {field: value}})
    assert res.ok
    assert {(w.path, w.message) for w in res.warnings} >= {(f"risk_management.{field}", message)}


def test_percent_values_are_not_warned_about() -> None:
    # tight but deliberate exits (the determinism tests trade 0.8 / 1.0) and the shipped values
    data = {
        "risk_management": {"stop_loss_percent": 0.8, "profit_target_percent": 1.0, "max_position_percent": 1}
    }
    assert check(data).warnings == []


def test_the_fee_sets_the_exit_threshold() -> None:
    # 0.3 % is more than a 0.2 % round trip, but within a 0.4 % one
    data = {"risk_management": {"stop_loss_percent": 0.3, "profit_target_percent": 5}}
    assert check(data).warnings == []
    data["broker"] = {"fee_rate": 0.002}
    assert [w.path for w in check(data).warnings] == ["risk_management.stop_loss_percent"]


def test_config_check_says_it_and_still_exits_0(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[risk_management]\nstop_loss_percent = 0.025\nprofit_target_percent = 0.05\n")
    assert main(["config", "check", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        "warning: risk_management.stop_loss_percent: 0.025 % is within the round-trip fee (0.2 %): 2.5 %, perhaps? (in percent: 5 = 5 %)"
        in out
    )
    assert out[-1] == f"{f}: OK (2 warning(s))"


@pytest.mark.parametrize(("fee", "said"), [(0.075, "7.5 %"), (0.02, "2 %")])
def test_a_fee_rate_given_in_percent_is_warned_about(fee: float, said: str) -> None:
    # Binance's 0.075 % (with BNB) written as 0.075 is a 7.5 % fee on every fill
    res = check({"broker": {"fee_rate": fee}})
    assert res.ok
    assert (
        "broker.fee_rate",
        f"{fee:g} is a fee of {said} per fill: a fraction ({fee / 100:g} for {fee:g} %), perhaps?",
    ) in {(w.path, w.message) for w in res.warnings}


def test_a_fee_of_one_percent_or_less_is_not_warned_about() -> None:
    assert not any(w.path == "broker.fee_rate" for w in check({"broker": {"fee_rate": 0.01}}).warnings)
    assert not any(w.path == "broker.fee_rate" for w in check({"broker": {"fee_rate": 0.00075}}).warnings)
