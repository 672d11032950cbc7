"""The backtest report renders the figures it is given, its JSON keys are stable and the
output files hold the run."""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal

import numpy as np
import pytest
from rich.console import Console

from tui_trader.backtest import BacktestResult
from tui_trader.backtest.baselines import compute_baselines
from tui_trader.backtest.metrics import (
    METRIC_KEYS,
    PER_SYMBOL_KEYS,
    compute_metrics,
    json_safe,
    per_symbol_breakdown,
    trades_from_fills,
)
from tui_trader.backtest.report import (
    REPORT_KEYS,
    drawdown_chart,
    equity_chart,
    fmt_duration,
    fmt_num,
    fmt_pct,
    fmt_time,
    render_report,
    report_json,
    report_text,
    summary_table,
    write_outputs,
)
from tui_trader.config import Config
from tui_trader.models import Fill, Side

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
D = Decimal


def _fill(sym: str, side: Side, price: str, qty: str, hour: int) -> Fill:
    p, q = D(price), D(qty)
    return Fill(
        f"o{hour}{sym}",
        sym,
        side,
        p,
        q,
        (p * q * D("0.001")).quantize(D("0.00000001")),
        "USDT",
        T0 + hour * H,
    )


def make_result(n_hours: int = 72) -> BacktestResult:
    ts = T0 + np.arange(n_hours, dtype=np.int64) * H
    rng = np.random.default_rng(7)
    close = np.column_stack([
        40_000 * np.exp(np.cumsum(rng.normal(0, 0.01, n_hours))),
        2_000 * np.exp(np.cumsum(rng.normal(0, 0.01, n_hours))),
    ])  # fmt: skip
    fills = [
        _fill("BTCUSDT", Side.BUY, "40000", "0.01", 2),
        _fill("BTCUSDT", Side.SELL, "41000", "0.01", 10),
        _fill("ETHUSDT", Side.BUY, "2000", "0.2", 5),
        _fill("ETHUSDT", Side.SELL, "1900", "0.2", 20),
        _fill("BTCUSDT", Side.BUY, "40500", "0.01", 30),
    ]
    trades = trades_from_fills(fills, marks={"BTCUSDT": (int(ts[-1]), D("40800"))})
    equity = 10_000 + np.cumsum(rng.normal(0, 5, n_hours))
    counts = np.zeros(n_hours, dtype=np.int64)
    counts[2:10] += 1
    counts[5:20] += 1
    counts[30:] += 1
    metrics = compute_metrics(ts, equity, trades, fills=fills, position_counts=counts)
    baselines, curves = compute_baselines(ts, close, 10_000.0, 0.001)
    return BacktestResult(
        run_id="bt-test-1",
        config=Config().model_dump(mode="json"),
        symbols=["BTCUSDT", "ETHUSDT"],
        interval="1h",
        start_ms=int(ts[0]),
        end_ms=int(ts[-1]),
        equity_ts=ts,
        equity=equity,
        fills=fills,
        trades=trades,
        metrics=metrics,
        baselines=baselines,
        per_symbol=per_symbol_breakdown(trades, fills),
        n_klines=2 * n_hours,
        wall_time_s=0.5,
        baseline_curves=curves,
        position_counts=counts,
        state_changes=[(T0 + 40 * H, "running", "reducing", "daily loss 10.2 % >= 10 %")],
        final_state="reducing",
    )


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    return make_result()


def test_render_report_contains_the_key_figures(result):
    console = Console(record=True, width=120)
    render_report(result, console)
    text = console.export_text()
    m, bh = result.metrics, result.baselines["buy_and_hold"]
    for needle in (
        "bt-test-1",
        "Strategy",
        "Buy & hold",
        "Cash",
        "Sharpe",
        "Max drawdown",
        fmt_pct(m["total_return"]),
        fmt_pct(bh["total_return"]),
        fmt_pct(m["max_drawdown"]),
        f"{m['sharpe']:,.2f}",
        "BTCUSDT",
        "ETHUSDT",
        "2 closed trades (1 open)",
        "Equity",
        "Drawdown",
        "2024-01-01",
        "final engine state: reducing",
        "2024-01-02 16:00 running -> reducing: daily loss 10.2 % >= 10 %",
    ):
        assert needle in text, needle
    assert "\x1b[" not in text  # no colour codes on a non-terminal


def test_per_symbol_rows_show_their_pnl(result):
    console = Console(record=True, width=120)
    render_report(result, console, charts=False)
    text = console.export_text()
    eth_pnl = result.per_symbol["ETHUSDT"]["pnl"]
    assert eth_pnl == pytest.approx(380 - 400 - 0.38 - 0.4)
    assert f"{eth_pnl:,.2f}" in text
    assert "Drawdown" not in text  # charts off


