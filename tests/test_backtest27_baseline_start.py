"""The baselines start where the run starts. With a rating period of several klines and a --start
inside a period, buy-and-hold and cash began one whole period before the first replayed kline (at
the period's start, an hour before the data asked for): a longer span than the strategy's, so
every annualised figure, the exposure and the drawdown duration of the three columns of the report
were measured over different times."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tui_trader.backtest.baselines import compute_baselines
from tui_trader.backtest.runner import run_backtest
from tui_trader.config import Config
from tui_trader.market.replay import parse_time

H = 3_600_000

pytestmark = pytest.mark.shared_data


def test_the_baselines_start_at_the_runs_first_kline_inside_a_rating_period(klines_dir) -> None:
    cfg = Config.model_validate({"data_processing": {"rating_calculation_interval_ms": 4 * H}})
    start = parse_time("2024-06-01T01:00")  # one hour into a 4-hour rating period
    res = asyncio.run(
        run_backtest(cfg, klines_dir, "1h", ["BTCUSDT", "ETHUSDT"], start, start + 49 * H, store=False)
    )
    assert res.start_ms == start == res.metrics["start_ms"]
    for name in ("buy_and_hold", "cash"):
        m = res.baselines[name]
        assert m["start_ms"] == start, name
        assert m["span_ms"] == res.metrics["span_ms"] == 49 * H, name
        assert int(res.baseline_curves[name][0][0]) == start, name
    # bought at the first period end (04:00, 3 hours in), held to the end: exposed 46 of the 49 hours
    assert res.baselines["buy_and_hold"]["exposure"] == pytest.approx(46 / 49)


def test_compute_baselines_takes_the_start_of_the_run() -> None:
    ts = np.array([4, 8, 12]) * H
    close = np.array([[10.0], [11.0], [12.0]])
    metrics, curves = compute_baselines(ts, close, 100.0, 0.0, interval_ms=4 * H, start_ms=1 * H)
    assert curves["buy_and_hold"][0].tolist() == [1 * H, 4 * H, 8 * H, 12 * H]
    assert curves["cash"][0].tolist() == [1 * H, 4 * H, 8 * H, 12 * H]
    assert metrics["buy_and_hold"]["span_ms"] == 11 * H
    assert metrics["buy_and_hold"]["exposure"] == pytest.approx(8 / 11)
    with pytest.raises(ValueError, match="start_ms"):
        compute_baselines(ts, close, 100.0, 0.0, interval_ms=4 * H, start_ms=4 * H)
