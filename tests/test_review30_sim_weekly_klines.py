"""The simulated market's weekly klines open on Mondays 00:00 UTC, as Binance's ``1w`` klines do.

They opened on Thursdays: the sim aligned its start to the epoch's 1w grid, and 1970-01-01 was a
Thursday. Binance's weekly klines (and its 1w kline files a replay reads) open on Mondays; a sim
run at ``1w`` showed candles no Binance chart has. The shorter intervals keep the epoch's grid
(Binance's too), so the default 1m market is unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from engine_helpers import engine_config

from tui_trader.clock import ManualClock, kline_open_ms
from tui_trader.config import Config
from tui_trader.market.sim import DEFAULT_START_MS, SimFeed
from tui_trader.models import KlineBatch
from tui_trader.runtime import build_engine

DAY = 86_400_000
WEEK = 7 * DAY
MONDAY_2024_01_01 = 1_704_067_200_000  # a Binance BTCUSDT 1w kline's open time


def _weekday(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%A %H:%M:%S.%f")


def test_kline_open_aligns_weeks_on_mondays_and_the_rest_on_the_epochs_grid() -> None:
    assert kline_open_ms(MONDAY_2024_01_01, WEEK) == MONDAY_2024_01_01
    assert kline_open_ms(MONDAY_2024_01_01 + WEEK - 1, WEEK) == MONDAY_2024_01_01  # Sunday 23:59:59.999
    assert kline_open_ms(MONDAY_2024_01_01 - 1, WEEK) == MONDAY_2024_01_01 - WEEK
    assert _weekday(kline_open_ms(DEFAULT_START_MS, WEEK)) == "Monday 00:00:00.000000"
    for iv in (1_000, 60_000, 3_600_000, 4 * 3_600_000, DAY, 3 * DAY):
        for ts in (DEFAULT_START_MS, DEFAULT_START_MS + 12_345_678, MONDAY_2024_01_01 + 5):
            assert kline_open_ms(ts, iv) == ts - ts % iv


async def test_the_sims_weekly_klines_open_on_mondays_history_and_live() -> None:
    feed = SimFeed(
        Config(),
        ManualClock(),
        n_symbols=6,
        seed=9,
        interval="1w",
        speed="max",
        max_klines=5,
        warmup_klines=12,
    )
    await feed.start()
    assert _weekday(feed.start_ms) == "Monday 00:00:00.000000"
    assert feed.start_ms <= DEFAULT_START_MS < feed.start_ms + WEEK  # the week holding 2025-01-01
    hist = await feed.history(feed.symbols, "1w", 100)
    live = [ev for ev in [e async for e in feed.events()] if isinstance(ev, KlineBatch)]
    opens = np.unique(np.concatenate([hist.open_time, *[kb.open_time for kb in live]]))
    assert len(opens) == 12 + 5
    assert {_weekday(int(t)) for t in opens} == {"Monday 00:00:00.000000"}
    assert (np.diff(opens) == WEEK).all()
    assert opens[12] == feed.start_ms
    for kb in live:
        assert (kb.close_time == kb.open_time + WEEK - 1).all()  # Sunday 23:59:59.999, as Binance's


def test_a_resumed_weekly_sim_starts_on_the_first_monday_after_the_time_given() -> None:
    feed = SimFeed(Config(), ManualClock(), n_symbols=3, interval="1w")
    thursday = (DEFAULT_START_MS // WEEK + 3) * WEEK  # a rating period's end (the epoch's 1w grid)
    feed.start_ms = thursday
    assert _weekday(feed.start_ms) == "Monday 00:00:00.000000"
    assert thursday < feed.start_ms < thursday + WEEK  # after it: the book's time never goes back
    feed.start_ms = feed.start_ms  # a Monday stays
    assert feed.start_ms - thursday == 4 * DAY
    minute = SimFeed(Config(), ManualClock(), n_symbols=3, interval="1m")
    minute.start_ms = DEFAULT_START_MS + 5 * 60_000  # on the grid: as given
    assert minute.start_ms == DEFAULT_START_MS + 5 * 60_000
    minute.start_ms = DEFAULT_START_MS + 1
    assert minute.start_ms == DEFAULT_START_MS + 60_000


async def test_a_restarted_weekly_sim_engine_goes_on_with_monday_klines(tmp_path: Path) -> None:
    cfg = engine_config(
        feed={
            "kind": "sim",
            "interval": "1w",
            "speed": "max",
            "sim": {"n_symbols": 6, "seed": 5, "warmup_periods": 10},
        },
        data_processing={"rating_calculation_interval_ms": WEEK},
    )
    db = str(tmp_path / "w.db")
    starts, ends = [], []
    for _ in range(2):
        e = build_engine(cfg, db_path=db, session_kind="run", autostart=True, max_klines=3)
        await e.start_up()
        starts.append(e.clock.now_ms())
        await e.run()
        ends.append(e.clock.now_ms())
        await e.stop()
    assert starts[1] > ends[0]  # the resumed market starts after the book's last time
    # the first klines open on those Mondays, and the last event (a close + 1 ms) is one too
    assert {_weekday(t) for t in starts + ends} == {"Monday 00:00:00.000000"}
