"""Clock skew: a live broker's last measured offset to the exchange's clock (and when it was
measured) shows as the health view's ``clock`` row - a warning above 1 s, unhealthy above half of
``recvWindow`` - and the health monitor measures it again every 10 min (engine time). The paper
broker has no clock of its own: no row."""

from __future__ import annotations

import asyncio

import pytest
from engine_helpers import make_engine
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.engine import CLOCK_REMEASURE_MS
from tui_trader.execution.binance_broker import BinanceBroker
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.monitor.health import clock_check

KEY = "k3y-PUBLIC-abc123XYZ"
SECRET = "s3cr3t-PRIVATE-987zyx"
START = ms("2024-03-01T00:00:30")


def test_clock_check_thresholds() -> None:
    now = 10_000_000
    assert clock_check(None, None, 5000, now).status == "healthy"  # not measured yet: nothing known
    ok = clock_check(120, now - 30_000, 5000, now)
    assert ok.status == "healthy" and ok.message.startswith("120 ms behind") and "30 s ago" in ok.message
    warn = clock_check(-1_500, now - 5 * 60_000, 5000, now)
    assert warn.status == "warning" and "1,500 ms ahead of" in warn.message and "5 min ago" in warn.message
    assert clock_check(2_500, now, 5000, now).status == "warning"  # exactly half of recvWindow
    bad = clock_check(2_501, now, 5000, now)
    assert bad.status == "unhealthy" and not bad.critical and "recvWindow 5,000 ms" in bad.message
    assert clock_check(-9_000, now, 60_000, now).status == "warning"  # a long recvWindow tolerates more


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(START), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


def _cfg(ex: StandinExchange) -> Config:
    return Config.model_validate(
        {
            "binance": {
                "rest_url": ex.rest_url,
                "stream_url": ex.stream_url,
                "request_timeout_s": 2.0,
                "recv_window_ms": 5000,
            }
        }
    )


async def test_the_live_broker_reports_a_skewed_exchange_clock(ex) -> None:
    b = BinanceBroker(_cfg(ex), ex.clock, KEY, SECRET)
    assert b.health()["clock_offset_ms"] is None  # not started: not measured
    ex.respond_next("GET", "time", {"serverTime": ex.clock.now_ms() + 3_000})  # the exchange 3 s ahead
    await asyncio.wait_for(b.start(), 5)
    try:
        h = b.health()
        assert 2_000 <= h["clock_offset_ms"] <= 3_000, h  # less half the round trip
        assert abs(h["clock_offset_measured_ms"] - ex.clock.now_ms()) < 2_000 and h["recv_window_ms"] == 5000
        row = clock_check(
            h["clock_offset_ms"], h["clock_offset_measured_ms"], h["recv_window_ms"], ex.clock.now_ms()
        )
        assert row.status == "unhealthy" and "behind the exchange's clock" in row.message
        # measured again, the clocks agree
        assert abs(await asyncio.wait_for(b.measure_clock(), 5)) < 1_000
        assert b.health()["clock_offset_ms"] == b.clock_offset_ms and abs(b.clock_offset_ms) < 1_000
        # never during a rate-limit ban (asking then escalates it)
        b.banned_until = b.banned_until + 1e9
        asked = len(ex.requests)
        with pytest.raises(BrokerError) as err:
            await b.measure_clock()
        assert err.value.kind is BrokerErrorKind.RATE_LIMIT and len(ex.requests) == asked
    finally:
        await asyncio.wait_for(b.stop(), 5)


async def test_the_paper_engine_shows_no_clock_row() -> None:
    h = await make_engine().start()
    try:
        assert "clock" not in [c.name for c in h.engine.snapshot().health.checks]
    finally:
        await h.stop()


class _Skewed:
    """What the engine reads of a live broker's clock, over a paper broker."""

    def __init__(self, offset_ms: int, measured_ms: int) -> None:
        self.clock_offset_ms = offset_ms
        self.clock_offset_measured_ms = measured_ms
        self.measured = 0

    def health(self) -> dict:
        return {
            "clock_offset_ms": self.clock_offset_ms,
            "clock_offset_measured_ms": self.clock_offset_measured_ms,
            "recv_window_ms": 5000,
        }


async def test_the_engine_health_view_shows_and_remeasures_the_clock_offset() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        now = e.clock.now_ms()
        skew = _Skewed(-1_800, now)

        async def measure() -> int:
            skew.measured += 1
            skew.clock_offset_ms, skew.clock_offset_measured_ms = 40, e.clock.now_ms()
            return 40

        e.broker.health = skew.health
        e.broker.measure_clock = measure
        e.broker.clock_offset_measured_ms = now  # what the monitor reads for the age
        view = e.snapshot().health
        (row,) = [c for c in view.checks if c.name == "clock"]
        assert row.status == "warning" and "1,800 ms ahead of" in row.message
        assert view.overall == "warning"
        await e._remeasure_clock()  # measured just now: not asked again
        assert skew.measured == 0
        h.clock.advance(CLOCK_REMEASURE_MS)
        e.broker.clock_offset_measured_ms = skew.clock_offset_measured_ms
        await e._remeasure_clock()
        assert skew.measured == 1
        (row,) = [c for c in e.snapshot().health.checks if c.name == "clock"]
        assert row.status == "healthy" and row.message.startswith("40 ms behind")
    finally:
        await h.stop()
