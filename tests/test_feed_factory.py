"""build_feed: the configured kind, overrides, and a clear error for an unknown kind."""

from __future__ import annotations

import pytest

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.market.factory import build_feed
from tui_trader.market.feed import MarketFeed
from tui_trader.market.replay import ReplayFeed
from tui_trader.market.sim import SimFeed


async def test_default_config_builds_the_sim_feed_with_overrides() -> None:
    feed = build_feed(Config(), ManualClock(), n_symbols=7, seed=3, speed="max", max_klines=1, warmup_klines=0)
    assert isinstance(feed, SimFeed) and isinstance(feed, MarketFeed)
    await feed.start()
    assert len(feed.symbols) == 7 and feed.seed == 3


def test_kind_override_and_config_kind() -> None:
    assert isinstance(build_feed(Config(), ManualClock(), kind="replay", path="x"), ReplayFeed)
    cfg = Config.model_validate({"feed": {"kind": "replay"}})
    assert isinstance(build_feed(cfg, ManualClock()), ReplayFeed)


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown feed kind 'carrier-pigeon'"):
        build_feed(Config(), ManualClock(), kind="carrier-pigeon")


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(TypeError):
        build_feed(Config(), ManualClock(), colour="blue")


def test_binance_kind_is_imported_lazily_and_built_without_connecting() -> None:
    import sys

    from tui_trader.clock import WallClock

    feed = build_feed(Config.model_validate({"feed": {"kind": "binance"}}), WallClock())
    assert feed.kind == "binance" and type(feed).__name__ == "BinanceFeed"
    assert "tui_trader.market.binance" in sys.modules
