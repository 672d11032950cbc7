"""A sweep's worker process loads its klines as the sweep's own check did: without the files of
``feed.universe.blacklist``. It loaded them all, so a blacklisted symbol's bad rows were warned
about from every worker (on its stderr, under the progress bar) for a symbol no point trades."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from tui_trader.backtest import runner
from tui_trader.backtest.runner import run_backtest, sweep_runner
from tui_trader.config import Config
from tui_trader.market.replay import parse_time

pytestmark = pytest.mark.shared_data

START = parse_time("2024-02-01")
END = parse_time("2024-03-01")


@pytest.fixture(scope="module")
def data(klines_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ETH and SOL (links to the shared data) and a BTC whose files each hold one bad row."""
    d = tmp_path_factory.mktemp("black")
    for s in ("ETHUSDT", "SOLUSDT", "BTCUSDT"):
        (d / s / "1h").mkdir(parents=True)
        for f in sorted((klines_dir / s / "1h").iterdir())[:3]:
            if s == "BTCUSDT":
                rows = json.loads(f.read_text())
                rows[5][2] = "1.0"  # high below low
                (d / s / "1h" / f.name).write_text(json.dumps(rows))
            else:
                (d / s / "1h" / f.name).symlink_to(f)
    return d


def cfg() -> Config:
    return Config.model_validate(
        {
            "feed": {"universe": {"blacklist": ["btcusdt "]}},
            "signal_generation": {
                "z_score_threshold": 1.0,
                "moving_average_period": 50,
                "confidence_threshold": 0.0,
            },
        }
    )


def test_a_sweep_worker_reads_no_blacklisted_file(data: Path, caplog, monkeypatch) -> None:
    monkeypatch.setattr(runner, "_DATA_CACHE", {})  # a fresh (spawned) worker process
    caplog.set_level(logging.INFO, logger="tui_trader")
    spec = {"path": str(data), "interval": "1h", "start_ms": START, "end_ms": END}
    out = sweep_runner(cfg().model_dump(mode="json"), spec)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in said if "BTCUSDT" in m], said
    assert not [m for m in out["warnings"] if "BTCUSDT" in m], out["warnings"]
    (key,) = runner._DATA_CACHE
    assert runner._DATA_CACHE[key].symbols == ["ETHUSDT", "SOLUSDT"]
    # and it measures what a plain backtest of the same span does
    plain = asyncio.run(run_backtest(cfg(), data, "1h", None, START, END, store=False))
    assert out["total_return"] == plain.metrics["total_return"]
    assert out["n_trades"] == plain.metrics["n_trades"]


def test_the_sweeps_own_load_is_reused_with_its_blacklist(data: Path, monkeypatch) -> None:
    from tui_trader.backtest.cli import _sweep_data

    monkeypatch.setattr(runner, "_DATA_CACHE", {})
    loaded = _sweep_data(str(data), "1h", None, START, END, 100.0, cfg().feed.universe.blacklist)
    got = runner._cached_data(str(data.resolve()), "1h", None, 100.0, cfg().feed.universe.blacklist)
    assert got is loaded  # not loaded a second time
    assert runner._cached_data(str(data.resolve()), "1h", None, 100.0, ()).symbols == [
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
    ]
