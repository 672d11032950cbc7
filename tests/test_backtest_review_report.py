"""The summary says when a max drawdown was never made good: its duration then runs to the end of
the run and is a lower bound ("≥ 292d 14h"), not a peak-to-recovery time."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from tui_trader.backtest import BacktestResult
from tui_trader.backtest.baselines import compute_baselines
from tui_trader.backtest.metrics import compute_metrics
from tui_trader.backtest.report import summary_table

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def _result(equity: list[float], closes: list[float]) -> BacktestResult:
    ts = T0 + np.arange(len(equity), dtype=np.int64) * H
    baselines, curves = compute_baselines(ts[1:], np.array(closes)[:, None], 10_000.0, 0.001, interval_ms=H)
    return BacktestResult(
        run_id="bt-review", config={}, symbols=["BTCUSDT"], interval="1h", start_ms=int(ts[0]),
        end_ms=int(ts[-1]), equity_ts=ts, equity=np.array(equity), fills=[], trades=[],
        metrics=compute_metrics(ts, np.array(equity), period_ms=H), baselines=baselines, per_symbol={},
        n_klines=len(closes), wall_time_s=0.1, baseline_curves=curves,
    )  # fmt: skip


def _rows(result: BacktestResult) -> tuple[dict[str, list[str]], str]:
    console = Console(record=True, width=200, color_system=None)
    console.print(summary_table(result))
    text = console.export_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4:
            rows[cells[0]] = cells[1:]
    return rows, text


def test_a_drawdown_open_at_the_end_is_a_lower_bound():
    # the strategy falls at hour 2 and never gets back; buy-and-hold falls and recovers at hour 3
    result = _result([10_000, 10_100, 9_900, 9_950, 10_000], [100.0, 90.0, 120.0, 121.0])
    assert result.metrics["max_drawdown_recovered"] is False
    assert result.baselines["buy_and_hold"]["max_drawdown_recovered"] is True
    rows, text = _rows(result)
    assert rows["Max DD duration"] == ["≥ 3h 0m", "3h 0m", "0s"]  # buy-and-hold: its entry fee to 121


def test_a_recovered_drawdown_has_no_mark():
    result = _result([10_000, 9_900, 10_200, 10_300, 10_400], [100.0, 101.0, 102.0, 103.0])
    assert result.metrics["max_drawdown_recovered"] is True
    rows, text = _rows(result)
    assert rows["Max DD duration"] == ["2h 0m", "2h 0m", "0s"]
    assert "≥" not in text


def test_a_run_without_trades_prints_no_empty_trades_table():
    from tui_trader.backtest.report import report_text

    text = report_text(_result([10_000, 10_000, 10_000], [100.0, 101.0]), width=100, charts=False)
    assert "Trades: no closed trades (0 open)" in text
    assert "Last 10 trades" not in text and "Entry (UTC)" not in text


def test_charts_count_days_from_the_runs_start_not_from_a_bucket_end():
    """A run of more samples than a chart draws is cut into buckets; the axis read 'days since
    2024-01-01 02:00' (the first bucket's end) for a run starting at 00:00."""
    from tui_trader.backtest.report import MAX_CHART_POINTS, drawdown_chart, equity_chart

    n = 3 * MAX_CHART_POINTS
    equity = (10_000 + 50 * np.sin(np.arange(n) / 40)).tolist()
    result = _result(equity, (100 + np.cos(np.arange(n - 1) / 50)).tolist())
    for chart in (equity_chart(result), drawdown_chart(result)):
        assert "days since 2024-01-01 00:00 UTC" in chart
