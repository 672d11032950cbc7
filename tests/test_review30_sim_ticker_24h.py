"""The simulated market's 24 h ticker figures cover the 24 h before each price update, at any interval.

On candles longer than an hour they were made of the candle so far plus the whole candles before it
that fit a day's buckets: a 1d market's 24 h volume ran from a fifth of the day's to a day's in each
candle (none of the day before), a 1w market's up to four fifths of the week's, and the 24 h change
of a 1w market was the week's so far. Now the day before each update counts: the candles wholly
inside it, and the two ends pro rata to the time inside (the ticker's open is the price then).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tui_trader.clock import MS_PER_DAY, ManualClock, interval_to_ms
from tui_trader.config import Config
from tui_trader.market.sim import SimFeed
from tui_trader.models import KlineBatch, PriceBatch

N = 5


async def _events(interval: str, ticks: int) -> tuple[KlineBatch, list[KlineBatch], list[PriceBatch]]:
    cfg = Config()
    cfg.feed.sim.ticks_per_kline = ticks
    iv = interval_to_ms(interval)
    warmup = -(-MS_PER_DAY // iv) + 2
    feed = SimFeed(
        cfg,
        ManualClock(),
        n_symbols=N,
        seed=11,
        interval=interval,
        speed="max",
        max_klines=6,
        warmup_klines=warmup,
    )
    await feed.start()
    hist = await feed.history(feed.symbols, interval, warmup)
    klines, prices = [], []
    async for ev in feed.events():
        (prices if isinstance(ev, PriceBatch) else klines).append(ev)
    return hist, klines, prices


@pytest.mark.parametrize(
    ("interval", "ticks"), [("2h", 4), ("4h", 3), ("12h", 4), ("1d", 4), ("3d", 7), ("1w", 9)]
)
def test_the_24h_volume_is_the_klines_volume_over_the_day_before(interval: str, ticks: int) -> None:
    hist, klines, prices = asyncio.run(_events(interval, ticks))
    iv = interval_to_ms(interval)
    every = KlineBatch.concat([hist, *klines], iv)
    for pb in prices:
        t = int(pb.event_time[0])
        start = t - MS_PER_DAY
        # the time each kline spends inside [start, t) (the candle so far: up to t)
        inside = np.clip(np.minimum(every.open_time + iv, t) - np.maximum(every.open_time, start), 0, None)
        expected_q = np.bincount(every.sym, weights=every.quote_volume * inside / iv, minlength=N)
        expected_v = np.bincount(every.sym, weights=every.volume * inside / iv, minlength=N)
        np.testing.assert_allclose(pb.quote_volume_24h, expected_q, rtol=1e-9)
        np.testing.assert_allclose(pb.volume_24h, expected_v, rtol=1e-9)
        # the open is a price of the day's start, within the day's range, as the price is
        assert ((pb.open_24h >= pb.low_24h) & (pb.open_24h <= pb.high_24h)).all()
        assert ((pb.price >= pb.low_24h) & (pb.price <= pb.high_24h)).all()
        before = every.take((every.open_time <= start) & (every.open_time + iv > start))
        if len(before):  # the day starts inside that candle: its price then lies in its range
            o = np.full(N, np.nan)
            h = np.full(N, np.nan)
            lo = np.full(N, np.nan)
            o[before.sym], h[before.sym], lo[before.sym] = before.open, before.high, before.low
            assert ((pb.open_24h >= lo) & (pb.open_24h <= h)).all()


def test_a_weekly_markets_24h_change_is_a_days_not_the_weeks() -> None:
    """Late in a week the ticker's open is a price of a day before, not the week's open."""
    _, klines, prices = asyncio.run(_events("1w", 9))
    week = interval_to_ms("1w")
    by_open = {int(kb.open_time[0]): kb for kb in klines}
    checked = 0
    for pb in prices:
        t = int(pb.event_time[0])
        t0 = max(o for o in by_open if o <= t)
        if t - MS_PER_DAY >= t0 + week // 10:  # the day starts after the week's first price update
            assert not np.array_equal(pb.open_24h, by_open[t0].open)
            checked += 1
    assert checked >= 30  # most of the 6 weeks' 9 updates each
