"""``--speed 1e-300`` (or ``feed.speed = 1e-300``) was accepted: the feed then waited ages for its
first period, and the run did nothing until ``--duration`` ended. A speed under 0.001x real time
is refused (exit 2, naming ``--speed`` / ``feed.speed``); 0.001 itself and ``max`` still pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import check


@pytest.mark.parametrize("speed", ["1e-300", "0.0009", "5e-324"])
def test_run_refuses_a_speed_under_the_minimum(quiet: Path, capsys, speed: str) -> None:
    argv = ["run", "--headless", "--feed", "sim", "--duration", "1s", "--db", str(quiet / "r.db")]
    assert main([*argv, "--speed", speed]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: --speed (feed.speed): ")
    assert "at least 0.001" in err[0]


def test_the_configuration_names_the_field() -> None:
    res = check({"feed": {"speed": 1e-300}})
    assert [e.path for e in res.errors] == ["feed.speed"] and "at least 0.001" in res.errors[0].message


@pytest.mark.parametrize("speed", [0.001, 1, 60.0, "max"])
def test_the_minimum_and_above_pass(speed: float | str) -> None:
    assert check({"feed": {"speed": speed}}).ok
