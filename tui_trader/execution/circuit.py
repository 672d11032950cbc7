"""A circuit breaker around order submission.

States (``breaker.state``):

* ``"closed"`` - submissions pass; consecutive failures are counted.
* ``"open"`` - after ``failures`` consecutive failures: every submission is refused
  until ``cooloff_ms`` (clock milliseconds) have passed since it opened.
* ``"half_open"`` - the cool-off has passed: exactly one trial submission is let
  through. Its success closes the breaker; its failure opens it again for
  another cool-off.

Time comes from the injected :class:`~tui_trader.clock.Clock`, never wall time. A clock that
steps back while the breaker is open (a wall clock corrected by NTP) restarts the cool-off
from the new time, so it lasts at most one cool-off past the step rather than the step too.
"""

from __future__ import annotations

from tui_trader.clock import Clock

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, failures: int, cooloff_ms: int, clock: Clock) -> None:
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise ValueError(f"circuit breaker failures must be an int >= 1, got {failures!r}")
        if isinstance(cooloff_ms, bool) or not isinstance(cooloff_ms, int) or cooloff_ms < 0:
            raise ValueError(f"circuit breaker cooloff_ms must be an int >= 0, got {cooloff_ms!r}")
        self.failures = failures
        self.cooloff_ms = cooloff_ms
        self._clock = clock
        self._consecutive = 0
        self._opened_ms: int | None = None
        self._trial_in_flight = False

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    @property
    def opened_ms(self) -> int | None:
        """Clock time (ms) the breaker last opened, or None while closed."""
        self._now()
        return self._opened_ms

    def _now(self) -> int:
        """The clock's time; an opening later than it (the clock stepped back) is moved to it."""
        now = self._clock.now_ms()
        if self._opened_ms is not None and now < self._opened_ms:
            self._opened_ms = now
        return now

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"`` at the clock's current time."""
        if self._opened_ms is None:
            return CLOSED
        if self._now() - self._opened_ms >= self.cooloff_ms:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """May a submission go ahead now? In half-open state only one trial at a time is allowed;
        the caller must then report it with :meth:`record_success` or :meth:`record_failure`."""
        st = self.state
        if st == CLOSED:
            return True
        if st == OPEN or self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        """The broker answered normally: close and reset the failure count."""
        self._consecutive = 0
        self._opened_ms = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        """A submission failed: count it; open at ``failures`` in a row, or re-open after a failed trial."""
        self._consecutive += 1
        if self._opened_ms is not None or self._consecutive >= self.failures:
            self._opened_ms = self._clock.now_ms()
        self._trial_in_flight = False

    def abandon_trial(self) -> None:
        """The half-open trial ended without reaching the exchange (e.g. an emergency stop halted
        it): it proves nothing either way, so the breaker stays half-open and lets the next
        submission be the trial (else it would wait for a verdict that never comes)."""
        self._trial_in_flight = False

    def reset(self) -> None:
        """Close by hand (operator action)."""
        self.record_success()
