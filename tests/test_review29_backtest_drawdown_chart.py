"""The drawdown chart of a long run shows buy-and-hold's deepest fall, as it shows the strategy's."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trader.backtest import BacktestResult, report
from tui_trader.backtest.metrics import drawdown_series

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def _result(n: int) -> BacktestResult:
    ts = T0 + np.arange(n, dtype=np.int64) * H
    flat = np.full(n, 10_000.0)
    bh = flat.copy()
    strat = flat.copy()
    # one sample deep in each curve, in the middle of a chart bucket (not at its end), back up after
    bh[n // 2 + 1] = 7_000.0  # a 30 % fall
    strat[n // 3 + 1] = 9_000.0  # a 10 % fall
    return BacktestResult(
        run_id="bt-review29", config={}, symbols=["BTCUSDT"], interval="1h", start_ms=int(ts[0]),
        end_ms=int(ts[-1]), equity_ts=ts, equity=strat, fills=[], trades=[], metrics={}, baselines={},
        per_symbol={}, n_klines=n, wall_time_s=0.1, baseline_curves={"buy_and_hold": (ts, bh)},
    )  # fmt: skip


def test_a_long_runs_drawdown_chart_reaches_buy_and_holds_deepest_fall(monkeypatch):
    n = 4 * report.MAX_CHART_POINTS + 2  # bucketed: about four samples a point
    result = _result(n)
    seen: list[tuple[str, np.ndarray]] = []

    def capture(series, *_a, **_k):
        seen.extend((label, np.asarray(y)) for label, _ts, y, _c in series)
        return ""

    monkeypatch.setattr(report, "_plot", capture)
    report.drawdown_chart(result)
    plotted = dict(seen)
    assert len(plotted["buy & hold"]) <= report.MAX_CHART_POINTS
    # each series plots its worst drawdown: buy-and-hold's -30 % was lost when its buckets kept
    # their last sample (the strategy's kept their worst)
    bh_dd = drawdown_series(result.baseline_curves["buy_and_hold"][1]).max() * 100
    st_dd = drawdown_series(result.equity).max() * 100
    assert plotted["strategy"].min() == pytest.approx(-st_dd)
    assert plotted["buy & hold"].min() == pytest.approx(-bh_dd)
