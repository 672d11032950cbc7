"""Backtest metrics checked against their definitions on small hand-computed series."""

from __future__ import annotations

import json
import math
import statistics
from decimal import Decimal

import numpy as np
import pytest

from tui_trader.backtest.metrics import (
    METRIC_KEYS,
    PER_SYMBOL_KEYS,
    YEAR_MS,
    Trade,
    annualised_return,
    compute_metrics,
    drawdown_series,
    exposure_from_counts,
    exposure_from_trades,
    infer_period_ms,
    json_safe,
    max_drawdown,
    per_symbol_breakdown,
    trades_from_fills,
)
from tui_trader.clock import MS_PER_DAY
from tui_trader.models import Fill, Side

D = Decimal


def days(*xs: float) -> np.ndarray:
    return (np.asarray(xs, dtype=np.float64) * MS_PER_DAY).astype(np.int64)


def fill(sym: str, side: Side, price: str, qty: str, fee: str, ts: int) -> Fill:
    return Fill(f"c{ts}{sym}{side}", sym, side, D(price), D(qty), D(fee), "USDT", ts)


def trade(pnl: str, sym: str = "BTCUSDT", entry: int = 0, exit_: int = 10, fees: str = "0") -> Trade:
    return Trade(sym, entry, exit_, D(100), D(100) + D(pnl), D(1), D(pnl), D(fees))


# ---------------------------------------------------------------------------
# Equity curve
# ---------------------------------------------------------------------------


def test_total_return_and_max_drawdown_with_recovery():
    ts = days(0, 1, 2, 3)
    m = compute_metrics(ts, np.array([100.0, 110.0, 99.0, 120.0]))
    assert m["total_return"] == pytest.approx(0.20)
    assert m["pnl"] == pytest.approx(20.0)
    assert m["max_drawdown"] == pytest.approx(0.10)  # 110 -> 99
    assert m["max_drawdown_peak_ms"] == MS_PER_DAY
    assert m["max_drawdown_trough_ms"] == 2 * MS_PER_DAY
    # peak at day 1, back at/above 110 on day 3
    assert m["max_drawdown_duration_ms"] == 2 * MS_PER_DAY
    assert m["max_drawdown_duration_periods"] == 2
    assert m["max_drawdown_recovered"] is True


def test_max_drawdown_not_recovered_runs_to_the_end():
    ts = days(0, 1, 2, 3, 4)
    dd = max_drawdown(ts, np.array([100.0, 120.0, 90.0, 100.0, 110.0]))
    assert dd["max_drawdown"] == pytest.approx(0.25)
    assert dd["max_drawdown_peak_ms"] == MS_PER_DAY
    assert dd["max_drawdown_duration_ms"] == 3 * MS_PER_DAY
    assert dd["max_drawdown_duration_periods"] == 3
    assert dd["max_drawdown_recovered"] is False


def test_drawdown_picks_the_largest_of_several():
    eq = np.array([100.0, 95.0, 100.0, 130.0, 104.0, 140.0])
    dd = drawdown_series(eq)
    np.testing.assert_allclose(dd, [0, 0.05, 0, 0, 0.2, 0])
    m = max_drawdown(days(0, 1, 2, 3, 4, 5), eq)
    assert m["max_drawdown"] == pytest.approx(0.2)
    assert m["max_drawdown_peak_ms"] == 3 * MS_PER_DAY
    assert m["max_drawdown_duration_periods"] == 2


def test_drawdown_peak_is_the_last_high_before_the_trough_and_recovery_is_inclusive():
    # 110 is reached on days 1 and 3; the fall to 99 runs from day 3, and equity is back at
    # exactly 110 on day 5, which counts as recovered
    ts = days(0, 1, 2, 3, 4, 5, 6)
    dd = max_drawdown(ts, np.array([100.0, 110.0, 105.0, 110.0, 99.0, 110.0, 108.0]))
    assert dd["max_drawdown"] == pytest.approx(0.10)
    assert (dd["max_drawdown_peak_ms"], dd["max_drawdown_trough_ms"]) == (3 * MS_PER_DAY, 4 * MS_PER_DAY)
    assert dd["max_drawdown_recovered"] is True
    assert (dd["max_drawdown_duration_periods"], dd["max_drawdown_duration_ms"]) == (2, 2 * MS_PER_DAY)


