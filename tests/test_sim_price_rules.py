"""The simulated market's price updates are judged by the price rules once per candle, over all
its updates' figures together; a candle with a row that breaks a rule has each update judged on
its own, so that row alone is refused and counted, as from any feed."""

from __future__ import annotations

import numpy as np

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.market.sim import SimFeed, SimMarket
from tui_trader.models import PriceBatch


async def _prices(monkeypatch, spoil: bool) -> tuple[list[PriceBatch], SimFeed]:
    step = SimMarket.step

    def spoiled(self: SimMarket, prices: bool = True):
        pbs, kb = step(self, prices)
        if spoil and self.steps == 3 and pbs:
            pbs[1].price[2] = np.nan  # (the candle's figures: its update 1, symbol 2)
        return pbs, kb

    monkeypatch.setattr(SimMarket, "step", spoiled)
    feed = SimFeed(Config(), ManualClock(), n_symbols=6, seed=5, interval="1m", speed="max", max_klines=4,
                   warmup_klines=0)
    return [ev async for ev in feed.events() if isinstance(ev, PriceBatch)], feed


async def test_a_bad_price_in_one_update_is_refused_alone_and_counted(monkeypatch) -> None:
    clean, clean_feed = await _prices(monkeypatch, spoil=False)
    spoiled, feed = await _prices(monkeypatch, spoil=True)
    assert clean_feed.counter.total == 0 and feed.counter.total == 1
    assert dict(feed.counter.by_reason) == {"non_finite": 1}
    per_candle = len(clean) // 4
    bad = 2 * per_candle + 1  # the third candle's second update
    assert len(spoiled) == len(clean)
    for k, (a, b) in enumerate(zip(clean, spoiled, strict=True)):
        if k == bad:
            assert b.sym.tolist() == [0, 1, 3, 4, 5]  # symbol 2's row alone is gone
            assert b.price.tolist() == np.delete(a.price, 2).tolist()
        else:
            assert b.sym.tolist() == a.sym.tolist() and b.price.tolist() == a.price.tolist()
