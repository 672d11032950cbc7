"""Performance figures of a run: pure functions over an equity curve and a trade list.

Inputs
------
* ``ts_ms``: int64 array of sample times (ms since the epoch, UTC), strictly increasing.
* ``equity``: float64 array of account equity in the quote asset (cash + positions marked
  to market) at those times; finite and > 0.
* ``trades``: :class:`Trade` round trips (see :func:`trades_from_fills`).
* ``fills``: optional, the run's :class:`~tui_trader.models.Fill` list (for turnover and fees).
* ``position_counts``: optional int array aligned with ``ts_ms``: open positions at each sample.

Conventions
-----------
* Crypto trades 24/7: a year is 365 days of 86,400,000 ms (``YEAR_MS``); no trading calendar.
* Per-period returns are simple returns between consecutive equity samples. The sampling
  interval ``period_ms`` is given or, by default, the median gap between samples; it fixes
  ``periods_per_year = YEAR_MS / period_ms``.
* Standard deviations are sample deviations (``ddof=1``); the risk-free rate is 0.
* Fractions are plain fractions (0.1 means 10 %); money is in the quote asset; times in ms.
* A figure that is undefined (too few samples, division by zero) is ``None``. The only
  infinite value is ``profit_factor`` when there are winning trades and no losing ones:
  it is ``float('inf')`` in this dict and ``null`` in JSON (:func:`json_safe`); the keys
  ``gross_profit``/``gross_loss`` tell the cases apart.

Keys of :func:`compute_metrics` (stable; ``METRIC_KEYS``)
--------------------------------------------------------
``start_ms``, ``end_ms``, ``span_ms``
    first and last sample time, and their difference (ms).
``n_samples``
    equity samples; ``period_ms`` sampling interval (ms); ``periods_per_year``.
``start_equity``, ``end_equity``, ``pnl``
    first and last equity and their difference (quote).
``total_return``
    ``end_equity / start_equity - 1``.
``annualised_return``
    ``(1 + total_return) ** (YEAR_MS / span_ms) - 1`` (compound; ``None`` for a zero span,
    ``inf`` if it overflows).
``volatility``
    ``std(r) * sqrt(periods_per_year)`` of per-period returns ``r``.
``sharpe``
    ``mean(r) / std(r) * sqrt(periods_per_year)`` (``None`` if std is 0 or < 2 returns).
``sortino``
    ``mean(r) / dd * sqrt(periods_per_year)`` with downside deviation
    ``dd = sqrt(mean(min(r, 0) ** 2))`` over ALL periods, target 0 (``None`` if dd is 0).
``max_drawdown``
    largest fall from a running peak, ``max(1 - equity / cummax(equity))`` (>= 0).
``max_drawdown_peak_ms``, ``max_drawdown_trough_ms``
    the peak and trough of that drawdown (``None`` when there is no drawdown).
``max_drawdown_duration_ms``, ``max_drawdown_duration_periods``, ``max_drawdown_recovered``
    from that peak to the first sample back at or above it, or to the last sample if it never
    recovered (ms, and number of samples stepped); 0 when there is no drawdown.
``n_trades``, ``open_trades``
    closed round trips; open ones (marked, see :func:`trades_from_fills`), excluded from
    every trade figure below.
``wins``, ``losses``
    closed trades with pnl > 0, and pnl < 0 (a zero pnl is neither).
``win_rate``
    ``wins / n_trades``.
``avg_win``, ``avg_loss``
    mean pnl of the winners (> 0) and of the losers (< 0), quote.
``gross_profit``, ``gross_loss``
    sum of winning pnl; sum of losing pnl as a positive number (quote).
``profit_factor``
    ``gross_profit / gross_loss`` (``inf`` with no losses; ``None`` with neither).
``trades_pnl``
    sum of closed-trade pnl (after fees, quote); ``avg_trade_pnl`` its mean.
``avg_holding_ms``
    mean ``exit_ms - entry_ms`` of closed trades.
``exposure``
    fraction of the time span with at least one open position: each sample's count holds
    until the next sample (time weighted). From ``position_counts`` if given, otherwise from
    the union of the trades' ``[entry_ms, exit_ms)`` intervals.
``traded_notional``
    sum of ``price * quantity`` of every fill, buys and sells (quote).
``turnover``
    ``traded_notional / mean(equity)``.
``fees_paid``
    sum of fill fees (quote).

Per-symbol rows (:func:`per_symbol_breakdown`, ``PER_SYMBOL_KEYS``): ``n_trades``, ``wins``,
``losses``, ``win_rate``, ``gross_profit``, ``gross_loss``, ``profit_factor``, ``pnl`` (closed-trade
pnl after fees), ``avg_pnl``, ``fees``, ``traded_notional``, ``open_trades``; a symbol of the run
that did not trade has a row of zeros (``win_rate``, ``profit_factor``, ``avg_pnl`` None).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from tui_trader.clock import MS_PER_DAY
from tui_trader.models import Fill, Side

YEAR_MS = 365 * MS_PER_DAY

METRIC_KEYS: tuple[str, ...] = (
    "start_ms",
    "end_ms",
    "span_ms",
    "n_samples",
    "period_ms",
    "periods_per_year",
    "start_equity",
    "end_equity",
    "pnl",
    "total_return",
    "annualised_return",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_peak_ms",
    "max_drawdown_trough_ms",
    "max_drawdown_duration_ms",
    "max_drawdown_duration_periods",
    "max_drawdown_recovered",
    "n_trades",
    "open_trades",
    "wins",
    "losses",
    "win_rate",
    "avg_win",
    "avg_loss",
    "gross_profit",
    "gross_loss",
    "profit_factor",
    "trades_pnl",
    "avg_trade_pnl",
    "avg_holding_ms",
    "exposure",
    "traded_notional",
    "turnover",
    "fees_paid",
)

PER_SYMBOL_KEYS: tuple[str, ...] = (
    "n_trades",
    "wins",
    "losses",
    "win_rate",
    "gross_profit",
    "gross_loss",
    "profit_factor",
    "pnl",
    "avg_pnl",
    "fees",
    "traded_notional",
    "open_trades",
)


@dataclass(frozen=True, slots=True)
class Trade:
    """One long round trip of one symbol: flat -> position -> flat.

    Prices are quote per base unit; ``qty`` is the base quantity bought (= sold);
    ``pnl`` is ``sell proceeds - buy cost - fees`` in the quote asset; ``fees`` are all
    fees of the trip (quote). ``entry_price``/``exit_price`` are quantity-weighted
    averages of the buy and sell fills. ``closed`` is False for a position still open
    at the end, marked at a price (its virtual exit pays no fee).
    """

    symbol: str
    entry_ms: int
    exit_ms: int
    entry_price: Decimal
    exit_price: Decimal
    qty: Decimal
    pnl: Decimal
    fees: Decimal
    closed: bool = True

    @property
    def return_pct(self) -> float:
        """pnl over the entry cost, in percent."""
        cost = self.entry_price * self.qty
        return float(self.pnl / cost * 100) if cost else 0.0

    @property
    def holding_ms(self) -> int:
        return self.exit_ms - self.entry_ms


class _Trip:
    __slots__ = ("entry_ms", "buy_qty", "buy_notional", "sell_qty", "sell_notional", "fees", "position")

    def __init__(self, entry_ms: int) -> None:
        self.entry_ms = entry_ms
        self.buy_qty = Decimal(0)
        self.buy_notional = Decimal(0)
        self.sell_qty = Decimal(0)
        self.sell_notional = Decimal(0)
        self.fees = Decimal(0)
        self.position = Decimal(0)

    def trade(self, symbol: str, exit_ms: int, closed: bool = True) -> Trade:
        return Trade(
            symbol=symbol,
            entry_ms=self.entry_ms,
            exit_ms=exit_ms,
            entry_price=self.buy_notional / self.buy_qty,
            exit_price=self.sell_notional / self.sell_qty if self.sell_qty else Decimal(0),
            qty=self.buy_qty,
            pnl=self.sell_notional - self.buy_notional - self.fees,
            fees=self.fees,
            closed=closed,
        )


def trades_from_fills(
    fills: Iterable[Fill], marks: Mapping[str, tuple[int, Decimal | float]] | None = None
) -> list[Trade]:
    """Long-only round trips per symbol, in order of their exit (then symbol).

    Fills are processed per symbol in time order (stable for equal times). A trip starts
    with a buy from flat and ends when the position is back to exactly zero; extra buys and
    partial sells in between belong to the same trip (average cost: ``pnl`` is proceeds minus
    cost minus fees, whatever the lot order). Fill fees are in the quote asset.

    ``marks`` (symbol -> (ts_ms, price)) closes positions still open at the end virtually
    at that price (``Trade.closed`` False, no exit fee; sold quantity valued at the mark).
    Without a mark an open position yields no trade.

    Raises ``ValueError`` on a sell larger than the position (short selling is not
    modelled) or a non-positive price or quantity.
    """
    by_sym: dict[str, list[Fill]] = {}
    for f in fills:
        by_sym.setdefault(f.symbol, []).append(f)
    out: list[Trade] = []
    for sym, lst in by_sym.items():
        lst.sort(key=lambda f: f.ts_ms)
        trip: _Trip | None = None
        for f in lst:
            if f.quantity <= 0 or f.price <= 0:
                raise ValueError(
                    f"bad fill for {sym} at {f.ts_ms}: price {f.price} and quantity {f.quantity} must be > 0"
                )
            notional = f.price * f.quantity
            if f.side == Side.BUY:
                if trip is None:
                    trip = _Trip(f.ts_ms)
                trip.buy_qty += f.quantity
                trip.buy_notional += notional
                trip.position += f.quantity
                trip.fees += f.fee
            else:
                held = trip.position if trip is not None else Decimal(0)
                if trip is None or f.quantity > held:
                    raise ValueError(
                        f"sell of {f.quantity} {sym} at {f.ts_ms} exceeds the position {held} "
                        "(long-only round trips)"
                    )
                trip.sell_qty += f.quantity
                trip.sell_notional += notional
                trip.position -= f.quantity
                trip.fees += f.fee
                if trip.position == 0:
                    out.append(trip.trade(sym, f.ts_ms))
                    trip = None
        if trip is not None and marks is not None and sym in marks:
            ts, price = marks[sym]
            price_d = Decimal(str(price)) if not isinstance(price, Decimal) else price
            trip.sell_notional += trip.position * price_d
            trip.sell_qty += trip.position
            trip.position = Decimal(0)
            out.append(trip.trade(sym, int(ts), closed=False))
    out.sort(key=lambda t: (t.exit_ms, t.symbol))
    return out


# ---------------------------------------------------------------------------
# Equity-curve figures
# ---------------------------------------------------------------------------


def _check_curve(ts_ms: np.ndarray, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ts = np.asarray(ts_ms, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    if ts.ndim != 1 or eq.ndim != 1 or ts.shape != eq.shape:
        raise ValueError(
            f"ts_ms and equity must be 1-D arrays of the same length, got {ts.shape} and {eq.shape}"
        )
    if ts.size == 0:
        raise ValueError("empty equity curve: need at least one sample")
    if ts.size > 1 and not np.all(np.diff(ts) > 0):
        raise ValueError("equity curve timestamps must be strictly increasing")
    if not np.all(np.isfinite(eq)) or not np.all(eq > 0):
        bad = int(np.flatnonzero(~(np.isfinite(eq) & (eq > 0)))[0])
        raise ValueError(f"equity must be finite and > 0; sample {bad} is {eq[bad]!r}")
    return ts, eq


def period_returns(equity: np.ndarray) -> np.ndarray:
    """Simple returns between consecutive samples (length n - 1)."""
    eq = np.asarray(equity, dtype=np.float64)
    return eq[1:] / eq[:-1] - 1.0


def drawdown_series(equity: np.ndarray) -> np.ndarray:
    """Drawdown at each sample as a fraction of the running peak (0 at a new high, >= 0)."""
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size == 0:
        return eq.copy()
    return 1.0 - eq / np.maximum.accumulate(eq)


def max_drawdown(ts_ms: np.ndarray, equity: np.ndarray) -> dict[str, Any]:
    """The largest drawdown and its duration (peak to recovery, or to the last sample).

    Returns ``max_drawdown`` (fraction), ``max_drawdown_peak_ms``, ``max_drawdown_trough_ms``,
    ``max_drawdown_duration_ms``, ``max_drawdown_duration_periods`` and
    ``max_drawdown_recovered``. Ties go to the earliest trough.
    """
    ts, eq = _check_curve(ts_ms, equity)
    dd = drawdown_series(eq)
    trough = int(np.argmax(dd))
    mdd = float(dd[trough])
    if mdd <= 0.0:
        return {
            "max_drawdown": 0.0,
            "max_drawdown_peak_ms": None,
            "max_drawdown_trough_ms": None,
            "max_drawdown_duration_ms": 0,
            "max_drawdown_duration_periods": 0,
            "max_drawdown_recovered": True,
        }
    peak_value = float(np.max(eq[: trough + 1]))
    peak = int(np.flatnonzero(eq[: trough + 1] == peak_value)[-1])
    after = np.flatnonzero(eq[trough:] >= peak_value)
    recovered = after.size > 0
    end = trough + int(after[0]) if recovered else eq.size - 1
    return {
        "max_drawdown": mdd,
        "max_drawdown_peak_ms": int(ts[peak]),
        "max_drawdown_trough_ms": int(ts[trough]),
        "max_drawdown_duration_ms": int(ts[end] - ts[peak]),
        "max_drawdown_duration_periods": int(end - peak),
        "max_drawdown_recovered": bool(recovered),
    }


def infer_period_ms(ts_ms: np.ndarray) -> int | None:
    """Median gap between samples (ms), or None with fewer than 2 samples."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    if ts.size < 2:
        return None
    return int(np.median(np.diff(ts)))