def test_drawdown_ties_go_to_the_earliest_trough():
    # two falls of 10 % from 100: the first one is the maximum drawdown, with its own duration
    ts = days(0, 1, 2, 3, 4, 5, 6)
    dd = max_drawdown(ts, np.array([100.0, 90.0, 100.0, 100.0, 90.0, 95.0, 96.0]))
    assert dd["max_drawdown"] == pytest.approx(0.10)
    assert (dd["max_drawdown_peak_ms"], dd["max_drawdown_trough_ms"]) == (0, MS_PER_DAY)
    assert dd["max_drawdown_recovered"] is True and dd["max_drawdown_duration_periods"] == 2


def test_no_drawdown_on_a_rising_curve():
    m = compute_metrics(days(0, 1, 2), np.array([1.0, 2.0, 3.0]))
    assert m["max_drawdown"] == 0.0
    assert m["max_drawdown_duration_ms"] == 0
    assert m["max_drawdown_peak_ms"] is None


def test_sharpe_sortino_volatility_match_direct_formulas():
    eq = [100.0, 110.0, 99.0, 120.0, 118.0]
    r = [eq[i + 1] / eq[i] - 1 for i in range(len(eq) - 1)]
    m = compute_metrics(days(0, 1, 2, 3, 4), np.array(eq))
    ppy = 365.0  # daily samples, 365-day years
    assert m["period_ms"] == MS_PER_DAY
    assert m["periods_per_year"] == pytest.approx(ppy)
    assert m["volatility"] == pytest.approx(statistics.stdev(r) * math.sqrt(ppy))
    assert m["sharpe"] == pytest.approx(statistics.mean(r) / statistics.stdev(r) * math.sqrt(ppy))
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))  # over ALL periods
    assert m["sortino"] == pytest.approx(statistics.mean(r) / downside * math.sqrt(ppy))


def test_hourly_sampling_scales_annualisation():
    eq = np.array([100.0, 101.0, 100.5, 102.0])
    ts = np.arange(4, dtype=np.int64) * 3_600_000
    m = compute_metrics(ts, eq)
    assert m["periods_per_year"] == pytest.approx(365 * 24)
    r = eq[1:] / eq[:-1] - 1
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365 * 24))


