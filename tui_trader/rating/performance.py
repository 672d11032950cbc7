"""Per-symbol performance score of one rating period (vectorised).

    score = 0.6 * tanh(2 * dp) + 0.3 * 2 * (taker_ratio - 0.5) + 0.1 * min(sigma / 0.05, 1)

Units
-----
* ``dp`` (``price_change_pct``): the period's price change in PERCENT,
  ``(close - open) / open * 100``; ``dp = 1`` means +1 %.
* ``taker_ratio``: taker-buy base volume / base volume, a fraction in [0, 1]
  (0.5 when the volume is 0).
* ``sigma`` (``volatility``): the symbol's recent return volatility, the
  standard deviation of simple per-kline returns, as a FRACTION (0.05 = 5 %);
  it saturates at 0.05. :func:`return_volatility` here gives the population
  figure (ddof 0); the engine (:mod:`tui_trader.rating.periods`) passes the
  sample figure (ddof 1) of the last ``rating.volatility_window`` klines
  (``MarketCache.return_volatility``), and 0 where it is not known yet (fewer
  than 3 closes), so such a symbol still plays, without the volatility term.

The score lies in [-0.9, 1.0]. Missing data is NaN all the way: any input that
is NaN (or otherwise invalid, see each function) gives a NaN score, which the
caller treats as "inactive this period". These functions never raise on
NaN/inf values; mismatched shapes raise ``ValueError``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PRICE_WEIGHT",
    "TAKER_WEIGHT",
    "VOLATILITY_WEIGHT",
    "VOLATILITY_SATURATION",
    "performance_score",
    "taker_ratio",
    "price_change_pct",
    "return_volatility",
    "period_inputs",
    "period_scores",
]

PRICE_WEIGHT = 0.6
TAKER_WEIGHT = 0.3
VOLATILITY_WEIGHT = 0.1
VOLATILITY_SATURATION = 0.05
"""Volatility (fraction) at which the volatility term reaches its maximum."""


def _f64(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _same_shape(name: str, *arrays: np.ndarray) -> None:
    shape = arrays[0].shape
    for a in arrays[1:]:
        if a.shape != shape:
            raise ValueError(f"{name}: inputs must have the same shape, got {[x.shape for x in arrays]}")


def performance_score(
    price_change_pct: np.ndarray, taker_ratio: np.ndarray, volatility: np.ndarray
) -> np.ndarray:
    """Score per symbol (see the module docstring for the formula and units).

    ``price_change_pct`` in percent, ``taker_ratio`` a fraction in [0, 1],
    ``volatility`` a fraction >= 0. NaN in any input gives NaN; so does a
    taker ratio outside [0, 1], a negative volatility or a non-finite
    volatility (invalid data counts as "no data"). An infinite price change is
    accepted (tanh saturates). Returns a new float64 array.
    """
    dp = _f64(price_change_pct)
    tr = _f64(taker_ratio)
    sig = _f64(volatility)
    _same_shape("performance_score", dp, tr, sig)
    score = np.multiply(dp, 2.0)
    np.tanh(score, out=score)
    score *= PRICE_WEIGHT
    score += TAKER_WEIGHT * 2.0 * (tr - 0.5)
    score += VOLATILITY_WEIGHT * np.minimum(sig / VOLATILITY_SATURATION, 1.0)
    invalid = ~((tr >= 0.0) & (tr <= 1.0) & (sig >= 0.0) & np.isfinite(sig))
    score[invalid] = np.nan
    return score


def taker_ratio(taker_buy_base: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Taker-buy base volume / base volume per symbol, a fraction in [0, 1].

    0.5 (neutral) where the volume is 0. NaN where either input is NaN or
    infinite, or where a volume is negative. Ratios a hair outside [0, 1]
    (summing rounding, ``taker_buy_base`` slightly above ``volume``) are
    clipped to [0, 1]; a negative taker volume gives NaN.
    """
    tb = _f64(taker_buy_base)
    vol = _f64(volume)
    _same_shape("taker_ratio", tb, vol)
    ok = np.isfinite(tb) & np.isfinite(vol) & (vol >= 0.0) & (tb >= 0.0)
    pos = ok & (vol > 0.0)
    out = np.full(vol.shape, np.nan)
    np.divide(tb, vol, out=out, where=pos)
    np.minimum(out, 1.0, out=out, where=pos)
    out[ok & (vol == 0.0)] = 0.5
    return out


def price_change_pct(open_: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``(close - open) / open * 100`` per symbol, in PERCENT.

    NaN where either price is NaN/inf or not positive.
    """
    op = _f64(open_)
    cl = _f64(close)
    _same_shape("price_change_pct", op, cl)
    ok = np.isfinite(op) & np.isfinite(cl) & (op > 0.0) & (cl > 0.0)
    out = np.full(op.shape, np.nan)
    np.divide(cl - op, op, out=out, where=ok)
    out *= 100.0
    return out


def return_volatility(closes: np.ndarray, min_returns: int = 2) -> np.ndarray:
    """Recent return volatility per symbol, a FRACTION.

    ``closes`` is a (T, N) array of consecutive kline close prices (oldest
    first, NaN = missing). The result is the population standard deviation
    (ddof 0) of the simple returns ``close[t] / close[t-1] - 1`` over the
    pairs where both closes are valid and positive; NaN for symbols with fewer
    than ``min_returns`` such returns.
    """
    c = _f64(closes)
    if c.ndim != 2:
        raise ValueError(f"return_volatility: closes must be (T, N), got shape {c.shape}")
    if min_returns < 1:
        raise ValueError(f"return_volatility: min_returns must be >= 1, got {min_returns}")
    n = c.shape[1]
    if c.shape[0] < 2:
        return np.full(n, np.nan)
    prev, cur = c[:-1], c[1:]
    ok = np.isfinite(prev) & np.isfinite(cur) & (prev > 0.0) & (cur > 0.0)
    ret = np.zeros(cur.shape)
    np.divide(cur, prev, out=ret, where=ok)
    ret -= 1.0
    ret[~ok] = 0.0
    cnt = ok.sum(axis=0)
    safe = np.maximum(cnt, 1)
    mean = ret.sum(axis=0) / safe
    dev = ret - mean
    dev[~ok] = 0.0
    out = np.sqrt((dev * dev).sum(axis=0) / safe)
    out[cnt < min_returns] = np.nan
    return out


def period_inputs(
    open_: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    taker_buy_base: np.ndarray,
    volatility: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three score inputs of one period from per-symbol aggregates.

    ``open_``: each symbol's price at the start of the period (first kline's
    open); ``close``: its last close; ``volume`` / ``taker_buy_base``: base
    volumes summed over the period's klines; ``volatility``: the symbol's
    recent return volatility (fraction, e.g. from :func:`return_volatility`).
    Returns ``(price_change_pct, taker_ratio, volatility)`` ready for
    :func:`performance_score`; NaN marks symbols without data.
    """
    sig = _f64(volatility)
    dp = price_change_pct(open_, close)
    tr = taker_ratio(taker_buy_base, volume)
    _same_shape("period_inputs", dp, tr, sig)
    return dp, tr, sig.copy()


def period_scores(
    open_: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    taker_buy_base: np.ndarray,
    volatility: np.ndarray,
) -> np.ndarray:
    """:func:`performance_score` of :func:`period_inputs` (NaN = inactive)."""
    return performance_score(*period_inputs(open_, close, volume, taker_buy_base, volatility))
