"""A backtest span that holds none of the data's klines says where the data is, as a sweep's does."""

from __future__ import annotations

import asyncio

import pytest

from tui_trader.backtest.runner import run_backtest
from tui_trader.config import Config
from tui_trader.market.replay import ReplayError, parse_time

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize(("start", "end"), [("2026-01-01", None), ("2020-01-01", "2020-02-01")])
def test_a_span_outside_the_data_names_the_datas_dates(klines_dir, start, end):
    with pytest.raises(ReplayError) as refused:
        asyncio.run(run_backtest(Config(), klines_dir, "1h", ["BTCUSDT", "ETHUSDT"], parse_time(start),
                                 parse_time(end) if end else None, store=False))  # fmt: skip
    assert str(refused.value).endswith(
        "check --start and --end against the data's dates (2024-01-01 00:00 to 2024-12-31 23:00 UTC)"
    )
