"""Baselines a strategy must beat, computed on the same price data as the backtest.

Input is a columnar close matrix ``close`` (T, N) float64 - one row per kline time, one
column per symbol, NaN where a symbol has no candle - and its row times ``ts_ms`` (T,)
int64 ms, strictly increasing (use the klines' close times: a close is known then).

* ``buy_and_hold`` - equal weight: the starting cash is cut into N equal slices. Each
  symbol is bought with its slice at its first valid close (symbols missing at the start
  enter when they first appear; until then their slice waits in cash; a symbol that never
  trades keeps its slice in cash). The entry pays the fee as the paper broker does, on the
  notional: the slice buys ``notional = slice / (1 + fee_rate)`` (``qty = notional / price``)
  and pays ``fee_rate * notional``; positions are held to the end with no exit fee and no
  slippage. A gap after entry (NaN) is valued at the last known close. Its figures count
  each symbol bought as an open trade (``open_trades``), and no closed one.
* ``cash`` - the starting cash, flat.

Both curves start at the starting cash - the account before anything was bought - so the
entry fees count in every figure: at ``start_ms`` when given (the run's start, which may lie
inside the first sampling interval), else one sampling interval before the first row
(``ts_ms[0] - interval_ms``). Analytics only: quantities are floats, not exchange-quantised.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tui_trader.backtest.metrics import compute_metrics, infer_period_ms

BASELINE_NAMES: tuple[str, ...] = ("buy_and_hold", "cash")


def _first_ts(ts: np.ndarray, interval_ms: int, start_ms: int | None) -> int:
    """The time of a curve's first sample, before the first row (see module doc)."""
    if start_ms is None:
        return int(ts[0]) - interval_ms
    if start_ms >= ts[0]:
        raise ValueError(f"start_ms {start_ms} must be before the first row's time {int(ts[0])}")
    return int(start_ms)


def _check(
    ts_ms: np.ndarray, close: np.ndarray, starting_cash: float, fee_rate: float, interval_ms: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    ts = np.asarray(ts_ms, dtype=np.int64)
    px = np.asarray(close, dtype=np.float64)
    if px.ndim != 2:
        raise ValueError(f"close must be a (T, N) matrix, got shape {px.shape}")
    if ts.ndim != 1 or ts.shape[0] != px.shape[0]:
        raise ValueError(f"ts_ms must have one time per close row: {ts.shape} vs {px.shape}")
    if px.shape[0] == 0 or px.shape[1] == 0:
        raise ValueError(f"close matrix is empty: shape {px.shape}")
    if ts.size > 1 and not np.all(np.diff(ts) > 0):
        raise ValueError("ts_ms must be strictly increasing")
    if not (starting_cash > 0 and np.isfinite(starting_cash)):
        raise ValueError(f"starting_cash must be a positive number, got {starting_cash!r}")
    if not 0 <= fee_rate < 1:
        raise ValueError(f"fee_rate must be in [0, 1), got {fee_rate!r}")
    if interval_ms is None:
        interval_ms = infer_period_ms(ts)
        if interval_ms is None:
            raise ValueError("one row only: pass interval_ms")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
    return ts, px, int(interval_ms)


def buy_and_hold_curve(
    ts_ms: np.ndarray,
    close: np.ndarray,
    starting_cash: float,
    fee_rate: float,
    interval_ms: int | None = None,
    start_ms: int | None = None,
) -> dict[str, Any]:
    """The equal-weight buy-and-hold account (see module doc).

    Returns ``ts_ms`` (T+1,), ``equity`` (T+1,) quote, ``position_counts`` (T+1,) symbols
    held, ``traded_notional`` and ``fees`` (quote), ``entry_index`` (N,) row of each entry
    (-1 = never) and ``qty`` (N,) base held.
    """
    ts, px, interval_ms = _check(ts_ms, close, starting_cash, fee_rate, interval_ms)
    t, n = px.shape
    valid = np.isfinite(px) & (px > 0)
    rows = np.arange(t)
    # Index of the last valid close at or before each row (-1 before the first one).
    last = np.maximum.accumulate(np.where(valid, rows[:, None], -1), axis=0)
    held = last >= 0
    has = valid.any(axis=0)
    entry = np.where(has, np.argmax(valid, axis=0), -1)
    slice_cash = starting_cash / n
    notional = slice_cash / (1.0 + fee_rate)  # + its fee, fee_rate * notional, is the slice
    entry_price = np.where(has, px[np.maximum(entry, 0), np.arange(n)], np.nan)
    qty = np.where(has, notional / entry_price, 0.0)
    marked = np.where(held, px[np.maximum(last, 0), np.arange(n)[None, :]], 0.0)
    value = np.sum(marked * qty[None, :], axis=1)
    cash = starting_cash - held.sum(axis=1) * slice_cash
    equity = cash + value
    n_entered = int(has.sum())
    return {
        "ts_ms": np.concatenate(([_first_ts(ts, interval_ms, start_ms)], ts)).astype(np.int64),
        "equity": np.concatenate(([float(starting_cash)], equity)),
        "position_counts": np.concatenate(([0], held.sum(axis=1))).astype(np.int64),
        "traded_notional": n_entered * notional,
        "fees": n_entered * notional * fee_rate,
        "entry_index": entry.astype(np.int64),
        "qty": qty,
    }


def cash_curve(
    ts_ms: np.ndarray, starting_cash: float, interval_ms: int | None = None, start_ms: int | None = None
) -> dict[str, Any]:
    """Flat equity on the same times as :func:`buy_and_hold_curve`."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    ts, _, interval_ms = _check(ts, np.ones((ts.size, 1)), starting_cash, 0.0, interval_ms)
    full = np.concatenate(([_first_ts(ts, interval_ms, start_ms)], ts)).astype(np.int64)
    return {
        "ts_ms": full,
        "equity": np.full(full.size, float(starting_cash)),
        "position_counts": np.zeros(full.size, dtype=np.int64),
        "traded_notional": 0.0,
        "fees": 0.0,
    }


def compute_baselines(
    ts_ms: np.ndarray,
    close: np.ndarray,
    starting_cash: float,
    fee_rate: float,
    interval_ms: int | None = None,
    start_ms: int | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Metrics (same keys as :func:`~tui_trader.backtest.metrics.compute_metrics`) and
    curves ``(ts_ms, equity)`` of every baseline, keyed by ``BASELINE_NAMES``.

    The sampling interval of the figures is ``interval_ms`` (default: the median row gap);
    the curves start at ``start_ms`` (default: one interval before the first row).
    """
    _, _, interval_ms = _check(ts_ms, close, starting_cash, fee_rate, interval_ms)
    bh = buy_and_hold_curve(ts_ms, close, starting_cash, fee_rate, interval_ms, start_ms)
    ca = cash_curve(ts_ms, starting_cash, interval_ms, start_ms)
    metrics: dict[str, dict[str, Any]] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, c in (("buy_and_hold", bh), ("cash", ca)):
        metrics[name] = compute_metrics(
            c["ts_ms"],
            c["equity"],
            position_counts=c["position_counts"],
            period_ms=interval_ms,
            traded_notional=c["traded_notional"],
            fees_paid=c["fees"],
        )
        curves[name] = (c["ts_ms"], c["equity"])
    # buy-and-hold's positions are open trades, held to the end (compute_metrics sees no trades:
    # it said 0 open next to an exposure of 99.99 %); it closes none, so every trade figure stays
    metrics["buy_and_hold"]["open_trades"] = int(np.count_nonzero(bh["entry_index"] >= 0))
    return metrics, curves
