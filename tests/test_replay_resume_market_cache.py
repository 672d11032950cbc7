"""A replay that resumes a book with a later window of the same data (`run` to feed.replay.end,
then `run` from feed.replay.start on the same --db): its market cache held no kline from before
its window, so its first periods scored every symbol's volatility term from nothing (0) where the
one replay had its last klines; the ratings, z-scores and trades then differed from the one
replay's. The cache now takes the klines before the window from the files, as it had them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tui_trader.cli import main

pytestmark = pytest.mark.shared_data

SPLIT = 1_709_251_200_000  # 2024-03-01 00:00 UTC
END = "2024-03-15"


def _run(tmp_path: Path, klines_dir: Path, db: Path, name: str, **replay: str) -> None:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text("[data_processing]\nrating_retention_days = 1000\n[feed.replay]\n"
                   + "".join(f'{k} = "{v}"\n' for k, v in replay.items()))  # fmt: skip
    assert main(["run", "--headless", "--config", str(cfg), "--feed", "replay", "--data", str(klines_dir),
                 "--interval", "1h", "--speed", "max", "--db", str(db), "--json"]) == 0


def _after_split(db: Path, periods: int) -> np.ndarray:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT ts_ms, symbol, performance_score, rating, z_score FROM glicko_ratings WHERE ts_ms > ? "
            "ORDER BY ts_ms, symbol", (SPLIT,),
        ).fetchall()  # fmt: skip
    times = sorted({r[0] for r in rows})[:periods]
    return np.array([r[2:] for r in rows if r[0] in times], dtype=float)


def test_a_replay_resumed_by_a_later_window_rates_on_as_the_one_replay(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    one, split = tmp_path / "one.db", tmp_path / "split.db"
    _run(tmp_path, klines_dir, one, "one", end=END)
    _run(tmp_path, klines_dir, split, "first", end="2024-03-01")
    _run(tmp_path, klines_dir, split, "then", start="2024-03-01", end=END)
    capsys.readouterr()
    a, b = _after_split(one, 48), _after_split(split, 48)
    assert a.shape == b.shape and a.shape[0] == 48 * 10
    # the scores (their volatility term from the last 20 klines before the window too), the
    # ratings and the z-scores of the first two days after the split are the one replay's
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-9)
