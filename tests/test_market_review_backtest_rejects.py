"""A backtest says the rows its data loses: `tui-trader backtest` configures no logging, and the
handler that listed the load's warnings (to say each once) kept them from Python's last-resort
stderr handler, so a backtest of corrupt data reported a clean run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

H1 = 3_600_000
JAN1_2025 = 1_735_689_600_000


def csv_rows(n: int, bad_at: int | None = None) -> str:
    out = []
    for i in range(n):
        t = JAN1_2025 + i * H1
        high, low = ("80", "90") if i == bad_at else ("110", "90")  # high below low
        out.append(f"{t},100,{high},{low},100,10,{t + H1 - 1},1000,7,5,500,0\n")
    return "".join(out)


def test_a_backtest_of_data_with_rejected_rows_says_so_on_stderr(tmp_path: Path) -> None:
    data = tmp_path / "k"
    data.mkdir()
    bad = data / "BTCUSDT-1h-2025-01.csv"
    bad.write_text(csv_rows(8, bad_at=3))
    (data / "ETHUSDT-1h-2025-01.csv").write_text(csv_rows(8))
    env = dict(os.environ, TUI_TRADER_CACHE_DIR="off")
    argv = ["backtest", "--data", str(data), "--interval", "1h", "--db", str(tmp_path / "b.db"), "--json"]
    r = subprocess.run(
        [sys.executable, "-m", "tui_trader", *argv], capture_output=True, text=True, timeout=120, env=env
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    said = [line for line in r.stderr.splitlines() if "market-data row" in line]
    assert len(said) == 1, r.stderr
    assert said[0].startswith("rejected 1 market-data row(s): high_below_low") and str(bad) in said[0]
