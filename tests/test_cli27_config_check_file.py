"""``config check --config FILE`` checks FILE, as every command takes its file with --config; it
said "the following arguments are required: FILE" below a usage block. Neither given is one line."""

from __future__ import annotations

from pathlib import Path

from tui_trader.cli import main


def test_config_check_takes_the_file_with_config(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[risk_management]\nstop_loss_percnt = 3\n")
    assert main(["config", "check", "--config", str(f)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "error: risk_management.stop_loss_percnt: unknown key (typo of 'stop_loss_percent'?)",
        f"{f}: INVALID (1 error(s), warnings are checked once the errors are fixed)",
    ]
    f.write_text("[risk_management]\nstop_loss_percent = 3\n")
    assert main(["--config", str(f), "config", "check"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{f}: OK (0 warning(s))"]


def test_config_check_without_a_file_is_one_line(capsys) -> None:
    assert main(["config", "check"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "error: config check: give the FILE to check, e.g. tui-trader config check config/default.toml"
    ]
    assert captured.out == ""
