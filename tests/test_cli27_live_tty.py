"""``tui-trader --live`` takes its confirmation typed at a terminal: with stdin not a terminal
(a pipe, /dev/null, a cron job) it is refused at once, exit 2. ``printf 'LIVE\\r' | tui-trader
--live`` confirmed the warning from the pipe and started live trading; with /dev/null the console
drew the warning and waited for ever."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.ui.launch import main_tui as REAL_MAIN_TUI  # the real one: quiet stubs the module's

KEYS = {"BINANCE_API_KEY": "k3yVALUEnotshown", "BINANCE_API_SECRET": "s3cretVALUEnotshown"}
NOT_A_TERMINAL = (
    "error: --live: the confirmation is typed at a terminal, and stdin is not one "
    "(live trading is never confirmed from a pipe or a script; to keep it running after you log out, "
    "start `tui-trader --live` in tmux or screen)"
)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def keys(quiet: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return quiet


@pytest.mark.parametrize("stdin", [io.StringIO("LIVE\r"), None])
def test_live_without_a_terminal_is_refused(stdin, keys: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["--live", "--db", str(keys / "live.db")]) == 2  # the console (quiet's stub) never opens
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [NOT_A_TERMINAL] and captured.out == ""
    assert not (keys / "live.db").exists()


def test_live_at_a_terminal_goes_on_to_the_confirmation(keys: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal())
    opened = []
    monkeypatch.setattr("tui_trader.ui.launch.main_tui", lambda args, cfg: opened.append(args.live) or 0)
    assert main(["--live", "--db", str(keys / "live.db")]) == 0
    assert opened == [True]


def test_the_paper_console_without_a_terminal_is_refused_too(keys: Path, monkeypatch, capsys) -> None:
    """Not for a confirmation: at the end of a pipe or /dev/null, Textual's input thread spun on
    the end of file (a core at ~80 %, no key to quit with). The console and the report viewer say
    where to run instead, after every other check of theirs."""
    import tui_trader.ui.app
    import tui_trader.ui.screens.report

    async def runs_found(path, run_id):
        return None, []

    monkeypatch.setattr("tui_trader.ui.launch.main_tui", REAL_MAIN_TUI)  # (quiet's stub refuses any)
    opened = []
    monkeypatch.setattr(tui_trader.ui.app, "run_tui", lambda *a, **k: opened.append("console") or 0)
    monkeypatch.setattr(tui_trader.ui.screens.report, "check_report_target", runs_found)
    monkeypatch.setattr(tui_trader.ui.screens.report, "BacktestReportApp", lambda *a, **k: opened.append("report"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    for argv in (["--db", str(keys / "paper.db")], ["--report", "--db", str(keys / "paper.db")]):
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("error: the console reads its keys at a terminal, and stdin is not one"), line
        assert "tui-trader run --headless" in line
    assert opened == []
    monkeypatch.setattr(sys, "stdin", _Terminal())
    assert main(["--db", str(keys / "paper.db")]) == 0 and opened == ["console"]  # at a terminal it opens


def test_a_piped_confirmation_starts_nothing(tmp_path: Path) -> None:
    env = {
        **os.environ,
        **KEYS,
        "TUI_TRADER_LOG_FILE": "off",
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_DATA_HOME": str(tmp_path / "d"),
    }
    r = subprocess.run(
        [sys.executable, "-m", "tui_trader", "--live", "--db", str(tmp_path / "live.db")],
        input="LIVE\r",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2 and r.stderr.splitlines() == [NOT_A_TERMINAL], r.stderr
    assert r.stdout == "" and "VALUEnotshown" not in r.stderr
    assert not (tmp_path / "live.db").exists()


def test_the_help_says_where_the_confirmation_is_typed(capsys) -> None:
    assert main(["tui", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "--live trade for real on Binance, on its live feed (needs BINANCE_API_KEY / BINANCE_API_SECRET in the "
        "environment, and LIVE typed at a terminal: not typed, exit 3 and nothing traded)" in text
    )