def annualised_return(total_return: float, span_ms: int) -> float | None:
    """Compound annual growth over ``span_ms`` (365-day years); None for a zero span."""
    if span_ms <= 0:
        return None
    growth = 1.0 + total_return
    if growth <= 0:
        return -1.0
    try:
        return math.exp(math.log(growth) * (YEAR_MS / span_ms)) - 1.0
    except OverflowError:
        return math.inf


def return_stats(returns: np.ndarray, periods_per_year: float) -> dict[str, float | None]:
    """``volatility``, ``sharpe`` and ``sortino`` of per-period returns (see module doc)."""
    r = np.asarray(returns, dtype=np.float64)
    out: dict[str, float | None] = {"volatility": None, "sharpe": None, "sortino": None}
    if r.size < 2 or not periods_per_year > 0:
        return out
    scale = math.sqrt(periods_per_year)
    mean = float(np.mean(r))
    std = float(np.std(r, ddof=1))
    out["volatility"] = std * scale
    if std > 1e-15:
        out["sharpe"] = mean / std * scale
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    if downside > 1e-15:
        out["sortino"] = mean / downside * scale
    return out


def exposure_from_counts(ts_ms: np.ndarray, position_counts: np.ndarray) -> float | None:
    """Time-weighted fraction of the span with at least one open position.

    Sample ``i``'s count holds over ``[ts[i], ts[i+1])``; the last sample adds no time.
    None for a zero span.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    counts = np.asarray(position_counts)
    if counts.shape != ts.shape:
        raise ValueError(f"position_counts shape {counts.shape} does not match ts_ms {ts.shape}")
    if ts.size < 2 or ts[-1] <= ts[0]:
        return None
    dt = np.diff(ts).astype(np.float64)
    return float(np.sum(dt * (counts[:-1] > 0)) / float(ts[-1] - ts[0]))


def exposure_from_trades(trades: Sequence[Trade], start_ms: int, end_ms: int) -> float | None:
    """Fraction of ``[start_ms, end_ms)`` covered by the union of the trades' holding intervals."""
    span = end_ms - start_ms
    if span <= 0:
        return None
    if not trades:
        return 0.0
    iv = np.array(
        [(max(t.entry_ms, start_ms), min(t.exit_ms, end_ms)) for t in trades], dtype=np.int64
    ).reshape(-1, 2)
    iv = iv[iv[:, 1] > iv[:, 0]]
    if iv.size == 0:
        return 0.0
    iv = iv[np.argsort(iv[:, 0], kind="stable")]
    # Merge overlaps: an interval starts a new block when it begins after every earlier end.
    run_end = np.maximum.accumulate(iv[:, 1])
    new_block = np.ones(len(iv), dtype=bool)
    new_block[1:] = iv[1:, 0] > run_end[:-1]
    block_id = np.cumsum(new_block) - 1
    starts = iv[new_block, 0]
    ends = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(ends, block_id, iv[:, 1])
    return float(np.sum(ends - starts) / span)


