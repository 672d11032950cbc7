"""``data download`` and an IP ban (HTTP 418) whose answer carries no ``Retry-After`` (a proxy
that drops headers): the wait comes from Binance's message, else Binance's shortest ban."""

from __future__ import annotations

import asyncio

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms
from test_download import make_cfg

from tui_trader.market.download import DownloadError, download_klines

NOW = ms("2025-02-01T05:37")
JAN20 = ms("2025-01-20")
JAN21 = ms("2025-01-21")


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(NOW), shared_data).start()
    yield stand
    await stand.stop()


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, s: float) -> None:
        self.calls.append(s)
        await asyncio.sleep(0)


def klines_asked(ex: StandinExchange) -> int:
    return len([r for r in ex.requests if r.path == "klines"])


async def test_an_ip_ban_without_retry_after_is_read_from_binances_message(ex, tmp_path):
    """The ban's end is in Binance's -1003 message, on the exchange's clock (here 2025, not this
    machine's): two hours ahead, far past what a download waits, so it stops and says so instead
    of asking again after a second's back-off (which makes Binance lengthen the ban)."""
    until = NOW + 2 * 3600 * 1000
    ex.fail_next(
        "GET", "klines", status=418, code=-1003,
        msg=f"Way too much request weight used; IP banned until {until}. Please use WebSocket Streams.",
    )
    sleeps = Sleeps()
    with pytest.raises(DownloadError) as e:
        await download_klines(make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN20, JAN21, tmp_path, sleep=sleeps)
    assert "banned this IP for" in str(e.value) and "(HTTP 418)" in str(e.value), str(e.value)
    assert klines_asked(ex) == 1  # not asked again during the ban
    assert sleeps.calls == []


async def test_an_ip_ban_that_says_not_how_long_waits_binances_shortest_ban(ex, tmp_path):
    """A 418 with neither Retry-After nor the ban's end: 120 s (Binance's shortest ban), not a
    back-off of a second or two."""
    ex.fail_next("GET", "klines", status=418, code=-1003, msg="Way too much request weight used; IP banned.")
    sleeps = Sleeps()
    summary = await download_klines(make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN20, JAN21, tmp_path, sleep=sleeps)
    assert summary["rows"] == 96
    assert 120.0 in sleeps.calls
    assert [r.status for r in ex.requests if r.path == "klines"][:2] == [418, 200]
