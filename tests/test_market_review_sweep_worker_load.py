"""A sweep's worker process loads its klines again: the sweep's own check of the data, before any
worker starts, has said the data's rejected rows once; each worker's load said them again on its
stderr, interleaved under the progress bar (N workers: N + 1 times the same lines)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tui_trader.backtest import runner
from tui_trader.backtest.runner import sweep_runner
from tui_trader.config import Config
from tui_trader.market.replay import parse_time

pytestmark = pytest.mark.shared_data

START = parse_time("2024-02-01")
END = parse_time("2024-03-01")


@pytest.fixture(scope="module")
def data(klines_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ETH (links to the shared data) and a BTC whose first file holds one bad row."""
    d = tmp_path_factory.mktemp("worker")
    for s in ("ETHUSDT", "BTCUSDT"):
        (d / s / "1h").mkdir(parents=True)
        for k, f in enumerate(sorted((klines_dir / s / "1h").iterdir())[:3]):
            if s == "BTCUSDT" and k == 0:
                rows = json.loads(f.read_text())
                rows[5][2] = "1.0"  # high below low
                (d / s / "1h" / f.name).write_text(json.dumps(rows))
            else:
                (d / s / "1h" / f.name).symlink_to(f)
    return d


def _point(data: Path, **extra: object) -> dict:
    cfg = Config.model_validate(
        {"signal_generation": {"z_score_threshold": 1.0, "moving_average_period": 50}}
    )
    spec = {"path": str(data), "interval": "1h", "start_ms": START, "end_ms": END, **extra}
    return sweep_runner(cfg.model_dump(mode="json"), spec)


@pytest.mark.parametrize("said", [False, True], ids=["not-said", "said"])
def test_a_worker_says_the_datas_rejected_rows_only_when_the_sweep_did_not(
    data: Path, said: bool, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(runner, "_DATA_CACHE", {})  # a fresh (spawned) worker process
    caplog.set_level(logging.WARNING, logger="tui_trader")
    out = _point(data, said=True) if said else _point(data)
    # (the gap the bad row leaves is said too, in a warning of its own)
    rejected = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rejected ")]
    if said:  # the sweep said them before its workers started: not again from each
        assert rejected == []
    else:  # a caller that did not load the data first still hears of them
        assert len(rejected) == 1 and "BTCUSDT" in rejected[0] and "high" in rejected[0]
    assert not [m for m in out["warnings"] if "rejected" in m]  # nor listed as a point's warning
    (key,) = runner._DATA_CACHE  # the worker's data is loaded, and kept for its next points
    assert runner._DATA_CACHE[key].rejected == 1
    assert out["n_trades"] >= 0 and "total_return" in out
