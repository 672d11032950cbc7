"""The live feed's gap fill took a week's klines to open on the epoch's grid (Thursdays), where
Binance's open on Mondays: a feed started on a Friday whose connection dropped over the weekly close
never fetched the week that closed meanwhile (the newest closed kline it expected was a Thursday's,
one it took as covered). It aligns a week's klines on Mondays now, as ``kline_open_ms`` does."""

from __future__ import annotations

import asyncio

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.market.binance import BinanceFeed
from tui_trader.models import KlineBatch

SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture
async def ex(shared_data):
    clock = SteerableClock(ms("2024-03-08T12:00"), max_sleep_s=0.2)  # a Friday, in the week of Monday 03-04
    stand = await StandinExchange(clock, shared_data).start()
    yield stand
    await stand.stop()


async def test_the_week_closed_while_the_connection_was_down_is_fetched(ex: StandinExchange) -> None:
    cfg = Config.model_validate({
        "feed": {"kind": "binance", "symbols": list(SYMBOLS), "interval": "1w", "stale_after_s": 5.0},
        "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
    })  # fmt: skip
    feed = BinanceFeed(cfg, ex.clock, backoff_base_s=0.05, close_grace_s=0.3)
    await asyncio.wait_for(feed.start(), 10)
    got: list[tuple[str, int]] = []

    async def collect() -> None:
        async for ev in feed.events():
            if isinstance(ev, KlineBatch):
                got.extend((feed.symbols[int(s)], int(t)) for s, t in zip(ev.sym, ev.open_time, strict=True))

    task = asyncio.create_task(collect())
    try:
        await ex.wait_until(lambda: feed.health()["connected"], 5, "connected")
        # The week of Monday 03-04 closes on Monday 03-11 while the feed is away (never pushed live).
        ex.clock.jump_to(ms("2024-03-12T01:00"))
        assert await ex.close_sockets() == 1
        await ex.wait_until(lambda: len(got) == len(SYMBOLS), 5, "the week's gap fill")
        await asyncio.sleep(0.4)  # past the close grace: nothing else may come
        assert sorted(got) == [(s, ms("2024-03-04T00:00")) for s in SYMBOLS]
        starts = {
            int(r.params["startTime"]) for r in ex.requests if r.path == "klines" and "startTime" in r.params
        }
        assert starts == {ms("2024-03-04T00:00")}  # from the week after the last closed one, a Monday
    finally:
        await asyncio.wait_for(feed.stop(), 10)
        task.cancel()
