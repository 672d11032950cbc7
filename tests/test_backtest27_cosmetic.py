"""The report's words match its numbers: '1 symbol', not '1 symbols'; buy-and-hold's positions
are open trades (it said 0 open next to an exposure of 99.99 %)."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from tui_trader.backtest import BacktestResult
from tui_trader.backtest.baselines import compute_baselines
from tui_trader.backtest.metrics import compute_metrics, trades_from_fills
from tui_trader.backtest.report import header, plural, report_text, summary_table
from tui_trader.models import Fill, Side

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def _result(closes: np.ndarray, symbols: list[str], fills: list[Fill] | None = None) -> BacktestResult:
    from decimal import Decimal

    n = closes.shape[0] + 1
    ts = T0 + np.arange(n, dtype=np.int64) * H
    equity = np.full(n, 10_000.0)
    fills = fills or []
    marks = {f.symbol: (int(ts[-1]), Decimal("100")) for f in fills}
    trades = trades_from_fills(fills, marks=marks)
    baselines, curves = compute_baselines(ts[1:], closes, 10_000.0, 0.001, interval_ms=H)
    return BacktestResult(
        run_id="bt-cosmetic", config={}, symbols=symbols, interval="1h", start_ms=int(ts[0]),
        end_ms=int(ts[-1]), equity_ts=ts, equity=equity, fills=fills, trades=trades,
        metrics=compute_metrics(ts, equity, trades, fills=fills, period_ms=H), baselines=baselines,
        per_symbol={}, n_klines=closes.size, wall_time_s=0.1, baseline_curves=curves,
    )  # fmt: skip


def _text(renderable) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(renderable)
    return console.export_text()


def _trades_row(result: BacktestResult) -> list[str]:
    for line in _text(summary_table(result)).splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0] == "Trades":
            return cells[1:]
    raise AssertionError("no Trades row")


def test_plural():
    assert [plural(n, "symbol") for n in (0, 1, 2, 1000)] == [
        "0 symbols",
        "1 symbol",
        "2 symbols",
        "1,000 symbols",
    ]


def test_the_header_counts_one_symbol_in_the_singular():
    one = _result(np.array([[100.0], [101.0]]), ["BTCUSDT"])
    assert "1 symbol: BTCUSDT" in _text(header(one)) and "1 symbols" not in _text(header(one))
    two = _result(np.array([[100.0, 5.0], [101.0, 6.0]]), ["BTCUSDT", "ETHUSDT"])
    assert "2 symbols: BTCUSDT, ETHUSDT" in _text(header(two))


def test_buy_and_hold_counts_each_symbol_bought_as_an_open_trade():
    # three symbols, one without a single close in the span: it could not be bought
    closes = np.array([[100.0, np.nan, np.nan], [101.0, 5.0, np.nan], [102.0, 6.0, np.nan]])
    result = _result(closes, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    bh, cash = result.baselines["buy_and_hold"], result.baselines["cash"]
    assert bh["open_trades"] == 2 and bh["n_trades"] == 0 and bh["exposure"] > 0.5
    assert cash["open_trades"] == 0
    # the summary shows them beside the closed trades; cash holds nothing
    assert _trades_row(result) == ["0", "0 (2 open)", "0"]


def test_the_strategys_open_trades_show_beside_its_closed_ones():
    from decimal import Decimal

    def fill(side: Side, hour: int) -> Fill:
        return Fill(
            f"o{hour}", "BTCUSDT", side, Decimal("100"), Decimal("1"), Decimal("0.1"), "USDT", T0 + hour * H
        )

    fills = [fill(Side.BUY, 1), fill(Side.SELL, 2), fill(Side.BUY, 3)]
    result = _result(np.array([[100.0]] * 4), ["BTCUSDT"], fills)
    assert (result.metrics["n_trades"], result.metrics["open_trades"]) == (1, 1)
    assert _trades_row(result) == ["1 (1 open)", "0 (1 open)", "0"]
    assert "Trades: 1 closed trade (1 open)" in report_text(result, width=120, charts=False)


def test_the_consoles_report_screen_counts_one_symbol_in_the_singular_too():
    from tui_trader.ui.screens.report import _symbols_text

    assert _symbols_text(["BTCUSDT"]) == "1 symbol: BTCUSDT"
    assert _symbols_text(["BTCUSDT", "ETHUSDT"]) == "2 symbols: BTCUSDT, ETHUSDT"
