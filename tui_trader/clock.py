"""Injected time.

Every component that needs "now" takes a :class:`Clock`. Times are integer
milliseconds since the Unix epoch (UTC) everywhere in the engine.

* :class:`WallClock` - real time, for live trading.
* :class:`ManualClock` - time moves only when told to. Simulated and replayed
  feeds drive it from the event times they emit (``advance_to``), so a run's
  decisions depend only on its data and seed, never on how fast the machine is
  or how the feed is paced. Its ``sleep`` does not wait for real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int:
        """Current time in integer milliseconds since the epoch (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class WallClock:
    """Real time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves forward when told to (deterministic runs)."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = int(start_ms)

    def now_ms(self) -> int:
        return self._now

    def advance_to(self, ts_ms: int) -> None:
        """Move to ``ts_ms``; never moves backwards."""
        ts_ms = int(ts_ms)
        if ts_ms > self._now:
            self._now = ts_ms

    def advance(self, delta_ms: int) -> None:
        self._now += max(0, int(delta_ms))

    async def sleep(self, seconds: float) -> None:
        # Virtual time: advance and yield control once so other tasks run. To the nearest ms
        # (int() truncated: 1.005 s slept 1,004 ms); NaN is no wait, as for WallClock.
        s = float(seconds)
        self.advance(round(s * 1000) if s > 0 else 0)
        await asyncio.sleep(0)


#: The kline intervals Binance serves (``1M``, the calendar month, is not supported here).
BINANCE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w")

MS_PER_UNIT = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
#: One UTC day in milliseconds (days since the epoch: ``ts_ms // MS_PER_DAY``).
MS_PER_DAY = MS_PER_UNIT["d"]
#: Binance's weekly klines open on Mondays at 00:00 UTC; the epoch (1970-01-01) was a Thursday, so
#: they lie on the epoch's 1w grid shifted by four days (1970-01-05, a Monday).
WEEK_OPEN_OFFSET_MS = 4 * MS_PER_DAY


def kline_open_ms(ts_ms: int, interval_ms: int) -> int:
    """The open time of the kline of ``interval_ms`` that holds ``ts_ms``, as Binance aligns them:
    on the epoch's grid (``ts - ts % interval``), weekly (``1w``) ones on Mondays 00:00 UTC."""
    ts, iv = int(ts_ms), int(interval_ms)
    offset = WEEK_OPEN_OFFSET_MS if iv == MS_PER_UNIT["w"] else 0
    return ts - (ts - offset) % iv


#: :func:`utc_text` formats: to the minute, and without the year (narrow columns).
UTC_MINUTE = "%Y-%m-%d %H:%M"
UTC_SHORT = "%m-%d %H:%M"


def utc_text(ts_ms: int, fmt: str = UTC_MINUTE) -> str:
    """A time in milliseconds since the epoch as UTC text (``strftime`` format ``fmt``)."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime(fmt)


def iso_utc(ts_ms: int) -> str:
    """ISO-8601 UTC with milliseconds, e.g. ``2024-03-01T12:00:00.000Z`` (CSV files)."""
    return utc_text(ts_ms, "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class TimeReasonError(ValueError):
    """A time refused for a reason more specific than its format (ten digits: epoch seconds):
    a flag's own "expected ..." message would hide it, so the flag's error passes it on."""


def parse_time(text: str | int | None) -> int | None:
    """``""``/None -> None; an int (ms) as is; ISO date/time (UTC if no zone) -> ms. Raises ValueError
    (:class:`TimeReasonError` for a specific reason)."""
    if text is None:
        return None
    if isinstance(text, int):
        return text
    text = text.strip()
    if not text:
        return None
    if text.isdigit() and len(text) != 8:
        # epoch ms; fewer than ten digits is no time since 1970-01-12: "2024" was read as 2024 ms, and
        # ten digits are epoch seconds (`date +%s`): read as ms, 1704067200 was 1970-01-20
        if len(text) < 10:
            raise ValueError(f"bad time {text!r}: expected e.g. 2024-01-01 or 2024-01-01T12:00Z, or epoch milliseconds")
        if len(text) == 10:  # (epoch ms of ten digits fall in 1970-01-12 to 04-26: no market's data)
            raise TimeReasonError(f"bad time {text!r}: ten digits are epoch seconds, not milliseconds "
                             f"(epoch ms: {text}000; or e.g. 2024-01-01T12:00Z)")
        return int(text)
    # eight digits: ISO 8601's compact date (20241201), read as epoch ms it was 1970-01-01 05:37
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: expected e.g. 2024-01-01 or 2024-01-01T12:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # exact (floored to the ms): int(dt.timestamp() * 1000) went through a float and truncated, so
    # 1 in ~160 times to the millisecond read 1 ms early (iso_utc's text did not read back)
    return (dt - _EPOCH) // _ONE_MS


def interval_to_ms(interval: str) -> int:
    """Binance kline interval (``1s``, ``1m``, ``15m``, ``1h``, ``1d``, ``1w``) to milliseconds."""
    interval = interval.strip()
    if len(interval) < 2 or not interval[:-1].isdigit() or interval[-1] not in MS_PER_UNIT:
        raise ValueError(f"bad interval {interval!r}: expected e.g. 1s, 1m, 15m, 1h, 1d")
    n = int(interval[:-1])
    if n <= 0:
        raise ValueError(f"bad interval {interval!r}: must be positive")
    return n * MS_PER_UNIT[interval[-1]]


def parse_duration(text: str) -> float:
    """``30s``, ``5m``, ``2h``, ``1d``, ``500ms`` or a plain number of seconds -> seconds (> 0,
    finite). Raises ValueError otherwise: a zero, negative or NaN limit would end a run at once."""
    raw = text
    text = text.strip().lower()
    value: float | None = None
    try:
        value = float(text)
    except ValueError:
        for suffix, unit in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)):
            if text.endswith(suffix):
                with contextlib.suppress(ValueError):
                    value = float(text[: -len(suffix)]) * unit
                break
    if value is None:
        raise ValueError(f"bad duration {raw!r}: expected e.g. 30s, 5m, 2h")
    if not (0.0 < value < math.inf):
        raise ValueError(f"bad duration {raw!r}: must be a positive, finite time, e.g. 30s, 5m, 2h")
    return value
