"""A backtest's figures against their definitions on the real 15m data, where the rating period
(4h) spans several klines: exposure is the share of the span with a position open, by the
trades' own times, not by the position counts sampled at period ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tui_trader.backtest import BacktestResult
from tui_trader.backtest.runner import run_backtest
from tui_trader.config import Config

pytestmark = pytest.mark.shared_data

PERIOD = 4 * 3_600_000


@pytest.fixture(scope="module")
def result(klines_dir: Path) -> BacktestResult:
    cfg = Config.model_validate({"data_processing": {"rating_calculation_interval_ms": PERIOD}})
    return asyncio.run(run_backtest(cfg, klines_dir, "15m", store=False, run_id="bt-review"))


def _union_ms(intervals: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def test_exposure_is_time_with_a_position_open(result):
    m = result.metrics
    assert m["period_ms"] == PERIOD
    # trades shorter than a period: the case period-end samples cannot see
    assert any(t.exit_ms - t.entry_ms < PERIOD for t in result.trades)
    held = _union_ms([(max(t.entry_ms, m["start_ms"]), min(t.exit_ms, m["end_ms"])) for t in result.trades])
    assert m["exposure"] == pytest.approx(held / m["span_ms"], rel=1e-12)
    assert 0 < m["exposure"] < 1
