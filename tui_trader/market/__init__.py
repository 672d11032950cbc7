"""Market data: the feed protocol, simulated / replayed / live feeds, validation, cache.

Import the concrete pieces from their modules (``tui_trader.market.sim``,
``.replay``, ``.cache``, ``.validation``, ``.binance_payloads``, ``.universe``,
``.factory``); the live Binance feed (``.binance``) pulls in network libraries
and is imported only when used.
"""

from tui_trader.market.feed import MarketEvent, MarketFeed

__all__ = ["MarketEvent", "MarketFeed"]
