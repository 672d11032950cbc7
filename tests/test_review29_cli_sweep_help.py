"""``backtest --help`` is also the sweep's help: its --json line said "one JSON object", though a
sweep prints a list (one object per point, or per window with --walk-forward), as README says."""

from __future__ import annotations

import pytest

from tui_trader.cli import main


def test_the_json_option_says_what_a_sweep_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "sweep", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    text = text[text.index("options:"):]  # (not the usage line)
    line = text[text.index("--json"):text.index("--out DIR")]
    assert "one JSON object" in line and "sweep" in line and "list" in line, line
