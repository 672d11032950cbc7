"""Signal generation: z-score entries/exits, profit target and stop loss.

:class:`SignalGenerator` turns per-symbol arrays (one element per symbol of the
feed's fixed, ordered symbol list) into :class:`~tui_trader.models.Signal`
objects. Candidates are found with vectorised numpy masks; ``Signal`` objects
are built only for the candidates.

Rules (the seed's, with its numbers)
------------------------------------
* **Entry** (``BUY``, ``kind="entry"``): flat and ``z >= threshold``.
  ``strength = min(z / threshold, 2)``; ``confidence`` as below. Entries whose
  confidence is below ``signal_generation.confidence_threshold`` are still
  returned (so the caller can store every signal with its reason) but with
  ``executed=False`` and ``outcome="dropped: confidence 0.52 < 0.70"``;
  :func:`actionable` filters them out.
* **Z reversal** (``SELL``, ``kind="z_reversal"``): holding and
  ``z <= -threshold``; ``strength = min(|z| / threshold, 2)``.
* **Profit target** (``SELL``, ``kind="profit_target"``): holding and
  ``pnl% >= profit_target_percent``; strength 1.0, confidence 0.9.
* **Stop loss** (``SELL``, ``kind="stop_loss"``, ``urgent=True``): holding and
  ``pnl% <= -stop_loss_percent``; strength 1.0, confidence 1.0.

``pnl% = (price - entry_price) / entry_price * 100`` (percent, fees not
included). Percent boundaries are inclusive and compared with a tolerance of
``PCT_EPS`` (1e-9 percentage points) so that float rounding never moves a
boundary. At most one signal per symbol per call; when several exit rules hold
the order of precedence is stop loss, z reversal, profit target.

Confidence (each factor in [0, 1], the result in [0, 1])::

    strength_factor  = min(|z| / 3, 1)
    stability_factor = max(0, 1 - std / 500)          # std: rating std-dev (rating points)
    history_factor   = clip(history_len / moving_average_period, 0, 1)
    staleness_factor = clip(1 - staleness_periods / max_data_staleness_periods, 0, 1)
    gap_factor       = clip(1 - gaps / moving_average_period, 0, 1)
    data_quality     = history_factor * staleness_factor * gap_factor
    confidence       = (strength_factor + stability_factor + data_quality) / 3

``history_len`` is the number of rating periods in the z-score window,
``staleness_periods`` how many rating periods old the symbol's last data is
(0 = fresh) and ``gaps`` how many periods of the window had no data. NaN inputs
count as the worst value (factor 0).

Cooldown
--------
After a signal for a symbol (any actionable signal: entries above the
confidence threshold and all exits), no further signal for that symbol is
generated for ``signal_cooldown_ms`` (measured on the injected ``ts_ms``):
candidates that would fire inside the cooldown are not generated at all, only
counted in :attr:`SignalGenerator.suppressed_by_cooldown`. Entries dropped for
low confidence do not start a cooldown. Urgent stop-loss exits ignore the
cooldown (and start one). Because a stop loss fires again on every call while
the position is still held, the caller must ignore signals for symbols that
already have an order in flight.

Locked symbols
--------------
A locked symbol is frozen for the strategy: no entries, no z-reversal and no
profit-target exits. The stop loss still applies to it (capital protection
overrides the lock).

Prioritisation
--------------
Urgent exits first, then other exits, then actionable entries, then dropped
entries; inside each group by ``strength * confidence`` descending, ties by
symbol name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tui_trader.config import Config
from tui_trader.models import Signal, SignalType

PCT_EPS = 1e-9  # percentage points of tolerance on the profit-target / stop-loss boundaries
DROPPED_PREFIX = "dropped: "
PROFIT_TARGET_STRENGTH, PROFIT_TARGET_CONFIDENCE = 1.0, 0.9
STOP_LOSS_STRENGTH, STOP_LOSS_CONFIDENCE = 1.0, 1.0
STRENGTH_CAP = 2.0
STABILITY_SCALE = 500.0  # rating points: std at which the stability factor reaches 0
Z_CONFIDENCE_SCALE = 3.0  # |z| at which the strength factor reaches 1



def _below(value: float, limit: float) -> str:
    """``"0.52 < 0.70"`` with enough decimals that the two numbers differ on screen."""
    for digits in (2, 4, 6):
        a, b = f"{value:.{digits}f}", f"{limit:.{digits}f}"
        if a != b:
            return f"{a} < {b}"
    return f"{value!r} < {limit!r}"


def actionable(signals: Sequence[Signal]) -> list[Signal]:
    """The signals the caller should act on (everything not dropped), order kept."""
    return [s for s in signals if not s.outcome.startswith(DROPPED_PREFIX)]


def prioritise(signals: Sequence[Signal]) -> list[Signal]:
    """Sort: urgent exits, exits, actionable entries, dropped entries; inside a group
    by ``strength * confidence`` descending, ties by symbol."""

    def key(s: Signal) -> tuple[int, float, str]:
        if s.urgent:
            group = 0
        elif s.type is SignalType.SELL:
            group = 1
        elif s.outcome.startswith(DROPPED_PREFIX):
            group = 3
        else:
            group = 2
        return group, -(s.strength * s.confidence), s.symbol

    return sorted(signals, key=key)


def confidence_factors(
    z: np.ndarray,
    std: np.ndarray,
    history_len: np.ndarray,
    staleness_periods: np.ndarray,
    gaps: np.ndarray,
    moving_average_period: int,
    max_staleness_periods: float,
) -> np.ndarray:
    """Confidence in [0, 1] per element (formula in the module docstring)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        strength_f = np.nan_to_num(np.minimum(np.abs(z) / Z_CONFIDENCE_SCALE, 1.0), nan=0.0)
        stability_f = np.nan_to_num(np.maximum(0.0, 1.0 - std / STABILITY_SCALE), nan=0.0)
        stability_f = np.minimum(stability_f, 1.0)  # a (bad) negative std must not lift confidence
        hist_f = np.nan_to_num(np.clip(history_len / float(moving_average_period), 0.0, 1.0), nan=0.0)
        stale_f = np.nan_to_num(
            np.clip(1.0 - staleness_periods / float(max_staleness_periods), 0.0, 1.0), nan=0.0
        )
        gap_f = np.nan_to_num(np.clip(1.0 - gaps / float(moving_average_period), 0.0, 1.0), nan=0.0)
    return (strength_f + stability_f + hist_f * stale_f * gap_f) / 3.0


