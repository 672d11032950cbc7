"""Live trading has no unattended confirmation: ``run --live`` (headless: systemd, nohup, cron) is
refused before anything runs, and so is the console's ``--live`` without a terminal. Each says the
way a serious operator keeps a live session running after logging out (the console in tmux or
screen), which neither said; nothing is opened and no secret is echoed."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from tui_trader.cli import main

KEYS = {"BINANCE_API_KEY": "k3yVALUEnotshown", "BINANCE_API_SECRET": "s3cretVALUEnotshown"}
WAY = "to keep it running after you log out, start `tui-trader --live` in tmux or screen"


@pytest.fixture
def keys(quiet: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return quiet


def test_run_live_is_refused_naming_the_console_in_tmux(keys: Path, capsys) -> None:
    assert main(["run", "--headless", "--live", "--db", str(keys / "live.db")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: run --live is not supported headless: live trading needs the console's typed "
        f"confirmation ({WAY})"
    ]
    assert "VALUEnotshown" not in err and not (keys / "live.db").exists()


def test_the_console_without_a_terminal_names_it_too(keys: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("LIVE\r"))
    assert main(["--live", "--db", str(keys / "live.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --live: the confirmation is typed at a terminal") and err.rstrip().endswith(
        f"{WAY})"
    )
    assert "VALUEnotshown" not in err and not (keys / "live.db").exists()
