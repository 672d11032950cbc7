"""The engine's message bus: typed events, operator commands and UI snapshots.

Hosts (TUI, headless runner, backtester) talk to the engine only through
:class:`Command` objects (``await engine.submit(cmd)`` -> :class:`CommandResult`),
subscribe to :class:`Event` objects on the :class:`EventBus`, and read
:class:`EngineSnapshot` objects (``engine.snapshot()``). Nothing here imports
Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from tui_trader.models import EngineState, Fill, Order, Position, Signal, Source

# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Event:
    ts_ms: int


@dataclass(slots=True)
class PriceUpdate(Event):
    n: int  # how many symbols changed


@dataclass(slots=True)
class RatingUpdate(Event):
    period: int
    n_rated: int


@dataclass(slots=True)
class SignalEvent(Event):
    signal: Signal


@dataclass(slots=True)
class OrderUpdate(Event):
    order: Order


@dataclass(slots=True)
class FillEvent(Event):
    fill: Fill


@dataclass(slots=True)
class PositionUpdate(Event):
    symbol: str
    position: Position | None  # None = closed


@dataclass(slots=True)
class RiskAlert(Event):
    severity: str  # info | warning | critical
    code: str  # e.g. daily_loss, drawdown, circuit_open, risk_refused
    message: str


@dataclass(slots=True)
class StateChange(Event):
    old: EngineState
    new: EngineState
    source: Source
    reason: str


@dataclass(slots=True)
class HealthEvent(Event):
    status: str  # healthy | warning | unhealthy
    message: str


@dataclass(slots=True)
class StartupProgress(Event):
    """How far a long start-up is: ``stage`` (``"loading history"``, then ``"rating history"``),
    ``done`` of ``total`` steps (rating periods; ``total`` 0 while it is not known yet). The
    engine publishes it during the warm-up, before it is ready, so hosts can show progress."""

    stage: str
    done: int
    total: int


@dataclass(slots=True)
class LogEvent(Event):
    level: str
    logger: str
    message: str


class EventBus:
    """Synchronous fan-out bus. Handlers must be fast and must not raise; a
    raising handler is logged and isolated. ``subscribe`` returns an
    unsubscribe function. Async consumers use :meth:`queue`."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[[Any], None]]] = {}
        self._all: list[Callable[[Any], None]] = []
        self.errors = 0

    def subscribe(self, handler: Callable[[Any], None], *types: type) -> Callable[[], None]:
        if not types:
            self._all.append(handler)
            return lambda: self._all.remove(handler)
        for t in types:
            self._handlers.setdefault(t, []).append(handler)

        def _unsub() -> None:
            for t in types:
                lst = self._handlers.get(t, [])
                if handler in lst:
                    lst.remove(handler)

        return _unsub

    def queue(self, *types: type, maxsize: int = 10_000) -> tuple[asyncio.Queue, Callable[[], None]]:
        """An asyncio queue receiving the given event types (oldest dropped when full)."""
        q: asyncio.Queue = asyncio.Queue(maxsize=maxsize)

        def _put(ev: Any) -> None:
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(ev)

        return q, self.subscribe(_put, *types)

    def publish(self, event: Any) -> None:
        handlers = self._handlers.get(type(event))
        if not handlers and not self._all:
            return
        for h in (*(handlers or ()), *self._all):
            try:
                h(event)
            except Exception:  # noqa: BLE001 - a bad subscriber must not break the engine
                self.errors += 1
                import logging

                logging.getLogger("tui_trader.events").exception("event handler failed")


# ---------------------------------------------------------------------------
# Commands (operator and system actions)
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Command:
    source: Source = Source.UI


@dataclass(slots=True)
class Start(Command):
    pass


@dataclass(slots=True)
class Pause(Command):
    pass


@dataclass(slots=True)
class Resume(Command):
    pass


@dataclass(slots=True)
class EmergencyStop(Command):
    reason: str = "operator emergency stop"
    close_positions: bool = False


@dataclass(slots=True)
class ResetEmergency(Command):
    reason: str = "operator reset"


@dataclass(slots=True)
class ManualBuy(Command):
    symbol: str = ""
    quote_amount: Decimal = Decimal(0)
    override_risk: bool = False


@dataclass(slots=True)
class ManualSell(Command):
    """Sell ``quantity`` of ``symbol`` (None = the whole position, i.e. close)."""

    symbol: str = ""
    quantity: Decimal | None = None
    override_risk: bool = False


@dataclass(slots=True)
class ClosePosition(Command):
    symbol: str = ""


@dataclass(slots=True)
class FlattenAll(Command):
    reason: str = "operator flatten"


@dataclass(slots=True)
class LockSymbol(Command):
    symbol: str = ""
    locked: bool = True


@dataclass(slots=True)
class SetZThreshold(Command):
    value: float = 2.5


@dataclass(slots=True)
class AcceptAccount(Command):
    """Live, after the start-up reconciliation found the exchange account holding less of an
    asset than the book (sold or moved outside tui-trader): take the account as the truth. Each
    such position is cut to what the account holds, booked as an external sell."""