class SignalGenerator:
    """Per-period and real-time signal rules for a fixed symbol list.

    ``cfg.signal_generation`` gives the z threshold, the confidence threshold,
    the cooldown (ms) and the z-score window length; ``cfg.risk_management``
    gives the profit target and stop loss (percent) and the staleness limit.
    """

    def __init__(self, cfg: Config, symbols: Sequence[str]) -> None:
        symbols = list(symbols)
        if len(set(symbols)) != len(symbols):
            raise ValueError("SignalGenerator: duplicate symbols")
        self.cfg = cfg
        self.symbols = symbols
        self._sym_arr = np.array(symbols, dtype=object)
        # ts_ms of the last signal that started a cooldown; -inf = never (float64 holds ms exactly).
        self._last_ms = np.full(len(symbols), -np.inf)
        self.suppressed_by_cooldown = 0

    # ------------------------------------------------------------------ helpers

    @property
    def n(self) -> int:
        return len(self.symbols)

    def _threshold(self, threshold: float | None) -> float:
        t = self.cfg.signal_generation.z_score_threshold if threshold is None else float(threshold)
        if not np.isfinite(t) or t <= 0:
            raise ValueError(f"z threshold must be a positive number, got {threshold!r}")
        return t

    def _arr(self, name: str, a: np.ndarray | None, dtype: type, fill: object = None) -> np.ndarray:
        if a is None:
            return np.full(self.n, fill, dtype=dtype)
        out = np.asarray(a, dtype=dtype)
        if out.shape != (self.n,):
            raise ValueError(f"{name}: expected shape ({self.n},) (one per symbol), got {out.shape}")
        return out

    def cooling(self, ts_ms: int) -> np.ndarray:
        """Bool mask: symbols still inside their cooldown at ``ts_ms``."""
        return (float(ts_ms) - self._last_ms) < self.cfg.signal_generation.signal_cooldown_ms

    def reset_cooldowns(self) -> None:
        self._last_ms[:] = -np.inf

    def restore_cooldowns(self, last_signal_ms: Mapping[str, int]) -> int:
        """Start cooldowns at given times: ``{symbol: ts_ms}`` of the last signal (or exit without
        one) that started one - after a restart, or when the operator sells (unknown symbols
        ignored; a later time already held is kept). Returns how many symbols got a time."""
        index = {s: i for i, s in enumerate(self.symbols)}
        k = 0
        for sym, ts in last_signal_ms.items():
            i = index.get(sym)
            if i is not None:
                self._last_ms[i] = max(self._last_ms[i], float(ts))
                k += 1
        return k

    @staticmethod
    def _pnl_pct(price: np.ndarray, entry: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            pnl = (price - entry) / entry * 100.0
        pnl[~(entry > 0)] = np.nan  # flat (NaN) or nonsense entry prices never trigger
        return pnl

    def _exit_signal(self, ts_ms: int, i: int, kind: str, pnl: float, z: float) -> Signal:
        sym = self.symbols[i]
        if kind == "stop_loss":
            return Signal(ts_ms, sym, SignalType.SELL, STOP_LOSS_STRENGTH, STOP_LOSS_CONFIDENCE, z,
                          f"Stop loss triggered: {pnl:.2f}%", urgent=True, kind="stop_loss")
        return Signal(ts_ms, sym, SignalType.SELL, PROFIT_TARGET_STRENGTH, PROFIT_TARGET_CONFIDENCE, z,
                      f"Profit target reached: {pnl:.2f}%", kind="profit_target")

    # --------------------------------------------------------------- rating period

    def evaluate(
        self,
        ts_ms: int,
        z: np.ndarray,
        std: np.ndarray,
        history_len: np.ndarray,
        staleness_periods: np.ndarray,
        gaps: np.ndarray,
        holding: np.ndarray,
        entry_price: np.ndarray,
        price: np.ndarray,
        locked: np.ndarray | None = None,
        threshold: float | None = None,
    ) -> list[Signal]:
        """All signals of one rating period, prioritised (see the module docstring).

        Every array has one element per symbol. ``z``: z-score of the rating;
        ``std``: rating std-dev over the window (rating points); ``history_len``:
        periods in the window; ``staleness_periods``: age of the last data in
        rating periods; ``gaps``: missing periods in the window; ``holding``:
        bool; ``entry_price``: average entry (quote per base, NaN when flat);
        ``price``: last price; ``locked``: bool (None = none locked);
        ``threshold``: overrides ``signal_generation.z_score_threshold``.
        """
        thr = self._threshold(threshold)
        sg, rm = self.cfg.signal_generation, self.cfg.risk_management
        z = self._arr("z", z, np.float64)
        std = self._arr("std", std, np.float64)
        hist = self._arr("history_len", history_len, np.float64)
        stale = self._arr("staleness_periods", staleness_periods, np.float64)
        gaps_a = self._arr("gaps", gaps, np.float64)
        hold = self._arr("holding", holding, bool)
        entry = self._arr("entry_price", entry_price, np.float64)
        px = self._arr("price", price, np.float64)
        lock = self._arr("locked", locked, bool, False)

        pnl = self._pnl_pct(px, entry)
        cool = self.cooling(ts_ms)
        free = ~lock

        stop = hold & (pnl <= -rm.stop_loss_percent + PCT_EPS)
        zrev = hold & ~stop & (z <= -thr) & free
        target = hold & ~stop & ~zrev & (pnl >= rm.profit_target_percent - PCT_EPS) & free
        entry_m = ~hold & (z >= thr) & free

        wanted = zrev | target | entry_m
        self.suppressed_by_cooldown += int(np.count_nonzero(wanted & cool))
        zrev &= ~cool
        target &= ~cool
        entry_m &= ~cool

        cand = entry_m | zrev
        conf = np.zeros(self.n)
        strength = np.zeros(self.n)
        if cand.any():
            conf[cand] = confidence_factors(
                z[cand], std[cand], hist[cand], stale[cand], gaps_a[cand],
                sg.moving_average_period, rm.max_data_staleness_periods,
            )
            strength[cand] = np.minimum(np.abs(z[cand]) / thr, STRENGTH_CAP)

        out: list[Signal] = []
        for i in np.flatnonzero(stop):
            out.append(self._exit_signal(ts_ms, int(i), "stop_loss", float(pnl[i]), float(z[i])))
        for i in np.flatnonzero(target):
            out.append(self._exit_signal(ts_ms, int(i), "profit_target", float(pnl[i]), float(z[i])))
        for i in np.flatnonzero(zrev):
            out.append(Signal(ts_ms, self.symbols[i], SignalType.SELL, float(strength[i]), float(conf[i]),
                              float(z[i]), f"Z-Score reversal: {z[i]:.2f} at or below -{thr:.2f}",
                              kind="z_reversal"))
        dropped = entry_m & (conf < sg.confidence_threshold)
        for i in np.flatnonzero(entry_m):
            s = Signal(ts_ms, self.symbols[i], SignalType.BUY, float(strength[i]), float(conf[i]), float(z[i]),
                       f"Z-Score {z[i]:.2f} exceeds threshold {thr:.2f}", kind="entry")
            if dropped[i]:
                s.outcome = f"{DROPPED_PREFIX}confidence {_below(conf[i], sg.confidence_threshold)}"
            out.append(s)

        self._last_ms[stop | target | zrev | (entry_m & ~dropped)] = float(ts_ms)
        return prioritise(out)

    # ------------------------------------------------------------------ real time

    def check_exits(
        self,
        ts_ms: int,
        sym_idx: np.ndarray,
        price: np.ndarray,
        entry_price: np.ndarray,
        locked: np.ndarray | None = None,
    ) -> list[Signal]:
        """Profit target / stop loss on a batch of price updates (between periods).

        ``sym_idx`` (int), ``price`` and ``entry_price`` are aligned with each
        other (one element per update; ``entry_price`` NaN for flat symbols,
        which are skipped). When a symbol appears several times the last update
        wins. ``locked`` is optional and, unlike the other arrays, indexed by
        symbol (one element per symbol, as in :meth:`evaluate`). Profit-target
        exits obey the cooldown and the lock; stop losses ignore both. The
        ``z_score`` of these signals is NaN (not known between periods).
        """
        idx = np.asarray(sym_idx, dtype=np.int64)
        px = np.asarray(price, dtype=np.float64)
        entry = np.asarray(entry_price, dtype=np.float64)
        if idx.ndim != 1 or px.shape != idx.shape or entry.shape != idx.shape:
            raise ValueError(
                f"check_exits: sym_idx, price and entry_price must be 1-D and aligned, "
                f"got {idx.shape}, {px.shape}, {entry.shape}"
            )
        if idx.size == 0:
            return []
        if idx.min() < 0 or idx.max() >= self.n:
            raise ValueError(f"check_exits: symbol index out of range 0..{self.n - 1}")
        lock = self._arr("locked", locked, bool, False)
        # Last update per symbol: unique over the reversed arrays keeps the last occurrence.
        rev_idx = idx[::-1]
        uniq, first_in_rev = np.unique(rev_idx, return_index=True)
        pos = idx.size - 1 - first_in_rev
        px, entry = px[pos], entry[pos]

        rm = self.cfg.risk_management
        pnl = self._pnl_pct(px, entry)
        stop = pnl <= -rm.stop_loss_percent + PCT_EPS
        target = ~stop & (pnl >= rm.profit_target_percent - PCT_EPS) & ~lock[uniq]
        cool = self.cooling(ts_ms)[uniq]
        self.suppressed_by_cooldown += int(np.count_nonzero(target & cool))
        target &= ~cool

        out = [self._exit_signal(ts_ms, int(uniq[k]), "stop_loss", float(pnl[k]), float("nan"))
               for k in np.flatnonzero(stop)]
        out += [self._exit_signal(ts_ms, int(uniq[k]), "profit_target", float(pnl[k]), float("nan"))
                for k in np.flatnonzero(target)]
        self._last_ms[uniq[stop | target]] = float(ts_ms)
        return prioritise(out)
