"""``config check`` on a file with errors said "0 warning(s)" although a file that does not validate
is never checked for warnings: a z-score threshold of 0.1 or a 20 % slippage beside a typo went
unsaid, and the count told the operator the rest was fine."""

from __future__ import annotations

from pathlib import Path

from tui_trader.cli import main

UNWISE = "[order_execution]\nmax_slippage_percent = 20\n[signal_generation]\nz_score_threshold = 0.1\n"


def test_a_file_with_errors_does_not_claim_zero_warnings(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.toml"
    f.write_text(UNWISE + "[risk_management]\nstop_loss_percent = -1\n")
    assert main(["config", "check", str(f)]) == 2
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"{f}: INVALID (1 error(s), ")
    assert "0 warning(s)" not in last and "warnings are checked once the errors are fixed" in last
    # once the error is fixed, the warnings it hid are counted
    f.write_text(UNWISE)
    assert main(["config", "check", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{f}: OK (2 warning(s))"


def test_errors_found_after_validation_still_count_the_warnings(tmp_path: Path, capsys) -> None:
    # a consistency error (the file validates field by field): its warnings were checked and are counted
    f = tmp_path / "c.toml"
    f.write_text(UNWISE + '[broker]\nquote_asset = "BTC"\n')
    assert main(["config", "check", str(f)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("warning: ") for line in out) == 2
    assert out[-1].startswith(f"{f}: INVALID (") and out[-1].endswith(", 2 warning(s))")
