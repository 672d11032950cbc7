"""The live Binance feed's stall watchdog against the stand-in exchange: an event time ahead of
the clock but inside its slack (a garbled one, or a server clock ahead) must not keep a stream
stale until the clock has caught up with it."""

from __future__ import annotations

import asyncio

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms
from test_live27_feed import make_cfg

from tui_trader.market.binance import BinanceFeed
from tui_trader.models import KlineBatch, PriceBatch

T0 = ms("2024-03-01T00:00:30")


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, tick_s=0.02).start()
    yield stand
    await stand.stop()


@pytest.fixture
async def started():
    feeds: list[tuple[BinanceFeed, asyncio.Task[None]]] = []

    async def start(feed: BinanceFeed) -> list[KlineBatch | PriceBatch]:
        got: list[KlineBatch | PriceBatch] = []

        async def run() -> None:
            async for ev in feed.events():
                got.append(ev)

        await asyncio.wait_for(feed.start(), 10)
        feeds.append((feed, asyncio.create_task(run())))
        return got

    yield start
    for f, _ in feeds:
        await asyncio.wait_for(f.stop(), 10)


async def test_an_event_time_minutes_ahead_costs_one_reconnect_not_minutes_of_them(ex, started):
    """One kline stamped 5 minutes ahead (inside the 10 minutes a clock behind the exchange's may
    be off, so it is kept) outranked every real event time after it: the stream read stale, and
    its connection was recreated again and again, for 5 minutes. The watchdog now forgets a
    stale stream's newest event time when it recreates it: one reconnect, then healthy."""
    feed = BinanceFeed(make_cfg(ex, stale=0.5), ex.clock, backoff_base_s=0.01)
    got = await started(feed)
    await ex.wait_until(lambda: feed.health()["connected"] and len(got) > 0, 10, "streaming")
    ahead = ex.kline_event("BTCUSDT", "1h", ms("2024-03-01"), False, ex.clock.now_ms() + 300_000)
    await ex.push_raw("btcusdt@kline_1h", ahead)
    await ex.wait_until(lambda: feed.reconnects >= 1, 10, "the stale stream's connection recreated")
    await ex.wait_until(lambda: feed.health()["connected"], 10, "streaming again")
    seen = len(got)
    await ex.wait_until(lambda: len(got) >= seen + 150, 20, "150 more events")  # > 3 s at 20 ms: 6 stale periods
    assert feed.reconnects == 1
    assert not any(s["stale"] for s in feed.health()["streams"].values())
