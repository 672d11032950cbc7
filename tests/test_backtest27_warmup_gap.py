"""A --start just after a gap in the data: the warm-up is the klines before the start, reaching back
past the gap, as a replay from the data's first kline would see them. It was cut to the klines in
the fixed span of warm-up time before the start (3 of 51 here) and warned that "the data begins"
after the gap, two weeks after it did; a walk-forward window after a gap warned the same."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from tui_trader.backtest.runner import run_backtest
from tui_trader.config import Config
from tui_trader.market.replay import load_klines, parse_time

H = 3_600_000
SYMS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
GAP_FROM, GAP_TO = 300, 348  # hours of March 2024 missing for every symbol: 03-13 12:00 to 03-15 12:00

pytestmark = pytest.mark.shared_data


@pytest.fixture
def gap_dir(klines_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "gap"
    for s in SYMS:
        rows = json.loads((klines_dir / s / "1h" / "2024-03-01.json").read_text())
        (out / s / "1h").mkdir(parents=True)
        kept = rows[:GAP_FROM] + rows[GAP_TO:]
        (out / s / "1h" / "2024-03-01.json").write_text(json.dumps(kept))
    return out


def _cfg() -> Config:
    return Config.model_validate({"signal_generation": {"moving_average_period": 50}})  # 51 klines of warm-up


@pytest.mark.parametrize("preloaded", [False, True], ids=["loaded by the run", "a sweep's data"])
def test_the_warm_up_reaches_back_past_a_gap(
    gap_dir: Path, preloaded: bool, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    import tui_trader.runtime as runtime

    seen: list[int] = []
    build = runtime.build_engine

    def spy(*args, **kwargs):
        seen.append(kwargs["warmup_klines"])
        return build(*args, **kwargs)

    monkeypatch.setattr(runtime, "build_engine", spy)
    start = parse_time("2024-03-15T12:00")  # the first kline after the gap
    data = load_klines(gap_dir, "1h", list(SYMS)) if preloaded else None
    with caplog.at_level(logging.WARNING, logger="tui_trader"):
        res = asyncio.run(
            run_backtest(_cfg(), gap_dir, "1h", list(SYMS), start, start + 24 * H, store=False, data=data)
        )
    assert seen == [51]
    assert not [r.getMessage() for r in caplog.records if "warm-up" in r.getMessage()]
    assert res.start_ms == start and res.n_klines == 24 * len(SYMS)
