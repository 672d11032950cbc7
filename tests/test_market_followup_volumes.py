"""Absurd but finite kline volumes (1e300) are rejected as ``volume_out_of_range``, in replays and
in the live feed alike (both run :func:`validate_kline_batch`): two 1e308 volumes of a period
summed to inf, and that period's taker ratio (and so its performance score) became NaN."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.market.binance import BinanceFeed
from tui_trader.market.replay import load_klines
from tui_trader.market.validation import (
    MAX_VOLUME,
    RejectCounter,
    kline_batch_from_arrays,
    validate_kline_batch,
)
from tui_trader.models import KlineBatch
from tui_trader.rating.performance import taker_ratio

H1 = 3_600_000
JAN1_2024 = 1_704_067_200_000


def batch(n: int = 4, closed: bool = True) -> KlineBatch:
    """``n`` sound 1h klines of one symbol."""
    ot = JAN1_2024 + np.arange(n) * H1
    vals = np.tile([100.0, 110.0, 90.0, 105.0, 10.0, 1000.0, 4.0], (n, 1))
    return kline_batch_from_arrays(H1, np.zeros(n), ot, ot + H1 - 1, vals, np.full(n, 7), closed=closed)


@pytest.mark.parametrize(
    "fields", [("volume",), ("quote_volume",), ("volume", "taker_buy_base"), ("volume", "quote_volume")]
)
@pytest.mark.parametrize("value", [1e300, 1.7e308, MAX_VOLUME * 1.0001])
def test_a_volume_past_the_cap_is_rejected_and_counted(fields: tuple[str, ...], value: float) -> None:
    b = batch()
    for f in fields:
        getattr(b, f)[1] = value
    c = RejectCounter()
    out = validate_kline_batch(b, 1, np.full(1, -1, dtype=np.int64), c)
    assert out.open_time.tolist() == [JAN1_2024, JAN1_2024 + 2 * H1, JAN1_2024 + 3 * H1]
    assert c.by_reason == {"volume_out_of_range": 1}


def test_volumes_at_the_cap_are_taken() -> None:
    b = batch()
    b.volume[:] = b.quote_volume[:] = b.taker_buy_base[:] = MAX_VOLUME
    c = RejectCounter()
    assert len(validate_kline_batch(b, 1, np.full(1, -1, dtype=np.int64), c)) == 4 and c.total == 0


def test_an_in_progress_kline_of_absurd_volume_is_rejected_too() -> None:
    b = batch(1, closed=False)
    b.volume[0] = 1e300
    c = RejectCounter()
    out = validate_kline_batch(b, 1, np.full(1, -1, dtype=np.int64), c, now_ms=JAN1_2024 + 60_000)
    assert len(out) == 0 and c.by_reason == {"volume_out_of_range": 1}


def test_a_replayed_period_of_absurd_volumes_keeps_a_finite_taker_ratio(tmp_path: Path) -> None:
    lines = []
    for i in range(4):
        t = JAN1_2024 + i * H1
        v = "1e308" if i in (1, 2) else "10"  # summed: inf
        lines.append(f"{t},100,101,99,100,{v},{t + H1 - 1},1000,7,{'1e308' if i in (1, 2) else '5'},500,0\n")
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text("".join(lines))
    data = load_klines(tmp_path, "1h", file_cache=None)
    assert data.rejects == {str(path): {"volume_out_of_range": 2}}
    kl = data.klines
    assert kl.open_time.tolist() == [JAN1_2024, JAN1_2024 + 3 * H1]
    vol, taker = np.array([kl.volume.sum()]), np.array([kl.taker_buy_base.sum()])  # one 4h period
    assert np.isfinite(vol).all() and taker_ratio(taker, vol).tolist() == [0.5]


async def test_the_live_feed_rejects_an_absurd_volume_and_takes_the_next_kline(shared_data: Path) -> None:
    clock = SteerableClock(ms("2024-03-01T00:00:30"), max_sleep_s=0.2)
    ex = await StandinExchange(clock, shared_data).start()
    cfg = Config.model_validate(
        {
            "feed": {"kind": "binance", "symbols": ["BTCUSDT"], "interval": "1h", "stale_after_s": 5.0},
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
        }
    )
    feed = BinanceFeed(cfg, ex.clock, backoff_base_s=0.05, close_grace_s=0.2)
    closed: list[int] = []

    async def consume() -> None:
        async for ev in feed.events():
            if isinstance(ev, KlineBatch):
                closed.extend(ev.open_time[ev.closed].tolist())

    try:
        await asyncio.wait_for(feed.start(), 10)
        task = asyncio.create_task(consume())
        await ex.wait_until(
            lambda: feed.health()["connected"] and feed.health()["received"] > 0, 5, "streaming"
        )
        t0 = ms("2024-03-01T00:00")
        ex.clock.jump_to(t0 + H1 + 1000)
        bad = ex.kline_event("BTCUSDT", "1h", t0, closed=True)
        bad["k"]["v"] = bad["k"]["V"] = "1e300"
        await ex.push_raw("btcusdt@kline_1h", bad)
        await ex.wait_until(lambda: feed.health()["rejected"] >= 1, 5, "the rejection")
        assert feed.health()["rejected_by_reason"] == {"volume_out_of_range": 1}
        await ex.push_kline("BTCUSDT", "1h", t0)  # the real kline of that hour still goes through
        await ex.wait_until(lambda: t0 in closed, 5, "the real kline")
        task.cancel()
    finally:
        await asyncio.wait_for(feed.stop(), 10)
        await ex.stop()