def test_quarter_hour_sampling_scales_annualisation():
    # 15m bars: 4 * 24 * 365 = 35,040 periods a year
    eq = np.array([100.0, 100.4, 99.9, 100.7, 100.2])
    ts = np.arange(5, dtype=np.int64) * 900_000
    m = compute_metrics(ts, eq)
    assert m["period_ms"] == 900_000 and m["periods_per_year"] == pytest.approx(35_040)
    r = eq[1:] / eq[:-1] - 1
    assert m["volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(35_040))
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert m["sortino"] == pytest.approx(r.mean() / downside * math.sqrt(35_040))
    # one hour of 15m samples: (1.002) ** (8760) - 1
    assert m["annualised_return"] == pytest.approx(1.002**8760 - 1)


def test_flat_curve_has_undefined_ratios():
    m = compute_metrics(days(0, 1, 2), np.array([5.0, 5.0, 5.0]))
    assert m["volatility"] == 0.0
    assert m["sharpe"] is None and m["sortino"] is None
    assert m["total_return"] == 0.0


def test_sortino_undefined_without_losing_periods():
    m = compute_metrics(days(0, 1, 2), np.array([1.0, 1.1, 1.3]))
    assert m["sortino"] is None
    assert m["sharpe"] is not None and m["sharpe"] > 0


def test_one_return_has_no_volatility_or_ratios():
    # a sample standard deviation needs two returns: undefined (None), never NaN
    m = compute_metrics(days(0, 1), np.array([100.0, 101.0]))
    assert (m["volatility"], m["sharpe"], m["sortino"]) == (None, None, None)
    assert m["total_return"] == pytest.approx(0.01)


def test_annualisation_from_the_actual_span():
    # 21 % over two 365-day years is 10 % a year.
    m = compute_metrics(np.array([0, 2 * YEAR_MS]), np.array([100.0, 121.0]))
    assert m["annualised_return"] == pytest.approx(0.10)
    # 10 % over half a year compounds to 21 % a year.
    assert annualised_return(0.10, YEAR_MS // 2) == pytest.approx(0.21)
    assert annualised_return(0.5, 0) is None
    assert annualised_return(1.0, 1) == math.inf  # overflow is reported, not raised
    assert annualised_return(-1.0, YEAR_MS) == -1.0  # everything lost stays everything lost


def test_single_sample_curve():
    m = compute_metrics(np.array([5]), np.array([100.0]))
    assert m["total_return"] == 0.0
    assert m["span_ms"] == 0 and m["annualised_return"] is None
    assert m["sharpe"] is None and m["period_ms"] is None


@pytest.mark.parametrize(
    ("ts", "eq", "match"),
    [
        ([], [], "empty"),
        ([0, 2, 1], [1.0, 1.0, 1.0], "increasing"),
        ([0, 1], [1.0, -1.0], "finite and > 0"),
        ([0, 1], [1.0, float("nan")], "finite and > 0"),
        ([0, 1, 2], [1.0, 1.0], "same length"),
    ],
)
def test_bad_curves_are_rejected_clearly(ts, eq, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(np.array(ts, dtype=np.int64), np.array(eq, dtype=np.float64))


def test_metric_keys_are_stable_and_json_safe():
    trades = [trade("5"), trade("-1")]
    m = compute_metrics(days(0, 1, 2), np.array([100.0, 104.0, 103.0]), trades)
    assert tuple(m) == METRIC_KEYS
    assert set(m) == {
        "start_ms", "end_ms", "span_ms", "n_samples", "period_ms", "periods_per_year",
        "start_equity", "end_equity", "pnl", "total_return", "annualised_return", "volatility",
        "sharpe", "sortino", "max_drawdown", "max_drawdown_peak_ms", "max_drawdown_trough_ms",
        "max_drawdown_duration_ms", "max_drawdown_duration_periods", "max_drawdown_recovered",
        "n_trades", "open_trades", "wins", "losses", "win_rate", "avg_win", "avg_loss",
        "gross_profit", "gross_loss", "profit_factor", "trades_pnl", "avg_trade_pnl",
        "avg_holding_ms", "exposure", "traded_notional", "turnover", "fees_paid",
    }  # fmt: skip
    json.dumps(json_safe(m), allow_nan=False)


# ---------------------------------------------------------------------------
# Trades
# ---------------------------------------------------------------------------


def test_win_rate_profit_factor_on_three_hand_trades():
    trades = [trade("30", exit_=10), trade("-10", exit_=20), trade("20", exit_=30)]
    m = compute_metrics(days(0, 1), np.array([100.0, 140.0]), trades)
    assert m["n_trades"] == 3
    assert m["wins"] == 2 and m["losses"] == 1
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["avg_win"] == pytest.approx(25.0)
    assert m["avg_loss"] == pytest.approx(-10.0)
    assert m["gross_profit"] == pytest.approx(50.0)
    assert m["gross_loss"] == pytest.approx(10.0)
    assert m["profit_factor"] == pytest.approx(5.0)
    assert m["trades_pnl"] == pytest.approx(40.0)
    assert m["avg_trade_pnl"] == pytest.approx(40.0 / 3)
    assert m["avg_holding_ms"] == pytest.approx(20.0)


def test_profit_factor_infinite_without_losses_and_null_in_json():
    m = compute_metrics(days(0, 1), np.array([100.0, 101.0]), [trade("1"), trade("0")])
    assert m["profit_factor"] == math.inf
    assert m["win_rate"] == pytest.approx(0.5)  # a zero pnl is not a win
    assert m["losses"] == 0 and m["avg_loss"] is None
    assert json_safe(m)["profit_factor"] is None
    none = compute_metrics(days(0, 1), np.array([100.0, 101.0]))
    assert none["n_trades"] == 0 and none["profit_factor"] is None and none["win_rate"] is None


def test_trades_from_fills_average_cost_round_trip():
    fills = [
        fill("BTCUSDT", Side.BUY, "100", "1", "0.1", 1),
        fill("ETHUSDT", Side.BUY, "10", "5", "0.05", 2),
        fill("BTCUSDT", Side.BUY, "110", "1", "0.11", 3),
        fill("BTCUSDT", Side.SELL, "120", "0.5", "0.06", 4),
        fill("ETHUSDT", Side.SELL, "9", "5", "0.045", 5),
        fill("BTCUSDT", Side.SELL, "130", "1.5", "0.195", 6),
        fill("BTCUSDT", Side.BUY, "100", "2", "0.2", 7),  # a second trip, still open
    ]
    trades = trades_from_fills(fills)
    assert [(t.symbol, t.entry_ms, t.exit_ms) for t in trades] == [("ETHUSDT", 2, 5), ("BTCUSDT", 1, 6)]
    eth, btc = trades
    assert eth.pnl == D("45") - D("50") - D("0.095")
    assert eth.return_pct == pytest.approx(-5.095 / 50 * 100)
    assert btc.qty == D("2")
    assert btc.entry_price == D("105")
    assert btc.exit_price == D("127.5")  # (60 + 195) / 2
    assert btc.fees == D("0.465")
    assert btc.pnl == D("255") - D("210") - D("0.465")
    assert all(t.closed for t in trades)


def test_partial_sells_down_to_flat_are_one_trip():
    fills = [
        fill("BTCUSDT", Side.BUY, "100", "2", "0.2", 1),
        fill("BTCUSDT", Side.SELL, "110", "1", "0.11", 2),
        fill("BTCUSDT", Side.SELL, "90", "1", "0.09", 3),
    ]
    [t] = trades_from_fills(fills)
    assert (t.entry_ms, t.exit_ms, t.qty, t.exit_price) == (1, 3, D("2"), D("100"))
    assert t.pnl == D("200") - D("200") - D("0.4")


def test_open_position_is_marked_only_when_asked():
    fills = [fill("BTCUSDT", Side.BUY, "100", "2", "0.2", 7)]
    assert trades_from_fills(fills) == []
    (t,) = trades_from_fills(fills, marks={"BTCUSDT": (99, D("90"))})
    assert not t.closed and t.exit_ms == 99
    assert t.pnl == D("180") - D("200") - D("0.2")
    m = compute_metrics(np.array([0, 100]), np.array([100.0, 99.0]), [t], fills=fills)
    assert m["n_trades"] == 0 and m["open_trades"] == 1
    assert m["traded_notional"] == pytest.approx(200.0)
    assert m["fees_paid"] == pytest.approx(0.2)


def test_oversell_and_bad_fills_are_errors():
    with pytest.raises(ValueError, match="exceeds the position"):
        trades_from_fills([fill("BTCUSDT", Side.SELL, "100", "1", "0", 1)])
    with pytest.raises(ValueError, match="exceeds the position"):
        trades_from_fills(
            [fill("BTCUSDT", Side.BUY, "100", "1", "0", 1), fill("BTCUSDT", Side.SELL, "100", "1.5", "0", 2)]
        )
    with pytest.raises(ValueError, match="must be > 0"):
        trades_from_fills([fill("BTCUSDT", Side.BUY, "0", "1", "0", 1)])


def test_per_symbol_breakdown():
    fills = [
        fill("BTCUSDT", Side.BUY, "100", "1", "0.1", 1),
        fill("BTCUSDT", Side.SELL, "110", "1", "0.11", 2),
        fill("BTCUSDT", Side.BUY, "100", "1", "0.1", 3),
        fill("BTCUSDT", Side.SELL, "95", "1", "0.095", 4),
        fill("ETHUSDT", Side.BUY, "10", "1", "0.01", 5),
    ]
    rows = per_symbol_breakdown(trades_from_fills(fills), fills)
    assert list(rows) == ["BTCUSDT", "ETHUSDT"]
    assert all(tuple(r) == PER_SYMBOL_KEYS for r in rows.values())
    btc = rows["BTCUSDT"]
    assert btc["n_trades"] == 2 and btc["wins"] == 1 and btc["losses"] == 1
    assert btc["pnl"] == pytest.approx(10 - 0.21 - 5 - 0.195)
    assert btc["profit_factor"] == pytest.approx((10 - 0.21) / (5 + 0.195))
    assert btc["fees"] == pytest.approx(0.405)
    assert btc["traded_notional"] == pytest.approx(405.0)
    eth = rows["ETHUSDT"]
    assert eth["n_trades"] == 0 and eth["win_rate"] is None and eth["fees"] == pytest.approx(0.01)


# ---------------------------------------------------------------------------
# Exposure and turnover
# ---------------------------------------------------------------------------


def test_exposure_time_weighted_from_position_counts():
    ts = np.array([0, 10, 20, 40, 100])
    counts = np.array([0, 1, 2, 0, 3])  # the last sample adds no time
    assert exposure_from_counts(ts, counts) == pytest.approx(30 / 100)
    m = compute_metrics(ts, np.full(5, 50.0), position_counts=counts)
    assert m["exposure"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="does not match"):
        exposure_from_counts(ts, counts[:3])


def test_exposure_from_trade_intervals_merges_overlaps():
    trades = [trade("1", entry=10, exit_=40), trade("1", entry=30, exit_=50), trade("1", entry=70, exit_=80)]
    assert exposure_from_trades(trades, 0, 100) == pytest.approx(0.5)
    m = compute_metrics(np.array([0, 100]), np.array([1.0, 1.0]), trades)
    assert m["exposure"] == pytest.approx(0.5)
    assert exposure_from_trades([], 0, 100) == 0.0
    # an interval inside an earlier, longer one does not end the merged block: [0, 60) holds
    # [10, 20) and [30, 50), so 60 of 100
    nested = [trade("1", entry=0, exit_=60), trade("1", entry=10, exit_=20), trade("1", entry=30, exit_=50)]
    assert exposure_from_trades(nested, 0, 100) == pytest.approx(0.6)


def test_without_fills_open_trades_count_in_exposure_and_entry_fees_but_not_as_traded_exits():
    # a closed trip 100 -> 110 (qty 1) and a trip still open at the end, marked at 60 (qty 2)
    closed = Trade("BTCUSDT", 0, 40, D(100), D(110), D(1), D("9.8"), D("0.2"))
    still_open = Trade("ETHUSDT", 50, 100, D(50), D(60), D(2), D("19.9"), D("0.1"), closed=False)
    m = compute_metrics(np.array([0, 100]), np.array([1000.0, 1030.0]), [closed, still_open])
    assert m["exposure"] == pytest.approx(0.9)  # held [0, 40) and [50, 100)
    assert m["traded_notional"] == pytest.approx(100 + 110 + 100)  # the open trip's virtual exit is no trade
    assert m["fees_paid"] == pytest.approx(0.3)
    rows = per_symbol_breakdown([closed, still_open])
    assert rows["ETHUSDT"]["fees"] == pytest.approx(0.1) and rows["ETHUSDT"]["open_trades"] == 1
    assert rows["BTCUSDT"]["traded_notional"] == pytest.approx(210.0)


def test_the_sampling_period_is_the_median_gap():
    hour = 3_600_000
    ts = np.array([0, 1, 2, 3, 100]) * hour  # one long gap (data missing) does not change the period
    assert infer_period_ms(ts) == hour
    assert infer_period_ms(ts[:1]) is None
    m = compute_metrics(ts, np.array([100.0, 101.0, 100.0, 102.0, 103.0]))
    assert m["periods_per_year"] == pytest.approx(365 * 24)


def test_turnover_and_fees_from_fills():
    fills = [
        fill("BTCUSDT", Side.BUY, "100", "2", "0.2", 1),
        fill("BTCUSDT", Side.SELL, "150", "2", "0.3", 2),
    ]
    eq = np.array([1000.0, 1000.0, 1099.5])  # mean 1033.1666...
    m = compute_metrics(np.array([0, 1, 2]), eq, trades_from_fills(fills), fills=fills)
    assert m["traded_notional"] == pytest.approx(500.0)
    assert m["turnover"] == pytest.approx(500.0 / eq.mean())
    assert m["fees_paid"] == pytest.approx(0.5)
