"""An SSH drop during a sweep: SIGHUP to the whole process group (the sweep, its workers and
multiprocessing's resource tracker). The tracker ignores SIGINT and SIGTERM but not SIGHUP: it
died, the pool relaunched it, and the new one printed a traceback for each of the pool's
semaphores it had never seen ("KeyError: '/mp-...'") after the sweep's own "interrupted"."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")


def test_a_hang_up_to_a_sweeps_process_group_stops_it_without_a_traceback(klines_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUI_TRADER_LOG_FILE": "off",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}  # fmt: skip
    argv = [sys.executable, "-m", "tui_trader", "backtest", "sweep", "--data", str(klines_dir), "--interval", "1h",
            "--processes", "2", "--no-charts", "--db", str(tmp_path / "sweep.db"),
            "--param", "signal_generation.z_score_threshold=1.5,2,2.5,3,3.5,4"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    err = b""
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        while b"process(es)" not in err:  # "sweep: 6 point(s) on 2 process(es)": the pool starts
            assert time.monotonic() < deadline and proc.poll() is None, err.decode(errors="replace")
            if sel.select(timeout=1):
                err += os.read(proc.stderr.fileno(), 4096)
        time.sleep(1.0)  # its workers and the tracker are up, no point is done (each takes seconds)
        os.killpg(proc.pid, signal.SIGHUP)
        _, rest = proc.communicate(timeout=60)
        err += rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = err.decode(errors="replace")
    assert proc.returncode == 130, text
    assert text.rstrip().endswith("interrupted"), text
    assert "Traceback" not in text and "resource_tracker" not in text, text
