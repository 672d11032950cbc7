"""The clock module's edges: times given to the millisecond, and the simulated clock's sleep.

``parse_time`` multiplied a float timestamp by 1000 and truncated it: ``2004-03-12T12:02:41.853Z``
read as ...852 ms, so a time written by ``iso_utc`` did not read back as itself (about 1 in 160
millisecond times). ``ManualClock.sleep`` truncated its seconds the same way (1.005 s slept 1,004 ms)
and raised ValueError for NaN, where the wall clock's sleep takes it as no wait.
"""

from __future__ import annotations

import math

import pytest

from tui_trader.clock import ManualClock, WallClock, iso_utc, parse_time


@pytest.mark.parametrize("ts", [1_079_092_961_853, 2_152_206_042_811, 1_704_067_200_001, 1_735_689_599_999, 0])
def test_a_time_written_to_the_millisecond_reads_back_as_itself(ts: int) -> None:
    assert parse_time(iso_utc(ts)) == ts


def test_a_time_with_microseconds_or_a_zone_reads_to_the_millisecond_below() -> None:
    assert parse_time("2024-03-01T12:00:00.123999Z") == 1_709_294_400_123
    assert parse_time("2004-03-12T13:02:41.853+01:00") == 1_079_092_961_853
    assert parse_time("1969-12-31T23:59:59.999Z") == -1  # before the epoch: floored, not towards 0


def test_every_millisecond_of_a_second_reads_back() -> None:
    base = 2_152_206_042_000
    assert [parse_time(iso_utc(base + k)) - base for k in range(1000)] == list(range(1000))


async def test_the_manual_clock_sleeps_the_milliseconds_asked_for() -> None:
    c = ManualClock(1_000)
    await c.sleep(1.005)  # 1.005 * 1000 is 1004.999...
    assert c.now_ms() == 1_000 + 1_005
    await c.sleep(1_234 / 1000.0)  # (the order manager's wait of 1,234 ms)
    assert c.now_ms() == 2_005 + 1_234
    await c.sleep(0)
    await c.sleep(-3.0)
    assert c.now_ms() == 3_239  # no wait, and never backwards
    await c.sleep(0.0004)  # under half a millisecond: no tick
    assert c.now_ms() == 3_239


async def test_a_nan_sleep_is_no_wait_on_either_clock() -> None:
    c = ManualClock(7)
    await c.sleep(math.nan)
    assert c.now_ms() == 7
    await WallClock().sleep(math.nan)  # (returns at once)
