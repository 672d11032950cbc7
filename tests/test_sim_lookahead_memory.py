"""The simulated market's look-ahead for a kline tap (the rating worker) is bounded in price rows.

The engine asks for up to 64 intervals ahead, counted in klines; each interval also holds
``ticks_per_kline`` price updates of every symbol: 500 symbols at 1,000 ticks a kline held 1.7 GB
(5,000 symbols 2.8 GB). The feed now makes no more than PRICE_ROWS_AHEAD price rows ahead; the
events, and what the tap sees, are the same.
"""

from __future__ import annotations

import numpy as np

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.market import sim
from tui_trader.market.sim import SimFeed
from tui_trader.models import KlineBatch, PriceBatch


def _feed() -> SimFeed:
    return SimFeed(Config(), ManualClock(), n_symbols=12, seed=3, speed="max", max_klines=9, warmup_klines=20)


async def _run(feed: SimFeed, lookahead: int) -> tuple[list, list[int]]:
    yielded = 0
    seen_before: list[int] = []  # closed batches yielded when each tapped one was made
    feed.tap_klines(lambda kb: seen_before.append(yielded), lookahead=lookahead)
    out = []
    async for ev in feed.events():
        out.append(ev)
        if isinstance(ev, KlineBatch):
            yielded += 1
    return out, seen_before


async def test_the_look_ahead_is_cut_to_the_price_rows_allowed(monkeypatch) -> None:
    want, seen = await _run(_feed(), lookahead=5)
    assert seen == [max(0, k - 5) for k in range(9)]  # within the budget: as asked
    # 12 symbols x 4 ticks = 48 price rows an interval: a budget of 100 allows 2 intervals ahead
    monkeypatch.setattr(sim, "PRICE_ROWS_AHEAD", 100)
    got, seen = await _run(_feed(), lookahead=5)
    assert seen == [max(0, k - 2) for k in range(9)]
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert type(a) is type(b)
        if isinstance(a, PriceBatch):
            assert np.array_equal(a.price, b.price) and np.array_equal(a.event_time, b.event_time)
        else:
            assert np.array_equal(a.close, b.close) and np.array_equal(a.volume, b.volume)
    # a budget below one interval still makes one ahead
    monkeypatch.setattr(sim, "PRICE_ROWS_AHEAD", 1)
    _, seen = await _run(_feed(), lookahead=5)
    assert seen == [max(0, k - 1) for k in range(9)]
