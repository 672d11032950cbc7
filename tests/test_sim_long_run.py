"""The simulated market over long runs: its prices stay where its filters make sense.

Its log price was an unbounded random walk with trending regimes: within a minute of ``--speed
max`` on a 1d or 1w market (tens of years of klines), a third of the closes sat under 100 ticks
(1 % or more a tick, many stuck at one tick) and others reached 1e16, refused by the feed as bad
data. Each price is now pulled back once it leaves a band around its level, and the path is the
same as before, bit for bit, while it stays inside.
"""

from __future__ import annotations

import math

import numpy as np

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.market.sim import LEVEL_BAND, MIN_TICKS_AT_ANCHOR, SimFeed, SimMarket, generate_symbol_names
from tui_trader.market.validation import RejectCounter, validate_kline_batch
from tui_trader.models import KlineBatch

MIN = 60_000
WEEK = 7 * 24 * 60 * MIN


def test_a_weekly_market_over_decades_keeps_its_prices_in_its_band() -> None:
    n = 40
    m = SimMarket(generate_symbol_names(n, 42), WEEK, 4, 42, 0, rating_klines=1)
    counter = RejectCounter()
    last_open = np.full(n, -1, dtype=np.int64)
    lo_ticks, hi_ratio = math.inf, 0.0
    for _ in range(2000):  # 38 years of weekly klines
        kb = m.step(prices=False)[1]
        assert len(validate_kline_batch(kb, n, last_open, counter)) == n  # none refused as bad data
        assert np.all(np.isfinite(kb.volume)) and np.all(kb.volume > 0)
        lo_ticks = min(lo_ticks, float((kb.low / m.tick).min()))
        hi_ratio = max(hi_ratio, float((kb.high / m.price0).max()))
    assert counter.total == 0
    # the unbounded walk: lows of one tick and highs 1e5 x the level
    assert lo_ticks >= MIN_TICKS_AT_ANCHOR / 20
    assert hi_ratio <= LEVEL_BAND * 20


def test_inside_the_band_the_path_is_the_unbounded_one_bit_for_bit() -> None:
    names = generate_symbol_names(40, 7)
    a = SimMarket(names, MIN, 4, 7, 0, rating_klines=5)
    b = SimMarket(names, MIN, 4, 7, 0, rating_klines=5)
    b.lp_lo, b.lp_hi = np.full(40, -np.inf), np.full(40, np.inf)  # no band at all
    for _ in range(3000):
        pa, ka = a.step()
        pb, kb = b.step()
        for f in ("open", "high", "low", "close", "volume", "taker_buy_base"):
            assert np.array_equal(getattr(ka, f), getattr(kb, f)), f
        assert all(np.array_equal(x.price, y.price) for x, y in zip(pa, pb, strict=True))


async def test_a_resumed_price_outside_the_band_is_not_pulled_back() -> None:
    # BTCUSDT's level is 60,000 (tick 0.01): an anchor at 200 is 20,000 ticks, kept on the seed's
    # tick but 300x under the level. The resume continues from it, without a rally back to 600.
    feed = SimFeed(
        Config(), ManualClock(), n_symbols=10, seed=42, speed="max", max_klines=300, warmup_klines=30
    )
    feed.anchor_prices = {"BTCUSDT": 200.0}
    await feed.start()
    assert float(feed.filters()["BTCUSDT"].tick_size) == 0.01
    closes = [float(ev.close[0]) async for ev in feed.events() if isinstance(ev, KlineBatch)]
    assert len(closes) == 300
    assert min(closes) > 150 and max(closes) < 270
