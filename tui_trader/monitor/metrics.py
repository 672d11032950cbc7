"""Metrics: a rolling events-per-second rate (for the health pane and summaries).

Wall time is right here: a rate of work is about the machine, not a trading decision, so it
never feeds back into what the engine does.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class EventRate:
    """Events per second from the first of the last ``window`` notes until now (bounded memory):
    when the events stop, the rate falls towards 0 (measured up to the last note, it kept
    showing the last busy rate for as long as the feed was silent)."""

    def __init__(self, window: int = 64, now: Callable[[], float] = time.monotonic) -> None:
        self._w: deque[tuple[float, int]] = deque(maxlen=window)
        self._now = now

    def note(self, n: int) -> None:
        self._w.append((self._now(), int(n)))

    def per_second(self) -> float:
        w = self._w
        if len(w) < 2:
            return 0.0
        dt = self._now() - w[0][0]
        if dt <= 0:
            return 0.0
        return sum(n for _, n in list(w)[1:]) / dt


class CounterRate:
    """Per-second rate of a growing counter, re-measured when read, at most once per
    ``min_interval_s`` (between re-measurements the last rate is returned). A counter that
    fell (one that started afresh) or a clock that stepped back is measured from there on: it
    read as a negative rate, held until the clock came back to where it had been; and no time
    elapsed (``min_interval_s`` 0) is no measurement (it divided by zero)."""

    def __init__(self, min_interval_s: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._min = min_interval_s
        self._mark = (now(), 0)
        self._rate = 0.0

    def read(self, total: int) -> float:
        t = self._now()
        t0, n0 = self._mark
        if t < t0 or total < n0:
            self._mark = (t, total)
        elif t - t0 >= self._min and t > t0:
            self._rate = (total - n0) / (t - t0)
            self._mark = (t, total)
        return self._rate
