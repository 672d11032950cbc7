"""Metrics: a rolling events-per-second rate (for the health pane and summaries).

Wall time is right here: a rate of work is about the machine, not a trading decision, so it
never feeds back into what the engine does.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class EventRate:
    """Events per second over the last ``window`` notes (bounded memory)."""

    def __init__(self, window: int = 64, now: Callable[[], float] = time.monotonic) -> None:
        self._w: deque[tuple[float, int]] = deque(maxlen=window)
        self._now = now

    def note(self, n: int) -> None:
        self._w.append((self._now(), int(n)))

    def per_second(self) -> float:
        w = self._w
        if len(w) < 2:
            return 0.0
        dt = w[-1][0] - w[0][0]
        if dt <= 0:
            return 0.0
        return sum(n for _, n in list(w)[1:]) / dt