# ---------------------------------------------------------------------------
# Trade figures
# ---------------------------------------------------------------------------


def _trade_stats(pnl: np.ndarray) -> dict[str, Any]:
    n = int(pnl.size)
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    gross_profit = float(np.sum(wins)) if wins.size else 0.0
    gross_loss = float(-np.sum(losses)) if losses.size else 0.0
    if gross_loss > 0:
        pf: float | None = gross_profit / gross_loss
    elif gross_profit > 0:
        pf = math.inf
    else:
        pf = None
    return {
        "n_trades": n,
        "wins": int(wins.size),
        "losses": int(losses.size),
        "win_rate": wins.size / n if n else None,
        "avg_win": float(np.mean(wins)) if wins.size else None,
        "avg_loss": float(np.mean(losses)) if losses.size else None,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "profit_factor": pf,
        "trades_pnl": float(np.sum(pnl)) if n else 0.0,
        "avg_trade_pnl": float(np.mean(pnl)) if n else None,
    }


def trade_stats(trades: Sequence[Trade]) -> dict[str, Any]:
    """Win/loss figures of the closed trades (keys as in the module doc)."""
    closed = [t for t in trades if t.closed]
    pnl = np.array([float(t.pnl) for t in closed], dtype=np.float64)
    out = _trade_stats(pnl)
    out["open_trades"] = len(trades) - len(closed)
    out["avg_holding_ms"] = float(np.mean([t.exit_ms - t.entry_ms for t in closed])) if closed else None
    return out


