"""The broker interface (paper and Binance) and its typed errors.

Brokers speak :class:`~tui_trader.models.OrderRequest` /
:class:`~tui_trader.models.OrderResult`. A broker error carries a
:class:`BrokerErrorKind` so callers handle it by kind, not by message text:
transient kinds (rate limit, timeout, network) may be retried after querying
the order by its client id; the others are final for that order.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from tui_trader.models import OrderRequest, OrderResult, SymbolFilters


class BrokerErrorKind(enum.StrEnum):
    RATE_LIMIT = "rate_limit"  # HTTP 429/418, Binance -1003/-1015; honour retry_after_s
    INSUFFICIENT_BALANCE = "insufficient_balance"  # Binance -2010 "insufficient balance"
    FILTER_FAILURE = "filter_failure"  # Binance -1013 (LOT_SIZE, PRICE_FILTER, NOTIONAL...)
    TIMEOUT = "timeout"  # outcome unknown: query by client id before retrying
    NETWORK = "network"  # not sent / connection failed
    REJECTED = "rejected"  # any other final rejection
    UNKNOWN_ORDER = "unknown_order"  # Binance -2013 / -2011
    AUTH = "auth"  # bad key / signature / permissions (-2014, -2015, -1022)

    @property
    def transient(self) -> bool:
        return self in (BrokerErrorKind.RATE_LIMIT, BrokerErrorKind.TIMEOUT, BrokerErrorKind.NETWORK)


class BrokerError(Exception):
    def __init__(
        self,
        kind: BrokerErrorKind,
        message: str,
        code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        c = f" (code {self.code})" if self.code is not None else ""
        return f"{self.kind.value}: {super().__str__()}{c}"


@runtime_checkable
class Broker(Protocol):
    """What the order manager needs of a broker.

    Optional, not part of the protocol: ``in_flight_ms: int`` - how long (ms) a request that
    got no answer may still reach the exchange and be executed (the live broker: its
    ``recvWindow`` + 1 s; absent = 0, e.g. the paper broker, which answers or fails at once).
    Callers read it with ``getattr(broker, "in_flight_ms", 0)``.
    """

    name: str  # "paper" | "binance"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, req: OrderRequest) -> OrderResult:
        """Send one order. Raises BrokerError. MARKET orders and LIMIT IOC only."""
        ...

    async def cancel(self, symbol: str, client_order_id: str) -> OrderResult: ...

    async def query(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order's state at the exchange, or None if the exchange never saw it."""
        ...

    async def open_orders(self) -> list[OrderResult]: ...

    async def balances(self) -> dict[str, Decimal]:
        """Free balance per asset."""
        ...

    async def exchange_filters(self, symbols: Sequence[str]) -> dict[str, SymbolFilters]: ...
