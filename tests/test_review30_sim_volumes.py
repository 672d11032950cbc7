"""The simulated market's volume per day is the same whatever the kline interval.

Each candle's volume was scaled by an intraday cycle (1 + 0.3·sin) read at the candle's open. Under a
day the opens spread over the cycle and it averaged out; but every 1d, 3d or 1w candle opens at 00:00
UTC, where the cycle stands at 0.75, so daily and weekly klines carried ~25 % less volume than the same
days of 1m or 1h klines summed. A candle of whole days holds whole cycles: its factor is their mean, 1.
"""

from __future__ import annotations

import numpy as np

from tui_trader.clock import MS_PER_DAY, interval_to_ms
from tui_trader.market.sim import DEFAULT_START_MS, SimMarket, generate_symbol_names

NAMES = generate_symbol_names(40, 3)


def quote_volume_per_day(interval: str, days: int, seed: int) -> float:
    """The market's quote volume per day over ``days``, as a share of the symbols' nominal daily
    volume (the mean over the symbols)."""
    iv = interval_to_ms(interval)
    m = SimMarket(NAMES, iv, 1, seed, DEFAULT_START_MS - DEFAULT_START_MS % iv)
    total = np.zeros(len(NAMES))
    for _ in range(days * MS_PER_DAY // iv):
        total += m.step(prices=False)[1].quote_volume
    nominal = m.qv_per_kline * (MS_PER_DAY / iv)
    return float(np.mean(total / days / nominal))


def test_daily_and_weekly_klines_carry_the_volume_of_the_hours_they_span() -> None:
    hourly = np.mean([quote_volume_per_day("1h", 60, s) for s in (1, 2, 3)])
    daily = np.mean([quote_volume_per_day("1d", 300, s) for s in (1, 2, 3)])
    weekly = np.mean([quote_volume_per_day("1w", 7 * 300, s) for s in (1, 2, 3)])
    three_day = np.mean([quote_volume_per_day("3d", 3 * 300, s) for s in (1, 2, 3)])
    for name, v in (("1d", daily), ("3d", three_day), ("1w", weekly)):
        assert 0.9 < v / hourly < 1.1, f"{name} klines carry {v / hourly:.3f} of the hourly volume per day"


def test_the_intraday_cycle_still_shapes_the_hours() -> None:
    """Under a day the cycle is kept: the hours around its peak trade more than those at its low."""
    m = SimMarket(NAMES, 3_600_000, 1, 4, DEFAULT_START_MS)
    by_hour = np.zeros(24)
    for k in range(24 * 60):
        by_hour[k % 24] += m.step(prices=False)[1].quote_volume.sum() / m.qv_per_kline.sum()
    peak, low = by_hour[8:12].sum(), by_hour[20:24].sum()  # the cycle's top is at ~09:50, its low at ~21:50
    assert peak > 1.3 * low
