"""A plain backtest honours feed.max_price_jump, as `run --feed replay` and a sweep's points do: it
loaded its klines with the default guard (100x), so a configured tighter one rejected nothing, and
the same configuration gave a backtest and a sweep point different klines."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tui_trader.backtest.runner import run_backtest, sweep_runner
from tui_trader.config import Config
from tui_trader.market.replay import parse_time

pytestmark = pytest.mark.shared_data

SYMS = ["BTCUSDT", "DOGEUSDT"]
START, END = parse_time("2024-03-01"), parse_time("2024-03-15")


def test_the_backtest_rejects_klines_past_the_configured_price_jump(klines_dir, caplog) -> None:
    cfg = Config.model_validate({"feed": {"max_price_jump": 1.01}})  # a close 1 % from the last is rejected
    with caplog.at_level(logging.WARNING, logger="tui_trader"):
        tight = asyncio.run(run_backtest(cfg, klines_dir, "1h", SYMS, START, END, store=False))
        loose = asyncio.run(run_backtest(Config(), klines_dir, "1h", SYMS, START, END, store=False))
    assert loose.n_klines == 14 * 24 * len(SYMS)
    assert tight.n_klines < loose.n_klines
    assert any("more than 1.01x away" in r.getMessage() for r in caplog.records)
    spec = {"path": str(klines_dir), "interval": "1h", "symbols": SYMS, "start_ms": START, "end_ms": END,
            "max_price_jump": 1.01}  # fmt: skip
    point = sweep_runner(cfg.model_dump(mode="json"), spec)  # a sweep's point of the same configuration
    assert point["end_equity"] == tight.metrics["end_equity"]
    assert point["n_samples"] == tight.metrics["n_samples"]
