"""Validation: an in-progress kline stamped far in the future is a bad time, as a closed one is."""

from __future__ import annotations

import numpy as np

from tui_trader.market.cache import MarketCache
from tui_trader.market.validation import (
    FUTURE_SLACK_MS,
    RejectCounter,
    kline_batch_from_arrays,
    validate_kline_batch,
    validate_price_batch,
)
from tui_trader.models import PriceBatch

H1 = 3_600_000
NOW = 1_735_689_600_000 + 30 * 60_000  # 2025-01-01 00:30 UTC, inside the 00:00 kline


def in_progress(open_time: int):
    return kline_batch_from_arrays(
        H1,
        np.array([0]),
        np.array([open_time]),
        np.array([open_time + H1 - 1]),
        np.array([[100.0, 110.0, 90.0, 105.0, 10.0, 1000.0, 5.0]]),
        np.array([7]),
        closed=False,
    )


def price(p: float, t: int) -> PriceBatch:
    nan = np.array([np.nan])
    return PriceBatch(
        sym=np.array([0], dtype=np.int32),
        event_time=np.array([t], dtype=np.int64),
        price=np.array([p]),
        open_24h=nan,
        high_24h=nan,
        low_24h=nan,
        volume_24h=nan,
        quote_volume_24h=nan,
    )


def test_an_in_progress_kline_opening_far_ahead_is_a_bad_time_not_a_frozen_price() -> None:
    # accepted, its close became the symbol's price as of a year ahead, and every real price
    # until then was older than it: the symbol's price stood still
    far = NOW - NOW % H1 + 365 * 24 * H1
    counter = RejectCounter()
    last = np.full(1, -1, dtype=np.int64)
    assert len(validate_kline_batch(in_progress(far), 1, last, counter, now_ms=NOW)) == 0
    assert counter.by_reason == {"bad_time": 1}
    cache = MarketCache(["BTCUSDT"], 10)
    cache.add_klines(validate_kline_batch(in_progress(NOW - NOW % H1), 1, last, counter, now_ms=NOW))
    assert cache.price[0] == 105.0 and counter.total == 1  # the candle of now: taken
    tick = validate_price_batch(price(106.0, NOW + 1000), 1, counter, now_ms=NOW + 1000)
    assert cache.update_prices(tick) == 1 and cache.price[0] == 106.0


def test_an_in_progress_kline_within_the_clock_s_slack_and_replays_without_a_clock_are_taken() -> None:
    now = NOW + 25 * 60_000  # 00:55 by a local clock up to 10 min slow
    soon = now - now % H1 + H1  # the next candle, already open on the exchange
    assert soon <= now + FUTURE_SLACK_MS
    counter = RejectCounter()
    last = np.full(1, -1, dtype=np.int64)
    assert len(validate_kline_batch(in_progress(soon), 1, last, counter, now_ms=now)) == 1
    far = soon + 365 * 24 * H1
    assert len(validate_kline_batch(in_progress(far), 1, last, counter)) == 1  # no now_ms: not judged
    assert counter.total == 0 and last[0] == -1  # in-progress klines are never recorded
