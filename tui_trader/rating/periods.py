"""Rating periods: closed klines -> period accumulators -> scores -> Glicko-2 -> z-scores.

:class:`PeriodRater` is the rating half of the trading engine, with no I/O, no
asyncio and nothing about orders: the engine is one (it inherits these
methods), and :mod:`tui_trader.rating.ahead` runs one in a second process, on
the same klines, ahead of the engine, for the part that needs the market
(:meth:`PeriodRater._rate_games`); the engine takes its results and does the
rest (:meth:`PeriodRater._rate_z`). Both run this code from the same state, so
they produce the same numbers bit for bit.

The rules (periods aligned to the epoch, late klines, who plays) are those of
:mod:`tui_trader.engine`'s module docstring.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tui_trader.market.cache import MarketCache
from tui_trader.models import KlineBatch
from tui_trader.rating.glicko2 import rate_period, rate_period_games
from tui_trader.rating.matches import RoundRobin, build_games
from tui_trader.rating.performance import performance_score
from tui_trader.rating.zscore import RollingZScore

if TYPE_CHECKING:
    from tui_trader.config import Config

__all__ = ["GAMES_FIELDS", "PERIOD_CLOSED", "PeriodRater", "RatingParams", "period_ms_for"]

#: What :meth:`PeriodRater._kline_steps` yields right after a period closed.
PERIOD_CLOSED = None

#: The rows of one period's :meth:`PeriodRater._rate_games` results, as sent between processes.
GAMES_FIELDS = ("rating", "rd", "vol", "score")


def period_ms_for(cfg: Config, interval_ms: int) -> int:
    """The rating period (ms): the configured interval rounded up to whole klines."""
    rating_ms = cfg.data_processing.rating_calculation_interval_ms
    return max(1, math.ceil(rating_ms / interval_ms)) * interval_ms


@dataclass(frozen=True)
class RatingParams:
    """The configuration a rater needs, as plain values (cheap to send to another process)."""

    initial_rating: float
    initial_rd: float
    initial_volatility: float
    tau: float
    max_volatility: float | None
    max_rd: float | None
    outcome_mode: str
    margin_scale: float
    draw_epsilon: float
    opponents: int
    volatility_window: int
    z_window: int
    seed: int

    @classmethod
    def from_config(cls, cfg: Config) -> RatingParams:
        r = cfg.rating
        return cls(
            initial_rating=r.initial_rating, initial_rd=r.initial_rd, initial_volatility=r.initial_volatility,
            tau=r.tau, max_volatility=r.max_volatility, max_rd=r.max_rd, outcome_mode=r.outcome_mode,
            margin_scale=r.margin_scale, draw_epsilon=r.draw_epsilon, opponents=r.opponents,
            volatility_window=r.volatility_window, z_window=cfg.signal_generation.moving_average_period,
            seed=cfg.feed.sim.seed,
        )


class PeriodRater:
    """Rates the periods of a stream of closed klines (see the module docstring).

    State (all plain arrays, picklable): the market cache, the open period's
    accumulators, the volatility ring, ratings / RD / volatility, the z-score
    window and the gap ring. :meth:`_rater_state` and :meth:`from_state` move it
    between processes."""

    #: The attributes :meth:`_kline_steps` and :meth:`_rate_games` use (a rater without the
    #: z-score window and gap ring, which only need the games' results, rates the games).
    STATE = (
        "_rp", "cache", "period_ms", "counters", "last_kline_ms", "rating", "rd", "vol", "score", "_pidx",
        "_closed_pidx", "_p_open", "_p_close", "_p_vol", "_p_taker", "_p_count", "_all_sym", "_vol_window",
        "_vol_key", "_vol_cache", "_vring", "_vcol", "_vfull", "_vorder", "_buf_change", "_buf_ratio",
        "_buf_sigma", "_period_ts", "_name_order",
    )
    #: The counters a rater keeps (the engine keeps more in the same dict).
    COUNTERS = ("periods", "klines", "late_klines")

    counters: dict[str, int]

    def _init_rating(self, params: RatingParams, symbols: list[str], period_ms: int) -> None:
        n = len(symbols)
        self._rp = params
        self.period_ms = int(period_ms)
        self._vol_window = params.volatility_window
        self.cache = MarketCache(symbols, capacity=max(self._vol_window + 2, 64))
        self.rating = np.full(n, params.initial_rating, dtype=np.float64)
        self.rd = np.full(n, params.initial_rd, dtype=np.float64)
        self.vol = np.full(n, params.initial_volatility, dtype=np.float64)
        self.score = np.full(n, np.nan)
        self.zs = RollingZScore(n, params.z_window)
        self.z = np.zeros(n)
        self.ma = np.full(n, np.nan)
        self.zstd = np.zeros(n)
        self.last_kline_ms = np.full(n, -1, dtype=np.int64)
        # periods without data in the z-score window, per symbol (a ring of the last `window` periods)
        self.gaps = np.zeros(n, dtype=np.int64)
        self._gap_ring = np.zeros((params.z_window, n), dtype=bool)
        self._gap_pos = 0
        self._gaps_held = 0  # sum of `gaps` (0: the ring is all False)
        # the open period's accumulators (reused, never reallocated)
        self._pidx: int | None = None
        self._closed_pidx: int | None = None
        self._p_open = np.full(n, np.nan)
        self._p_close = np.full(n, np.nan)
        self._p_vol = np.zeros(n)
        self._p_taker = np.zeros(n)
        self._p_count = np.zeros(n, dtype=np.int32)
        self._all_sym = np.arange(n, dtype=np.int32)
        # per-kline-count caches of derived market figures
        self._vol_key = -1
        self._vol_cache = np.full(n, np.nan)
        # the closes of the last `volatility_window` klines while every batch carries every symbol
        # (the common case): the volatility then needs no per-symbol ring arithmetic
        self._vring = np.full((n, self._vol_window), np.nan)
        self._vcol = 0
        self._vfull = 0  # consecutive complete batches in the ring (valid when >= the window)
        self._vorder: dict[int, np.ndarray] = {}  # ring column order (oldest first) per write position
        self._buf_change = np.empty(n)
        self._buf_ratio = np.empty(n)
        self._buf_sigma = np.empty(n)
        self._period_ts = 0
        # sampled opponents are drawn over the symbols in name order (None: the list is in it), so
        # the games do not depend on the order the symbol list happens to have
        order = np.array(sorted(range(n), key=symbols.__getitem__), dtype=np.intp)
        self._name_order = None if np.array_equal(order, np.arange(n)) else order

    # ------------------------------------------------------------------ moving the state

    def _rater_state(self) -> dict[str, Any]:
        """This rater's state (references, not copies: pickle it to move it)."""
        state = {k: self.__dict__[k] for k in self.STATE}
        state["counters"] = {k: self.counters[k] for k in self.COUNTERS}
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PeriodRater:
        rater = cls.__new__(cls)
        rater.__dict__.update(state)
        return rater

    # ------------------------------------------------------------------ klines in

    def _kline_steps(self, batch: KlineBatch) -> Iterator[KlineBatch | None]:
        """Klines into the cache and the period accumulators, one open time at a time.

        Yields :data:`PERIOD_CLOSED` (None) right after each period is rated - the caller
        finishes it (signals, orders, storage) before the next klines go in - and each
        open time's klines that closed no period (the engine re-checks open positions on
        them). Klines of an already closed period update the cache only."""
        if len(batch) == 0:
            return
        closed = batch.closed
        if closed.all():
            groups = self._groups(batch)
        else:
            groups = self._groups(batch.take(closed))
        for g, complete in groups:
            P = self.period_ms
            pidx = int(g.open_time[0]) // P
            if (self._closed_pidx is not None and pidx <= self._closed_pidx) or (
                self._pidx is not None and pidx < self._pidx
            ):
                self.cache.add_klines(g)  # its period is rated already: market data only
                self._vfull = 0
                self.counters["late_klines"] += len(g)
                self.last_kline_ms[g.sym] = np.maximum(self.last_kline_ms[g.sym], g.open_time)
                continue
            if self._pidx is not None and pidx > self._pidx:
                self._close_period()  # the open period ends without its last kline
                yield PERIOD_CLOSED
            self.cache.add_klines(g)
            if self._accumulate(g, pidx, complete):
                self._close_period()
                yield PERIOD_CLOSED
            else:
                yield g
        if not closed.all():
            self.cache.add_klines(batch.take(~closed))  # in-progress candles: prices only

    def _groups(self, batch: KlineBatch) -> list[tuple[KlineBatch, bool]]:
        """Closed klines split by open time (time order); within one open time a symbol's last row wins.
        Each group comes with ``complete``: it holds every symbol once, in symbol order."""
        if len(batch) == 0:
            return []
        n = self._all_sym.shape[0]
        ot = batch.open_time
        if ot[0] == ot[-1] and (len(batch) < 3 or ot.min() == ot.max()):
            groups = [batch]
        else:
            batch = batch.take(np.argsort(ot, kind="stable"))
            times, starts = np.unique(batch.open_time, return_index=True)
            bounds = [*starts.tolist(), len(batch)]
            groups = [batch.take(slice(bounds[k], bounds[k + 1])) for k in range(len(times))]
        out = []
        for g in groups:
            n_g = len(g)
            full = n_g == n and np.array_equal(g.sym, self._all_sym)
            if not full and n_g > 1 and np.unique(g.sym).shape[0] != n_g:
                _, last = np.unique(g.sym[::-1], return_index=True)
                g = g.take(np.sort(n_g - 1 - last))
                full = len(g) == n and np.array_equal(g.sym, self._all_sym)
            out.append((g, full))
        return out

    def _accumulate(self, g: KlineBatch, pidx: int, complete: bool) -> bool:
        """Add one open time's closed klines to the open period (period ``pidx``); True when they reach
        its end (the caller closes it)."""
        first_of_period = self._pidx is None
        if first_of_period:
            self._pidx = pidx
        sym = g.sym
        n_g = len(g)
        self.counters["klines"] += n_g
        if complete:
            # every symbol, in order: whole-array operations, no fancy indexing
            if first_of_period:
                np.copyto(self._p_open, g.open)
                np.copyto(self._p_vol, g.volume)
                np.copyto(self._p_taker, g.taker_buy_base)
                self._p_count.fill(1)
            else:
                np.copyto(self._p_open, g.open, where=self._p_count == 0)
                self._p_vol += g.volume
                self._p_taker += g.taker_buy_base
                self._p_count += 1
            np.copyto(self._p_close, g.close)
            np.copyto(self.last_kline_ms, g.open_time)
            self._vring[:, self._vcol] = g.close
            self._vcol = (self._vcol + 1) % self._vring.shape[1]
            self._vfull += 1
        else:
            first = self._p_count[sym] == 0
            if first.all():
                self._p_open[sym] = g.open
            else:
                self._p_open[sym[first]] = g.open[first]
            self._p_close[sym] = g.close
            self._p_vol[sym] += g.volume
            self._p_taker[sym] += g.taker_buy_base
            self._p_count[sym] += 1
            self.last_kline_ms[sym] = g.open_time
            self._vfull = 0  # the ring no longer holds every symbol's last closes
        return int(g.close_time.max()) + 1 >= (pidx + 1) * self.period_ms

    def _close_period(self) -> bool:
        if self._pidx is None:
            return False
        pidx = self._pidx
        self._rate_period((pidx + 1) * self.period_ms)
        self._closed_pidx = pidx
        self._pidx = None
        self._p_open.fill(np.nan)
        self._p_close.fill(np.nan)
        self._p_vol.fill(0.0)
        self._p_taker.fill(0.0)
        self._p_count.fill(0)
        return True

    # ------------------------------------------------------------------ rating

    def _volatility(self) -> np.ndarray:
        """(N,) per-kline return volatility over ``rating.volatility_window`` klines (fraction; NaN unknown)."""
        key = self.cache.total_klines
        if key != self._vol_key:
            k = self._vring.shape[1]
            if self._vfull >= k and k >= 3:
                # the same arithmetic as MarketCache.return_volatility, on the ring of complete batches
                order = self._vorder.get(self._vcol)
                if order is None:
                    order = self._vorder[self._vcol] = (np.arange(k) + self._vcol) % k
                c = self._vring[:, order]
                r = c[:, 1:] / c[:, :-1] - 1.0
                mean = r.sum(axis=1) / (k - 1)
                dev = r - mean[:, None]
                self._vol_cache = np.sqrt((dev * dev).sum(axis=1) / (k - 2))
            else:
                self._vol_cache = self.cache.return_volatility(self._vol_window)
            self._vol_key = key
        return self._vol_cache

    def _rate_period(self, ts_ms: int) -> None:
        """Rate the period ending at ``ts_ms`` (the engine adds its own bookkeeping)."""
        self._rate()
        self.counters["periods"] += 1
        self._period_ts = ts_ms

    def _rate(self) -> None:
        """Everything about the period in the accumulators: :meth:`_rate_games`, then :meth:`_rate_z`."""
        self._rate_games()
        self._rate_z()

    def _rate_games(self) -> None:
        """Scores, games and Glicko-2 of the period in the accumulators (period number
        ``counters["periods"]``): ``rating``, ``rd``, ``vol`` and ``score``. This part needs
        the market (the period's klines, the volatility); the rest needs only its results."""
        rc = self._rp
        active = self._p_count > 0
        all_active = bool(active.all())
        change_pct = np.subtract(self._p_close, self._p_open, out=self._buf_change)
        change_pct /= self._p_open  # open > 0 (validated); NaN for symbols without klines
        change_pct *= 100.0
        ratio = self._buf_ratio
        ratio.fill(0.5)
        np.divide(self._p_taker, self._p_vol, out=ratio, where=self._p_vol > 0)
        sigma = self._buf_sigma
        np.copyto(sigma, self._volatility())
        sigma[~np.isfinite(sigma)] = 0.0  # unknown volatility scores as none
        if not all_active:
            change_pct[~active] = np.nan
        score = performance_score(change_pct, ratio, sigma)
        period = self.counters["periods"]
        games = None
        if rc.opponents > 0:  # sampled opponents: a list of games, O(N k), no (N, N) matrix
            rng = np.random.default_rng((rc.seed, period))
            order = self._name_order
            games = build_games(score if order is None else score[order], mode=rc.outcome_mode,
                                opponents=rc.opponents, rng=rng, margin_scale=rc.margin_scale,
                                draw_epsilon=rc.draw_epsilon)
            if games is not None and order is not None:  # back to list positions, the games' order kept
                games = (order[games[0]], order[games[1]], games[2])
        # None: round robin, also when opponents >= active - 1 (nothing to sample)
        if games is not None:
            self.rating, self.rd, self.vol = rate_period_games(
                self.rating, self.rd, self.vol, *games, tau=rc.tau, max_vol=rc.max_volatility, max_rd=rc.max_rd,
            )
        else:  # round robin (a large one is rated block by block, without the (N, N) matrix)
            outcomes = RoundRobin(score, mode=rc.outcome_mode, margin_scale=rc.margin_scale,
                                  draw_epsilon=rc.draw_epsilon)
            self.rating, self.rd, self.vol = rate_period(
                self.rating, self.rd, self.vol, outcomes, tau=rc.tau, max_vol=rc.max_volatility, max_rd=rc.max_rd,
            )
        self.score = score

    def _rate_z(self) -> None:
        """The z-score window and the gap ring after :meth:`_rate_games` (the period's
        accumulators still hold its klines)."""
        active = self._p_count > 0
        all_active = bool(active.all())
        played = np.isfinite(self.score)
        z, mean, std = self.zs.update(self.rating, played)
        self.z = z  # RollingZScore reports 0, never NaN/inf, where z is undefined
        self.ma = mean
        self.zstd = std
        # periods without data in the z window (only once a symbol has been seen at all)
        ring = self._gap_ring
        p = self._gap_pos
        if not all_active or self._gaps_held:
            missing = ~active & (self.last_kline_ms >= 0)
            self.gaps += missing
            self.gaps -= ring[p]
            ring[p] = missing
            self._gaps_held = int(self.gaps.sum())
        self._gap_pos = (p + 1) % ring.shape[0]

    def _games_output(self, out: np.ndarray) -> None:
        """Write the last period's :data:`GAMES_FIELDS` into ``out`` (shape ``(4, N)``)."""
        out[0] = self.rating
        out[1] = self.rd
        out[2] = self.vol
        out[3] = self.score

    def _apply_games(self, games: np.ndarray) -> None:
        """Take a period's :meth:`_rate_games` results computed elsewhere (by a rater in the same
        state); the caller then runs :meth:`_rate_z`."""
        self.rating, self.rd, self.vol, self.score = games
