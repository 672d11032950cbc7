"""The order circuit breaker as a property: any sequence of submissions, answers and clock steps.

Spec: after ``failures`` failed submissions in a row it refuses every submission until
``cooloff_ms`` have passed since it opened; then it lets exactly one trial through at a time;
the trial's success closes it (and resets the count), its failure opens it for another cool-off.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.clock import ManualClock
from tui_trader.execution.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.integers(0, 3_000)),
        st.tuples(st.sampled_from(["submit", "submit", "ok", "fail", "fail", "abandon"]), st.just(0)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(failures=st.integers(1, 4), cooloff=st.integers(0, 2_500), ops=OPS)
def test_the_breaker_opens_after_repeated_failures_and_lets_one_trial_through_after_the_cooloff(
    failures, cooloff, ops
):
    # submissions may be in flight together; each answer settles the oldest one
    clock = ManualClock(1_000_000)
    b = CircuitBreaker(failures, cooloff, clock)
    in_a_row, opened_at, trial = 0, None, False  # what the spec says the breaker knows
    flying: list[bool] = []  # the submissions let through and not answered yet: is it the trial?
    for op, ms in ops:
        if op == "wait":
            clock.advance(ms)
            continue
        if op == "submit":
            if opened_at is None:
                want, state = True, CLOSED
            elif clock.now_ms() - opened_at < cooloff:
                want, state = False, OPEN
            else:
                want, state = not trial, HALF_OPEN
            assert b.state == state
            assert b.allow() == want, (in_a_row, opened_at, trial, flying)
            if want:
                flying.append(state == HALF_OPEN)
                trial = trial or state == HALF_OPEN
            continue
        if not flying:
            continue
        was_trial = flying.pop(0)
        if op == "ok":  # the exchange answered: closed, whatever the state
            b.record_success()
            in_a_row, opened_at, trial = 0, None, False
        elif op == "fail":
            b.record_failure()
            in_a_row += 1
            if opened_at is not None or in_a_row >= failures:
                opened_at = clock.now_ms()  # (re)opened: a failed trial, or one more while open
            trial = False
        elif was_trial:  # halted before the exchange: no verdict, the next one may be the trial
            b.abandon_trial()
            trial = False
        assert b.consecutive_failures == in_a_row
        assert b.opened_ms == opened_at
