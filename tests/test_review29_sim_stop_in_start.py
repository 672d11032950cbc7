"""A simulated market stopped while its start is still making the warm-up (an engine stopped during
its start-up) stays stopped: the start set it running again once the warm-up ended, so it read
connected and its events ran, unpaced (the stop had ended every wait), for as long as anyone took them."""

from __future__ import annotations

import asyncio

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.market.sim import YIELD_EVERY_STEPS, SimFeed


async def test_a_stop_during_the_warm_up_is_not_undone_by_the_start() -> None:
    feed = SimFeed(Config(), ManualClock(), n_symbols=4, seed=5, speed=1.0, max_klines=50,
                   warmup_klines=20 * YIELD_EVERY_STEPS)
    starting = asyncio.ensure_future(feed.start())
    await asyncio.sleep(0)  # the start is in its warm-up, which gives the loop turns
    assert not starting.done()
    await feed.stop()
    await starting
    assert feed.health()["connected"] is False
    assert [ev async for ev in feed.events()] == []
    assert feed.open_times_left() == 50
