"""benchmarks/ui.py writes its counts as whole numbers (its timings stay floats)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ui_benchmark_counts_are_whole_numbers() -> None:
    # the JSON said "symbols": 10.0, "ticks": 5.0, "klines": 3010.0
    env = {**os.environ, "TUI_TRADER_LOG_FILE": "off"}
    args = [
        sys.executable,
        str(REPO / "benchmarks" / "ui.py"),
        "--seconds",
        "0.3",
        "--symbols",
        "10",
        "--presses",
        "1",
    ]
    r = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    for key in ("symbols", "ticks", "klines"):
        assert type(out[key]) is int, (key, out[key])
    assert out["symbols"] == 10 and out["klines"] > 0
    assert isinstance(out["key_to_effect_p99_ms"], float) and isinstance(out["first_frame_s"], float)
