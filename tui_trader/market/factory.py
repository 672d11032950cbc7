"""Build the configured market feed (``feed.kind``: sim | replay | binance)."""

from __future__ import annotations

from typing import Any

from tui_trader.clock import Clock
from tui_trader.config import Config
from tui_trader.market.feed import MarketFeed

FEED_KINDS = ("sim", "replay", "binance")


def build_feed(cfg: Config, clock: Clock, **overrides: Any) -> MarketFeed:
    """A feed of kind ``overrides.pop("kind", cfg.feed.kind)``.

    The other ``overrides`` go to the feed's constructor as keyword arguments
    (e.g. ``seed``, ``n_symbols``, ``speed`` for sim; ``path``, ``data``,
    ``start_ms`` for replay). Sim and replay need a ``ManualClock`` to drive.
    The live Binance feed is imported only when asked for. Raises ValueError for
    an unknown kind.
    """
    kind = overrides.pop("kind", None) or cfg.feed.kind
    if kind == "sim":
        from tui_trader.market.sim import SimFeed

        return SimFeed(cfg, clock, **overrides)
    if kind == "replay":
        from tui_trader.market.replay import ReplayFeed

        return ReplayFeed(cfg, clock, **overrides)
    if kind == "binance":
        from tui_trader.market.binance import BinanceFeed

        return BinanceFeed(cfg, clock, **overrides)
    raise ValueError(f"unknown feed kind {kind!r}; expected one of {', '.join(FEED_KINDS)}")
