"""A backtest span that holds none of the data's klines says where the data is, as a sweep's does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tui_trader.backtest.runner import run_backtest
from tui_trader.config import Config
from tui_trader.market.replay import ReplayError, parse_time

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize(("start", "end"), [("2026-01-01", None), ("2020-01-01", "2020-02-01")])
def test_a_span_outside_the_data_names_the_datas_dates(klines_dir, start, end):
    with pytest.raises(ReplayError) as refused:
        asyncio.run(run_backtest(Config(), klines_dir, "1h", ["BTCUSDT", "ETHUSDT"], parse_time(start),
                                 parse_time(end) if end else None, store=False))  # fmt: skip
    assert str(refused.value).endswith(
        "check --start and --end against the data's dates (2024-01-01 00:00 to 2024-12-31 23:00 UTC)"
    )


def test_a_failed_run_leaves_no_out_folder_it_made(klines_dir, tmp_path):
    """--out is made before the run (so a bad path fails at once); a run that then fails left the
    new, empty folders behind. Folders that were there before stay."""
    import subprocess
    import sys

    def backtest(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tui_trader", "backtest", "--data", str(klines_dir), "--interval", "1h",
             "--start", "2030-01-01", "--db", str(tmp_path / "b.db"), "--out", str(out)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    r = backtest(tmp_path / "new" / "a" / "b")
    assert r.returncode == 2 and "no 1h klines to replay" in r.stderr
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("mine")
    assert backtest(tmp_path / "old" / "run").returncode == 2
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["notes.txt"]
