"""The ``run summary:`` line is the run's result in the log file (read the morning after an SSH
drop, when no terminal is left to print it on). It was logged at INFO, so under
``monitoring.log_level = "warning"`` (or ``error``) the log file never got it. It is now always
written to the log file, whatever the level; stdout (the table or ``--json``) and stderr are as
before, and the level still keeps the other INFO lines out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_trader.cli import main


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str) -> tuple[Path, list[str]]:
    log_file = tmp_path / "run.log"
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", str(log_file))
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[monitoring]\nlog_level = "{level}"\n')
    args = ["run", "--feed", "sim", "--speed", "max", "--n-symbols", "3", "--duration", "1s",
            "--status-every", "0", "--db", str(tmp_path / "run.db"), "--config", str(cfg), "--json"]  # fmt: skip
    return log_file, args


@pytest.mark.parametrize("level", ["warning", "error", "info"])
def test_the_run_summary_reaches_the_log_file_whatever_the_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, level: str
) -> None:
    log_file, args = _run(tmp_path, monkeypatch, level)
    assert main(args) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)  # stdout: the --json object, alone, as before
    lines = log_file.read_text().splitlines()
    summary = [ln for ln in lines if "tui_trader.headless: run summary: " in ln]
    assert len(summary) == 1, lines
    assert json.loads(summary[0].split("run summary: ", 1)[1]) == printed
    assert "run summary" not in err  # the log file's line only, not again on stderr
    if level != "info":  # the level still keeps the other INFO lines out of the file
        assert not [ln for ln in lines if " INFO " in ln and "run summary: " not in ln], lines
