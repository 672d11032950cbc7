"""``nohup tui-trader run --headless ... &``: nohup ignores SIGHUP so that the run outlives the SSH
session. The runner handled SIGHUP anyway (its handler replaced the inherited "ignore"), so the
logout stopped the run nohup was meant to keep. A signal ignored when the run starts (SIGHUP under
nohup, SIGINT for a shell's background job) now stays ignored; SIGTERM always stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_headless import FAST_CONFIG, REPO, _fills

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")


def _ignore_hup_and_int() -> None:  # what nohup, and a background job's shell, do before exec
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for_more_fills(proc: subprocess.Popen, db: Path, than: int) -> int:
    deadline = time.monotonic() + 40
    while (n := _fills(db)) <= than:
        assert proc.poll() is None, f"the run stopped ({proc.returncode})"
        assert time.monotonic() < deadline, "no fill in time"
        time.sleep(0.05)
    return n


def test_a_hang_up_ignored_by_nohup_leaves_the_run_going(tmp_path: Path) -> None:
    db, log_file = tmp_path / "nohup.db", tmp_path / "nohup.log"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_CONFIG)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUI_TRADER_LOG_FILE": str(log_file)}
    args = ["--feed", "sim", "--speed", "max", "--db", str(db), "--config", str(cfg), "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trader", "run", "--headless", *args],
        cwd=str(tmp_path),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_hup_and_int,
    )
    try:
        n = _wait_for_more_fills(proc, db, 0)
        proc.send_signal(signal.SIGHUP)  # the SSH session ends
        proc.send_signal(signal.SIGINT)
        # the run goes on trading: more fills after both (a run stopped by them makes none)
        _wait_for_more_fills(proc, db, n + 5)
        proc.send_signal(signal.SIGTERM)  # SIGTERM still stops it cleanly
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["stopped_by"] == "signal"
    text = log_file.read_text()
    assert "SIGTERM received: stopping" in text
    assert "SIGHUP received" not in text and "SIGINT received" not in text
