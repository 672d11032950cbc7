"""The exit codes the help and the README list are all the command returns: a live confirmation
not typed exits 3 ("live trading not confirmed: nothing was traded"), which neither listed."""

from __future__ import annotations

import re
from pathlib import Path

from tui_trader.cli import main
from tui_trader.ui.app import run_tui

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_help_lists_the_unconfirmed_live_exit(capsys) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration, "
        "3 live trading not confirmed (nothing traded), 130 interrupted." in text
    )


def test_the_readme_lists_the_same_codes(capsys) -> None:
    assert main(["--help"]) == 0
    help_codes = re.search(r"exit codes: (.*?\.)\n\n|exit codes: (.*)", capsys.readouterr().out, re.S)
    assert help_codes is not None
    said = " ".join((help_codes[1] or help_codes[2]).split())
    assert f"Exit codes: {said}" in " ".join(README.read_text().split())


def test_the_live_gate_declined_is_that_code(monkeypatch, capsys) -> None:
    monkeypatch.setattr("tui_trader.ui.screens.live_confirm.LiveConfirmApp.run", lambda self: False)
    assert run_tui(None, lambda: None, live=True, account_summary="") == 3  # type: ignore[arg-type]
    assert "not confirmed" in capsys.readouterr().out
