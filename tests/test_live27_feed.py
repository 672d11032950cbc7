"""The live Binance feed against the stand-in exchange: a server that drops every connection at
once, and streams whose event time stands still."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.market.binance import BinanceFeed, FeedError
from tui_trader.models import KlineBatch, PriceBatch

T0 = ms("2024-03-01T00:00:30")
THREE = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def make_cfg(ex: StandinExchange, stale: float = 5.0, **feed: Any) -> Config:
    return Config.model_validate(
        {
            "feed": {
                "kind": "binance",
                "symbols": list(THREE),
                "interval": "1h",
                "stale_after_s": stale,
                **feed,
            },
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
        }
    )


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, tick_s=0.02).start()
    yield stand
    await stand.stop()


class Collector:
    def __init__(self, feed: BinanceFeed) -> None:
        self.feed = feed
        self.klines: list[KlineBatch] = []
        self.prices: list[PriceBatch] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for ev in self.feed.events():
            (self.klines if isinstance(ev, KlineBatch) else self.prices).append(ev)


@pytest.fixture
async def started():
    feeds: list[BinanceFeed] = []

    async def start(feed: BinanceFeed) -> Collector:
        feeds.append(feed)
        await asyncio.wait_for(feed.start(), 10)
        return Collector(feed)

    yield start
    for f in feeds:
        await asyncio.wait_for(f.stop(), 10)


async def test_a_server_that_drops_each_connection_after_a_message_gets_a_growing_back_off(ex, started):
    """Binance allows 300 connection attempts per 5 minutes per IP. A server that takes each
    connection and drops it after the first message made the feed start its back-off over every
    time (a message had arrived), reconnecting at the base delay for ever."""
    ex.close_each_connection_after(1)
    feed = BinanceFeed(make_cfg(ex), ex.clock, backoff_base_s=0.01, backoff_max_s=60.0, rng=random.Random(5))
    await started(feed)
    await ex.wait_until(lambda: feed.reconnects >= 8, 20, "eight reconnects")
    waits = [w for w in ex.clock.sleeps if w > 0][:8]
    assert len(waits) == 8
    assert all(0.01 * 2**k * 0.5 <= w <= 0.01 * 2**k for k, w in enumerate(waits)), waits


async def test_a_connection_that_worked_for_a_while_starts_its_back_off_over(ex, started):
    # each connection lives for 100 messages, at least 0.5 s at the stand-in's pace: past stable_after_s
    ex.close_each_connection_after(100)
    feed = BinanceFeed(
        make_cfg(ex),
        ex.clock,
        backoff_base_s=0.01,
        backoff_max_s=60.0,
        stable_after_s=0.2,
        rng=random.Random(5),
    )
    await started(feed)
    await ex.wait_until(lambda: feed.reconnects >= 4, 20, "four reconnects")
    waits = [w for w in ex.clock.sleeps if w > 0][:4]
    assert len(waits) == 4 and all(0.005 <= w <= 0.01 for w in waits), waits


async def test_a_stream_whose_event_time_stands_still_is_stale_and_recreated(ex, started):
    """Messages keep coming, but they repeat one event time: the stream is not live (an upstream
    that stopped behind a gateway that did not). The watchdog judged streams by arrival alone and
    so never noticed: the prices stood still while the feed read healthy."""
    feed = BinanceFeed(make_cfg(ex, stale=0.5), ex.clock, backoff_base_s=0.01)
    col = await started(feed)
    await ex.wait_until(lambda: feed.health()["connected"] and len(col.prices) > 0, 10, "streaming")
    frozen = ex.open_connections()
    ex.freeze(frozen)
    sent = sum(c.sent for c in frozen)
    await ex.wait_until(lambda: feed.reconnects >= 1, 10, "a recreated connection")
    assert sum(c.sent for c in frozen) > sent  # the frozen connection went on sending
    assert "stale" in feed.health()["connections"][0]["last_reason"]
    await ex.wait_until(lambda: feed.health()["connected"], 10, "streaming again")
    assert not any(s["stale"] for s in feed.health()["streams"].values())


async def test_event_times_that_go_back_do_not_keep_a_stream_alive(ex, started):
    feed = BinanceFeed(make_cfg(ex, stale=0.5), ex.clock, backoff_base_s=0.01)
    col = await started(feed)
    await ex.wait_until(lambda: feed.health()["connected"] and len(col.prices) > 0, 10, "streaming")
    ex.freeze(ex.open_connections(), at_ms=ex.clock.now_ms() - 60_000)  # a minute back, then standing still
    await ex.wait_until(lambda: feed.reconnects >= 1, 10, "a recreated connection")
    assert "stale" in feed.health()["connections"][0]["last_reason"]


async def test_the_feed_does_not_knock_on_during_an_ip_ban_whose_header_was_dropped(ex):
    until = ex.clock.now_ms() + 3_600_000
    ex.fail_next(
        "GET",
        "ping",
        status=418,
        code=-1003,
        msg=f"Way too much request weight used; IP banned until {until}. Please use WebSocket Streams.",
    )
    feed = BinanceFeed(make_cfg(ex), ex.clock, backoff_base_s=0.01)
    with pytest.raises(FeedError, match="418"):
        await asyncio.wait_for(feed.start(), 10)
    assert [r.path for r in ex.requests] == ["ping"]  # asked once, not five times into the ban


async def test_one_message_stamped_years_ahead_does_not_make_the_stream_stale_for_ever(ex, started):
    # the watchdog goes by event time: a garbled one far ahead must not outrank every real one after it
    feed = BinanceFeed(make_cfg(ex, stale=0.5), ex.clock, backoff_base_s=0.01)
    col = await started(feed)
    await ex.wait_until(lambda: feed.health()["connected"] and len(col.prices) > 0, 10, "streaming")
    bad = ex.mini_ticker_array()
    bad[0]["E"] = bad[-1]["E"] = ex.clock.now_ms() + 10 * 365 * 86_400_000
    await ex.push_raw("!miniTicker@arr", bad)
    bad_kline = ex.kline_event(
        "BTCUSDT", "1h", ms("2024-03-01"), False, ex.clock.now_ms() + 10 * 365 * 86_400_000
    )
    await ex.push_raw("btcusdt@kline_1h", bad_kline)
    seen = len(col.prices)
    await ex.wait_until(
        lambda: len(col.prices) >= seen + 150, 20, "150 more price messages"
    )  # > 3 s at 20 ms
    assert feed.reconnects == 0
    assert not any(s["stale"] for s in feed.health()["streams"].values())
