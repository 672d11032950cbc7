"""The embedded simulated market: a deterministic, vectorised multi-symbol price process.

Model (per kline interval, all symbols in one numpy step; ``M = ticks_per_kline``):

* Standardised shocks ``u = w_m·f_market + w_s·f_sector + w_e·ε`` (each ~N(0, 1);
  symbols of one sector correlate ~0.5, across sectors ~0.35), drawn for ``M + 1``
  sub-steps of the candle.
* Volatility clustering: a GARCH(1,1)-like variance multiplier per symbol,
  ``h <- (1-α-β) + α·h·z² + β·h`` (α = 0.07, β = 0.9, mean 1), where ``z`` is the
  candle's standardised shock.
* Regimes: now and then a symbol trends for a while (a drift of ±0.15…0.45 σ per
  kline for 8…60 rating periods), so the ratings have something real to find.
* Prices: log-price random walk with per-kline σ = daily σ × √(interval / 1 day), pulled back
  when it leaves its band (:data:`LEVEL_BAND` × the level, or under 1,000 ticks);
  a few real names at realistic scales (BTCUSDT ~60000, ETHUSDT ~3000, …) and
  generated ``…USDT`` names with prices log-uniform in [0.0001, 500]; OHLC rounded
  to the symbol's synthetic tick size.
* Volumes: per-symbol daily quote volume (BTC ~1.5e9 USDT), scaled by an
  intraday cycle (read at the candle's open; a candle of whole days holds whole
  cycles, so the same volume per day at any interval), the volatility state and
  the size of the move (lognormal noise); taker-buy volume share ``0.5 + 0.12·z``
  (+ noise) co-moves with returns.

Events: per interval, ``M`` :class:`PriceBatch` (all symbols) at ``open + j·interval/(M+1)``
then one :class:`KlineBatch` of the closed candles, emitted at ``close_time + 1``
(= the next open). A PriceBatch's 24h figures are those of the day before it (hourly
buckets under 1h klines; over longer ones, the candles it reaches, its ends pro rata).
The :class:`ManualClock` is advanced to each event's time before it is yielded. Data depend only on the seed and the configuration; pacing
(``speed`` × real time, or ``"max"``) never changes them.

Warm-up: the process starts ``warmup`` klines before ``start_ms`` (``warmup`` =
``feed.sim.warmup_periods`` rating periods by default) and :meth:`SimFeed.history`
returns the end of that run, so the live stream continues exactly where history ends.

Resuming: a restarted engine hands the feed the prices it last saw (``anchor_prices``); the
process then continues from them (warm-up history and 24 h figures rescaled to match), so a
quit and restart does not move the prices of a held position by a jump back to the seed's.

Units: times integer ms since the epoch (UTC); prices USDT; volumes base units,
quote volumes USDT.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

from tui_trader.clock import MS_PER_DAY, Clock, interval_to_ms, kline_open_ms
from tui_trader.config import Config
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.market.pacing import Pacer
from tui_trader.market.universe import is_leveraged_token
from tui_trader.market.validation import (
    PriceGuard,
    RejectCounter,
    prices_plainly_ok,
    validate_kline_batch,
    validate_price_batch,
)
from tui_trader.models import KlineBatch, PriceBatch, SymbolFilters
from tui_trader.monitor.metrics import CounterRate

DEFAULT_START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
#: A resumed market's anchor price below this many ticks of the seed's level takes its own tick.
MIN_TICKS_AT_ANCHOR = 1000
#: A resumed market's anchor price more than this many times the seed's level takes its own tick,
#: step and lot (the seed's made a 0.0002 coin anchored at 60,000 trade in whole units).
MAX_ANCHOR_RATIO = 100.0
#: A running market keeps each price within this factor of its level (the price its filters are made
#: from) and at least :data:`MIN_TICKS_AT_ANCHOR` ticks: beyond, it is pulled back by
#: :data:`LEVEL_PULL` of the excess (in log price) per kline. An unbounded walk took a third of the
#: closes of a 1d or 1w market under 100 ticks (returns of 1 % a tick, or a price stuck at one tick)
#: and prices of 1e16, refused by the feed as bad data, within a minute of ``--speed max``.
LEVEL_BAND = MAX_ANCHOR_RATIO
LEVEL_PULL = 0.2
#: The warm-up's market steps give the event loop a turn this often (a console keeps drawing while
#: thousands of symbols take seconds); the values made are the same either way.
YIELD_EVERY_STEPS = 16
#: The most price rows (symbols x ``ticks_per_kline``) the market makes ahead of the events for a
#: kline tap: the tap's look-ahead is cut to fit (at least 1 interval). 64 intervals of 500 symbols at
#: 1,000 ticks a kline held 1.5 GB of price updates; 5,000 symbols 2.8 GB. The data are the same.
PRICE_ROWS_AHEAD = 1_000_000
HOUR_MS = 3_600_000

# name, price (USDT), daily quote volume (USDT), daily volatility
REAL_NAMES: tuple[tuple[str, float, float, float], ...] = (
    ("BTCUSDT", 60_000.0, 1.5e9, 0.025),
    ("ETHUSDT", 3_000.0, 8.0e8, 0.032),
    ("SOLUSDT", 150.0, 4.0e8, 0.045),
    ("BNBUSDT", 580.0, 1.5e8, 0.03),
    ("XRPUSDT", 0.6, 2.5e8, 0.04),
    ("DOGEUSDT", 0.15, 2.0e8, 0.05),
    ("ADAUSDT", 0.45, 8.0e7, 0.045),
    ("AVAXUSDT", 30.0, 6.0e7, 0.05),
    ("LINKUSDT", 15.0, 5.0e7, 0.048),
    ("DOTUSDT", 6.0, 3.0e7, 0.045),
)

_CONSONANTS = "BCDFGHJKLMNPRSTVWXZ"
_VOWELS = "AEIOUY"


def generate_symbol_names(n: int, seed: int, quote: str = "USDT", exclude: Sequence[str] = ()) -> list[str]:
    """``n`` distinct symbol names: the real ones of :data:`REAL_NAMES` first, then generated
    pronounceable ``<BASE><quote>`` names (deterministic for ``seed``); names in
    ``exclude`` and leveraged-token look-alikes are never produced."""
    excluded = {s.upper() for s in exclude}
    out: list[str] = []
    seen: set[str] = set()
    for name, *_ in REAL_NAMES:
        if len(out) >= n:
            break
        if quote == "USDT" and name not in excluded:
            out.append(name)
            seen.add(name)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7])
    while len(out) < n:
        k = int(rng.integers(1, 3))  # syllables
        base = "".join(_CONSONANTS[rng.integers(len(_CONSONANTS))] + _VOWELS[rng.integers(len(_VOWELS))]
                       for _ in range(k))
        if rng.random() < 0.5:
            base += _CONSONANTS[rng.integers(len(_CONSONANTS))]
        name = base + quote
        if name in seen or name in excluded or is_leveraged_token(name, quote):
            continue
        seen.add(name)
        out.append(name)
    return out


def _tick_of(price: float) -> float:
    return float(synthetic_filters("X", price).tick_size)


class SimMarket:
    """The price process itself (no I/O, no asyncio): call :meth:`step` once per kline interval.

    Deterministic for ``(names, interval_ms, ticks_per_kline, seed, rating_klines)``.
    ``rating_klines`` (klines per rating period) scales the regime durations.
    """

    ALPHA = 0.07
    BETA = 0.90

    def __init__(
        self,
        names: Sequence[str],
        interval_ms: int,
        ticks_per_kline: int,
        seed: int,
        first_open_ms: int,
        rating_klines: int = 5,
    ) -> None:
        self.names = list(names)
        n = len(self.names)
        self.n = n
        self.interval_ms = int(interval_ms)
        self.m1 = int(ticks_per_kline) + 1  # sub-steps per candle
        self.rating_klines = max(1, int(rating_klines))
        self.rng = rng = np.random.default_rng(int(seed))
        self.next_open_ms = int(first_open_ms)

        known = {name: (p, qv, dv) for name, p, qv, dv in REAL_NAMES}
        price0 = np.exp(rng.uniform(math.log(1e-4), math.log(500.0), n))
        dqv = np.exp(rng.uniform(math.log(3e6), math.log(3e8), n))
        dvol = rng.uniform(0.04, 0.09, n)
        for i, name in enumerate(self.names):
            if name in known:
                price0[i], dqv[i], dvol[i] = known[name]
        self.price0 = price0
        self.tick = np.array([_tick_of(p) for p in price0])
        self._per_unit_of: np.ndarray | None = None  # the ticks _per_unit was made for
        self._per_unit = np.empty(0)
        # the last close, as rounded, and the log prices and ticks it was made from: the next
        # candle's open while both are still those
        self._close_of: tuple[np.ndarray, np.ndarray] | None = None
        self._close = np.empty(0)
        #: the symbol indices 0..N-1, every batch's (read-only: shared by them all)
        self.sym = np.arange(n, dtype=np.int32)
        self.sym.flags.writeable = False
        #: the last step's price updates as (M, N) figures (event time, price, 24h open, high, low,
        #: volume, quote volume; the open (N,)), or None (a candle longer than an hour, no prices)
        self.tick_figures: tuple[np.ndarray, ...] | None = None
        self.sigma = dvol * math.sqrt(self.interval_ms / MS_PER_DAY)  # per-kline log-return std
        self.n_sectors = max(1, min(8, n // 5))
        self.sector = rng.integers(0, self.n_sectors, n)
        self.w_m = rng.uniform(0.55, 0.8, n)
        if n and self.names[0] == "BTCUSDT":
            self.w_m[0] = 0.9
        self.w_s = rng.uniform(0.25, 0.45, n)
        self.w_e = np.sqrt(np.maximum(0.05, 1.0 - self.w_m**2 - self.w_s**2))
        norm = np.sqrt(self.w_m**2 + self.w_s**2 + self.w_e**2)
        self.w_m, self.w_s, self.w_e = self.w_m / norm, self.w_s / norm, self.w_e / norm
        self.qv_per_kline = dqv * self.interval_ms / MS_PER_DAY
        self.trade_size = rng.uniform(100.0, 800.0, n)  # quote per trade

        self.lp = np.log(price0)
        self.set_level(price0)
        self.h = np.ones(n)
        self.drift = np.zeros(n)  # in sigmas per kline
        self.remaining = np.zeros(n, dtype=np.int64)

        # 24h statistics in buckets of max(interval, 1h).
        self.bucket_ms = max(self.interval_ms, HOUR_MS)
        self.nb = max(1, MS_PER_DAY // self.bucket_ms)
        self.b_id = np.full(self.nb, -(10**12), dtype=np.int64)
        self.b_open = np.full((n, self.nb), np.nan)
        self.b_high = np.full((n, self.nb), np.nan)
        self.b_low = np.full((n, self.nb), np.nan)
        self.b_vol = np.zeros((n, self.nb))
        self.b_qv = np.zeros((n, self.nb))
        # Candles longer than a bucket's hour: the last ones (as many as a day reaches back), for 24h
        # figures over the day up to each price update (the buckets held the candle so far and the whole
        # candles before it: a 1d market's 24h volume ran from 0.2 to 1.2 days', a 1w market's to 5 weeks'.)
        self._recent: deque[_Candle] | None = None
        if self.interval_ms > HOUR_MS:
            self._recent = deque(maxlen=-(-MS_PER_DAY // self.interval_ms))
        self.steps = 0

    def set_level(self, level: np.ndarray, include: np.ndarray | None = None) -> None:
        """The prices the filters are made from (N,), with :attr:`tick` set for them: the band the
        log price is kept in (:data:`LEVEL_BAND`, :data:`MIN_TICKS_AT_ANCHOR`) is around them.
        ``include``: log prices (a resumed market's anchors; NaN: none) the band is widened to hold,
        with the room a level has below it (down to the ticks' floor), so a resume moves no price."""
        ref = np.log(np.asarray(level, dtype=float))
        floor = np.log(MIN_TICKS_AT_ANCHOR * self.tick)
        self.lp_lo = np.maximum(ref - math.log(LEVEL_BAND), floor)
        self.lp_hi = ref + math.log(LEVEL_BAND)
        if include is not None:
            given = np.isfinite(include)
            room = np.maximum(np.where(given, include, 0.0) - math.log(LEVEL_BAND), floor)
            self.lp_lo = np.where(given, np.minimum(self.lp_lo, np.minimum(room, include)), self.lp_lo)
            self.lp_hi = np.where(given, np.maximum(self.lp_hi, include), self.lp_hi)

    def _round(self, p: np.ndarray, tick: np.ndarray | None = None) -> np.ndarray:
        """Prices rounded to the tick (each symbol's, or ``tick`` for a subset of symbols), at least one tick."""
        # Ticks are 10^-d (d >= 2): k / 10^d is the float nearest the decimal k·10^-d, as Binance's
        # price strings parse, where k · tick could land an ulp off (0.014665999999999998 for
        # 0.014666) and a price rounded down to the tick would lose a whole tick.
        if tick is None:
            t = self.tick
            if self._per_unit_of is not t:  # (the ticks are replaced, never changed in place)
                self._per_unit, self._per_unit_of = np.round(1.0 / t), t
            per_unit = self._per_unit
        else:
            t, per_unit = tick, np.round(1.0 / tick)
        out = np.divide(p, t)
        np.round(out, out=out)
        np.maximum(out, 1.0, out=out)
        return np.divide(out, per_unit, out=out)

    def rescale(self, ratio: np.ndarray) -> None:
        """Multiply every price level by ``ratio`` (N,), from now on: the log price moves by
        ``log(ratio)`` and the 24 h buckets follow (prices × ratio, base volume ÷ ratio; quote
        volume unchanged). Returns and volumes to come are those of the unscaled process."""
        ratio = np.asarray(ratio, dtype=float)
        self.lp = self.lp + np.log(ratio)
        self.b_open *= ratio[:, None]
        self.b_high *= ratio[:, None]
        self.b_low *= ratio[:, None]
        self.b_vol /= ratio[:, None]
        if self._recent:  # new arrays: a candle's open, high and low are its KlineBatch's too
            self._recent = deque(
                ((c0, o * ratio, t * ratio, h * ratio, lo * ratio, v / ratio, q) for c0, o, t, h, lo, v, q in self._recent),
                maxlen=self._recent.maxlen,
            )

    def rescale_klines(self, batch: KlineBatch, ratio: np.ndarray) -> KlineBatch:
        """A copy of ``batch`` (klines of this market) with its prices × ``ratio`` (per symbol,
        rounded to the tick) and base volumes ÷ ``ratio``, the quote volume kept: the base volume is
        made from the rounded prices, as the process makes it, so the mean price (quote ÷ base)
        stays within [low, high] (÷ ratio put it a fraction of a tick outside a flat candle)."""
        r = np.asarray(ratio, dtype=float)[batch.sym]
        tick = self.tick[batch.sym]

        def px(a: np.ndarray) -> np.ndarray:
            return self._round(a * r, tick)

        high, low, close = px(batch.high), px(batch.low), px(batch.close)
        volume = batch.quote_volume / ((high + low + close) / 3.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(batch.volume > 0, batch.taker_buy_base / batch.volume, 0.0)
        return KlineBatch(
            interval_ms=batch.interval_ms, sym=batch.sym, open_time=batch.open_time, close_time=batch.close_time,
            open=px(batch.open), high=high, low=low, close=close,
            volume=volume, quote_volume=batch.quote_volume, trades=batch.trades,
            taker_buy_base=volume * share, closed=batch.closed,
        )

    def step(self, prices: bool = True) -> tuple[list[PriceBatch], KlineBatch]:
        """Advance one kline interval.

        Returns ``(M intra-candle PriceBatches (empty list when prices=False), the closed
        KlineBatch of all symbols)``. The PriceBatches only know the candle up to their own
        time (no look-ahead in their 24h high/low/volume).
        """
        rng, n, m1 = self.rng, self.n, self.m1
        t0 = self.next_open_ms
        iv = self.interval_ms
        self.tick_figures = None  # (set by this step's price updates, if it makes them as (M, N) figures)

        # Regimes: start, continue or end trends.
        start = (self.remaining <= 0) & (rng.random(n) < 1.0 / (120.0 * self.rating_klines))
        dur = rng.integers(8, 61, n) * self.rating_klines
        mag = rng.uniform(0.15, 0.45, n) * np.where(rng.random(n) < 0.5, -1.0, 1.0)
        self.drift = np.where(start, mag, np.where(self.remaining > 0, self.drift, 0.0))
        self.remaining = np.where(start, dur, np.maximum(self.remaining - 1, 0))

        f_m = rng.standard_normal((m1, 1))
        f_s = rng.standard_normal((m1, self.n_sectors))[:, self.sector]
        eps = rng.standard_normal((m1, n))
        u = self.w_m * f_m + self.w_s * f_s + self.w_e * eps  # (m1, n), unit variance
        vol = self.sigma * np.sqrt(self.h)
        sub = u * (vol / math.sqrt(m1)) + (self.drift * self.sigma / m1)
        excess = np.minimum(self.lp - self.lp_lo, 0.0) + np.maximum(self.lp - self.lp_hi, 0.0)
        if excess.any():  # (only then: within the band the path is the same, bit for bit)
            sub = sub - (LEVEL_PULL / m1) * excess
        path = self.lp + _running(np.add, sub)  # log prices at the sub-step ends
        z = u.sum(axis=0) / math.sqrt(m1)
        self.h = np.clip((1.0 - self.ALPHA - self.BETA) + self.ALPHA * self.h * z * z + self.BETA * self.h,
                         0.05, 25.0)

        lo_path = np.minimum(self.lp, path.min(axis=0))
        hi_path = np.maximum(self.lp, path.max(axis=0))
        wick = np.abs(rng.standard_normal((2, n))) * (0.3 * vol / math.sqrt(m1))
        # the open is the last close (made from these log prices and ticks), unless either changed since
        made = self._close_of
        p_open = self._close if made and made[0] is self.lp and made[1] is self.tick else self._round(np.exp(self.lp))
        rounded = self._round(np.exp(path))  # (M + 1, n): the M ticks, then the close
        ticks, p_close = rounded[:-1], rounded[-1]
        p_high = self._round(np.exp(hi_path + wick[0]))
        p_low = self._round(np.exp(lo_path - wick[1]))
        self.lp = path[-1]
        self._close, self._close_of = p_close, (self.lp, self.tick)

        # Volumes.
        if iv % MS_PER_DAY:
            hour = ((t0 % MS_PER_DAY) / MS_PER_DAY) * 2 * math.pi
            season = 1.0 + 0.3 * math.sin(hour - 1.0)
        else:  # whole days hold whole cycles (their mean, 1); each opens at 00:00, where the cycle is at 0.75
            season = 1.0
        zr = z + self.drift / np.sqrt(self.h)  # standardised candle move incl. drift
        mult = season * np.sqrt(self.h) * (0.6 + 0.4 * np.abs(zr)) * np.exp(rng.normal(-0.045, 0.3, n))
        qv = self.qv_per_kline * mult
        typical = (p_high + p_low + p_close) / 3.0
        volume = qv / typical
        taker_share = np.clip(0.5 + 0.12 * zr + rng.normal(0.0, 0.04, n), 0.05, 0.95)
        taker = volume * taker_share
        trades = np.maximum(1, np.round(qv / self.trade_size)).astype(np.int64)

        batch = KlineBatch(
            interval_ms=iv,
            sym=self.sym,
            open_time=np.full(n, t0, dtype=np.int64),
            close_time=np.full(n, t0 + iv - 1, dtype=np.int64),
            open=p_open,
            high=p_high,
            low=p_low,
            close=p_close,
            volume=volume,
            quote_volume=qv,
            trades=trades,
            taker_buy_base=taker,
            closed=np.ones(n, dtype=bool),
        )
        pbs = self._tick_batches(t0, p_open, ticks, volume, qv) if prices else []
        self._update_buckets(t0, p_open, p_high, p_low, volume, qv)
        if self._recent is not None:
            self._recent.append((t0, p_open, ticks, p_high, p_low, volume, qv))
        self.next_open_ms = t0 + iv
        self.steps += 1
        return pbs, batch

    def _tick_batches(self, t0: int, p_open: np.ndarray, ticks: np.ndarray, volume: np.ndarray,
                      qv: np.ndarray) -> list[PriceBatch]:
        """PriceBatches at the M tick times of the candle opening at ``t0``: 24h figures from the
        completed buckets plus the candle so far (running high/low, pro-rata volume)."""
        if self._recent is not None:
            return self._long_tick_batches(t0, p_open, ticks, volume, qv)
        m1, n = self.m1, self.n
        o24, h24, l24, v24, q24 = self.stats_24h(t0)
        o24 = np.where(np.isnan(o24), p_open, o24)
        # every tick's figures at once, (M, n) (each row the same arithmetic as one tick's alone)
        high = _running(np.maximum, ticks)
        np.fmax(high, p_open, out=high)
        np.fmax(h24, high, out=high)
        low = _running(np.minimum, ticks)
        np.fmin(low, p_open, out=low)
        np.fmin(l24, low, out=low)
        frac = (np.arange(1, m1) / m1)[:, None]  # (j + 1) / m1, as Python divides it
        vol24 = frac * volume
        vol24 += v24
        qv24 = frac * qv
        qv24 += q24
        times = t0 + (np.arange(1, m1, dtype=np.int64) * self.interval_ms) // m1
        event_time = np.repeat(times, n).reshape(m1 - 1, n)
        sym = self.sym
        self.tick_figures = (event_time, ticks, o24, high, low, vol24, qv24)
        return [
            PriceBatch(sym=sym, event_time=event_time[j], price=ticks[j], open_24h=o24, high_24h=high[j],
                       low_24h=low[j], volume_24h=vol24[j], quote_volume_24h=qv24[j])
            for j in range(m1 - 1)
        ]

    def _long_tick_batches(self, t0: int, p_open: np.ndarray, ticks: np.ndarray, volume: np.ndarray,
                           qv: np.ndarray) -> list[PriceBatch]:
        """PriceBatches of a candle longer than an hour, with the 24h figures of the day up to each:
        the candles wholly inside it whole (their high, low, volumes), the one it starts in from its
        price then (its open or last price update by then), the volumes of both ends pro rata to
        the part inside (the candle so far, a day of it at most)."""
        m1, n, iv = self.m1, self.n, self.interval_ms
        offsets = (np.arange(m1, dtype=np.int64) * iv) // m1  # the open, then the price updates
        sym = self.sym
        # Running and trailing highs and lows, made once per candle: a window's figures are then
        # looked up (taken over the window at each update, a candle of 1,000 updates took ~100× longer).
        now = np.vstack((p_open, ticks))
        run_hi, run_lo = _running(np.maximum, now), _running(np.minimum, now)
        trailing: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # an earlier candle's, by open
        out = []
        for j in range(m1 - 1):
            t = t0 + int(offsets[j + 1])
            start = t - MS_PER_DAY
            frac = (j + 1) / m1
            share = frac * min(1.0, MS_PER_DAY / (t - t0))
            v24, q24 = share * volume, share * qv
            if start >= t0:  # the day starts inside this candle (longer than a day): its price then and since
                k = _at(t0 + offsets[: j + 2], start)
                o24, h24, l24 = now[k], now[k : j + 2].max(axis=0), now[k : j + 2].min(axis=0)
            else:  # the candle so far, then the earlier ones the day reaches
                o24, h24, l24 = p_open, run_hi[j + 1], run_lo[j + 1]
                for c0, o, tk, h, lo, v, q in reversed(self._recent):  # type: ignore[arg-type]
                    if c0 + iv <= start:
                        break
                    if c0 >= start:  # wholly inside
                        o24, h24, l24 = o, np.fmax(h24, h), np.fmin(l24, lo)
                        v24, q24 = v24 + v, q24 + q
                        continue
                    if c0 not in trailing:
                        pr = np.vstack((o, tk))
                        trailing[c0] = (
                            pr,
                            _running(np.maximum, pr[::-1])[::-1],
                            _running(np.minimum, pr[::-1])[::-1],
                        )
                    pr, hi, low = trailing[c0]
                    k = _at(c0 + offsets, start)
                    o24, h24, l24 = pr[k], np.fmax(h24, hi[k]), np.fmin(l24, low[k])
                    part = (c0 + iv - start) / iv
                    v24, q24 = v24 + part * v, q24 + part * q
                    break
            out.append(PriceBatch(
                sym=sym,
                event_time=np.full(n, t, dtype=np.int64),
                price=ticks[j],
                open_24h=o24,
                high_24h=h24,
                low_24h=l24,
                volume_24h=v24,
                quote_volume_24h=q24,
            ))
        return out

    def _update_buckets(self, t0: int, o: np.ndarray, h: np.ndarray, lo: np.ndarray, v: np.ndarray,
                        qv: np.ndarray) -> None:
        bid = t0 // self.bucket_ms
        b = int(bid % self.nb)
        if self.b_id[b] != bid:
            self.b_id[b] = bid
            self.b_open[:, b] = o
            self.b_high[:, b] = h
            self.b_low[:, b] = lo
            self.b_vol[:, b] = v
            self.b_qv[:, b] = qv
        else:
            np.maximum(self.b_high[:, b], h, out=self.b_high[:, b])
            np.minimum(self.b_low[:, b], lo, out=self.b_low[:, b])
            self.b_vol[:, b] += v
            self.b_qv[:, b] += qv

    def stats_24h(self, now_ms: int) -> tuple[np.ndarray, ...]:
        """(open, high, low, volume, quote_volume) over the buckets of the last ~24h (N,) each."""
        cur = now_ms // self.bucket_ms
        valid = (self.b_id > cur - self.nb) & (self.b_id <= cur)
        if not valid.any():
            nan = np.full(self.n, np.nan)
            return nan, nan, nan, np.zeros(self.n), np.zeros(self.n)
        ids = np.where(valid, self.b_id, np.iinfo(np.int64).max)
        oldest = int(np.argmin(ids))
        cols = np.flatnonzero(valid)
        # a whole day of buckets: the highs and lows without copies (a maximum is the same in any
        # order; the sums are not: they are taken over the copies, whose layout sets their order)
        whole = cols.shape[0] == self.nb
        high = self.b_high if whole else self.b_high[:, cols]
        low = self.b_low if whole else self.b_low[:, cols]
        return (self.b_open[:, oldest], high.max(axis=1), low.min(axis=1), self.b_vol[:, cols].sum(axis=1),
                self.b_qv[:, cols].sum(axis=1))


#: One candle of :attr:`SimMarket._recent`: open time, then (N,) open, (M, N) price updates, (N,)
#: high, low, volume and quote volume.
_Candle = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _running(op: np.ufunc, a: np.ndarray) -> np.ndarray:
    """``op.accumulate(a, axis=0)`` of a 2-D ``a`` - a running sum, maximum or minimum down its rows
    (each row ``op`` of the one before and its own, the same values) - row by row: numpy's
    accumulate walks a C-ordered array column by column, three times slower at a candle's shape
    (measured at 5 x 500: 4.2 against 13.5 us for a sum, 4.3 against 18 us for a maximum; 74
    against 175 us at 101 rows)."""
    out = np.empty_like(a)
    if a.shape[0]:
        np.copyto(out[0], a[0])
        for k in range(1, a.shape[0]):
            op(out[k - 1], a[k], out=out[k])
    return out


def _at(times: np.ndarray, start: int) -> int:
    """The index of the price in force at ``start`` among prices at ``times`` (sorted): the last one
    at or before it (the first when none is)."""
    return max(0, int(np.searchsorted(times, start, side="right")) - 1)


def _concat(batches: list[KlineBatch], interval_ms: int) -> KlineBatch:
    if not batches:
        return KlineBatch.empty(interval_ms)
    fields = ("sym", "open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
              "trades", "taker_buy_base", "closed")
    cols = {f: np.concatenate([getattr(b, f) for b in batches]) for f in fields}
    return KlineBatch(interval_ms=interval_ms, **cols)


class SimFeed:
    """MarketFeed over :class:`SimMarket` (``kind = "sim"``).

    Parameters override the configuration (``feed.sim.*``, ``feed.interval``,
    ``feed.speed``): ``n_symbols`` (default ``feed.sim.n_symbols``, or the length
    of ``feed.symbols`` when that list is set, whose names are then used),
    ``seed``, ``interval`` (e.g. ``"1m"``), ``speed`` (× real time, or
    ``"max"``), ``start_ms`` (first live kline open time, default
    2025-01-01T00:00Z; taken down to its kline's open as Binance aligns them, a
    week's on Monday 2024-12-30), ``max_klines`` (stop after this
    many live intervals; None = endless), ``warmup_klines`` (history length in
    klines; default ``feed.sim.warmup_periods`` × klines per rating period).
    """

    kind = "sim"
    RECORD_WARMUP_ROWS = 400_000  # warm-up klines kept for history() (more: regenerated on demand)

    def __init__(
        self,
        cfg: Config,
        clock: Clock,
        *,
        n_symbols: int | None = None,
        seed: int | None = None,
        interval: str | None = None,
        speed: float | str | None = None,
        start_ms: int | None = None,
        max_klines: int | None = None,
        warmup_klines: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        sim = cfg.feed.sim
        self.interval = interval or cfg.feed.interval
        self.interval_ms = interval_to_ms(self.interval)
        self.seed = int(sim.seed if seed is None else seed)
        self.ticks_per_kline = int(sim.ticks_per_kline)
        self.speed = parse_speed(cfg.feed.speed if speed is None else speed)
        if n_symbols is not None and int(n_symbols) < 1:
            raise ValueError(f"n_symbols must be >= 1, got {n_symbols}")
        self._n_override = n_symbols
        st = DEFAULT_START_MS if start_ms is None else int(start_ms)
        self._start_ms = kline_open_ms(st, self.interval_ms)  # a week's klines open on Mondays, as Binance's
        self.max_klines = max_klines
        rating_ms = cfg.data_processing.rating_calculation_interval_ms
        self.rating_klines = max(1, -(-rating_ms // self.interval_ms))
        if warmup_klines is None:
            warmup_klines = sim.warmup_periods * self.rating_klines
        if warmup_klines < 0:
            raise ValueError(f"warmup_klines must be >= 0, got {warmup_klines}")
        self.warmup_klines = int(warmup_klines)

        self._symbols: list[str] = []
        self._market: SimMarket | None = None
        self._warmup: list[KlineBatch] | None = None
        self._started = False
        self._stopped = asyncio.Event()
        self._running = False
        self.counter = RejectCounter()
        self._last_open: np.ndarray = np.empty(0, dtype=np.int64)
        self._guard: PriceGuard | None = None  # the price_jump references, made by start()
        self._last_event_ms = -1
        self._relevels = 0  # the guard's new levels as of the last event delivered
        self._made_relevels = 0  # ... and as of the last event made
        self._live_klines = 0
        self._tap: Callable[[KlineBatch], None] | None = None
        self._lookahead = 0
        self.received = 0
        self._rate = CounterRate()
        self._filters: dict[str, SymbolFilters] = {}
        #: prices to continue from (symbol -> price), set before :meth:`start` by a resuming engine
        self.anchor_prices: dict[str, float] | None = None
        self._ratio: np.ndarray | None = None  # the rescaling applied at start (None: none)
        self._tick: np.ndarray | None = None  # the ticks after anchoring, when an anchor changed one
        self._level: np.ndarray | None = None  # the prices the filters are made from, then

    @property
    def start_ms(self) -> int:
        """The first live kline's open time. Set (a resumed market's start, after the book's last
        stored time), it becomes the first kline open at or after the time given: on the epoch's grid
        of the interval, a week's on a Monday (a rating period's end is on the epoch's, a Thursday)."""
        return self._start_ms

    @start_ms.setter
    def start_ms(self, ms: int) -> None:
        iv = self.interval_ms
        self._start_ms = kline_open_ms(int(ms) + iv - 1, iv)

    # ------------------------------------------------------------------ protocol

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def _names(self) -> list[str]:
        feed = self.cfg.feed
        if self._n_override is None and feed.symbols:
            return list(feed.symbols)
        n = int(self._n_override if self._n_override is not None else feed.sim.n_symbols)
        return generate_symbol_names(n, self.seed, feed.universe.quote_asset.upper(), feed.universe.blacklist)

    def _new_market(self) -> SimMarket:
        return SimMarket(
            self._symbols, self.interval_ms, self.ticks_per_kline, self.seed,
            self.start_ms - self.warmup_klines * self.interval_ms, self.rating_klines,
        )

    async def start(self) -> None:
        """Fix the symbol list and run the warm-up part of the process (instant)."""
        if self._started:
            return
        self._symbols = self._names()
        m = self._new_market()
        keep = len(self._symbols) * self.warmup_klines <= self.RECORD_WARMUP_ROWS
        recorded = []
        last_close = m._round(np.exp(m.lp))
        async for kb in self._warmup_steps(m):
            last_close = kb.close
            if keep:
                recorded.append(kb)
        if self.anchor_prices:
            anchor = np.array([self.anchor_prices.get(s, math.nan) for s in self._symbols], dtype=float)
            ok = np.isfinite(anchor) & (anchor > 0)
            if ok.any():
                # An anchor under MIN_TICKS_AT_ANCHOR ticks of the seed's level (a symbol list
                # reordered since, so the seed gives the name another symbol's level) would be
                # rounded to a coarse tick, or to one tick far above it: that symbol takes the
                # anchor's tick. The seed's own levels (and an ordinary resume) keep theirs.
                coarse = ok & (np.where(ok, anchor, np.inf) < MIN_TICKS_AT_ANCHOR * m.tick)
                # The other way (far above the seed's level): the seed's step of 1 unit made the
                # smallest order of a coin anchored at 60,000 worth 60,000, and a held fraction
                # unsellable; it takes the anchor's filters, and so the anchor's tick.
                coarse |= ok & (np.where(ok, anchor, 0.0) > MAX_ANCHOR_RATIO * m.price0)
                if coarse.any():
                    own = np.array([_tick_of(a) if c else 1.0 for a, c in zip(anchor, coarse, strict=True)])
                    m.tick = np.where(coarse, own, m.tick)
                    self._tick = m.tick.copy()
                    self._level = np.where(coarse, anchor, m.price0)
                # On the tick (a price the last run saw already is): an anchor half a tick off
                # was rounded one way as the warm-up's last close and the other as the first
                # live open, a float's ulp apart, so the market opened a tick from its close.
                anchor = np.where(ok, m._round(np.where(ok, anchor, 1.0)), np.nan)
                ratio = np.where(ok, anchor / last_close, 1.0)
                m.rescale(ratio)
                m.lp = np.where(ok, np.log(np.where(ok, anchor, 1.0)), m.lp)  # exactly at the anchor
                # the band around the filters' level holds the anchors: a resume moves no price
                m.set_level(m.price0 if self._level is None else self._level, include=np.where(ok, m.lp, np.nan))
                recorded = [m.rescale_klines(kb, ratio) for kb in recorded]
                self._ratio = ratio
        self._warmup = recorded if keep else None
        self._market = m
        self._last_open = np.full(len(self._symbols), -1, dtype=np.int64)
        self._last_open[:] = self.start_ms - self.interval_ms if self.warmup_klines else -1
        self._guard = PriceGuard(len(self._symbols), self.cfg.feed.max_price_jump, names=self._symbols)
        # The filters' tick is the one the process rounds its prices to.
        level = m.price0 if self._level is None else self._level
        self._filters = {s: synthetic_filters(s, float(p)) for s, p in zip(self._symbols, level, strict=True)}
        self._started = True
        self._running = not self._stopped.is_set()  # a stop during the warm-up holds
        advance_clock(self.clock, self.start_ms)

    async def stop(self) -> None:
        self._running = False
        self._stopped.set()

    def open_times_left(self) -> int | None:
        """Kline intervals still to come (None: no end)."""
        return None if self.max_klines is None else max(0, self.max_klines - self._live_klines)

    def tap_klines(self, fn: Callable[[KlineBatch], None], lookahead: int) -> None:
        """Call ``fn`` with every closed KlineBatch :meth:`events` will yield, as soon as it is
        made: the market runs ``lookahead`` intervals ahead of the events (their times, and the
        clock, are unchanged), or fewer when they would hold more than :data:`PRICE_ROWS_AHEAD`
        price rows. Set before the first event."""
        if lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {lookahead}")
        self._tap = fn
        self._lookahead = int(lookahead)

    async def _warmup_steps(self, m: SimMarket) -> AsyncIterator[KlineBatch]:
        """The warm-up's klines of market ``m``, in order, with a turn of the event loop every
        :data:`YIELD_EVERY_STEPS` steps (thousands of symbols take seconds: a console keeps drawing)."""
        for i in range(self.warmup_klines):
            yield m.step(prices=False)[1]
            if i % YIELD_EVERY_STEPS == YIELD_EVERY_STEPS - 1:
                await asyncio.sleep(0)

    async def history(self, symbols: Sequence[str], interval: str, n: int) -> KlineBatch:
        """The last ``min(n, warmup_klines)`` warm-up klines of ``symbols`` (sorted by open_time,
        then symbol index), regenerated from the seed: identical to what the process produced
        before the first live event. Unknown symbols are ignored. Raises ValueError for
        another interval than the feed's."""
        if not self._started:
            await self.start()
        if interval_to_ms(interval) != self.interval_ms:
            raise ValueError(f"sim feed runs at {self.interval}, history asked for {interval}")
        index = {s: i for i, s in enumerate(self._symbols)}
        want = np.array(sorted({index[s] for s in symbols if s in index}), dtype=np.int64)
        k = max(0, min(int(n), self.warmup_klines))
        if k == 0 or want.size == 0:
            return KlineBatch.empty(self.interval_ms)
        if self._warmup is not None:
            batches = [b.take(want) for b in self._warmup[len(self._warmup) - k :]]
        else:  # too big to keep: regenerate (same seed, same process)
            m = self._new_market()
            last_k: deque[KlineBatch] = deque(maxlen=k)
            async for kb in self._warmup_steps(m):
                last_k.append(kb)
            batches = list(last_k)
            if self._tick is not None:
                m.tick = self._tick
            if self._ratio is not None:
                batches = [m.rescale_klines(b, self._ratio) for b in batches]
            batches = [b.take(want) for b in batches]
        return _concat(batches, self.interval_ms)

    def filters(self) -> dict[str, SymbolFilters]:
        return dict(self._filters)

    def health(self) -> dict[str, Any]:
        last = int(self._last_event_ms)
        return {
            "connected": self._running,
            "streams": {"sim": {"last_event_ms": last, "stale": False, "reconnects": 0}},
            "last_event_ms": dict.fromkeys(self._symbols, last),
            "received": self.received,
            "rejected": self.counter.total,
            "rejected_by_reason": dict(self.counter.by_reason),
            "reconnects": 0,
            "relevels": self._delivered_relevels(),
            "events_per_s": self._rate.read(self.received),
        }

    def _delivered_relevels(self) -> int:
        """The guard's new levels, less those of events made ahead and not delivered yet (see
        :meth:`_make_interval`)."""
        if self._guard is None:
            return 0
        return self._guard.relevels - (self._made_relevels - self._relevels)

    async def events(self) -> AsyncIterator[KlineBatch | PriceBatch]:
        """Per interval: ``ticks_per_kline`` PriceBatch, then the closed KlineBatch."""
        if not self._started:
            await self.start()
        m = self._market
        assert m is not None
        n = len(self._symbols)
        pacer = Pacer(self.speed, self._stopped)
        ahead = min(self._lookahead, max(1, PRICE_ROWS_AHEAD // max(1, n * self.ticks_per_kline)))
        made: deque[list[_Planned]] = deque()  # stepped, not yet yielded
        while self._running and (self.max_klines is None or self._live_klines < self.max_klines):
            while len(made) <= ahead and (
                self.max_klines is None or self._live_klines + len(made) < self.max_klines
            ):
                made.append(self._make_interval(m, n))
            plan = made.popleft()
            self._live_klines += 1
            for ts, ev, rejects, relevels in plan:
                await pacer.wait_until(ts)
                if not self._running:
                    return
                for reason, count, detail in rejects:  # counted as delivered (see _make_interval)
                    self.counter.reject(reason, count, detail)
                self._relevels = relevels
                advance_clock(self.clock, ts)
                self._last_event_ms = ts
                self.received += len(ev)
                yield ev
        self._running = False

    def _make_interval(self, m: SimMarket, n: int) -> list[_Planned]:
        """The next interval's events (time, validated batch, its rejects, the guard's new levels
        by then), its price updates then its closed klines. They are validated here, in that order,
        however far ahead of the events the market runs: the closed klines were judged when made
        (up to 64 intervals ahead for a kline tap) and the prices when yielded, so the price guard
        saw the streams in another order, and kept other rows, with a tap than without one. Their
        rejects are counted as each event is delivered, never for one not delivered yet."""
        g = self._guard
        pbs, kb = m.step()
        close_ms = m.next_open_ms  # the candles' close_time + 1 (a batch rejected whole has no row)
        plan: list[_Planned] = []
        # the rules (the guard aside) judged once over all the candle's price updates
        plain = m.tick_figures is not None and prices_plainly_ok(m.sym, *m.tick_figures, n)
        for pb in pbs:
            held = _HeldRejects()
            plan.append((int(pb.event_time[0]), validate_price_batch(pb, n, held, guard=g, plainly_ok=plain),
                         held.calls, g.relevels if g is not None else 0))
        held = _HeldRejects()
        kb = validate_kline_batch(kb, n, self._last_open, held, guard=g)
        if self._tap is not None:
            self._tap(kb)
        plan.append((close_ms, kb, held.calls, g.relevels if g is not None else 0))
        self._made_relevels = plan[-1][3]
        return plan


class _HeldRejects(RejectCounter):
    """A :class:`RejectCounter` that only keeps its ``reject`` calls, for the feed's counter to
    count (and log) when the rows' event is delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int, str]] = []

    def reject(self, reason: str, n: int = 1, detail: str = "") -> None:
        if int(n) > 0:
            self.calls.append((reason, int(n), detail))


#: One planned event of the simulated market: (event time, batch, its held rejects, the guard's
#: new levels once it was judged).
_Planned = tuple[int, KlineBatch | PriceBatch, list[tuple[str, int, str]], int]


def advance_clock(clock: Clock, ts_ms: int) -> None:
    """``clock.advance_to(ts_ms)`` when the clock can be driven (ManualClock); a no-op otherwise."""
    adv = getattr(clock, "advance_to", None)
    if adv is not None:
        adv(ts_ms)


def parse_speed(speed: float | str) -> float | None:
    """``"max"`` -> None (no pacing); a positive number -> float. Raises ValueError otherwise."""
    if isinstance(speed, str):
        if speed.strip().lower() == "max":
            return None
        try:
            speed = float(speed)
        except ValueError:
            raise ValueError(f"bad speed {speed!r}: expected a positive number or 'max'") from None
    s = float(speed)
    if not math.isfinite(s) or s <= 0:
        raise ValueError(f"bad speed {speed!r}: expected a positive number or 'max'")
    return s
