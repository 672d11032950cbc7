"""Pacing of simulated and replayed feeds against real time.

A feed's data carries its own times; the pacer only decides *when* (in wall time) each event
is released: ``speed`` × real time from the first event, or as fast as possible (``None``),
yielding to the loop once per event either way. It never changes the data, so a paced run
and a full-speed run make the same decisions. Waiting ends early when ``stopped`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib


class Pacer:
    def __init__(self, speed: float | None, stopped: asyncio.Event) -> None:
        self.speed = speed
        self._stopped = stopped
        self._real0: float | None = None
        self._sim0 = 0

    async def wait_until(self, ts_ms: int, origin_ms: int | None = None) -> None:
        """Wait until event time ``ts_ms`` is due. The first call fixes the origin: ``origin_ms``
        (e.g. the first candle's open time) or ``ts_ms`` itself."""
        loop = asyncio.get_running_loop()
        if self._real0 is None:
            self._real0, self._sim0 = loop.time(), ts_ms if origin_ms is None else origin_ms
        if self.speed is None:
            await asyncio.sleep(0)
            return
        delay = self._real0 + (ts_ms - self._sim0) / 1000.0 / self.speed - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=delay)
        else:
            await asyncio.sleep(0)
