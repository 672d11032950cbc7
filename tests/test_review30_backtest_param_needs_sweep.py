"""``backtest --param`` without ``sweep`` ran a sweep, which neither ``backtest --help`` nor README
says (both name ``backtest sweep --param``); it is refused as ``--processes`` and ``--walk-forward``
are, exit 2, naming the sweep command to use."""

from __future__ import annotations

from pathlib import Path

import pytest

import tui_trader.backtest.cli as bt_cli
from tui_trader.cli import main

Z = "signal_generation.z_score_threshold"


@pytest.fixture
def no_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a, **_k):
        raise AssertionError("a sweep ran")

    monkeypatch.setattr(bt_cli, "main_sweep", refuse)


@pytest.mark.parametrize("mode", [[], ["run"]], ids=["no-mode", "run"])
def test_param_without_sweep_is_a_usage_error_naming_the_sweep(
    mode: list[str], klines_dir: Path, quiet: Path, no_sweep: None, capsys: pytest.CaptureFixture[str]
) -> None:
    db = quiet / "b.db"
    args = ["backtest", *mode, "--data", str(klines_dir), "--interval", "1h", "--db", str(db)]
    assert main([*args, "--param", f"{Z}=2,3", "--param", "risk_management.stop_loss_percent=1 ,2"]) == 2
    err = capsys.readouterr().err
    assert (
        f"--param applies to a sweep only: `tui-trader backtest sweep --param {Z}=2,3 "
        "--param 'risk_management.stop_loss_percent=1 ,2'`" in err
    ), err
    assert not db.exists()  # refused before anything ran or was stored


def test_the_help_says_param_belongs_to_the_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    mode = text[text.index("{run,sweep} run (default)") : text.index("options:")]
    assert "--param, --processes and --walk-forward are the sweep's alone" in mode, mode


def test_the_help_says_out_is_not_a_sweeps(capsys: pytest.CaptureFixture[str]) -> None:
    # a sweep refuses --out (exit 2); its help line named the files with no word of that
    assert main(["backtest", "sweep", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    start = text.index("--out DIR write")
    line = text[start : text.index("--no-charts", start)]
    assert "a sweep writes no files" in line, line
