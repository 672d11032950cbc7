"""Kline sources: the closed klines a replay is about to deliver, as a plain picklable
iterable (``ReplayFeed.kline_source()``).

They let :mod:`tui_trader.rating.ahead` rate the periods of a replay in another process,
ahead of the engine, on exactly the klines the feed's ``events()`` will yield from the
moment the source was taken. (The simulated market sends its klines as it makes them
instead: ``SimFeed.tap_klines``.)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tui_trader.models import KlineBatch

__all__ = ["ReplayKlines"]


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