def test_charts_have_fixed_size_and_both_series(result):
    eq = equity_chart(result, color=False, width=100, height=20)
    lines = eq.splitlines()
    assert len(lines) == 20
    assert max(len(line) for line in lines) <= 100
    assert "strategy" in eq and "buy & hold" in eq
    dd = drawdown_chart(result, color=False)
    assert "Drawdown" in dd and "\x1b[" not in dd
    assert "\x1b[" in equity_chart(result, color=True)
    # round axis labels, each a round multiple of one step (plotext's own: 9950.7, 3.4 days ...)
    for chart in (eq, dd):
        y = [float(m.replace(",", "")) for m in re.findall(r"^ *(-?[\d,]+(?:\.\d+)?)[┤├]", chart, re.M)]
        assert len(y) >= 2, chart
        steps = np.diff(sorted(y))
        assert np.allclose(steps, steps[0]) and steps[0] / 10 ** np.floor(np.log10(steps[0])) in (1, 2, 2.5, 5)
        x_line = chart.splitlines()[-2].split()
        x = [float(v) for v in x_line]
        assert len(x) >= 2 and all(np.isclose(v / (x[1] - x[0]), round(v / (x[1] - x[0]))) for v in x), x_line


def test_report_json_keys_are_stable_and_serialisable(result):
    j = report_json(result)
    assert set(j) == set(REPORT_KEYS) == {
        "run_id", "symbols", "interval", "start_ms", "end_ms", "n_klines", "n_fills", "wall_time_s",
        "klines_per_s", "quote_asset", "starting_balance", "metrics", "baselines", "per_symbol",
        "final_state", "state_changes", "config",
    }  # fmt: skip
    assert set(j["metrics"]) == set(METRIC_KEYS)
    assert set(j["baselines"]) == {"buy_and_hold", "cash"}
    assert all(set(v) == set(METRIC_KEYS) for v in j["baselines"].values())
    assert all(set(v) == set(PER_SYMBOL_KEYS) for v in j["per_symbol"].values())
    assert j["n_fills"] == 5 and j["klines_per_s"] == pytest.approx(288.0)
    assert j["state_changes"] == [
        {"ts_ms": T0 + 40 * H, "old": "running", "new": "reducing", "reason": "daily loss 10.2 % >= 10 %"}
    ]
    back = json.loads(json.dumps(j, allow_nan=False))
    assert back["metrics"]["total_return"] == pytest.approx(result.metrics["total_return"])


# Issue #6's figures, each with its summary row's label and format (written out here, not taken
# from the report module, so that a row dropped or fed the wrong key fails)
ISSUE_FIGURES = (
    ("Total return", "total_return", fmt_pct),
    ("Annualised return", "annualised_return", fmt_pct),
    ("Volatility (ann.)", "volatility", fmt_pct),
    ("Sharpe", "sharpe", fmt_num),
    ("Sortino", "sortino", fmt_num),
    ("Max drawdown", "max_drawdown", fmt_pct),
    ("Max DD duration", "max_drawdown_duration_ms", fmt_duration),  # "≥ " before it when not recovered
    ("Trades", "n_trades", str),
    ("Win rate", "win_rate", fmt_pct),
    ("Avg win (USDT)", "avg_win", fmt_num),
    ("Avg loss (USDT)", "avg_loss", fmt_num),
    ("Profit factor", "profit_factor", fmt_num),
    ("Exposure", "exposure", fmt_pct),
    ("Turnover", "turnover", lambda v: f"{v:,.2f}x"),
    ("Fees paid (USDT)", "fees_paid", fmt_num),
)


def test_every_figure_of_the_issue_is_in_the_summary_for_the_strategy_and_each_baseline(result):
    console = Console(record=True, width=200)
    console.print(summary_table(result))
    rows = {}
    for line in console.export_text().splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4:
            rows[cells[0]] = cells[1:]
    for label, key, fmt in ISSUE_FIGURES:
        every = (result.metrics, result.baselines["buy_and_hold"], result.baselines["cash"])
        want = [fmt(m[key]) for m in every]
        if key == "max_drawdown_duration_ms":
            want = [("" if m["max_drawdown_recovered"] else "≥ ") + w for w, m in zip(want, every, strict=True)]
        if key == "n_trades":  # with the trades still open at the end beside the closed ones
            want = [w + (f" ({m['open_trades']} open)" if m["open_trades"] else "") for w, m in zip(want, every, strict=True)]
        assert rows.get(label) == want, label


