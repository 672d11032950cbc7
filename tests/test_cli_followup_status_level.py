"""``run --status-every T`` under ``monitoring.log_level = "warning"`` (or error) wrote no status line,
since it is logged at INFO, and nothing said so: a warning at the start says it now."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main


def _run(tmp_path: Path, level: str, every: str) -> list[str]:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[monitoring]\nlog_level = "{level}"\nlog_file = "off"\n')
    return [
        "run",
        "--feed",
        "sim",
        "--speed",
        "max",
        "--n-symbols",
        "3",
        "--duration",
        "1s",
        "--db",
        str(tmp_path / "run.db"),
        "--config",
        str(cfg),
        "--status-every",
        every,
        "--json",
    ]


@pytest.mark.parametrize("level", ["warn", "warning", "error"])
def test_status_lines_hidden_by_the_log_level_are_warned_of(tmp_path: Path, capsys, level: str) -> None:
    assert main(_run(tmp_path, level, "30s")) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"warning: --status-every 30s: status lines are logged at INFO, which monitoring.log_level = "
        f'"{level}" leaves out: none will be written (set log_level = "info" to see them)'
    )


@pytest.mark.parametrize(("level", "every"), [("info", "30s"), ("debug", "30s"), ("warning", "0")])
def test_no_warning_when_the_lines_are_written_or_turned_off(
    tmp_path: Path, capsys, level: str, every: str
) -> None:
    assert main(_run(tmp_path, level, every)) == 0
    assert "--status-every" not in capsys.readouterr().err
