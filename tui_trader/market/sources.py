"""Kline sources: the closed klines a deterministic feed is about to deliver, as a plain
picklable iterable (``feed.kline_source()``).

They let :mod:`tui_trader.rating.ahead` rate the periods of the simulated market or of a
replay in another process, ahead of the engine, on exactly the klines the feed's
``events()`` will yield from the moment the source was taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from tui_trader.market.validation import RejectCounter, validate_kline_batch
from tui_trader.models import KlineBatch

if TYPE_CHECKING:
    from tui_trader.market.sim import SimMarket

__all__ = ["ReplayKlines", "SimKlines"]


class ReplayKlines:
    """The batches of :meth:`ReplayFeed.events() <tui_trader.market.replay.ReplayFeed.events>`:
    ``step`` open times each, from open time number ``start`` of ``klines`` (rows sorted by open
    time; ``bounds[p]`` is the first row of open time ``p``, ``bounds[-1]`` the row count)."""

    def __init__(self, klines: KlineBatch, bounds: np.ndarray, start: int, step: int) -> None:
        a = int(bounds[start])
        self.klines = klines.take(slice(a, len(klines))) if a else klines  # only what is still to come
        self.bounds = np.asarray(bounds[start:], dtype=np.int64) - a
        self.step = int(step)

    @property
    def open_times(self) -> int:
        return int(self.bounds.shape[0] - 1)

    def __iter__(self) -> Iterator[KlineBatch]:
        bounds, kl = self.bounds, self.klines
        end = self.open_times
        for p in range(0, end, self.step):
            q = min(p + self.step, end)
            yield kl.take(slice(int(bounds[p]), int(bounds[q])))


class SimKlines:
    """The closed KlineBatches of :meth:`SimFeed.events() <tui_trader.market.sim.SimFeed.events>`
    from the market's current state: the same steps (without the intra-candle prices, which
    draw nothing from the random generator) and the same validation. ``count`` batches, or
    without end when None. Iterating steps the ``market`` it was given: pickle the source (or
    take a new one) to keep the feed's own market untouched."""

    def __init__(self, market: SimMarket, last_open: np.ndarray, count: int | None) -> None:
        self.market = market
        self.last_open = last_open
        self.count = count

    @property
    def open_times(self) -> int | None:
        return self.count

    def __iter__(self) -> Iterator[KlineBatch]:
        m = self.market
        n = int(self.last_open.shape[0])
        last_open = self.last_open.copy()
        counter = RejectCounter()
        k = 0
        while self.count is None or k < self.count:
            k += 1
            yield validate_kline_batch(m.step(prices=False)[1], n, last_open, counter)