def test_report_json_holds_the_run_figures_and_each_baselines_own(result):
    j = report_json(result)
    assert j["metrics"] == json_safe(result.metrics)
    assert j["baselines"] == json_safe(result.baselines)
    assert j["baselines"]["buy_and_hold"] != j["baselines"]["cash"] != j["metrics"]
    assert j["per_symbol"] == json_safe(result.per_symbol) and set(j["per_symbol"]) == {"BTCUSDT", "ETHUSDT"}


def test_infinite_profit_factor_is_null_in_json(result):
    import dataclasses

    m = dict(result.metrics, profit_factor=float("inf"))
    j = report_json(dataclasses.replace(result, metrics=m))
    assert j["metrics"]["profit_factor"] is None
    assert "∞" in report_text(dataclasses.replace(result, metrics=m), charts=False)


def test_write_outputs(tmp_path, result):
    paths = write_outputs(result, tmp_path / "out")
    assert set(paths) == {"trades.csv", "equity.csv", "report.txt", "report.json"}
    with paths["trades.csv"].open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(result.trades) == 3
    eth = next(r for r in rows if r["symbol"] == "ETHUSDT")
    assert D(eth["pnl"]) == D("-20.78")  # 380 - 400 - 0.38 - 0.4, exact
    assert eth["entry_time"] == "2024-01-01T05:00:00.000Z" and eth["closed"] == "1"
    assert [r["closed"] for r in rows].count("0") == 1
    with paths["equity.csv"].open() as fh:
        eq_rows = list(csv.DictReader(fh))
    assert len(eq_rows) == len(result.equity)
    assert float(eq_rows[-1]["equity"]) == result.equity[-1]
    dd = [float(r["drawdown"]) for r in eq_rows]  # a fraction of the running peak, 10 decimals
    peak = np.maximum.accumulate(np.asarray(result.equity, dtype=float))
    np.testing.assert_allclose(dd, 1.0 - np.asarray(result.equity) / peak, rtol=0, atol=1e-10)
    assert max(dd) > 0.0
    assert int(eq_rows[3]["positions"]) == 1
    assert "Summary" in paths["report.txt"].read_text()
    assert json.loads(paths["report.json"].read_text())["run_id"] == "bt-test-1"
    with pytest.raises(ValueError, match="not a folder"):
        write_outputs(result, paths["report.txt"])


def test_a_short_run_says_its_annualised_figures_are_extrapolations(result):
    short = summary_table(result)  # 72 hours
    assert short.caption is not None and "spans 2d 23h" in str(short.caption) and "annualised" in str(short.caption)
    long_run = make_result(n_hours=31 * 24)
    assert summary_table(long_run).caption is None


def test_duration_format():
    assert fmt_duration(2 * 86_400_000 + 3 * H) == "2d 3h"
    assert fmt_duration(5 * H + 12 * 60_000) == "5h 12m"
    assert fmt_duration(45 * 60_000) == "45m"
    assert fmt_duration(30_000) == "30s" and fmt_duration(0) == "0s"
    assert fmt_duration(59_600) == "1m"  # rounded to the second, not cut
    assert fmt_duration(None) == "–"


def test_percent_and_number_formats():
    assert fmt_pct(0.1234) == "12.34 %" and fmt_pct(-0.5, 1) == "-50.0 %" and fmt_pct(12.5) == "1,250.00 %"
    assert (fmt_pct(float("inf")), fmt_pct(float("-inf")), fmt_pct(None)) == ("∞ %", "-∞ %", "–")
    assert fmt_num(1234.5) == "1,234.50" and fmt_num(-0.126, 1) == "-0.1"
    assert (fmt_num(float("inf")), fmt_num(float("-inf")), fmt_num(None)) == ("∞", "-∞", "–")


def test_report_fits_an_80_column_terminal_without_cutting_a_cell(result):
    """At 80 columns the per-symbol and trades tables drop their rules and the trades' years
    (the header gives the period) rather than cutting symbols, times and amounts to '…'."""
    narrow = report_text(result, width=80, charts=False)
    assert "…" not in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 80
    open_trade = next(t for t in result.trades if not t.closed)
    rows = [line.split() for line in narrow.splitlines() if line.startswith(open_trade.symbol + " ")]
    assert [r[3] for r in rows if len(r) > 3 and r[3] == "open"] == ["open"]  # its exit: open, not a time
    for sym, r in result.per_symbol.items():
        assert any(line.startswith(sym) and fmt_num(r["pnl"]) in line for line in narrow.splitlines()), sym
    wide = report_text(result, width=160, charts=False)
    assert f"{open_trade.symbol} (open)" in wide and "┏" in wide.split("Per symbol")[1]
    assert fmt_time(open_trade.entry_ms) in wide and fmt_time(open_trade.entry_ms) not in narrow
