"""A configuration file's value of the wrong TOML type is an error naming its field.

``stop_loss_percent = "2"`` (a quoted number) and ``alerting_enabled = 0`` (a number for a switch)
were taken as 2.0 and False without a word (pydantic's lax coercion), though a wrong type is a
hard error (README, *Configuration*): a quoted "false" read as a string would be a typo's cousin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("table", "line", "field"),
    [
        ("risk_management", 'stop_loss_percent = "2"', "risk_management.stop_loss_percent"),
        ("risk_management", 'max_total_positions = "10"', "risk_management.max_total_positions"),
        ("monitoring", "alerting_enabled = 0", "monitoring.alerting_enabled"),
        ("order_execution", 'use_limit_orders = "true"', "order_execution.use_limit_orders"),
        ("feed.sim", "n_symbols = 30.0", "feed.sim.n_symbols"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, line: str, field: str
) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"[{table}]\n{line}\n")
    assert main(["config", "check", str(f)]) == 2
    out = capsys.readouterr().out
    assert f"error: {field}:" in out and "INVALID" in out
    with pytest.raises(ConfigError) as exc:
        load_config(f)
    assert [i.path for i in exc.value.issues] == [field]
    # the command that would have run on it refuses it too, exit 2, before anything starts
    assert main(["run", "--config", str(f), "--db", str(tmp_path / "x.db"), "--duration", "1s"]) == 2
    assert field in capsys.readouterr().err


def test_the_right_types_and_the_flags_still_load(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    # an integer where a float belongs is a number all the same; TOML dates stay read as meant
    f.write_text("[risk_management]\nstop_loss_percent = 2\n[monitoring]\nalerting_enabled = false\n"
                 "[feed]\nspeed = \"max\"\n[feed.replay]\nstart = 2024-01-01\n")
    cfg, _ = load_config(f, overrides={"feed": {"speed": 30.0, "sim": {"seed": 7, "n_symbols": 12}}})
    assert cfg.risk_management.stop_loss_percent == 2.0 and cfg.monitoring.alerting_enabled is False
    assert cfg.feed.speed == 30.0 and cfg.feed.sim.seed == 7 and cfg.feed.sim.n_symbols == 12
