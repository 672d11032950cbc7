"""Buy-and-hold and cash baselines on a toy close matrix with exact expected equity."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trader.backtest.baselines import BASELINE_NAMES, buy_and_hold_curve, cash_curve, compute_baselines
from tui_trader.backtest.metrics import METRIC_KEYS

H = 3_600_000
NAN = np.nan


def toy() -> tuple[np.ndarray, np.ndarray]:
    ts = np.array([1, 2, 3, 4], dtype=np.int64) * H
    close = np.array(
        [
            [10.0, NAN],  # B is not listed yet
            [11.0, 5.0],  # B enters here
            [NAN, 6.0],  # A has a gap: valued at its last close
            [12.0, 4.0],
        ]
    )
    return ts, close


def test_buy_and_hold_exact_equity():
    ts, close = toy()
    c = buy_and_hold_curve(ts, close, starting_cash=1000.0, fee_rate=0.001)
    # slices of 500, each buying a notional of 500 / 1.001 and paying 0.1 % of it as the fee
    notional = 500 / 1.001
    qa, qb = notional / 10, notional / 5
    expected = [
        1000.0,  # before anything is bought
        500.0 + qa * 10,  # A bought at 10, B's slice still cash
        qa * 11 + qb * 5,
        qa * 11 + qb * 6,
        qa * 12 + qb * 4,
    ]
    np.testing.assert_allclose(c["equity"], expected, rtol=0, atol=1e-9)
    k = 1 / (0.999 * 1.001)  # to the quantities when the fee came out of the slice (500 * 0.999)
    np.testing.assert_allclose(c["equity"], [1000.0, 500 + 500 / 1.001, 1048.95 * k, 1148.85 * k, 999.0 * k],
                               atol=1e-9)  # fmt: skip
    np.testing.assert_array_equal(c["ts_ms"], [0, H, 2 * H, 3 * H, 4 * H])
    np.testing.assert_array_equal(c["position_counts"], [0, 1, 2, 2, 2])
    np.testing.assert_array_equal(c["entry_index"], [0, 1])
    assert c["fees"] == pytest.approx(1000 / 1.001 * 0.001)  # the paper broker's rule: rate x notional
    assert c["traded_notional"] == pytest.approx(1000 / 1.001)  # price x quantity, the fee not in it
    assert c["traded_notional"] + c["fees"] == pytest.approx(1000.0)  # all the cash is spent


def test_symbol_that_never_trades_keeps_its_slice_in_cash():
    ts = np.array([10, 20], dtype=np.int64)
    close = np.array([[2.0, NAN], [4.0, NAN]])
    c = buy_and_hold_curve(ts, close, starting_cash=100.0, fee_rate=0.0)
    np.testing.assert_allclose(c["equity"], [100.0, 100.0, 150.0])
    np.testing.assert_array_equal(c["entry_index"], [0, -1])
    np.testing.assert_array_equal(c["position_counts"], [0, 1, 1])


def test_compute_baselines_metrics():
    ts, close = toy()
    metrics, curves = compute_baselines(ts, close, 1000.0, 0.001)
    assert tuple(metrics) == BASELINE_NAMES == tuple(curves)
    bh, cash = metrics["buy_and_hold"], metrics["cash"]
    assert tuple(bh) == METRIC_KEYS and tuple(cash) == METRIC_KEYS
    assert bh["total_return"] == pytest.approx(1 / 1.001 - 1)  # the entry fee counts
    assert bh["max_drawdown"] == pytest.approx(1 - 999.0 / 1148.85)
    assert bh["fees_paid"] == pytest.approx(1000 / 1.001 * 0.001)
    assert bh["period_ms"] == H
    # the span starts one hour before the first close (cash); held for the 3 hours after it
    assert bh["exposure"] == pytest.approx(3 / 4)
    assert bh["n_trades"] == 0
    assert cash["total_return"] == 0.0 and cash["max_drawdown"] == 0.0
    assert cash["exposure"] == 0.0 and cash["sharpe"] is None and cash["fees_paid"] == 0.0
    np.testing.assert_allclose(curves["cash"][1], 1000.0)


def test_baseline_figures_use_the_given_interval_not_the_median_gap():
    # rows one and three hours apart (a gap in the data): the figures are annualised on the
    # run's sampling interval, as the strategy's are
    ts = np.array([0, 1, 4, 7, 10], dtype=np.int64) * H
    close = np.array([[10.0], [11.0], [10.5], [12.0], [11.5]])
    metrics, _ = compute_baselines(ts, close, 1000.0, 0.0, interval_ms=H)
    assert metrics["buy_and_hold"]["period_ms"] == H
    assert metrics["buy_and_hold"]["periods_per_year"] == pytest.approx(365 * 24)
    assert metrics["cash"]["period_ms"] == H


def test_cash_curve_single_row_needs_interval():
    with pytest.raises(ValueError, match="interval_ms"):
        cash_curve(np.array([5]), 10.0)
    c = cash_curve(np.array([5]), 10.0, interval_ms=5)
    np.testing.assert_array_equal(c["ts_ms"], [0, 5])


@pytest.mark.parametrize(
    ("ts", "close", "cash", "fee", "match"),
    [
        ([1, 2], [1.0, 2.0], 100.0, 0.0, r"\(T, N\) matrix"),
        ([1], [[1.0], [2.0]], 100.0, 0.0, "one time per close row"),
        ([2, 1], [[1.0], [2.0]], 100.0, 0.0, "increasing"),
        ([1, 2], [[1.0], [2.0]], 0.0, 0.0, "starting_cash"),
        ([1, 2], [[1.0], [2.0]], 100.0, 1.5, "fee_rate"),
    ],
)
def test_bad_inputs(ts, close, cash, fee, match):
    with pytest.raises(ValueError, match=match):
        buy_and_hold_curve(np.array(ts), np.array(close), cash, fee)
