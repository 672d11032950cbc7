"""A headless run started with its stdout closed (``>&-``, as some service wrappers start
programs): Python then has no ``sys.stdout``, and after the whole run its final flush raised
AttributeError, a traceback and exit 1. The summary is in the log file; the exit is 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_headless import FAST_CONFIG, REPO


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_a_run_with_stdout_closed_exits_0_and_logs_its_summary(tmp_path: Path, as_json: bool) -> None:
    log_file = tmp_path / "run.log"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_CONFIG)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUI_TRADER_LOG_FILE": str(log_file)}
    args = ["--feed", "sim", "--speed", "max", "--n-symbols", "5", "--duration", "1s", "--status-every", "0"]
    args += ["--db", str(tmp_path / "run.db"), "--config", str(cfg)] + (["--json"] if as_json else [])
    r = subprocess.run(
        [sys.executable, "-m", "tui_trader", "run", "--headless", *args],
        cwd=str(tmp_path),
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),  # stdout closed, as `>&-` does it
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = [ln for ln in log_file.read_text().splitlines() if "run summary: " in ln]
    assert (
        len(lines) == 1
        and json.loads(lines[0].split("run summary: ", 1)[1])["stopped_by"] == "duration reached"
    )
