"""RestRetry's log lines: "retrying in X s" only when a retry follows.

`data download` without a network logged "server time: ... retrying in 14.5 s" and then gave up at
once ("download failed: cannot reach the exchange"): the last attempt promised a wait and a retry
that never came.
"""

from __future__ import annotations

import asyncio
import logging
import random

import aiohttp
import pytest

from tui_trader.market.binance import RestRetry


def test_last_failed_attempt_does_not_promise_a_retry(caplog: pytest.LogCaptureFixture) -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    calls = 0

    async def fail() -> None:
        nonlocal calls
        calls += 1
        raise aiohttp.ClientConnectionError("unreachable")

    policy = RestRetry(sleep, attempts=3, rng=random.Random(1))
    with (
        caplog.at_level(logging.WARNING, logger="tui_trader.market.binance"),
        pytest.raises(aiohttp.ClientConnectionError),
    ):
        asyncio.run(policy.call("server time", fail))
    retry_lines = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert calls == 3
    assert len(slept) == 2
    # one "retrying in" line per wait actually taken, each naming that wait
    assert len(retry_lines) == len(slept)
    for line, wait in zip(retry_lines, slept, strict=True):
        assert f"retrying in {wait:.1f} s" in line
