"""A backtest whose --start holds no kline names the data's own dates as the hint; with
``feed.universe.blacklist`` those are the dates of the symbols it would trade. They were read
from every file, so a blacklisted symbol with later data named dates that held nothing to run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tui_trader.backtest.runner import run_backtest
from tui_trader.config import Config
from tui_trader.market.replay import ReplayError, parse_time

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def data(klines_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ETH and SOL for January and February 2024, and BTC (to be blacklisted) to the end of April."""
    d = tmp_path_factory.mktemp("dates")
    for s, months in (("ETHUSDT", 2), ("SOLUSDT", 2), ("BTCUSDT", 4)):
        (d / s / "1h").mkdir(parents=True)
        for f in sorted((klines_dir / s / "1h").iterdir())[:months]:
            (d / s / "1h" / f.name).symlink_to(f)
    return d


def test_the_dates_hint_leaves_the_blacklisted_symbols_out(data: Path) -> None:
    cfg = Config.model_validate({"feed": {"universe": {"blacklist": ["BTCUSDT"]}}})
    with pytest.raises(ReplayError) as ei:
        asyncio.run(run_backtest(cfg, data, "1h", None, parse_time("2024-03-15"), None, store=False))
    msg = str(ei.value)
    assert "(2024-01-01 00:00 to 2024-02-29 23:00 UTC)" in msg, msg
    # without the blacklist the same start trades BTC: its dates are the data's then
    res = asyncio.run(run_backtest(Config(), data, "1h", None, parse_time("2024-03-15"), None, store=False))
    assert "BTCUSDT" in res.symbols and res.n_klines > 0
