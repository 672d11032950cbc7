"""The order circuit breaker when the clock steps back (a live wall clock corrected by NTP)."""

from __future__ import annotations

from tui_trader.execution.circuit import HALF_OPEN, OPEN, CircuitBreaker


class SteppingClock:
    """A wall clock that can be set back, as ``time.time`` is when the system clock is corrected."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:  # (not used)
        self.now += int(seconds * 1000)


def test_a_clock_stepped_back_does_not_stretch_the_cooloff_beyond_one_cooloff_from_the_step():
    clock = SteppingClock(10_000_000)
    b = CircuitBreaker(1, 60_000, clock)
    b.record_failure()
    assert b.state == OPEN
    clock.now -= 3_600_000  # the system clock is set back an hour while the breaker is open
    assert b.state == OPEN and not b.allow()
    clock.now += 60_000  # one whole cool-off has passed since (real time)
    assert b.state == HALF_OPEN  # was OPEN for another hour: every stop loss refused meanwhile
    assert b.allow()
    # the engine schedules its retry from opened_ms + cooloff_ms: never further than one cool-off ahead
    assert b.opened_ms is not None and b.opened_ms + b.cooloff_ms <= clock.now


def test_the_retry_time_the_breaker_gives_is_at_most_one_cooloff_after_a_step_back():
    clock = SteppingClock(10_000_000)
    b = CircuitBreaker(2, 60_000, clock)
    b.record_failure()
    b.record_failure()
    clock.now -= 86_400_000
    assert b.state == OPEN
    assert b.opened_ms is not None and b.opened_ms + b.cooloff_ms <= clock.now + 60_000
