"""Plain data types shared by every layer (no I/O, no Textual).

Conventions
-----------
* Times are integer milliseconds since the epoch (UTC).
* Market data travels in *columnar batches*: numpy arrays indexed by a symbol
  index into the feed's fixed, ordered symbol list (``MarketFeed.symbols``).
  Analytics (rating, z-scores, volatility) use float64.
* Money that is booked (order prices and quantities, fills, fees, cash,
  positions) is :class:`decimal.Decimal`, quantised to the exchange filters,
  and stored as text so it round-trips exactly.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

import numpy as np

# ---------------------------------------------------------------------------
# Market data
# ---------------------------------------------------------------------------

KLINE_FIELDS = (
    "open_time",
    "close_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_base",
)


@dataclass(slots=True)
class KlineBatch:
    """Klines of one or more symbols (columnar). ``sym`` holds symbol indices.

    ``closed[i]`` is False for an in-progress candle (live streams send those).
    ``taker_buy_base`` is the taker-buy *base* volume (Binance field ``k.V`` /
    REST column 9).
    """

    interval_ms: int
    sym: np.ndarray  # int32
    open_time: np.ndarray  # int64 ms
    close_time: np.ndarray  # int64 ms
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base volume
    quote_volume: np.ndarray
    trades: np.ndarray  # int64
    taker_buy_base: np.ndarray
    closed: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.sym.shape[0])

    def take(self, mask_or_idx: np.ndarray) -> KlineBatch:
        """A new batch with only the selected rows."""
        return KlineBatch(
            interval_ms=self.interval_ms,
            sym=self.sym[mask_or_idx],
            open_time=self.open_time[mask_or_idx],
            close_time=self.close_time[mask_or_idx],
            open=self.open[mask_or_idx],
            high=self.high[mask_or_idx],
            low=self.low[mask_or_idx],
            close=self.close[mask_or_idx],
            volume=self.volume[mask_or_idx],
            quote_volume=self.quote_volume[mask_or_idx],
            trades=self.trades[mask_or_idx],
            taker_buy_base=self.taker_buy_base[mask_or_idx],
            closed=self.closed[mask_or_idx],
        )

    @staticmethod
    def concat(batches: Sequence[KlineBatch], interval_ms: int) -> KlineBatch:
        """One batch holding the rows of ``batches`` in order (empty ones skipped)."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return KlineBatch.empty(interval_ms)
        if len(batches) == 1:
            return batches[0]
        cols = {f: np.concatenate([getattr(b, f) for b in batches]) for f in ("sym", *KLINE_FIELDS, "closed")}
        return KlineBatch(interval_ms=interval_ms, **cols)

    @staticmethod
    def empty(interval_ms: int) -> KlineBatch:
        f = np.empty(0, dtype=np.float64)
        i = np.empty(0, dtype=np.int64)
        return KlineBatch(
            interval_ms,
            np.empty(0, dtype=np.int32),
            i,
            i.copy(),
            f,
            f.copy(),
            f.copy(),
            f.copy(),
            f.copy(),
            f.copy(),
            i.copy(),
            f.copy(),
            np.empty(0, dtype=bool),
        )


@dataclass(slots=True)
class PriceBatch:
    """Latest prices of one or more symbols (from ``!miniTicker@arr`` or derived
    from klines). ``open_24h`` may be NaN when unknown."""

    sym: np.ndarray  # int32
    event_time: np.ndarray  # int64 ms
    price: np.ndarray  # float64 last price
    open_24h: np.ndarray  # float64
    high_24h: np.ndarray
    low_24h: np.ndarray
    volume_24h: np.ndarray  # base
    quote_volume_24h: np.ndarray

    def __len__(self) -> int:
        return int(self.sym.shape[0])