@dataclass(slots=True)
class AbandonOrder(Command):
    """The operator gives up a stored order the exchange can no longer be asked about because it
    no longer lists its symbol (Binance -1121 "Invalid symbol", e.g. after a delisting), which
    otherwise keeps the start-up reconciliation failing for good. Only after the exchange answers
    so once more: the order is booked canceled ("abandoned: symbol no longer listed", no fill) and
    a position in that symbol is written off (no order can sell it; the coins stay in the account)."""

    client_order_id: str = ""


@dataclass(slots=True)
class CommandResult:
    ok: bool
    message: str
    command: str = ""
    data: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Snapshots for hosts (plain data; arrays are copies the host may keep)
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class MarketView:
    symbols: list[str]
    price: np.ndarray  # float64, NaN = no price yet
    change_pct: np.ndarray  # 24h change in percent (NaN unknown)
    quote_volume: np.ndarray  # 24h quote volume
    updated_ms: np.ndarray  # int64
    version: int  # increments whenever anything above changed
    #: int8 per symbol: the decimals of its tick size (the exchange's PRICE_FILTER: 2 for 0.01), the
    #: decimals a price of it is shown with; -1 where no tick is known (None: none known at all)
    price_decimals: np.ndarray | None = None


@dataclass(slots=True)
class LeaderboardView:
    symbols: list[str]
    rating: np.ndarray
    rd: np.ndarray
    volatility: np.ndarray
    z: np.ndarray
    moving_average: np.ndarray
    score: np.ndarray  # last performance score
    period: int  # rating periods completed
    threshold: float
    version: int


@dataclass(slots=True)
class PositionView:
    symbol: str
    quantity: Decimal
    avg_entry: Decimal
    last_price: float
    value: float
    unrealized_pnl: float
    unrealized_pct: float
    stop_price: float
    target_price: float
    entry_ms: int
    fees: Decimal
    price_decimals: int = -1  # the decimals of the symbol's tick (-1 unknown): the last price's


@dataclass(slots=True)
class PortfolioView:
    cash: Decimal
    equity: float
    positions_value: float
    realized_pnl: Decimal
    unrealized_pnl: float
    daily_pnl: float
    daily_pnl_pct: float
    peak_equity: float
    drawdown_pct: float
    fees_paid: Decimal
    starting_balance: Decimal
    quote_asset: str


@dataclass(slots=True)
class HealthCheck:
    name: str
    status: str  # healthy | warning | unhealthy
    message: str
    critical: bool = False


@dataclass(slots=True)
class HealthView:
    overall: str
    checks: list[HealthCheck]
    feed: dict[str, Any]  # the feed's health snapshot
    events_per_s: float
    circuit_breakers: dict[str, str]  # name -> closed | open | half_open


@dataclass(slots=True)
class EngineSnapshot:
    ts_ms: int
    mode: str  # paper | live
    feed_kind: str
    state: EngineState
    state_reason: str
    market: MarketView
    leaderboard: LeaderboardView
    locked: frozenset[str]
    signals: list[Signal]  # newest first, bounded
    positions: list[PositionView]
    portfolio: PortfolioView
    health: HealthView
    counters: dict[str, int]  # periods, signals, orders, fills, rejected messages...
    #: stored orders the reconciliation cannot settle because the exchange no longer lists their
    #: symbol (client order id -> symbol): what the operator may abandon (:class:`AbandonOrder`)
    unlisted_orders: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SymbolHistory:
    """What the symbol detail view shows (bounded, oldest first)."""

    symbol: str
    ts_ms: np.ndarray  # int64, one per rating period
    price: np.ndarray  # close at each period
    rating: np.ndarray
    z: np.ndarray
    moving_average: np.ndarray
    threshold: float
    signals: list[Signal]
    orders: list[Order]
    fills: list[Fill]
    position: PositionView | None
    locked: bool


class EngineHostAPI:
    """Documentation of what hosts may use on ``tui_trader.engine.TradingEngine``
    (the UI, the headless runner and the backtester use nothing else):

    * ``bus: EventBus`` - subscribe to events.
    * ``await engine.start_up()`` - open storage, recover state, start the feed,
      warm up; trading starts only if the persisted/initial state says so.
    * ``await engine.run()`` - main loop; returns when the feed ends or ``stop()``.
    * ``await engine.stop()`` - graceful: stop feed, flush and close storage.
    * ``await engine.submit(cmd) -> CommandResult`` - every operator action.
    * ``engine.snapshot() -> EngineSnapshot`` - cheap, plain data.
    * ``engine.symbol_history(symbol) -> SymbolHistory`` (KeyError: a symbol the market does not carry).
    * ``engine.uncarried_history(symbol) -> SymbolHistory`` - a held symbol the market does not
      carry: no prices, its stored orders and fills (KeyError for a symbol it carries).
    * ``engine.equity_curve() -> (ts_ms int64 array, equity float64 array)``.
    * ``engine.state`` (EngineState), ``engine.mode`` ("paper" | "live").
    """
