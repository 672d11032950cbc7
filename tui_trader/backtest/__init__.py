"""Backtesting: replay history through the paper-trading engine and report on it.

Modules: :mod:`.metrics` (figures of an equity curve and trades), :mod:`.baselines`
(buy-and-hold and cash on the same data), :mod:`.report` (terminal report, JSON, files),
:mod:`.sweep` (parameter grids, walk-forward) and :mod:`.runner` (hosts the engine).

This package module holds only :class:`BacktestResult`, the one object a run produces
and every report reads; it imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tui_trader.backtest.metrics import Trade
    from tui_trader.models import Fill


@dataclass(slots=True)
class BacktestResult:
    """Everything one backtest produced.

    * ``config``: the effective configuration (``Config.model_dump(mode="json")``).
    * ``start_ms``/``end_ms``: the replayed span (ms, UTC).
    * ``equity_ts`` (int64 ms) / ``equity`` (float64, quote): the strategy's equity curve.
    * ``equity_exact``: the same samples as exact decimals (cash + quantity x mark, the mark at
      its shortest decimal text: the data's own close), or None; ``equity.csv`` writes these, so
      an amount reads ``10015.44795898``, not the float sum's ``10015.447958980001``.
    * ``position_counts``: open positions at each equity sample (int64) or None.
    * ``fills`` / ``trades``: every fill, and the round trips built from them.
    * ``metrics``: :func:`~tui_trader.backtest.metrics.compute_metrics` of the strategy.
    * ``baselines``: baseline name -> the same metrics dict (``buy_and_hold``, ``cash``).
    * ``baseline_curves``: baseline name -> ``(ts_ms, equity)`` for charts.
    * ``per_symbol``: :func:`~tui_trader.backtest.metrics.per_symbol_breakdown`.
    * ``n_klines``: closed klines replayed (all symbols); ``wall_time_s``: seconds it took.
    * ``state_changes``: the engine's state changes during the run, ``(ts_ms, old, new,
      reason)`` (e.g. a loss breaker switching to ``reducing``), oldest first.
    * ``final_state``: the engine state at the end (``running``, ``reducing``, ...).
    * ``order_reasons``: client order id -> why the order was placed (the signal's reason, a
      stop loss, ...); ``order_pnl``: client order id -> the realised PnL the order booked.
    """

    run_id: str
    config: dict[str, Any]
    symbols: list[str]
    interval: str
    start_ms: int
    end_ms: int
    equity_ts: np.ndarray
    equity: np.ndarray
    fills: list[Fill]
    trades: list[Trade]
    metrics: dict[str, Any]
    baselines: dict[str, dict[str, Any]]
    per_symbol: dict[str, dict[str, Any]]
    n_klines: int
    wall_time_s: float
    baseline_curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    position_counts: np.ndarray | None = None
    state_changes: list[tuple[int, str, str, str]] = field(default_factory=list)
    final_state: str = ""
    order_reasons: dict[str, str] = field(default_factory=dict)
    order_pnl: dict[str, Decimal] = field(default_factory=dict)
    equity_exact: list[Decimal] | None = None

    @property
    def quote_asset(self) -> str:
        return str(self.config.get("broker", {}).get("quote_asset", "USDT"))

    @property
    def starting_balance(self) -> float:
        return float(
            self.config.get("broker", {}).get("starting_balance", self.metrics.get("start_equity", 0.0))
        )


__all__ = ["BacktestResult"]