def fill_totals(fills: Iterable[Fill]) -> tuple[float, float]:
    """(traded notional, fees) of the fills, quote."""
    notional = Decimal(0)
    fees = Decimal(0)
    for f in fills:
        notional += f.price * f.quantity
        fees += f.fee
    return float(notional), float(fees)


def _trade_totals(trades: Sequence[Trade]) -> tuple[float, float]:
    """(traded notional, fees) of the trades, quote, when there are no fills: every entry and
    every closed trade's exit (an open trade's exit at its mark is no trade), and every fee."""
    notional = sum((t.qty * t.entry_price for t in trades), Decimal(0)) + sum(
        (t.qty * t.exit_price for t in trades if t.closed), Decimal(0)
    )
    return float(notional), float(sum((t.fees for t in trades), Decimal(0)))


def per_symbol_breakdown(
    trades: Sequence[Trade], fills: Iterable[Fill] | None = None, symbols: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """Figures per symbol (keys ``PER_SYMBOL_KEYS``), symbols sorted by name: every symbol that
    traded, and every one of ``symbols`` (the run's universe) too, one that did not trade with
    zero trades, pnl, fees and notional (a consumer could not tell "not traded" from "not in the
    run" when it was left out).

    ``fees`` and ``traded_notional`` come from the fills when given (every fill, open
    positions included), else from the trades as :func:`compute_metrics` counts them (an open
    trade's entry, not its exit at the mark), so the rows add up to the run's totals.
    """
    syms: dict[str, list[Trade]] = {sym: [] for sym in symbols}
    for t in trades:
        syms.setdefault(t.symbol, []).append(t)
    fill_by: dict[str, list[Fill]] = {}
    if fills is not None:
        for f in fills:
            fill_by.setdefault(f.symbol, []).append(f)
            syms.setdefault(f.symbol, [])
    out: dict[str, dict[str, Any]] = {}
    for sym in sorted(syms):
        lst = syms[sym]
        closed = [t for t in lst if t.closed]
        pnl = np.array([float(t.pnl) for t in closed], dtype=np.float64)
        st = _trade_stats(pnl)
        if fills is not None:
            notional, fees = fill_totals(fill_by.get(sym, []))
        else:
            notional, fees = _trade_totals(lst)
        out[sym] = {
            "n_trades": st["n_trades"],
            "wins": st["wins"],
            "losses": st["losses"],
            "win_rate": st["win_rate"],
            "gross_profit": st["gross_profit"],
            "gross_loss": st["gross_loss"],
            "profit_factor": st["profit_factor"],
            "pnl": st["trades_pnl"],
            "avg_pnl": st["avg_trade_pnl"],
            "fees": fees,
            "traded_notional": notional,
            "open_trades": len(lst) - len(closed),
        }
    return out


# ---------------------------------------------------------------------------
# Everything at once
# ---------------------------------------------------------------------------


def compute_metrics(
    ts_ms: np.ndarray,
    equity: np.ndarray,
    trades: Sequence[Trade] = (),
    fills: Iterable[Fill] | None = None,
    position_counts: np.ndarray | None = None,
    period_ms: int | None = None,
    traded_notional: float | None = None,
    fees_paid: float | None = None,
) -> dict[str, Any]:
    """All figures of one run as a dict with the keys ``METRIC_KEYS`` (see module doc).

    ``traded_notional``/``fees_paid`` override what the fills (or, without fills, the
    trades) give - for baselines that trade without fills. Raises ``ValueError`` on a bad
    curve (empty, unordered timestamps, non-finite or non-positive equity).
    """
    ts, eq = _check_curve(ts_ms, equity)
    if period_ms is None:
        period_ms = infer_period_ms(ts)
    elif period_ms <= 0:
        raise ValueError(f"period_ms must be > 0, got {period_ms}")
    span = int(ts[-1] - ts[0])
    ppy = YEAR_MS / period_ms if period_ms else None
    total = float(eq[-1] / eq[0] - 1.0)

    out: dict[str, Any] = {
        "start_ms": int(ts[0]),
        "end_ms": int(ts[-1]),
        "span_ms": span,
        "n_samples": int(eq.size),
        "period_ms": period_ms,
        "periods_per_year": ppy,
        "start_equity": float(eq[0]),
        "end_equity": float(eq[-1]),
        "pnl": float(eq[-1] - eq[0]),
        "total_return": total,
        "annualised_return": annualised_return(total, span),
    }
    out.update(return_stats(period_returns(eq), ppy or 0.0))
    out.update(max_drawdown(ts, eq))

    trades = list(trades)
    out.update(trade_stats(trades))

    if position_counts is not None:
        out["exposure"] = exposure_from_counts(ts, position_counts)
    else:
        out["exposure"] = exposure_from_trades(trades, int(ts[0]), int(ts[-1]))

    if fills is not None:
        notional, fees = fill_totals(fills)
    else:
        notional, fees = _trade_totals(trades)
    if traded_notional is not None:
        notional = float(traded_notional)
    if fees_paid is not None:
        fees = float(fees_paid)
    out["traded_notional"] = notional
    out["turnover"] = notional / float(np.mean(eq))
    out["fees_paid"] = fees
    return {k: out[k] for k in METRIC_KEYS}


def json_safe(obj: Any) -> Any:
    """A copy that ``json.dumps`` accepts without NaN/Infinity: non-finite floats become
    None, numpy scalars/arrays and Decimals become Python numbers/lists, tuples lists."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating | Decimal):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj
