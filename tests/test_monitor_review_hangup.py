"""A headless run whose SSH session dropped: the terminal is gone (every write to it fails with
EIO) and SIGHUP arrives. The run stopped cleanly, but printing the summary on the dead terminal
raised: a traceback and exit 1, and the summary was lost. Now it exits 0 and the summary is in the
log file, with the figures the database holds, after a line naming the signal."""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_headless import FAST_CONFIG, REPO, _fills

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP and ptys are POSIX")


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_a_hang_up_with_the_terminal_gone_exits_0_and_logs_the_summary(tmp_path: Path, as_json: bool) -> None:
    db, log_file, err_file = tmp_path / "hup.db", tmp_path / "hup.log", tmp_path / "stderr.txt"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_CONFIG)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUI_TRADER_LOG_FILE": str(log_file)}
    args = ["--feed", "sim", "--speed", "max", "--db", str(db), "--config", str(cfg)] + (
        ["--json"] if as_json else []
    )
    master, slave = pty.openpty()
    with err_file.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui_trader", "run", "--headless", *args],
            cwd=str(tmp_path),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=err,
        )
    os.close(slave)
    try:
        deadline = time.monotonic() + 40
        while _fills(db) == 0:
            assert proc.poll() is None, err_file.read_text()[-2000:]
            assert time.monotonic() < deadline, "no fill in time"
            time.sleep(0.05)
        os.close(master)  # the SSH session dropped: the terminal is gone ...
        proc.send_signal(signal.SIGHUP)  # ... and the hang-up arrives
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = err_file.read_text()
    assert rc == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    log_text = log_file.read_text()
    # the log says what ended the run: the hang-up (it said nothing of a signal)
    assert (
        "tui_trader.headless: SIGHUP received (the session it was started from hung up): stopping" in log_text
    )
    lines = [ln for ln in log_text.splitlines() if "tui_trader.headless: run summary: " in ln]
    assert len(lines) == 1
    summary = json.loads(lines[0].split("run summary: ", 1)[1])
    assert summary["stopped_by"] == "signal"
    con = sqlite3.connect(str(db))
    try:
        assert summary["fills"] == con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] > 0
        assert summary["orders"] == con.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        (stored,) = con.execute("SELECT summary_json FROM sessions").fetchone()
    finally:
        con.close()
    assert json.loads(stored)["final_equity"] == summary["final_equity"]
