"""A --param range whose step is finer than its values can tell apart (12 decimal places, or
less for a large value) made points that differ one value: ``1:1.0000000000005:1e-13`` (six
points) swept one or two, without a word. It is a usage error naming the parameter now. And the
count of a range is taken on its decimals as written: in floats ``1:1.000000000002:1e-12`` made
1.99999 steps and lost its stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.backtest.sweep import parse_param
from tui_trader.cli import main

Z = "signal_generation.z_score_threshold"


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("1:1.0000000000005:1e-13", "1.0"),
        ("2:2.000000000001:5e-13", "2.000000000001"),
        ("1e6:1000000.0000000001:1e-11", "1000000.0"),
    ],
)
def test_a_range_whose_values_would_repeat_is_refused_by_name(spec: str, value: str) -> None:
    step = spec.rsplit(":", 1)[1]
    with pytest.raises(ValueError) as exc:
        parse_param(f"{Z}={spec}")
    assert str(exc.value) == (
        f"{Z}: range {spec!r} repeats the value {value}: its step {step!r} is finer than the values can "
        "tell apart (12 decimal places)"
    )


def test_a_step_of_1e_12_keeps_every_value_and_the_stop() -> None:
    assert parse_param(f"{Z}=1:1.000000000002:1e-12") == (Z, [1.0, 1.000000000001, 1.000000000002])
    assert parse_param(f"{Z}=2:2.000000000003:1e-12")[1] == [
        2.0,
        2.000000000001,
        2.000000000002,
        2.000000000003,
    ]


def test_a_stop_just_short_of_a_step_is_no_value() -> None:
    # floats with a tolerance of 1e-9 steps made 0.3 of it, past the stop asked for
    assert parse_param(f"{Z}=0.1:0.2999999999999:0.1")[1] == [0.1, 0.2]


def test_ordinary_ranges_are_as_before() -> None:
    assert parse_param(f"{Z}=1.5:3.0:0.25")[1] == [1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0]
    assert parse_param(f"{Z}=0.1:0.3:0.1")[1] == [0.1, 0.2, 0.3]


def test_the_sweep_command_exits_2_naming_the_parameter(tmp_path: Path, quiet: Path, capsys) -> None:
    code = main(
        [
            "backtest",
            "sweep",
            "--data",
            str(tmp_path),
            "--interval",
            "1h",
            "--param",
            f"{Z}=1:1.0000000000005:1e-13",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert (
        f"--param: {Z}: range '1:1.0000000000005:1e-13' repeats the value 1.0" in err
        and "Traceback" not in err
    )