# ---------------------------------------------------------------------------
# Exchange rules
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """The exchange's trading rules for one symbol (Binance exchangeInfo)."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)  # 0 = no limit
    max_notional: Decimal = Decimal(0)  # 0 = no limit
    status: str = "TRADING"
    # MARKET_LOT_SIZE: the quantity rules of MARKET orders on top of LOT_SIZE (0 = none / LOT_SIZE's)
    market_min_qty: Decimal = Decimal(0)
    market_max_qty: Decimal = Decimal(0)
    market_step_size: Decimal = Decimal(0)

    def for_market_orders(self) -> SymbolFilters:
        """These filters with the quantity rules a MARKET order must meet: LOT_SIZE and
        MARKET_LOT_SIZE together (the larger minimum, the smaller maximum; a step both steps
        divide, their least common multiple: LOT_SIZE's when MARKET_LOT_SIZE's is 0, the coarser
        when one divides the other). ``self`` when there is no MARKET_LOT_SIZE."""
        if not (self.market_min_qty or self.market_max_qty or self.market_step_size):
            return self
        max_qty = self.max_qty
        if self.market_max_qty > 0 and (max_qty <= 0 or self.market_max_qty < max_qty):
            max_qty = self.market_max_qty
        return replace(
            self,
            min_qty=max(self.min_qty, self.market_min_qty),
            max_qty=max_qty,
            step_size=_common_step(self.step_size, self.market_step_size),
        )


def _common_step(a: Decimal, b: Decimal) -> Decimal:
    """The least positive multiple of both steps (0 = no step: the other one). One of them when
    it is a multiple of the other (as written: ``0.00100000`` stays so)."""
    if a <= 0 or b <= 0:
        return a if a > 0 else b if b > 0 else a
    ta, tb = a.as_tuple(), b.as_tuple()
    exp = max(0, -int(ta.exponent), -int(tb.exponent))
    # exact integers at that scale, any number of digits (Decimal arithmetic would round at 28)
    ia = int("".join(map(str, ta.digits))) * 10 ** (int(ta.exponent) + exp)
    ib = int("".join(map(str, tb.digits))) * 10 ** (int(tb.exponent) + exp)
    lcm = math.lcm(ia, ib)
    return a if lcm == ia else b if lcm == ib else Decimal(f"{lcm}E-{exp}")


# ---------------------------------------------------------------------------
# Trading domain
# ---------------------------------------------------------------------------


class Side(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"  # always IOC here


class OrderStatus(enum.StrEnum):
    INTENT = "INTENT"  # written, not yet sent
    NEW = "NEW"  # accepted by the exchange, not (fully) filled
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"  # IOC remainder, or timed out
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}


class SignalType(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class EngineState(enum.StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"
    REDUCING = "reducing"  # only exits allowed (daily-loss breaker)
    EMERGENCY_STOPPED = "emergency_stopped"


class Source(enum.StrEnum):
    """Who caused a command, order or state change (audit log)."""

    UI = "ui"
    RISK = "risk"
    SYSTEM = "system"
    STRATEGY = "strategy"


@dataclass(slots=True)
class Signal:
    """A trading signal. ``executed``/``outcome`` are filled in once acted on."""

    ts_ms: int
    symbol: str
    type: SignalType
    strength: float
    confidence: float
    z_score: float
    reason: str
    urgent: bool = False
    kind: str = "entry"  # entry | z_reversal | profit_target | stop_loss | manual
    executed: bool = False
    outcome: str = ""  # why it was (not) executed
    order_client_id: str | None = None
    id: int | None = None


@dataclass(slots=True)
class OrderRequest:
    """What the order manager asks a broker to do."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal  # base quantity, step-quantised
    price: Decimal | None = None  # limit price (tick-quantised) for LIMIT IOC
    quote_amount: Decimal | None = None  # informational


@dataclass(slots=True)
class Fill:
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal  # in quote asset (a third asset's, BNB's, as charged: see charged_fee)
    fee_asset: str
    ts_ms: int
    trade_id: str = ""

    def charged_fee(self) -> tuple[Decimal, str]:
        """``(amount, asset)`` as the exchange charged the fee, for people to read. ``fee`` is in
        the quote asset, so a commission in the symbol's base asset (Binance takes a buy's there)
        is ``fee / price`` of it; a quote or third-asset fee (BNB) is ``fee`` itself."""
        asset = self.fee_asset
        base = bool(asset) and self.symbol.startswith(asset) and len(self.symbol) > len(asset) \
            and not self.symbol.endswith(asset)
        if base and self.price > 0:
            return (self.fee / self.price).normalize(), asset
        return self.fee, asset


@dataclass(slots=True)
class OrderResult:
    """A broker's answer about one order."""

    client_order_id: str
    status: OrderStatus
    exchange_order_id: str = ""
    executed_qty: Decimal = Decimal(0)
    quote_qty: Decimal = Decimal(0)
    fills: list[Fill] = field(default_factory=list)
    reason: str = ""


@dataclass(slots=True)
class Order:
    """An order as the engine books it (the ``orders`` table row)."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None
    status: OrderStatus
    source: Source
    reason: str
    created_ms: int
    updated_ms: int
    exchange_order_id: str = ""
    executed_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)  # quote-valued; a fee charged in a third asset (BNB) stays on its fill
    realized_pnl: Decimal = Decimal(0)
    signal_id: int | None = None
    attempts: int = 0
    error: str = ""


@dataclass(slots=True)
class Position:
    symbol: str
    quantity: Decimal
    avg_entry: Decimal  # average entry price (fees not included)
    entry_ms: int
    fees: Decimal = Decimal(0)  # fees paid on this position (quote)
    realized_pnl: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)  # quote spent on the open quantity, fees included
    updated_ms: int = 0


def digits(d: Decimal) -> str:
    """A quantity or price for a message: its significant digits, no exponent (an average price
    is held to 12 decimals: 0.429 rather than 0.429000000000; an exchange sends 53.22000000)."""
    return f"{d.normalize():f}"
