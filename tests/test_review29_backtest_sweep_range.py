"""A --param range whose count of values overflows a float is a clear usage error (exit 2), not a
traceback."""

from __future__ import annotations

import pytest

from tui_trader.backtest.sweep import parse_param
from tui_trader.cli import main

Z = "signal_generation.z_score_threshold"


@pytest.mark.parametrize("spec", ["0:1:1e-320", "-1e308:1e308:1", "0:1e308:1e-10"])
def test_a_range_of_more_values_than_a_float_counts_is_refused_by_name(spec: str):
    # (stop - start) / step is infinite: int(floor(inf)) raised OverflowError, past the CLI's
    # ValueError handling, so the sweep died with a traceback and exit 1
    with pytest.raises(ValueError, match=rf"^{Z}: range '{spec}' has more than 1000 values"):
        parse_param(f"{Z}={spec}")


def test_the_sweep_command_exits_2_on_such_a_range(tmp_path, capsys):
    code = main(
        ["backtest", "sweep", "--data", str(tmp_path), "--interval", "1h", "--param", f"{Z}=0:1:1e-320"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "has more than 1000 values" in err and "Traceback" not in err


def test_a_finite_but_too_long_range_still_says_its_count():
    with pytest.raises(ValueError, match=rf"^{Z}: range '0:2000:1' has 2001 values \(at most 1000\)"):
        parse_param(f"{Z}=0:2000:1")
