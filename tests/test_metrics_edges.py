"""The rates the health pane and the feeds' health show, at their edges: no time elapsed, a
counter that starts afresh, a clock that steps back. A rate is never negative, never NaN or
infinite, and never raises."""

from __future__ import annotations

import math

from tui_trader.monitor.metrics import CounterRate, EventRate


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_counter_rate_over_no_elapsed_time_is_no_division_by_zero() -> None:
    clock = _Clock(5.0)
    rate = CounterRate(0.0, now=clock)
    assert rate.read(10) == 0.0  # no time has passed: no measurement
    clock.t = 7.0
    assert rate.read(30) == 15.0


def test_a_counter_that_starts_afresh_reads_no_negative_rate() -> None:
    clock = _Clock(10.0)
    rate = CounterRate(1.0, now=clock)
    clock.t = 11.0
    assert rate.read(100) == 100.0
    clock.t = 12.0
    assert rate.read(10) >= 0.0  # a new feed counts from 0 again
    clock.t = 13.0
    assert rate.read(60) == 50.0  # measured from the new count on


def test_a_clock_that_steps_back_is_measured_from_there_on() -> None:
    clock = _Clock(100.0)
    rate = CounterRate(1.0, now=clock)
    clock.t = 101.0
    assert rate.read(50) == 50.0
    clock.t = 50.0  # stepped back
    assert rate.read(60) >= 0.0
    clock.t = 52.0
    assert rate.read(80) == 10.0  # not frozen until the clock is back at 102


def test_an_event_rate_is_finite_on_an_empty_window_a_single_note_and_a_clock_back() -> None:
    clock = _Clock(0.0)
    rate = EventRate(window=4, now=clock)
    assert rate.per_second() == 0.0
    rate.note(5)
    assert rate.per_second() == 0.0
    rate.note(5)  # two notes at the same instant
    assert rate.per_second() == 0.0
    clock.t = -3.0
    assert rate.per_second() == 0.0
    clock.t = 2.0
    rate.note(10)
    assert rate.per_second() == 7.5 and math.isfinite(rate.per_second())
