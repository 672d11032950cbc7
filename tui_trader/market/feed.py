"""The one interface every market-data source implements.

A feed owns a fixed, ordered symbol list (``symbols``) once :meth:`start` has
returned; every batch it yields indexes into that list. Feeds that replay or
simulate drive the injected :class:`~tui_trader.clock.ManualClock` from their
event times (``clock.advance_to``) *before* yielding the batch, so consumers
read "now" from the clock and runs are deterministic.

Event order inside one kline interval: zero or more :class:`PriceBatch`
(intra-candle prices), then one :class:`KlineBatch` of the candles that closed.
A feed never raises a malformed message into its consumer: it validates,
rejects, counts and logs (see :mod:`tui_trader.market.validation`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

from tui_trader.models import KlineBatch, PriceBatch, SymbolFilters

MarketEvent = KlineBatch | PriceBatch


class FeedError(Exception):
    """The feed cannot start or fetch data (bad symbol, exchange unreachable after retries...)."""


@runtime_checkable
class MarketFeed(Protocol):
    kind: str  # "sim" | "replay" | "binance"
    interval_ms: int  # kline interval

    @property
    def symbols(self) -> list[str]:
        """Fixed, ordered symbol list (valid after start())."""
        ...

    async def start(self) -> None:
        """Connect / load / select the universe. After it returns, ``symbols`` is fixed."""
        ...

    async def stop(self) -> None:
        """Stop producing events; bounded in time; idempotent."""
        ...

    def events(self) -> AsyncIterator[MarketEvent]:
        """The event stream. Ends when the feed is stopped or (replay) its data ends."""
        ...

    async def history(self, symbols: Sequence[str], interval: str, n: int) -> KlineBatch:
        """Up to ``n`` most recent *closed* klines per symbol, before the first live event,
        for warm-up (sorted by open_time, then symbol)."""
        ...

    def filters(self) -> dict[str, SymbolFilters]:
        """Exchange trading rules per symbol (synthetic for sim/replay)."""
        ...

    def health(self) -> dict[str, Any]:
        """Snapshot: connected (bool), streams {name: {last_event_ms, stale, reconnects}},
        last_event_ms per symbol (dict), received, rejected (total), rejected_by_reason
        {reason: count}, reconnects, events_per_s."""
        ...
