"""The trading engine: one code path for the console, the headless runner and the backtester.

Pipeline (all on one asyncio loop, no Textual)::

    feed -> validation (in the feed) -> MarketCache
         -> rating period: performance scores -> matches -> rate_period -> z-scores
         -> SignalGenerator -> PreTradeChecks / sizing -> OrderManager -> Broker
         -> Portfolio -> Database (order intents, fills, cash committed before acting)

The rating half (klines -> periods -> Glicko-2 -> z-scores) is
:class:`~tui_trader.rating.periods.PeriodRater`, which this class extends; so
are the start-up recovery (:class:`~tui_trader.recovery.EngineRecovery`) and the
read-only views hosts get (:class:`~tui_trader.snapshots.EngineViews`). When
the market is known in advance (sim or replay at speed max) a second process
runs the same code ahead of the engine and hands it each period's ratings
(:mod:`tui_trader.rating.ahead`, ``data_processing.rating_worker``): the same
numbers, bit for bit, on the other core.

Hosts differ only in the feed (sim / replay / Binance), the clock (ManualClock
driven by the feed's event times, or WallClock) and the broker (PaperBroker by
default, BinanceBroker live). They talk to the engine through
:mod:`tui_trader.events` only: ``submit(Command)``, ``snapshot()``,
``symbol_history()``, ``equity_curve()`` and the event ``bus``.

Rules
-----
* **Rating periods** are ``data_processing.rating_calculation_interval_ms``
  rounded up to a whole number of kline intervals, aligned to the epoch
  (period ``k`` covers open times ``[k*P, (k+1)*P)``). A period's inputs are the
  closed klines whose open time falls in it; it closes as soon as a kline
  reaching its end arrives (or a kline of a later period). Its timestamp is its
  end ``(k+1)*P``. Klines of an already closed period (late arrivals) update the
  market cache but not the ratings. A period left incomplete when the feed ends
  or the engine stops is not rated.
* A symbol **plays** a period when it has a finite performance score (klines in
  the period); only players get games, and only players push their new rating
  into the z-score window.
* **Between periods** every price update (and every closed kline) re-checks the
  open positions for stop loss and profit target, so exits do not wait for the
  period. A refused exit of a symbol is not re-raised before the signal cooldown;
  a stop loss refused while the order circuit breaker is open, not before the
  breaker's cool-off ends (then on the first price update: its one trial order);
  a stop loss whose order failed at the exchange with the breaker closed, or that an
  order of unknown outcome holds back, ``EXIT_RETRY_MS`` (5 s) after that attempt.
* Every signal is stored (``trading_signals``) with the reason it was or was not
  executed; every command is validated, applied and written to the audit log
  with its source and outcome. A command sent while the engine starts is refused
  (nothing is applied before the book's open orders are reconciled), but an
  emergency stop waits and takes effect when the start-up ends, before any trading
  (stored at once, the state alone, once the book is open and checked: a kill before
  the start-up ends brings the book back emergency-stopped); one sent before the
  database is open is audited once it is.
* Emergency stop: state first (stored while the open orders are cancelled), then
  open orders are cancelled; positions are closed only when asked. It never waits
  for an order in flight, and no order is sent after it but its own closing sells
  (a command or signal that waited for the order in flight is refused).
* A signal's order is judged again before each send: a pause or lock the operator was
  answered for while it was prepared (its intent stored, an earlier order looked up, a
  retry's wait) keeps it from going out ("not sent").
* Commands that trade take the trade lock one at a time and are judged by the
  state of when they get it; ``stop()`` waits (bounded, 10 s) for every command
  being applied (an order in flight, an emergency stop's cancels), so its fills are
  stored and the command audited before storage closes.
* A state or setting that cannot be stored is not in effect when it moves toward
  trading (start, resume, a reset, the threshold, a lock); a pause or an emergency
  stop holds all the same, and the command's result says which.

Recovery (:meth:`TradingEngine.start_up`): cash, positions, the loss breakers' peak and
day-start equity (as far as the equity points committed every period show them, also after a
kill -9: ``EngineRecovery._committed_references``), the engine state
(stored with what moved with it: an emergency reset's new peak equity, an operator's
override of the daily-loss limit, which holds until its UTC day ends;
an emergency stop survives a restart; a live session that was trading comes
back paused, so real money trades only after the operator's start), the z-score window (from the stored
ratings; symbols that did not play a period are left out of it, as they were
live) and the open orders, which are reconciled with the broker before any
trading: an order left as INTENT by a crash is resolved, never re-sent. The
reconciliation fails closed: an order it cannot settle (the exchange does not answer
about it) or, live, a book the account does not match leaves the engine paused with
the reason, and an operator start or resume tries it again first. A live account
holding less than the book can be accepted by the operator (``AcceptAccount``: the book
is cut to it by external sells, booked like fills; see ``EngineRecovery._accept_account``), and
an order the exchange cannot be asked about because it no longer lists its symbol abandoned
(``AbandonOrder``, only after the exchange says so again; ``EngineRecovery._abandon_order``). The
simulated market resumes after the last stored time so that time never goes
backwards in the database.

Units: times integer ms since the epoch (UTC); money Decimal in the quote asset;
ratings on the Glicko-1 scale; z in standard deviations.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import pickle
import sqlite3
import time
from collections import deque
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from tui_trader.clock import MS_PER_DAY, Clock, utc_text
from tui_trader.config import Config, redacted_dump
from tui_trader.events import (
    AbandonOrder,
    AcceptAccount,
    ClosePosition,
    Command,
    CommandResult,
    EmergencyStop,
    EventBus,
    FillEvent,
    FlattenAll,
    LockSymbol,
    ManualBuy,
    ManualSell,
    OrderUpdate,
    Pause,
    PositionUpdate,
    PriceUpdate,
    RatingUpdate,
    ResetEmergency,
    Resume,
    RiskAlert,
    SetZThreshold,
    SignalEvent,
    Start,
    StartupProgress,
    StateChange,
)
from tui_trader.execution.broker import Broker, BrokerErrorKind
from tui_trader.execution.circuit import OPEN as CIRCUIT_OPEN
from tui_trader.execution.circuit import CircuitBreaker
from tui_trader.execution.client_ids import make_client_order_id
from tui_trader.execution.filters import fill_fee, quantize_qty, round_to_step, to_decimal
from tui_trader.execution.order_manager import NOT_LISTED, NOT_SENT, OrderManager
from tui_trader.market.feed import MarketFeed
from tui_trader.models import (
    EngineState,
    Fill,
    KlineBatch,
    Order,
    OrderStatus,
    OrderType,
    PriceBatch,
    Side,
    Signal,
    SignalType,
    Source,
    SymbolFilters,
    digits,
)
from tui_trader.monitor.health import (
    HEALTHY,
    UNHEALTHY,
    WARNING,
)
from tui_trader.monitor.metrics import EventRate
from tui_trader.portfolio.portfolio import Portfolio
from tui_trader.rating.periods import PERIOD_CLOSED, PeriodRater, RatingParams, period_ms_for
from tui_trader.recovery import DAILY_OVERRIDE_KEY, DAILY_TRIP_KEY, EngineRecovery
from tui_trader.risk.breakers import RiskBreakers
from tui_trader.risk.checks import PreTradeChecks, TradeContext
from tui_trader.risk.sizing import position_size
from tui_trader.risk.state import TradingStateMachine, order_refusal
from tui_trader.snapshots import HISTORY_LEN, ORDERS_KEPT, SIGNALS_KEPT, EngineViews
from tui_trader.strategy.signals import PCT_EPS, SignalGenerator

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tui_trader.rating.ahead import RatingAhead


async def _finished_if_cut(aw: Awaitable[Any], keep: Callable[[Any], None]) -> None:
    """``keep(await aw)``; a cancel meanwhile (a signal, the end of --duration during the start-up)
    lets ``aw`` finish first - its result kept - and is raised then: what it opens or writes (the
    database's connection, the session row) has an owner that the stop closes or ends. Cut at once,
    a connection was left open in its thread (a traceback once the loop closed), a row unended."""
    task = asyncio.ensure_future(aw)
    try:
        result = await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            keep(await task)
        raise
    keep(result)


@dataclasses.dataclass(frozen=True, slots=True)
class WriteOff:
    """How a close ended when no order could sell the position (dust below the exchange's
    minimums): it was taken off the book instead; the coins stay in the account."""

    symbol: str
    quantity: Decimal
    why: str

    def __str__(self) -> str:
        return (f"{digits(self.quantity)} written off as dust ({self.why}): "
                "no order can sell it, it stays in the account")

log = logging.getLogger("tui_trader.engine")
# one line per fill / rejected order, for the console's log pane (headless runs at full speed silence it)
trade_log = logging.getLogger("tui_trader.trades")

#: The rating worker inherits its end of a socket pair (``subprocess.Popen(pass_fds=...)``), which
#: only POSIX systems do; elsewhere (Windows) the engine rates every period itself.
CAN_PASS_FDS = os.name == "posix"
# rating_worker = "auto": a second process rates ahead only for runs at least this long (open
# times); starting it costs ~0.2 s of the other core, a period of 10 symbols takes ~0.2 ms
AHEAD_MIN_OPEN_TIMES = 2000
# how many kline intervals the simulated market runs ahead of the engine when its klines go to the
# rating worker: the worker rates them while the engine trades the earlier ones. It must stay busy
# through the engine's pauses (a burst of orders, a storage flush: tens of ms, ~30 periods of 500
# symbols; at 4 it idled ~20 % of the time): ~32,000 klines, 8 to 64 intervals
AHEAD_LOOKAHEAD_KLINES = 32_000
AHEAD_LOOKAHEAD_MIN, AHEAD_LOOKAHEAD_MAX = 8, 64
# a period whose results the rating worker has not sent yet is waited for in steps this long (s),
# the event loop turning between them: commands (an emergency stop) and a signal's stop are
# answered while the worker is slow or hung, not only after its timeout (60 s)
AHEAD_POLL_S = 0.05

# Batched writer of the database: a fast replay must not pay a thread round trip per
# period. Rows are flushed in the background every WRITER_FLUSH_S (wall time), or
# inline when one table holds WRITER_BATCH_ROWS rows (back-pressure).
WRITER_FLUSH_S = 0.5
WRITER_BATCH_ROWS = 50_000
WRITER_MAX_ROWS = 400_000

#: A stop loss whose exit order failed at the exchange (timeout, network, rate limit, 5xx - a failure
#: the order circuit breaker counts), or that an order of unknown outcome in its symbol held back, is
#: raised again on a price update this long after, not a signal cooldown later: 5 s is past the order
#: manager's own first back-offs (0.5, 1, 2 s) and Binance's 1 s order-rate buckets, and the breaker
#: bounds the rate (it opens after ``circuit_breaker_failures`` in a row, then one trial per cool-off).
EXIT_RETRY_MS = 5_000
#: Audit rows of commands sent before start-up opened the database, kept for it (at most this many).
AUDIT_BACKLOG_MAX = 1_000
#: How long (s) a quit waits for the run loop's last event, a command being applied and an order in
#: flight, together, before it closes storage (hosts bound stop()).
STOP_WAIT_S = 10.0
#: How long (s) a quit waits for the feed to stop, and later for the broker to (each bounded alone).
FEED_STOP_S = 10.0
BROKER_STOP_S = 10.0
#: The longest a quit takes before storage closes, all its waits run out (hosts bound stop() above it).
STOP_BOUND_S = FEED_STOP_S + STOP_WAIT_S + BROKER_STOP_S
#: A live broker's offset to the exchange's clock is measured again by the health monitor once the
#: last measurement is this old (engine time): one light request (weight 1) each 10 min.
CLOCK_REMEASURE_MS = 10 * 60_000
#: An order the exchange rejects for its filters (-1013 "Filter failure: ...": a LOT_SIZE, PRICE_FILTER or
#: NOTIONAL changed since they were loaded) has the symbol's filters asked again (exchangeInfo, weight
#: 20), at most once per symbol this often (engine time): the next order meets the new ones.
FILTERS_RELOAD_MS = 5 * 60_000
#: A held symbol this session's feed does not carry (a book made over a wider universe).
NOT_IN_MARKET = "is not in this session's market (the feed does not carry it)"
#: Stored orders (and fills) of such a symbol read back for its detail (the most recent).
UNCARRIED_ROWS_KEPT = 500
#: The reason of a paper close of such a symbol: booked at the last price the book stored for it.
UNCARRIED_CLOSE = "paper close at the last stored price"


#: Seconds the start-up waits after loading a replay's data, for a signal that came during the
#: loading (the loop was busy) to be handled before the book is opened.
SIGNALS_READ_S = 0.001


class TradingEngine(EngineRecovery, EngineViews, PeriodRater):
    """See the module docstring. Construct, ``await start_up()``, ``await run()``, ``await stop()``."""

    def __init__(
        self,
        cfg: Config,
        *,
        feed: MarketFeed,
        clock: Clock,
        broker: Broker | None = None,
        db_path: str | None = None,
        persist: bool = True,
        mode: str = "paper",
        session_kind: str = "run",
        autostart: bool = False,
        keep_held: bool = False,
        label: str = "",
    ) -> None:
        self.cfg = cfg
        self.feed = feed
        self.clock = clock
        self.broker: Broker | None = broker
        self.mode = mode
        self.session_kind = session_kind
        self.autostart = autostart
        # with autostart: an operator's stored pause, or a stop after an emergency reset, still holds
        self.keep_held = keep_held
        self.label = label
        self._db_path = db_path if db_path is not None else str(cfg.db_path())
        self._persist = persist
        self.db: Any = None
        self.session_id = 0
        self.bus = EventBus()
        self.sm = TradingStateMachine()
        self.state_reason = ""
        self.threshold = cfg.signal_generation.z_score_threshold
        self.locked: set[str] = set()
        self.portfolio = Portfolio(Decimal(str(cfg.broker.starting_balance)), cfg.broker.quote_asset)
        self.symbols: list[str] = []
        self.sym_index: dict[str, int] = {}
        self.filters: dict[str, SymbolFilters] = {}
        self._filters_from_broker = False  # asked of a broker given to the engine (live): reloaded on a filter failure
        self._filters_reloaded_ms: dict[str, int] = {}  # symbol -> engine time its filters were last asked again
        self._refiltered = ""  # the client id of the last order whose filter failure changed the filters
        self.recent_signals: deque[Signal] = deque(maxlen=SIGNALS_KEPT)
        self.counters: dict[str, int] = {
            "periods": 0,
            "signals": 0,
            "orders": 0,
            "fills": 0,
            "rejected_orders": 0,
            # those of rejected_orders the engine's own risk checks refused (a position limit reached):
            # routine, unlike the exchange's rejections (the health pane is amber for those alone)
            "risk_refusals": 0,
            "klines": 0,
            "late_klines": 0,
            "price_batches": 0,
            "commands": 0,
            "rating_worker_failures": 0,
        }
        self.resumed_from_ms: int | None = None  # last stored time found at start-up
        self._trade_lock = asyncio.Lock()
        # commands being applied (submit() to their audit row): stop() lets them end before storage closes
        self._commands_running = 0
        self._commands_idle = asyncio.Event()
        self._commands_idle.set()
        self._draining_commands = False  # stop() waits for them now
        self._commands_open: dict[int, Command] = {}  # those being applied, by a number of their own
        self._commands_seq = 0
        self._commands_audited: set[int] = set()  # of those, the ones a quit audited as not finished
        self._commands_given_up = False  # a quit stopped waiting for them: none starts trading now
        self._emergencies_running = 0  # emergency stops still cancelling or closing: no reset meanwhile
        self._stopping = False
        self._closing = False  # stop() closes the broker and storage now (after the loop and orders)
        self._stop_future: asyncio.Future[None] | None = None
        self._started = False
        # commands sent while start_up() runs are refused (nothing is applied before the open orders
        # are reconciled), but an emergency stop waits and takes effect at its end; audit rows of
        # commands sent before the database is open wait for it
        self._startup_failure = ""  # why start_up() failed ("" when it did not)
        self._startup_raised = False  # start_up() failed with an error, which its host reports itself
        self._startup_stops: list[tuple[EmergencyStop, asyncio.Future[CommandResult]]] = []
        # the database is open and its book checked: a waiting emergency stop is stored at once (a
        # kill before the start-up ends must not lose it); how many of them were stored
        self._stops_storable = False
        self._stops_stored = 0
        # the stored state is an emergency stop (its reason), and whether that stop's close of all
        # positions never ran (a stop sent during a start-up that a kill ended): see recovery
        self._restored_stop: str | None = None
        self._stop_close_skipped = False
        self._stop_close_through = 0  # the id of the last such stop's audit row
        self._stops_noted = 0  # the last waiting stop's audit row an earlier restart settled
        self._audit_backlog: list[tuple[int, Source, str, dict[str, Any], bool, str]] = []
        self._db_lock: Any = None  # EngineLock: one engine per database file
        self._lock_lost: Exception | None = None  # LockLostError: another engine holds the book's lock
        self._storage_failure = ""  # the reason of the emergency stop this run's last storage failure made
        # how far start-up got: what stop() may write back (a start-up that failed half way must
        # not overwrite the stored book, peak equity or emergency stop with defaults it never replaced)
        self._session_open = False
        self._book_loaded = False
        self._state_restored = False
        self._new_account = not persist  # no stored account to start from (set again by _recover)
        self._exits_checked_ms = -(2**62)  # engine time of the last real-time exit check
        self._exits_pending: set[int] = set()  # symbols updated since, not yet checked
        self._run_task: asyncio.Task | None = None
        self._in_run = 0  # run() calls in their loop (a task that called run() may go on to other work once it returned)
        self._order_seq = 0
        self._signal_seq = 0
        self._market_version = 0
        self._sim_prices_saved = time.monotonic()  # wall time of the last _save_sim_prices
        self._kline_24h: tuple[int, tuple[np.ndarray, np.ndarray] | None] | None = None  # (now, stats_24h)
        self._board_version = 0
        self._error: str = ""
        self._reconcile_problem = ""  # why the start-up reconciliation failed ("" when it passed)
        self._reconcile_lock = asyncio.Lock()  # its tries again (_reconcile_again), one at a time
        self._book_holds_more = False  # live: the account holds less of a position than the book
        # stored orders in symbols the exchange no longer lists (client id -> symbol), from the last
        # reconciliation: the operator may abandon them (AbandonOrder)
        self._unlisted_orders: dict[str, str] = {}
        # orders of this session whose outcome is unknown (no answer, lookups failed): their symbol
        # takes no new order until a lookup settles them (each period, and before its next order)
        self._unsettled: dict[str, Order] = {}
        self._in_flight: set[str] = set()  # client ids of the orders being executed now
        self._daily_override_day: int | None = None  # UTC day the operator resumed past the daily-loss limit
        self._daily_override_saved: int | None = None  # that day as stored (with the engine state)
        self._event_rate = EventRate()
        self.orders: dict[str, Order] = {}  # recent orders by client id (bounded)
        self.fills: deque[Fill] = deque(maxlen=2000)
        # held symbols the feed does not carry: their stored orders and fills, read from the book at
        # start-up (the symbol detail's uncarried_history; the recent ones above may not reach them)
        self._uncarried_stored: dict[str, tuple[list[Order], list[Fill]]] = {}
        self._pending_period = False
        self._period_ts = 0
        # when the first market event came (ms): the stall check's reference before any period
        self._first_event_ms = 0
        self._prune_day: int | None = None
        self._ratings_pruned_to: int | None = None  # rating rows before this time (ms) are deleted
        # (oldest stored period a restart reads back, how many it reads) when the start-up restored
        # them: pruning keeps them (and their klines) until this run has stored as many periods of
        # its own - after a stop longer than the retention they are all older than it
        self._history_floor: tuple[int, int] | None = None
        self._ahead: RatingAhead | None = None  # the rater running ahead in another process, if any
        self._ahead_proc: RatingAhead | None = None  # started at start-up, begun by run()
        self._ahead_leaving: list[RatingAhead] = []  # ended without waiting: reaped by _close_down
        self._startup_task: asyncio.Task[Any] | None = None  # running start_up() now (see _end_start_up)
        # a period closed whose results the worker has not sent yet: _await_ahead rates it
        self._ahead_due = False

    # ------------------------------------------------------------------ properties

    @property
    def state(self) -> EngineState:
        return self.sm.state

    @property
    def n(self) -> int:
        return len(self.symbols)

    def last_price(self, symbol: str) -> float | None:
        i = self.sym_index.get(symbol)
        if i is None:
            return None
        p = float(self.cache.price[i])
        return p if math.isfinite(p) and p > 0 else None

    # ------------------------------------------------------------------ lifecycle

    async def start_up(self) -> None:
        """Open storage, start the feed, recover state, warm up, reconcile orders. A SQLite error
        (the file locked by another program, a full disk...) is a :class:`StorageError` saying so.
        A :meth:`stop` meanwhile ends it (and waits for it to close what it opened)."""
        self._startup_task = asyncio.current_task()
        try:
            try:
                await self._start_up()
            except sqlite3.Error as exc:
                from tui_trader.storage.schema import storage_failure

                raise storage_failure(self._db_path, exc) from exc
            finally:
                self._startup_task = None  # (the task goes on: a test's, a host's)
        except BaseException as exc:
            self._startup_failure = f"engine did not start ({exc or type(exc).__name__}): nothing is traded"
            self._startup_raised = isinstance(exc, Exception)  # not a cancel (a signal during start-up)
            stops, self._startup_stops = self._startup_stops, []
            held = "; the emergency stop is stored: the next start comes back emergency-stopped"
            for _, fut in stops:
                if not fut.done():
                    fut.set_result(CommandResult(False, self._startup_failure + (held if self._stops_stored else "")))
            raise

    def _take_book_lock(self) -> None:
        """The book's engine lock, once (:class:`DatabaseInUseError` if another engine trades it)."""
        if self._db_lock is not None:
            return
        from tui_trader.storage.lock import EngineLock

        self._db_lock = EngineLock.for_database(self._db_path)
        if self._db_lock is not None:
            self._db_lock.acquire()

    def _book_folder_there(self) -> bool:
        return os.path.isdir(os.path.dirname(os.path.abspath(os.path.expanduser(self._db_path))))

    async def _load_uncarried_stored(self) -> None:
        """The stored orders and fills of each held symbol this session's feed does not carry (its
        detail shows them: no prices of it, but the buy and the price a paper close books it at)."""
        assert self.db is not None
        for symbol in self.portfolio.positions:
            if symbol not in self.sym_index:
                self._uncarried_stored[symbol] = (
                    await self.db.load_orders(symbol, limit=UNCARRIED_ROWS_KEPT),
                    await self.db.load_fills(symbol, limit=UNCARRIED_ROWS_KEPT),
                )

    def _unreadable_book(self, exc: Exception) -> Exception:
        """A stored amount, position or engine state that cannot be read back: nothing is traded
        on a guess (one line, exit 2)."""
        from tui_trader.storage.schema import unreadable_book

        return unreadable_book(self._db_path, exc, ", or start a new book with another --db")

    async def _start_up(self) -> None:
        if self._started:
            return
        self._started = True
        cfg = self.cfg
        saved: dict[str, Any] | None = None  # the stored engine state
        if self._may_rate_ahead():
            # started before the feed loads its data, so that its imports overlap the loading;
            # ended at once below if the run turns out too short
            self._ahead_proc = self._start_ahead()
        if self._persist and self._book_folder_there():
            # first: a book another engine trades is refused at once, not after a replay's loading
            # (a folder still to make is made with the book: a refused window leaves none)
            self._take_book_lock()
        prepare = getattr(self.feed, "prepare", None)
        if prepare is not None:
            # a replay loads its klines and checks its window before the book is opened: a window
            # outside the data left a new, empty --db behind (the lock file this engine made goes
            # too as it stops: see _close_down)
            self.bus.publish(StartupProgress(self.clock.now_ms(), "starting the feed", 0, 0))
            await prepare()
            # The loading held the loop: a signal that came meanwhile is only read now. A moment's
            # wait lets its handler run (the headless runner cancels this start-up from it) before
            # the book is made: a Ctrl-C during the loading left a new, empty --db.
            await asyncio.sleep(SIGNALS_READ_S)
        if self._persist:
            from tui_trader.storage.db import Database

            self._take_book_lock()
            opening = Database.open(
                self._db_path,
                clock=self.clock,
                max_batch_size=max(WRITER_BATCH_ROWS, cfg.data_processing.max_batch_size),
                flush_interval_s=WRITER_FLUSH_S,
                max_buffered_rows=max(WRITER_MAX_ROWS, cfg.data_processing.max_batch_size),
                synchronous=cfg.storage.synchronous,
            )
            await _finished_if_cut(opening, lambda db: setattr(self, "db", db))
            try:
                await self._check_book_mode()
                # read before an emergency stop sent during this start-up is stored over it
                saved = await self.db.load_engine_state()
                await self._note_unfinished_stop(saved)
            except (ValueError, ArithmeticError) as exc:  # the account's amounts, read for its quote asset
                raise self._unreadable_book(exc) from None
            self._stops_storable = True
            for cmd, _ in list(self._startup_stops):  # sent before the database was open
                await self._store_waiting_stop(cmd)
            self.resumed_from_ms = await self._last_stored_ms()
            self._resume_feed_after(self.resumed_from_ms)
            await self._anchor_sim_prices()
        if prepare is None:  # (a replay said it before its data loaded)
            self.bus.publish(StartupProgress(self.clock.now_ms(), "starting the feed", 0, 0))
        await self.feed.start()
        self._init_arrays()
        if self._ahead_proc is not None and not self._wants_ahead():
            self._end_ahead()
        if len(self.symbols) < 2:
            # Glicko-2 rates a symbol from its games against the others: alone it never moves
            log.warning("only %d symbol (%s): ratings come from games between symbols, so it is never rated "
                        "and the strategy cannot signal; give two or more", len(self.symbols),
                        ", ".join(self.symbols) or "none")
        if self.resumed_from_ms is not None and self.resumed_from_ms > self.clock.now_ms():
            if self.feed.kind == "replay":
                raise self._book_ahead_error(self.resumed_from_ms)  # before anything of this run is written
            # (a real-time feed: the wall clock stepped back since the last run; the book is kept)
            log.warning("the feed starts at %d, before the last stored time %d: this run's records go back in "
                        "time", self.clock.now_ms(), self.resumed_from_ms)
        if self.db is not None:
            writing = self.db.start_session(
                self.session_kind,
                self.mode,
                self.feed.kind,
                json.dumps(redacted_dump(cfg), sort_keys=True),
                self.label,
                ts_ms=self.clock.now_ms(),
            )

            def opened(sid: int) -> None:
                self.session_id, self._session_open = sid, True

            await _finished_if_cut(writing, opened)  # (cut meanwhile: the row written is ended by the stop)
            backlog, self._audit_backlog = self._audit_backlog, []
            for row in backlog:  # commands sent before the database was open
                await self.db.audit(*row)

        # recovery of the book and the engine state
        if self.db is not None:
            try:
                await self._recover()
            except (ValueError, ArithmeticError) as exc:
                raise self._unreadable_book(exc) from None
            self._book_loaded = True
            if saved:
                self.state_reason = saved.get("reason", "")
                if saved.get("z_threshold") is not None:
                    self.threshold = float(saved["z_threshold"])
                self.locked = {s for s in (saved.get("locked") or ()) if s in self.sym_index}
            await self._load_uncarried_stored()
        self._sync_positions()

        # exchange rules and the broker (paper by default, booked from the recovered portfolio)
        self.filters = dict(self.feed.filters())
        if self.broker is None:
            from tui_trader.execution.paper import PaperBroker

            self.broker = PaperBroker(
                cfg,
                self.clock,
                price_fn=self.last_price,
                filters=self.filters,
                quote_volume_fn=self._recent_quote_volume,
                balances=self._paper_balances(),
            )
            await self.broker.start()
        else:
            await self.broker.start()  # the exchange's filters are asked over the started client
            self._filters_from_broker = True
            try:
                self.filters.update(await self.broker.exchange_filters(self.symbols))
            except Exception as exc:  # noqa: BLE001
                log.warning("could not load exchange filters from the broker: %s", exc)
        self.order_breaker = CircuitBreaker(
            cfg.risk_management.circuit_breaker_failures, cfg.risk_management.circuit_breaker_cooloff_ms, self.clock
        )
        self.order_mgr = OrderManager(self.broker, self, self.clock, cfg, sleep=self.clock.sleep,
                                      breaker=self.order_breaker)

        # warm-up: rating history from storage, else the feed's history
        warmed = False
        if self.db is not None:
            warmed = await self._warm_from_storage()
        if warmed:
            await self._warm_cache_from_feed()
        else:
            await self._warm_from_feed()

        # reconcile open orders (and, live, the account) before trading: fails closed
        problem = await self._reconcile()
        if problem:
            log.error("%s - trading stays off", problem)
            self._error = self._reconcile_problem = problem
        reconcile_ok = not problem
        await self._restore_state(saved, reconcile_ok)
        # emergency stops sent meanwhile, now that the book is reconciled (before run() trades)
        stops, self._startup_stops = self._startup_stops, []
        for cmd, fut in stops:
            try:
                res = await self._apply(cmd)
            except Exception as exc:  # noqa: BLE001 - the command's submit() reports it
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(res)

    async def _reconcile(self) -> str:
        """Reconcile the stored open orders with the broker and, live, the book with the account.
        Returns what failed, or "" when both agree (then trading may start)."""
        self._book_holds_more = False  # set by the account check below (what AcceptAccount may mend)
        self._unlisted_orders = {}  # set below: what AbandonOrder may settle
        if self.db is not None:
            try:
                # this session's orders of unknown outcome are settled by their own lookups, and those
                # in flight by their own execution (on the objects the engine holds; one may have
                # ended while the rows were read): booked here as well, their fills would count twice
                open_orders = [o for o in await self.db.load_open_orders() if not self._own_order(o.client_order_id)]
                if open_orders:
                    # an emergency-stopped book (restored so, or a stop waiting for this start-up's
                    # end) keeps no working order at the exchange: each one still open is canceled
                    stop = self._stop_cancel_reason()
                    fixed = await self.order_mgr.reconcile(open_orders, cancel_why=stop)
                    stop = stop or self._stop_cancel_reason()  # a stop sent meanwhile canceled the rest
                    if stop:
                        await self._audit_stop_cancels(fixed, stop)
                    log.warning("reconciled %d open order(s) from the last run: %s", len(fixed),
                                ", ".join(f"{o.client_order_id} {o.status.value}" for o in fixed))
                    # still open: the exchange could not be asked, or the order could not be canceled
                    left = [o for o in fixed if not o.status.is_final]
                    self._unlisted_orders = {o.client_order_id: o.symbol for o in left if NOT_LISTED in (o.error or "")}
                    if left:
                        more = f"; and {len(left) - 3} more" if len(left) > 3 else ""
                        return "reconciliation failed: " + "; ".join(
                            f"order {o.client_order_id} ({o.symbol}) not settled ({o.status.value}): {o.error or 'still open'}"
                            + (f" - if {o.symbol} was delisted, the operator may abandon it (AbandonOrder "
                               f"{o.client_order_id}: no fill booked, a position in {o.symbol} written off)"
                               if NOT_LISTED in (o.error or "") else "")
                            for o in left[:3]) + more
            except Exception as exc:  # noqa: BLE001
                return f"reconciliation failed: {exc}"
        if self.mode == "live":
            # after the orders: a fill booked just above is already spent in the exchange's balance
            problem = await self._sync_live_account()
            if problem:
                return f"account reconciliation failed: {problem}"
        return ""

    def _own_order(self, cid: str) -> bool:
        """This session's order ``cid`` is in flight, of unknown outcome or ended: its own execution
        or lookups book it, never a reconciliation."""
        known = self.orders.get(cid)
        return cid in self._in_flight or cid in self._unsettled or (known is not None and known.status.is_final)

    async def _reconcile_again(self) -> str:
        """A start-up reconciliation that failed, tried again before trading starts. Returns why
        trading must stay off, or "" (then the failure is cleared)."""
        # one try at a time: two commands at once (a start pressed twice) would each book the fills
        # of the same stored order, and the book would hold them twice
        async with self._reconcile_lock:
            if not self._reconcile_problem:
                return ""  # another command's try passed meanwhile
            problem = await self._reconcile()
            if problem:
                self._error = self._reconcile_problem = problem
                return problem
            log.info("reconciliation passed on a new try: trading may start")
            if self._error == self._reconcile_problem:
                self._error = ""
            self._reconcile_problem = ""
            return ""

    def _init_arrays(self) -> None:
        cfg = self.cfg
        self.symbols = list(self.feed.symbols)
        self.sym_index = {s: i for i, s in enumerate(self.symbols)}
        n = len(self.symbols)
        self.interval_ms = int(self.feed.interval_ms)
        self.period_ms = period_ms_for(cfg, self.interval_ms)
        self._init_rating(RatingParams.from_config(cfg), self.symbols, self.period_ms)
        self._hist_ts = np.zeros(HISTORY_LEN, dtype=np.int64)
        self._hist = np.full((4, HISTORY_LEN, n), np.nan)  # price, rating, z, ma
        self._hist_pos = 0
        self._hist_count = 0
        # positions as arrays (kept in step with the portfolio by _sync_positions)
        self._entry_px = np.full(n, np.nan)
        self._exit_retry_ms = np.full(n, -np.inf)  # a refused exit is raised again from this time on
        self._held_idx = np.empty(0, dtype=np.int64)
        self.generator = SignalGenerator(cfg, self.symbols)
        self.checks = PreTradeChecks(cfg)
        self.breakers = RiskBreakers(cfg)

    async def run(self) -> None:
        """Consume the feed until it ends or :meth:`stop` is called."""
        if not self._started:
            await self.start_up()
        self._run_task = asyncio.current_task()
        self._in_run += 1
        try:
            await self._run_loop()
        finally:
            self._in_run -= 1  # (none left: a stop waits for no loop, the task may be busy with anything)

    async def _run_loop(self) -> None:
        self._begin_ahead()
        monitor = asyncio.create_task(self._health_monitor(), name="health-monitor")
        try:
            async for ev in self.feed.events():
                if self._stopping:
                    break
                if isinstance(ev, KlineBatch):
                    await self._on_klines(ev)
                elif isinstance(ev, PriceBatch):
                    await self._on_prices(ev)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, sqlite3.Error):  # an order, fill or state not stored: nothing more is traded
                from tui_trader.storage.schema import storage_failure

                failure = storage_failure(self._db_path, exc)
                self._error = f"engine crashed: {failure}"
                log.critical("%s", failure)
                log.debug("storage failure", exc_info=exc)
                if self.sm.state not in (EngineState.STOPPED, EngineState.EMERGENCY_STOPPED):
                    self.sm.force(EngineState.PAUSED, Source.SYSTEM, self._error)
                    self.state_reason = self._error
                raise failure from exc
            self._error = f"engine crashed: {exc!r}"
            log.exception("engine loop crashed; trading stopped")
            if self.sm.state not in (EngineState.STOPPED, EngineState.EMERGENCY_STOPPED):
                self.sm.force(EngineState.PAUSED, Source.SYSTEM, self._error)
                self.state_reason = self._error
            raise
        finally:
            monitor.cancel()
            self._end_ahead(wait=False)

    async def _health_monitor(self) -> None:
        """The seed's health monitor: every ``monitoring.health_check_interval_ms`` (wall time: it
        watches the machine and the connections, and must run while the feed is silent) the checks
        run; a critical check that turns unhealthy is logged as a warning and, with
        ``monitoring.alerting_enabled``, raised as a critical :class:`RiskAlert` (code
        ``health:<check>``), which the console shows and rings the terminal bell for. Every other
        change of a check's status is logged once too (a warning at INFO, any other check turning
        unhealthy as a warning), so the log file tells what the health pane showed; recovery is
        logged once."""
        interval_s = self.cfg.monitoring.health_check_interval_ms / 1000.0
        shown: dict[str, str] = {}  # each check's last status, healthy ones left out
        rank = {HEALTHY: 0, WARNING: 1, UNHEALTHY: 2}
        while True:
            await asyncio.sleep(interval_s)
            if self._stopping:
                return
            await self._remeasure_clock()
            if self._lock_lost is None:
                try:
                    self._check_db_lock("the engine's hold on its database")  # a quiet engine re-locks soon
                except Exception as exc:  # noqa: BLE001 - the monitor never ends the engine
                    if exc is not self._lock_lost:  # (a lost lock stopped trading, logged critical)
                        log.warning("could not check the database's lock file: %s", exc)
            try:
                view = self._health()
            except Exception:  # noqa: BLE001 - the monitor never ends the engine
                log.exception("health check failed")
                continue
            worst: dict[str, Any] = {}
            for c in view.checks:
                if c.name not in worst or rank.get(c.status, 0) > rank.get(worst[c.name].status, 0):
                    worst[c.name] = c
            now = {name: c.status for name, c in worst.items() if c.status in (WARNING, UNHEALTHY)}
            for name, status in now.items():
                if shown.get(name) == status:
                    continue
                c = worst[name]
                if status == WARNING:
                    log.info("health: %s warning: %s", name, c.message)
                elif c.critical:
                    log.warning("health: %s unhealthy: %s", name, c.message)
                    if self.cfg.monitoring.alerting_enabled:
                        self.bus.publish(RiskAlert(self.clock.now_ms(), "critical", f"health:{name}",
                                                   f"{name} unhealthy: {c.message}"))
                else:
                    log.warning("health: %s unhealthy: %s", name, c.message)
            for name in shown.keys() - now.keys():
                log.info("health: %s recovered", name)
            shown = now

    # ------------------------------------------------------------------ rating ahead

    async def _remeasure_clock(self) -> None:
        """Measure a live broker's offset to the exchange's clock again once the last measurement
        is :data:`CLOCK_REMEASURE_MS` old (the health pane's clock row shows it); a failure is
        logged and tried again at the next health check."""
        measure = getattr(self.broker, "measure_clock", None)
        last = getattr(self.broker, "clock_offset_measured_ms", None)
        if measure is None or last is None or self.clock.now_ms() - last < CLOCK_REMEASURE_MS:
            return
        try:
            await measure()
        except Exception as exc:  # noqa: BLE001 - the monitor never ends the engine
            log.info("clock offset to the exchange not measured: %s", exc)

    def _may_rate_ahead(self) -> bool:
        """Rate ahead in a second process? Only when the feed knows its klines in advance (sim,
        replay) and runs at full speed, on a system whose child processes can inherit the socket
        to the engine (``pass_fds``: POSIX; elsewhere the engine rates every period itself)."""
        feed = self.feed
        return (CAN_PASS_FDS and self.cfg.data_processing.rating_worker != "off"
                and (hasattr(feed, "kline_source") or hasattr(feed, "tap_klines"))
                and getattr(feed, "speed", 1.0) is None)

    def _wants_ahead(self) -> bool:
        """After the feed started: and (``auto``) the run is long enough to pay for a process."""
        if not self._may_rate_ahead():
            return False
        if self.cfg.data_processing.rating_worker == "on":
            return True
        left = self.feed.open_times_left()  # type: ignore[attr-defined]
        return left is None or left >= AHEAD_MIN_OPEN_TIMES

    def _start_ahead(self) -> RatingAhead | None:
        from tui_trader.rating.ahead import RatingAhead

        try:
            # what unpickling the feed's kline source needs, imported while the feed loads
            return RatingAhead(preload=tuple(getattr(self.feed, "kline_source_modules", ())))
        except OSError as exc:
            log.warning("rating worker not started (%s): rating in the engine", exc)
            return None

    def _begin_ahead(self) -> None:
        """Hand the worker started at start-up the rater state and the klines to come."""
        ahead, self._ahead_proc = self._ahead_proc, None
        if ahead is None:
            return
        from tui_trader.rating.ahead import TAPPED, RatingAheadError

        tap = getattr(self.feed, "tap_klines", None)
        try:
            # the simulated market sends its klines as it makes them; a replay hands over its data
            ahead.begin(self._rater_state(), TAPPED if tap is not None else self.feed.kline_source())
        except (RatingAheadError, pickle.PicklingError, TypeError, ValueError) as exc:
            log.warning("rating worker not begun (%s): rating in the engine", exc)
            ahead.close()
            return
        if tap is not None:
            n = max(1, self._all_sym.shape[0])
            tap(self._feed_ahead, max(AHEAD_LOOKAHEAD_MIN, min(AHEAD_LOOKAHEAD_MAX, AHEAD_LOOKAHEAD_KLINES // n)))
        self._ahead = ahead
        log.info("rating periods ahead in a second process (the market is known in advance)")

    def _feed_ahead(self, batch: KlineBatch) -> None:
        """The simulated market's klines to the worker, as the feed makes them."""
        if self._ahead is None:
            return
        from tui_trader.rating.ahead import RatingAheadError

        try:
            self._ahead.feed(batch)
        except RatingAheadError as exc:
            self._drop_ahead(exc)

    def _take_ahead(self, ts_ms: int) -> np.ndarray | None:
        """The worker's results for the period ending at ``ts_ms``; None once it has failed."""
        from tui_trader.rating.ahead import RatingAheadError

        assert self._ahead is not None
        try:
            return self._ahead.take(ts_ms)
        except RatingAheadError as exc:
            self._drop_ahead(exc)
            return None

    def _close_period(self) -> bool:
        """A period ends. When the worker has not sent its results yet, it is rated by
        :meth:`_await_ahead` (awaited by :meth:`_process_klines` before the next klines go in),
        which waits without holding up the event loop; its accumulators are kept until then."""
        if self._ahead is not None and self._pidx is not None and not self._ahead.ready():
            self._ahead_due = True
            return True
        return super()._close_period()

    async def _await_ahead(self) -> None:
        """Rate the period :meth:`_close_period` left for the worker's results, waiting for them in
        steps of :data:`AHEAD_POLL_S` with a turn of the event loop between: an emergency stop and
        other commands are applied meanwhile. A stop of the engine ends the wait (this period is
        then rated here, as the worker would have), and so does the worker's timeout (its failure)."""
        from tui_trader.rating.ahead import RatingAheadError

        ahead = self._ahead
        loop = asyncio.get_running_loop()
        give_up = loop.time() + (ahead.timeout_s if ahead is not None else 0.0)
        try:
            while ahead is not None and ahead is self._ahead and not ahead.ready(AHEAD_POLL_S):
                if self._stopping:
                    self._end_ahead(wait=False)  # the run ends after this event: no worker failure
                    break
                if loop.time() >= give_up:
                    self._drop_ahead(RatingAheadError(f"rating worker sent nothing for {ahead.timeout_s:g} s"))
                    break
                await asyncio.sleep(0)
        finally:
            self._ahead_due = False
        super()._close_period()

    def _drop_ahead(self, exc: Exception) -> None:
        """The worker failed. Nothing is lost: the engine's own rater state is current (it keeps
        the period accumulators and the z-scores, and took every rating so far), so it rates the
        period itself, exactly as the worker would have, and every one after."""
        log.warning("%s: rating in the engine from now on", exc)
        self.counters["rating_worker_failures"] += 1
        self._end_ahead()

    def _end_ahead(self, *, wait: bool = True) -> None:
        """End the rating worker. Without ``wait`` (the run's end, a stop) it leaves while the stop
        flushes the last rows, and :meth:`_close_down` reaps it (its exit took ~30 ms of every run)."""
        for ahead in (self._ahead, self._ahead_proc):
            if ahead is not None:
                ahead.close(wait=wait)
                if not wait:
                    self._ahead_leaving.append(ahead)
        self._ahead = self._ahead_proc = None

    async def _reap_ahead(self) -> None:
        while self._ahead_leaving:  # (each one taken off once reaped: a cancelled stop leaves the rest listed)
            try:
                await self._ahead_leaving[0].reap()
            except Exception as exc:  # noqa: BLE001 - the stop goes on
                log.warning("rating worker did not end cleanly: %s", exc)
            self._ahead_leaving.pop(0)

    @property
    def _stopped(self) -> bool:
        """stop() has finished: feed, broker and storage are closed."""
        return self._stop_future is not None and self._stop_future.done()

    async def stop(self) -> None:
        """Stop the feed, let the run loop finish its event, flush and close storage. Idempotent."""
        if self._stop_future is not None:
            await asyncio.shield(self._stop_future)
            return
        self._stop_future = asyncio.get_running_loop().create_future()
        try:
            await self._stop()
        finally:
            self._stop_future.set_result(None)

    async def _stop(self) -> None:
        self._stopping = True
        await self._end_start_up()
        if self._run_task is None:
            self._end_ahead(wait=False)  # started with start_up(), never begun by run()
        try:
            await asyncio.wait_for(self.feed.stop(), timeout=FEED_STOP_S)
        except Exception as exc:  # noqa: BLE001
            log.warning("feed stop: %s", exc)
        task = self._run_task
        loop = asyncio.get_running_loop()
        wait_end = loop.time() + STOP_WAIT_S  # for the loop and an order in flight together
        if task is not None and self._in_run and task is not asyncio.current_task() and not task.done():
            # the loop leaves after the event it is processing (storage is still open)
            done, _ = await asyncio.wait({task}, timeout=STOP_WAIT_S)
            if not done:
                log.warning("engine loop did not finish within %g s; stopping anyway", STOP_WAIT_S)
        # a command being applied (an emergency stop asking the exchange for its open orders, a
        # start trying the reconciliation again, an order in flight) ends and is audited before
        # storage closes; the commands waiting behind an order find the engine stopping and send
        # nothing. (Not during the start-up: a stop sent then waits for its end, which this stop ends.)
        await self._drain_commands(wait_end)
        trade_lock_held = False
        try:
            await asyncio.wait_for(self._trade_lock.acquire(), timeout=max(0.1, wait_end - loop.time()))
            trade_lock_held = True
        except TimeoutError:
            log.warning("an order in flight did not finish within %g s; stopping anyway", STOP_WAIT_S)
        try:
            # an emergency stop sent while the quit waited for the order (still storing its state)
            # is audited before storage closes, as the commands before it
            await self._drain_commands(wait_end)
            await self._close_down()
        finally:
            if trade_lock_held:
                self._trade_lock.release()

    async def _end_start_up(self) -> None:
        """A stop during the start-up: end it (cancelled once: its host may have done so) and wait for
        it to let what it was opening finish (:func:`_finished_if_cut`), so that the stop closes it.
        Stopped at once, the book a cancelled start-up was still opening was opened after the stop
        had released the lock, and its connection was never closed (the console's quit did this)."""
        starting = self._startup_task
        if starting is None or starting.done() or starting is asyncio.current_task():
            return
        if not starting.cancelling():
            starting.cancel()
        done, _ = await asyncio.wait({starting}, timeout=STOP_WAIT_S)
        if not done:
            log.warning("the start-up did not end within %g s of the stop; stopping anyway", STOP_WAIT_S)

    async def _drain_commands(self, wait_end: float) -> None:
        """The quit's wait (until the loop time ``wait_end``) for the commands being applied; those
        it gives up on are audited as not finished."""
        loop = asyncio.get_running_loop()
        while self._commands_running and self._state_restored:
            if self._commands_given_up:  # (one sent since the quit gave up: it waits no more)
                await self._audit_unfinished_commands()
                return
            self._draining_commands = True
            try:
                await asyncio.wait_for(self._commands_idle.wait(), timeout=max(0.1, wait_end - loop.time()))
            except TimeoutError:
                log.warning("a command did not finish within %g s; stopping anyway (audited as not finished)",
                            STOP_WAIT_S)
                self._commands_given_up = True
                await self._audit_unfinished_commands()
                return

    async def _audit_unfinished_commands(self) -> None:
        """The quit stopped waiting for the commands still being applied: each one's audit row is
        written now, while storage is open (its own answer comes after storage closed). A start or
        resume still trying the reconciliation again starts nothing after this (_transition)."""
        if self.db is None:
            return
        for key, cmd in list(self._commands_open.items()):
            if key in self._commands_audited or key not in self._commands_open:
                continue  # its own row is written (or being written), or it ended during an earlier write
            # claimed before the write: a command that ends meanwhile writes no second row of its own
            self._commands_audited.add(key)
            name = type(cmd).__name__
            if isinstance(cmd, Start | Resume) and self._reconcile_lock.locked():
                outcome = (f"aborted by quit: the reconciliation tried again had not ended after {STOP_WAIT_S:g} s; "
                           "trading not started")
            else:
                outcome = (f"not finished when the engine stopped (the quit waited {STOP_WAIT_S:g} s): its outcome "
                           "is not known here; see the log")
            try:
                await self.db.audit(self.clock.now_ms(), cmd.source, name, _audit_args(cmd), False, outcome)
            except Exception as exc:  # noqa: BLE001
                log.error("audit log write failed (%s not finished at quit): %s", name, exc)
                if key in self._commands_open:  # unwritten: its own end (or a later look) writes one
                    self._commands_audited.discard(key)

    async def _close_down(self) -> None:
        """The end of :meth:`_stop`: the broker, then storage and the database lock."""
        self._closing = True
        if self.broker is not None:
            try:
                await asyncio.wait_for(self.broker.stop(), timeout=BROKER_STOP_S)
            except Exception as exc:  # noqa: BLE001
                log.warning("broker stop: %s", exc)
        try:
            if self.db is not None:
                db, self.db = self.db, None
                try:
                    if self._started:
                        await self._close_session(db)
                finally:
                    await db.close()
        finally:
            try:
                if self._db_lock is not None:
                    # a lock file this engine made beside no book (a start-up refused or cut before
                    # it made one) goes too
                    self._db_lock.release(remove_made=self.book_missing())
            finally:
                self._end_ahead(wait=False)  # (a start-up that failed before run(): one still running)
                await self._reap_ahead()  # it left while the last rows were written

    def book_missing(self) -> bool:
        """Nothing at the book's file path: a start-up refused or cut before it made the book (False
        without persistence, and for an in-memory book). A book a start-up cut later made stays,
        with its tables and no session: a later run on it starts it as a new book. (Removing it was
        tried: another program can write or move a book there in the moments between any check and
        the removal, and nothing of value may ever be deleted.)"""
        from tui_trader.storage.lock import EngineLock

        return (self._persist and EngineLock.for_database(self._db_path) is not None
                and not os.path.lexists(os.path.expanduser(self._db_path)))

    async def _close_session(self, db: Any) -> None:
        """Persist what only changes in memory (state, peak and day-start equity) and end the session;
        after a start-up that failed, only what it had loaded (the rest stays as stored)."""
        pf = self.portfolio
        steps = (
            ("simulated prices", self._state_restored, lambda: self._save_sim_prices(db, force=True)),
            ("engine state", self._state_restored, lambda: self._save_state(db)),
            ("account", self._book_loaded, lambda: db.save_account(**{
                k: v for k, v in self._account_fields().items() if k not in ("realized_pnl", "fees_paid")})),
            ("session", self._session_open,
             lambda: db.end_session(self.session_id, self.summary(), ts_ms=self.clock.now_ms())),
        )
        if not self._state_restored:
            # after a start-up error, its host says why (the runner's one "error:" line): this line
            # goes to the log file, not to the runner's stderr as a second notice before that one
            log.warning("start-up did not finish: the stored %s left unchanged",
                        "engine state is" if self._book_loaded else "engine state and account are",
                        extra={"stderr": not self._startup_raised})
        for what, loaded, step in steps:
            if not loaded:
                continue
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - a failed step must not keep the rest from closing
                log.error("stop: could not save the %s: %s", what, exc)
        if self._session_open:
            log.info("session %d closed: cash %s %s, %d position(s)", self.session_id, digits(pf.cash), pf.quote_asset,
                     len(pf.positions))

    # ------------------------------------------------------------------ market data

    async def _on_prices(self, batch: PriceBatch) -> None:
        self.cache.update_prices(batch)
        self._market_version += 1
        self.counters["price_batches"] += 1
        self._note_events(len(batch))
        if self.portfolio.positions:
            await self._exits_on_prices(batch)
        self.bus.publish(PriceUpdate(self.clock.now_ms(), len(batch)))

    async def _exits_on_prices(self, batch: PriceBatch) -> None:
        """The real-time stop-loss / profit-target check, at most once per
        ``data_processing.price_update_interval_ms`` of engine time: the symbols of updates in
        between are remembered and checked at their latest price with the next update that is
        due. (The simulated and replayed markets move every few seconds or more, so with the default
        1,000 ms every update is checked; a feed that streams faster is thinned.)"""
        now = self.clock.now_ms()
        due = now - self._exits_checked_ms >= self.cfg.data_processing.price_update_interval_ms
        if not due:
            self._exits_pending.update(batch.sym.tolist())
            return
        self._exits_checked_ms = now
        if not self._exits_pending:
            await self._realtime_exits(batch.sym, batch.price)
            return
        self._exits_pending.update(batch.sym.tolist())
        sym = np.fromiter(sorted(self._exits_pending), dtype=np.int64)
        self._exits_pending.clear()
        await self._realtime_exits(sym, self.cache.price[sym])

    async def _on_klines(self, batch: KlineBatch) -> None:
        self._note_events(len(batch))
        await self._process_klines(batch, live=True)
        if self.db is not None and self._store_klines:
            await self.db.queue_klines(self.symbols, batch)
        self.bus.publish(PriceUpdate(self.clock.now_ms(), len(batch)))

    @property
    def _store_klines(self) -> bool:
        """Closed klines are kept in the database (``kline_retention_days``) where nothing else
        holds them: the live market's, and a paced simulated market's - a restarted one continues
        from its last prices, so its earlier candles cannot be made again, and the symbol detail's
        price chart reads them back. Replayed klines are files already, and a simulated market at
        speed max (runs, benchmarks, sweeps) would pay more for them than for everything else."""
        return self.cfg.data_processing.kline_retention_days > 0 and self._klines_kept_feed

    @property
    def _klines_kept_feed(self) -> bool:
        """The feed is one whose klines are stored when the retention allows (see ``_store_klines``)."""
        kind = self.feed.kind
        return kind == "binance" or (kind == "sim" and getattr(self.feed, "speed", None) is not None)

    def _kline_keep_ms(self) -> int:
        """How far back (ms) stored klines are kept: ``kline_retention_days``; for the simulated
        market only as far as the symbol detail's history reaches (it is what reads them)."""
        keep = int(self.cfg.data_processing.kline_retention_days * MS_PER_DAY)
        return min(keep, HISTORY_LEN * self.period_ms) if self.feed.kind == "sim" else keep

    async def _process_klines(self, batch: KlineBatch, live: bool, progress: str | None = None) -> None:
        """Klines into the cache and the period accumulators, one open time at a time; every period
        that closes is finished (live: signals and orders; warm-up: stored only) before the next
        klines are added. Between periods, closed klines re-check the open positions. With
        ``progress`` (a stage name: the warm-up), :class:`StartupProgress` events count the
        periods, about a hundred in all, each followed by one turn of the event loop for the host."""
        if len(batch) == 0:
            return
        total = done = 0
        if progress is not None:
            total = int(np.unique(batch.open_time // self.period_ms).size)
            self.bus.publish(StartupProgress(self.clock.now_ms(), progress, 0, total))
        every = max(1, total // 100)
        for g in self._kline_steps(batch):
            if g is PERIOD_CLOSED:
                if self._ahead_due:  # the worker's results for it had not come yet
                    await self._await_ahead()
                # the period's signal pass checks stop loss / profit target of every holding itself
                await self._period_done(live)
                if progress is not None:
                    done = min(done + 1, total)
                    if done % every == 0 or done == total:
                        self.bus.publish(StartupProgress(self.clock.now_ms(), progress, done, total))
                        await asyncio.sleep(0)
            elif live and self.portfolio.positions:
                await self._realtime_exits(g.sym, g.close)
        if progress is not None and done < total:  # the last period stays open for the live klines
            self.bus.publish(StartupProgress(self.clock.now_ms(), progress, total, total))
        self._market_version += 1

    async def _period_done(self, live: bool) -> None:
        if live:
            await self._after_period()
            return
        self._pending_period = False
        floor_ms = self.resumed_from_ms if self.resumed_from_ms is not None else -1
        if self.db is not None and self._period_ts > floor_ms:
            await self._store_period()

    def _rate_period(self, ts_ms: int) -> None:
        """Rate the period ending at ``ts_ms`` - here, or take its results from the rater running
        ahead in another process - then keep its detail history and mark it for signals."""
        games = self._take_ahead(ts_ms) if self._ahead is not None else None
        if games is not None:
            self._apply_games(games)
            self._rate_z()
        else:
            self._rate()
        self.counters["periods"] += 1
        self._board_version += 1
        self._period_ts = ts_ms
        # detail history ring
        p = self._hist_pos
        self._hist_ts[p] = ts_ms
        h = self._hist
        h[0, p] = self.cache.price
        h[1, p] = self.rating
        h[2, p] = self.z
        h[3, p] = self.ma
        self._hist_pos = (p + 1) % HISTORY_LEN
        self._hist_count = min(self._hist_count + 1, HISTORY_LEN)
        self._pending_period = True

    async def _store_period(self) -> None:
        await self.db.queue_ratings(self.session_id, self.counters["periods"] - 1, self._period_ts, self.symbols,
                                    self.rating, self.rd, self.vol, self.score, self.z, self.ma)

    async def _after_period(self) -> None:
        """Signals, risk and orders for the period that just closed; equity sample; breakers."""
        if not self._pending_period:
            return
        self._pending_period = False
        ts = self.clock.now_ms()
        if self.db is not None:
            await self._store_period()
            await self._save_sim_prices(self.db)
        if self._unsettled:
            async with self._trade_lock:
                await self._settle_unsettled()
        # the breakers judge the period's prices before its signals may add to the risk
        await self._check_breakers(ts, self._mark())
        await self._run_signals(ts)
        equity = self._mark()
        self.portfolio.sample(ts)
        if self.db is not None:
            cash = self.portfolio.cash
            await self.db.queue_equity(self.session_id, ts, equity, cash, equity - float(cash),
                                       self.portfolio.drawdown_pct)
            await self._prune(ts)
            if not self.cfg.data_processing.batch_processing_enabled:
                await self.db.flush()  # each period's rows committed with it: slower, nothing buffered
        self.bus.publish(RatingUpdate(ts, self.counters["periods"], int(np.count_nonzero(np.isfinite(self.score)))))

    async def _prune(self, ts: int) -> None:
        """Housekeeping in engine time: stored klines older than their retention, once per UTC day;
        rating rows older than theirs (:meth:`_rating_keep_ms`) at the first period and then each
        time the horizon has moved on by half the retention, so the table holds between one and
        one and a half retentions and a year replayed at full speed pays for a few dozen deletes.
        Never what the start-up restored before this run has stored as many periods (see
        ``_history_floor``): a restart meanwhile reads it back again."""
        floor = self._history_floor
        if floor is not None and self.counters["periods"] >= floor[1]:
            floor = self._history_floor = None  # a restart now reads back this run's periods only
        day = ts // MS_PER_DAY
        if self._prune_day != day:
            self._prune_day = day
            if self._klines_kept_feed:  # a retention of 0 keeps none: earlier runs' klines go too
                kline_horizon = ts - self._kline_keep_ms()
                if floor is not None and self._store_klines:  # (none kept: no floor either)
                    kline_horizon = min(kline_horizon, floor[0] - self.interval_ms)
                try:
                    await self.db.flush()  # klines still buffered would be inserted after the delete
                    await self.db.prune_klines(kline_horizon)
                except Exception as exc:  # noqa: BLE001 - housekeeping never stops trading
                    log.warning("kline pruning failed: %s", exc)
        keep = self._rating_keep_ms()
        horizon = ts - keep if floor is None else min(ts - keep, floor[0])
        if self._ratings_pruned_to is None or horizon - self._ratings_pruned_to >= keep // 2:
            self._ratings_pruned_to = horizon
            try:
                await self.db.flush()  # rows still buffered would be inserted after the delete
                n = await self.db.prune_ratings(horizon)
            except Exception as exc:  # noqa: BLE001 - housekeeping never stops trading
                log.warning("rating pruning failed: %s", exc)
            else:
                if n:  # routine housekeeping: every half retention, two dozen times in a year's replay
                    log.debug("pruned %d rating rows older than the %.1f-day retention", n, keep / MS_PER_DAY)

    def _rating_keep_ms(self) -> int:
        """How far back (ms) rating rows are kept: ``rating_retention_days``, and never less than the
        periods a restart reads to restore the z-scores (twice the z window, plus two)."""
        window = (2 * self.cfg.signal_generation.moving_average_period + 2) * self.period_ms
        return max(int(self.cfg.data_processing.rating_retention_days * MS_PER_DAY), window)

    def _note_events(self, n: int) -> None:
        if not self._first_event_ms:
            self._first_event_ms = self.clock.now_ms()
        if self.cfg.monitoring.metrics_collection_enabled:
            self._event_rate.note(n)

    def _recent_quote_volume(self, symbol: str) -> float:
        """Quote volume of the symbol's last ``rating.volatility_window`` klines (0 unknown)."""
        i = self.sym_index.get(symbol)
        if i is None:
            return 0.0
        v = self.cache.recent_quote_volume_of(i, self._vol_window)  # one row, not all N
        return v if math.isfinite(v) else 0.0

    def _recent_gaps(self, i: int) -> int:
        """Missing klines between the symbol's last ``rating.volatility_window`` closed klines."""
        ot = self.cache.last_klines(i, self._vol_window, ("open_time",))["open_time"]
        if ot.shape[0] < 2:
            return 0
        missing = np.diff(ot) // self.interval_ms - 1
        return int(missing[missing > 0].sum())

    # ------------------------------------------------------------------ strategy path

    def _sync_positions(self, symbol: str | None = None) -> None:
        """Refresh the per-symbol entry-price array from the portfolio (one symbol or all)."""
        if not self.symbols:
            return
        if symbol is None:
            self._entry_px.fill(np.nan)
            for sym, pos in self.portfolio.positions.items():
                i = self.sym_index.get(sym)
                if i is not None:
                    self._entry_px[i] = float(pos.avg_entry)
        else:
            i = self.sym_index.get(symbol)
            if i is not None:
                pos = self.portfolio.positions.get(symbol)
                self._entry_px[i] = float(pos.avg_entry) if pos is not None else np.nan
        self._held_idx = np.flatnonzero(~np.isnan(self._entry_px))

    def _locked_mask(self) -> np.ndarray | None:
        if not self.locked:
            return None
        m = np.zeros(self.n, dtype=bool)
        for s in self.locked:
            i = self.sym_index.get(s)
            if i is not None:
                m[i] = True
        return m

    def _staleness(self, ts: int) -> np.ndarray:
        """(N,) periods since each symbol's newest closed kline should have been followed by another
        (0 = fresh, inf = never seen)."""
        last = self.last_kline_ms
        with np.errstate(invalid="ignore"):
            st = np.where(last >= 0, (ts - (last + self.interval_ms)) / self.period_ms, np.inf)
        return np.maximum(st, 0.0)

    def _staleness_of(self, ts: int, i: int) -> float:
        """:meth:`_staleness` of one symbol (the same float: exact integer difference, one division)."""
        last = int(self.last_kline_ms[i])
        if last < 0:
            return math.inf
        return max(float(np.float64(ts - (last + self.interval_ms)) / self.period_ms), 0.0)

    def _nothing_can_fire(self) -> bool:
        """True when no rule of :meth:`SignalGenerator.evaluate` can hold this period (a cheap,
        conservative pre-check: skipping the call then changes nothing)."""
        thr = self.threshold
        if self.n and self.z.max() >= thr:
            return False
        held = self._held_idx
        if held.shape[0] == 0:
            return True
        rm = self.cfg.risk_management
        lo, hi = -rm.stop_loss_percent + PCT_EPS, rm.profit_target_percent - PCT_EPS
        z, price, entry_px = self.z, self.cache.price, self._entry_px
        for i in held.tolist():  # a few holdings: scalar IEEE arithmetic, the same as elementwise
            entry = float(entry_px[i])
            pnl = (float(price[i]) - entry) / entry * 100.0  # entry > 0; NaN price -> no rule
            if z[i] <= -thr or pnl <= lo or pnl >= hi:
                return False
        return True

    async def _run_signals(self, ts: int) -> None:
        if self._nothing_can_fire():
            return
        holding = ~np.isnan(self._entry_px)
        signals = self.generator.evaluate(
            ts,
            self.z,
            self.zstd,
            self.zs.count,
            self._staleness(ts),
            self.gaps,
            holding,
            self._entry_px,
            self.cache.price,
            locked=self._locked_mask(),
            threshold=self.threshold,
        )
        if signals:
            await self._act_on(signals, ts)

    async def _realtime_exits(self, sym: np.ndarray, price: np.ndarray) -> None:
        """Stop loss / profit target of the held symbols among these price updates."""
        held = self._held_idx
        if len(sym) == 0 or held.shape[0] == 0:
            return
        if len(sym) == self.n and np.array_equal(sym, self._all_sym):
            sym, price = held, price[held]  # a complete batch: look at the holdings only
        elif len(sym) > 1:
            _, last = np.unique(sym[::-1], return_index=True)
            if last.shape[0] != len(sym):  # a symbol updated twice: its last price counts
                keep = np.sort(len(sym) - 1 - last)
                sym, price = sym[keep], price[keep]
        entry = self._entry_px[sym]
        rm = self.cfg.risk_management
        pnl = (price - entry) / entry * 100.0  # NaN for flat symbols: no rule holds
        # only updates that cross a boundary can raise a signal (the same test as the generator's)
        m = (pnl <= -rm.stop_loss_percent + PCT_EPS) | (pnl >= rm.profit_target_percent - PCT_EPS)
        if not m.any():
            return
        ts = self.clock.now_ms()
        # a refused exit is not raised again on every tick (see _exit_retry_at)
        m &= ts >= self._exit_retry_ms[sym]
        if not m.any():
            return
        signals = self.generator.check_exits(ts, sym[m], price[m], entry[m], locked=self._locked_mask())
        if signals:
            await self._act_on(signals, ts)

    async def _act_on(self, signals: list[Signal], ts: int) -> None:
        async with self._trade_lock:
            for sig in signals:
                self._signal_seq += 1
                sig.id = self._signal_seq
                self.counters["signals"] += 1
                order: Order | WriteOff | str | None = None
                if not sig.outcome:
                    if sig.type is SignalType.SELL and sig.symbol not in self.portfolio.positions:
                        sig.outcome = "not executed: no position (already closed)"
                    else:
                        order = await self._execute_signal(sig, ts)
                    if sig.type is SignalType.SELL:
                        i = self.sym_index.get(sig.symbol)
                        if i is not None:
                            self._exit_retry_ms[i] = -np.inf if sig.executed else self._exit_retry_at(sig, ts, order)
                self.recent_signals.appendleft(sig)
                if self.db is not None:
                    await self.db.queue_signal(sig, self.session_id)
                self.bus.publish(SignalEvent(ts, sig))

    def _exit_retry_at(self, sig: Signal, ts: int, order: Order | WriteOff | str | None) -> float:
        """When the real-time check may raise a refused exit again: after the signal cooldown; but
        a stop loss refused while the order circuit breaker is open (refused as "circuit open", or
        its order failed and opened it) as soon as the breaker's cool-off ends, when it lets one
        trial order through - not an hour later at the next rating period. Each refusal in a new
        cool-off moves it to that one's end: at most one try per cool-off.

        A stop loss whose order failed at the exchange with the breaker still closed (a failure
        it counted: timeout, network, rate limit, 5xx - not the order's own insufficient balance
        or filter failure, unless the filters reloaded after it had changed), or that an order of
        unknown outcome in its symbol holds back (each try
        looks that order up first and sends nothing until it has settled), is tried again
        ``EXIT_RETRY_MS`` after this attempt ended; the breaker bounds how often orders go out."""
        later = float(ts + self.cfg.signal_generation.signal_cooldown_ms)
        if sig.kind != "stop_loss":
            return later
        breaker = self.order_breaker
        if breaker.state == CIRCUIT_OPEN and breaker.opened_ms is not None:
            return min(later, float(breaker.opened_ms + breaker.cooloff_ms))
        # orders go out one at a time (the trade lock): the breaker's count is this order's verdict
        failed = isinstance(order, Order) and order.executed_qty == 0 and breaker.consecutive_failures > 0
        # rejected for the exchange's filters, which were reloaded and changed: the next try meets them
        failed = failed or isinstance(order, Order) and order.client_order_id == self._refiltered
        if failed or any(o.symbol == sig.symbol for o in self._unsettled.values()):
            return min(later, float(self.clock.now_ms() + EXIT_RETRY_MS))
        return later

    async def _execute_signal(self, sig: Signal, ts: int) -> Order | WriteOff | str | None:
        """Act on ``sig``, setting its outcome; returns the order (or refusal, write-off) if any."""
        if why := self._signal_refusal(sig):
            sig.outcome = f"not executed: {why}"
            return None
        if sig.type is SignalType.BUY:
            order = await self._buy(sig.symbol, None, Source.STRATEGY, sig.reason, sig, override=False)
        else:
            order = await self._sell(sig.symbol, None, Source.STRATEGY, sig.reason, sig, override=False)
        if isinstance(order, str):
            sig.outcome = f"refused: {order}"
            return order
        if isinstance(order, WriteOff):
            sig.outcome = f"not executed: {order}"
            return order
        sig.order_client_id = order.client_order_id
        if order.executed_qty > 0:  # an IOC or canceled order may have filled in part
            sig.executed = True
            sig.outcome = f"executed: {order.side.value} {_fill_text(order)}"
        else:
            sig.outcome = f"order {order.status.value.lower()}: {order.error or order.reason}"
        return order

    def _signal_refusal(self, sig: Signal) -> str:
        """Why the state or a lock keeps ``sig`` from trading now ("" when it may). Asked when the
        signal is acted on and again before its order is sent: a pause or lock the operator got
        an answer for meanwhile holds for it too."""
        state = self.sm
        if sig.type is SignalType.BUY:
            if not state.allows_entries:
                return f"engine {state.state.value}"
            if sig.symbol in self.locked:
                return "symbol locked"
            return ""
        urgent_ok = sig.kind == "stop_loss" and state.allows_stop_loss
        if not (state.allows_exits or urgent_ok):
            return f"engine {state.state.value}"
        if sig.symbol in self.locked and sig.kind != "stop_loss":
            return "symbol locked"
        return ""

    # ------------------------------------------------------------------ orders

    def _next_client_id(self) -> str:
        self._order_seq += 1
        return make_client_order_id(f"tt{self._client_id_tag}{self.session_id}", self._order_seq)

    def _mark(self) -> float:
        return self.portfolio.mark(self.last_price, self.clock.now_ms())

    def _equity_now(self) -> float:
        """Cash plus positions at the last prices (entry price where none), without touching the book."""
        pf = self.portfolio
        eq = float(pf.cash)
        for sym, pos in pf.positions.items():
            eq += float(pos.quantity) * self._price_of_held(sym, pos)
        return eq

    def _context(
        self, symbol: str, qty: Decimal, price: Decimal, source: Source, equity: float | None = None
    ) -> TradeContext:
        """What the pre-trade checks look at; ``equity`` is the marked equity if the caller has it."""
        i = self.sym_index[symbol]
        if equity is None:
            equity = self._mark()
        pos = self.portfolio.positions.get(symbol)
        ts = self.clock.now_ms()
        vol = self._volatility()[i]
        return TradeContext(
            symbol=symbol,
            quantity=qty,
            price=price,
            fee_rate=Decimal(str(self.cfg.broker.fee_rate)),
            cash=self.portfolio.cash,
            equity=to_decimal(equity),
            open_positions=len(self.portfolio.positions),
            holding=pos is not None,
            holding_qty=pos.quantity if pos else Decimal(0),
            position_value=(pos.quantity * price) if pos else Decimal(0),
            total_position_value=to_decimal(self.portfolio.positions_value),
            stale_periods=self._staleness_of(ts, i),
            gaps=self._recent_gaps(i),
            volatility=float(vol) if math.isfinite(vol) else float("nan"),
            recent_quote_volume=self._recent_quote_volume(symbol),
            filters=self.filters.get(symbol),
            state=self.sm.state,
            source=source,
        )

    async def _buy(
        self,
        symbol: str,
        quote_amount: Decimal | None,
        source: Source,
        reason: str,
        sig: Signal | None,
        override: bool,
    ) -> Order | str:
        if self._unsettled and (refusal := await self._unsettled_refusal(symbol)):
            return refusal
        price_f = self.last_price(symbol)
        if price_f is None:
            return "no price yet"
        price = to_decimal(price_f)
        f = self._lot_filters(symbol)
        equity = self._mark()
        if quote_amount is None:
            assert sig is not None
            vol = self._volatility()[self.sym_index[symbol]]
            qty = position_size(sig, to_decimal(equity), price, float(vol), self.cfg, f)
        else:
            if quote_amount > self.portfolio.cash:  # never payable (and beyond what Decimal sizes exactly)
                # (an absurd amount, 1e999, in scientific notation: written out it was a thousand digits)
                amount = digits(quote_amount) if quote_amount.adjusted() < 15 else f"{quote_amount:.6g}"
                return (f"amount {amount} is more than the cash "
                        f"{self.portfolio.cash:.2f} {self.portfolio.quote_asset}")
            qty = quote_amount / price
            qty = quantize_qty(qty, f) if f else qty
        if qty <= 0:
            return "size rounds to zero (below the minimum quantity or notional)"
        reasons = self.checks.check_entry(self._context(symbol, qty, price, source, equity))
        refused, reason = self._risk_gate(symbol, Side.BUY, reasons, override, reason)
        if refused:
            return refused
        return await self._place(symbol, Side.BUY, qty, price, source, reason, sig)

    async def _sell(
        self,
        symbol: str,
        quantity: Decimal | None,
        source: Source,
        reason: str,
        sig: Signal | None,
        override: bool,
        emergency_close: bool = False,
    ) -> Order | WriteOff | str:
        pos = self.portfolio.positions.get(symbol)
        if pos is None:
            return f"no position in {symbol}"
        if self._unsettled:
            if refusal := await self._unsettled_refusal(symbol):
                return refusal
            # the lookup may have booked an earlier sell of it (the position less, or gone): never
            # sell what that order already sold
            pos = self.portfolio.positions.get(symbol)
            if pos is None:
                return f"no position in {symbol} (an earlier order sold it)"
        if symbol not in self.sym_index:
            return await self._close_uncarried(symbol, quantity, source, reason, emergency_close)
        price_f = self.last_price(symbol)
        if price_f is None:
            return "no price yet"
        price = to_decimal(price_f)
        if quantity is not None and quantity > pos.quantity:
            return f"quantity {quantity} exceeds the holding {pos.quantity}"
        qty = pos.quantity if quantity is None else quantity
        f = self._lot_filters(symbol)
        if f is not None:
            qty = quantize_qty(qty, f)
            if quantity is None and f.max_qty > 0 and qty > f.max_qty:
                # more than one order may sell (the exchange lowers MARKET_LOT_SIZE's maximum with
                # the market's volume): sell what one order can, the next exit sells the rest
                qty = quantize_qty(f.max_qty, f)
                # ... and leave a rest worth the minimum notional (at the worst fill, so that it is
                # not written off as dust after the sell): a rest below it no order could sell
                # (and at least the minimum quantity: a rest below it is dust whatever its worth)
                worst = self.checks.worst_sell_price(price, f)  # (as check_exit values the rest)
                rest = pos.quantity - qty
                if worst > 0 and (rest * worst < f.min_notional or rest < f.min_qty):
                    keep = round_to_step(max(f.min_notional / worst, f.min_qty), f.step_size, ROUND_CEILING)
                    less = quantize_qty(max(pos.quantity - keep, Decimal(0)), f)
                    if not _dust_reason(less, worst, f):  # (else no split sells it all: as before)
                        qty = less
        # an operator's close writes off what no order can sell now; an automatic exit only what
        # no order could ever sell (below one step or the minimum quantity): the value may recover
        if quantity is None and (why := _dust_reason(qty, price, f, by_value=source is Source.UI)):
            self.generator.restore_cooldowns({symbol: self.clock.now_ms()})  # as a sell's would
            return await self._write_off(symbol, source, reason, why)
        if qty <= 0:
            return "quantity rounds to zero"
        # a sell of the whole holding (its quantity typed in, as the position shows it) is a close too:
        # its LIMIT order below the minimum notional at the limit price goes at market as well
        whole = quantity is None or qty == (quantize_qty(pos.quantity, f) if f is not None else pos.quantity)
        market = whole and self._market_close(symbol, qty, price, pos.quantity, f)
        reasons = [] if market else self.checks.check_exit(symbol, qty, price, pos.quantity, f)
        refused, reason = self._risk_gate(symbol, Side.SELL, reasons, override, reason)
        if refused:
            return refused
        order = await self._place(symbol, Side.SELL, qty, price, source, reason, sig, emergency_close, market)
        if isinstance(order, str):
            return order
        if sig is None and order.executed_qty > 0:
            # an exit without a signal (the operator's sell, close or flatten, an emergency close)
            # starts the cooldown a signal would: the next period must not buy straight back
            self.generator.restore_cooldowns({symbol: self.clock.now_ms()})
        return order

    async def _close_uncarried(
        self, symbol: str, quantity: Decimal | None, source: Source, reason: str, emergency_close: bool = False
    ) -> Order | str:
        """Close a position in a symbol this session's feed does not carry (restored from a book
        made over a universe that held it): there is no price of now to sell it at.

        Paper (the engine's own paper broker): the whole position is sold at the last price the
        book stored for it - its last fill - with the paper fee, booked like any fill, and said so
        in the order's reason, an audit row and the log: a paper book is no money, and the operator
        must be able to get out. Live: nothing is booked that the exchange did not do; the refusal
        says what to do (the feed carrying it again, or the account's sale accepted)."""
        pos = self.portfolio.positions[symbol]
        why = f"{symbol} {NOT_IN_MARKET}"
        if self.mode != "paper" or self._filters_from_broker:
            return (f"{why}: no price to judge a sell by; add {symbol} to feed.symbols and restart to sell it "
                    "here, or sell it on the exchange and restart: the account then holds less than the book, "
                    "which A (accept account) takes")
        if quantity is not None and quantity != pos.quantity:
            return f"{why}: only the whole position can be closed (at its last stored price); close it (x)"
        last = await self.db.load_fills(symbol, limit=1) if self.db is not None else []
        if not last:
            return (f"{why}, and the book stores no trade of it to price it by: add {symbol} to feed.symbols and "
                    "restart to close it")
        # as _place's last check: an emergency stop answered while the price was read books nothing
        # after it but its own closes
        if self.sm.state is EngineState.EMERGENCY_STOPPED and not emergency_close:
            return order_refusal(self.sm.state, Side.SELL, source) or "emergency stop is active"
        price, at = last[-1].price, last[-1].ts_ms
        qty, now = pos.quantity, self.clock.now_ms()
        note = (f"{reason}: {UNCARRIED_CLOSE} {digits(price)} (its last fill, {utc_text(at)}Z), as {symbol} "
                "is not in this session's market")
        order = self._booked_sell(symbol, qty, source, note)
        await self.record_intent(order)
        if self.sm.state is EngineState.EMERGENCY_STOPPED and not emergency_close:
            # a stop answered while the intent was stored: as the order manager's halt, not sent
            order.status, order.error = OrderStatus.CANCELED, f"{NOT_SENT}: emergency stop"
            order.updated_ms = self.clock.now_ms()
            await self.record_update(order, [])
            return order
        proceeds = qty * price
        fee = fill_fee(proceeds, to_decimal(self.cfg.broker.fee_rate))
        await self._book_fill(order, price, fee)
        # the paper account sold it too (the engine's paper broker holds what the book holds)
        bal = await self.broker.balances()
        base, quote = self.portfolio.base_asset(symbol) or symbol, self.portfolio.quote_asset
        bal[base] = max(bal.get(base, Decimal(0)) - qty, Decimal(0))
        bal[quote] = bal.get(quote, Decimal(0)) + proceeds - fee
        self.broker.set_balances(bal)
        if self.db is not None:
            await self.db.audit(now, source, "close_at_stored_price",
                                {"symbol": symbol, "quantity": str(qty), "price": str(price), "price_ms": at}, True,
                                note)
        log.warning("%s: %s sold at %s", symbol, digits(qty), note)
        self.generator.restore_cooldowns({symbol: now})  # as a sell's would
        return order

    def _market_close(
        self, symbol: str, qty: Decimal, price: Decimal, holding: Decimal, f: SymbolFilters | None
    ) -> bool:
        """Whether a close of the holding goes out as a MARKET order although ``use_limit_orders``:
        its LIMIT order is refused for its limit price (below the last price by the buffer) - its
        value there misses the minimum notional, or the price lies outside PRICE_FILTER's range -
        while a MARKET order (held to the minimum at the average price: applyMinToMarket; not to
        PRICE_FILTER) passes every exit check. As a LIMIT order it was refused (as dust that cannot
        be sold, or for its price), but - worth the minimum at the last price - not written off."""
        oe = self.cfg.order_execution
        if not oe.use_limit_orders or f is None or qty <= 0:
            return False
        from tui_trader.execution.filters import limit_price

        lp = limit_price(price, Side.SELL, oe.limit_order_buffer_percent, f)
        if lp <= 0 or (f.min_price > 0 and lp < f.min_price) or (f.max_price > 0 and lp > f.max_price):
            why = f"outside the price filter at its limit price {lp.normalize():f}"
        elif qty * lp < f.min_notional:
            why = "below the minimum notional at its limit price"
        else:
            return False
        if self.checks.check_exit(symbol, qty, price, holding, f, order_type=OrderType.MARKET):
            return False
        log.info("%s: a LIMIT close would be %s: sent as a MARKET order", symbol, why)
        return True

    def _lot_filters(self, symbol: str) -> SymbolFilters | None:
        """The symbol's filters as this engine's orders must meet them: with MARKET orders (no
        ``use_limit_orders``) MARKET_LOT_SIZE's quantity rules too - one place for the sizes,
        the quantity rounding and what counts as dust, as the pre-trade checks see them."""
        f = self.filters.get(symbol)
        if f is None or self.cfg.order_execution.use_limit_orders:
            return f
        return f.for_market_orders()

    def _risk_gate(
        self, symbol: str, side: Side, reasons: list[str], override: bool, reason: str
    ) -> tuple[str, str]:
        """``(refusal, order reason)``: failed checks refuse the order (counted, alerted) unless the
        operator overrides them, in which case they are recorded in the order's reason."""
        if not reasons:
            return "", reason
        text = "; ".join(reasons)
        if override:
            return "", f"{reason} [risk override: {text}]"
        self.counters["rejected_orders"] += 1
        self.counters["risk_refusals"] += 1
        self.bus.publish(RiskAlert(self.clock.now_ms(), "info", "risk_refused", f"{symbol} {side.value}: {text}"))
        return text, reason

    async def _place(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        source: Source,
        reason: str,
        sig: Signal | None,
        emergency_close: bool = False,
        market: bool = False,
    ) -> Order | str:
        # the last moment before an order exists: an emergency stop made while this one was being
        # prepared (a command waiting for the trade lock, a lookup of an earlier order) stops it
        # here; only the emergency stop's own closing sells go out after it
        if self.sm.state is EngineState.EMERGENCY_STOPPED and not emergency_close:
            return order_refusal(self.sm.state, side, source) or "emergency stop is active"
        oe = self.cfg.order_execution
        otype = OrderType.MARKET
        limit: Decimal | None = None
        if oe.use_limit_orders and not market:  # (market: see _market_close)
            from tui_trader.execution.filters import limit_price

            limit = limit_price(price, side, oe.limit_order_buffer_percent, self.filters.get(symbol))
            otype = OrderType.LIMIT
        now = self.clock.now_ms()
        order = Order(
            client_order_id=self._next_client_id(),
            symbol=symbol,
            side=side,
            type=otype,
            quantity=qty,
            price=limit,
            status=OrderStatus.INTENT,
            source=source,
            reason=reason,
            created_ms=now,
            updated_ms=now,
            signal_id=sig.id if sig else None,
        )
        self.counters["orders"] += 1
        self._in_flight.add(order.client_order_id)  # booked by this execute, not by a reconciliation
        try:
            # a signal's order: a pause or lock answered while it was prepared (its intent stored,
            # an earlier order looked up, a retry's wait) keeps it from being sent
            gate = (lambda: self._signal_refusal(sig)) if sig is not None else None
            result = await self.order_mgr.execute(order, gate)
        finally:
            self._in_flight.discard(order.client_order_id)
        if result.status is OrderStatus.REJECTED:
            self.counters["rejected_orders"] += 1
            err = self.order_mgr.rejection(result.client_order_id)
            if (
                err is not None
                and err.kind is BrokerErrorKind.FILTER_FAILURE
                and self._filters_from_broker
                and await self._reload_filters(symbol, str(err))
            ):
                self._refiltered = result.client_order_id  # (a stop loss's retry comes soon: _exit_retry_at)
        elif not result.status.is_final:
            self._unsettled[result.client_order_id] = result
            log.warning("order %s (%s %s): %s - %s takes no new order until a lookup settles it",
                        result.client_order_id, side.value, symbol, result.error or result.status.value, symbol)
        return result

    async def _reload_filters(self, symbol: str, why: str) -> bool:
        """The exchange rejected an order of ``symbol`` for its filters: ask them again (at most once
        per :data:`FILTERS_RELOAD_MS`), so the next order meets the exchange's rules of now rather
        than failing the same way for the rest of the run. A failed request keeps the old ones.
        Returns whether the filters changed."""
        now = self.clock.now_ms()
        last = self._filters_reloaded_ms.get(symbol)
        if last is not None and now - last < FILTERS_RELOAD_MS:
            log.info("%s: order rejected by the exchange's filters (%s); filters were reloaded %d s ago, "
                     "not asked again before %d s have passed", symbol, why, (now - last) // 1000,
                     FILTERS_RELOAD_MS // 1000)
            return False
        self._filters_reloaded_ms[symbol] = now
        assert self.broker is not None
        try:
            async with asyncio.timeout(self.cfg.order_execution.order_timeout_ms / 1000.0):
                got = await self.broker.exchange_filters([symbol])
        except Exception as exc:  # noqa: BLE001 - the old filters stay; asked again after the interval
            log.warning("%s: order rejected by the exchange's filters (%s); reloading them failed (%s): the old "
                        "ones are kept", symbol, why, exc or type(exc).__name__)
            return False
        new, old = got.get(symbol), self.filters.get(symbol)
        if new is None:
            log.warning("%s: order rejected by the exchange's filters (%s); the exchange gave none for it: the "
                        "old ones are kept", symbol, why)
            return False
        self.filters[symbol] = new
        changed = _filter_changes(old, new)
        log.warning("%s: order rejected by the exchange's filters (%s): filters reloaded, %s", symbol, why,
                    f"changed: {changed}" if changed else "unchanged (the order itself missed them)")
        return bool(changed)

    async def _unsettled_refusal(self, symbol: str) -> str:
        """Why ``symbol`` takes no new order now ("" when it may): one of its orders has an unknown
        outcome (looked up once more here first), so another could trade twice or sell what is
        already sold. The caller holds the trade lock."""
        await self._settle_unsettled(symbol)
        for cid, order in self._unsettled.items():
            if order.symbol == symbol:
                return (f"order {cid} has an unknown outcome ({order.error or order.status.value}); "
                        "it is looked up again each period")
        return ""

    async def _settle_unsettled(self, symbol: str | None = None) -> None:
        """Look the orders of unknown outcome (of ``symbol``, or all) up again, never resending;
        the caller holds the trade lock."""
        for cid, order in list(self._unsettled.items()):
            if symbol is not None and order.symbol != symbol:
                continue
            try:
                await self.order_mgr.resolve(order)
            except Exception as exc:  # noqa: BLE001 - tried again next period
                log.warning("order %s: lookup failed: %s", cid, exc)
                continue
            if order.status.is_final:
                del self._unsettled[cid]
                log.info("order %s (%s) settled: %s%s", cid, order.symbol, order.status.value,
                         f" ({order.error})" if order.error else "")

    # OrderJournal protocol (called by the OrderManager) ---------------------

    async def record_intent(self, order: Order) -> None:
        self._check_db_lock(f"order {order.client_order_id}")
        if self.db is not None:
            await self.db.write_order_intent(order, self.session_id)
        self._remember(order)  # once stored: an intent that could not be is no order (never sent)
        self.bus.publish(OrderUpdate(self.clock.now_ms(), order))

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        """Apply fills to the portfolio and commit order, fills, position and cash together."""
        self._remember(order)
        realized = self.portfolio.apply_fills(fills)  # all or none: a refused fill leaves the book as stored
        self.fills.extend(fills)
        self.counters["fills"] += len(fills)
        dust, dust_pnl, dust_why = Decimal(0), Decimal(0), ""
        if fills and order.side is Side.SELL:
            dust_pnl, dust, dust_why = self._write_off_dust(order.symbol, fills[-1])
            realized += dust_pnl
        if fills:
            order.realized_pnl += realized
            self._sync_positions(order.symbol)
        if self.db is not None:
            pos = self.portfolio.positions.get(order.symbol)
            try:
                await self.db.apply_order_update(
                    order, fills, pos, order.symbol, self.portfolio.cash, self._account_fields()
                )
            except Exception as exc:
                self._storage_failed(f"order {order.client_order_id}", exc)
                raise
        now = self.clock.now_ms()
        if trade_log.isEnabledFor(logging.INFO):  # off in headless runs and backtests: no line is built
            for fill in fills:
                trade_log.info("%s", fill_line(fill, order.reason))
        if dust:
            log.info("%s: %s left after the sell cannot be sold (dust below the exchange's minimums): taken off "
                     "the book, it stays in the account", order.symbol, digits(dust))
            await self._audit_dust(order, dust, -dust_pnl, fills[-1].price, dust_why)
        if order.status is OrderStatus.REJECTED:
            trade_log.warning("%s %s %s rejected: %s", order.side.value, digits(order.quantity), order.symbol,
                              order.error or order.reason)
        self.bus.publish(OrderUpdate(now, order))
        for fill in fills:
            self.bus.publish(FillEvent(now, fill))
        if fills:
            self.bus.publish(PositionUpdate(now, order.symbol, self.portfolio.positions.get(order.symbol)))

    def _write_off_dust(self, symbol: str, last: Fill) -> tuple[Decimal, Decimal, str]:
        """After a sell: a remainder that no order could sell (below one step or the minimum
        quantity, or worth less than the minimum notional) leaves the book, so the symbol is flat
        again for the strategy and the position count. It arises live, where a buy's fee is taken
        in the base asset; the coins stay in the account. Returns the realised PnL it books, the
        quantity written off (0: none; logged and audited by the caller after the sell's fills)
        and why it is dust."""
        pos = self.portfolio.positions.get(symbol)
        f = self._lot_filters(symbol)
        if pos is None or f is None:
            return Decimal(0), Decimal(0), ""
        q = pos.quantity
        if not (why := _dust_reason(q, last.price, f)):
            return Decimal(0), Decimal(0), ""
        return self.portfolio.write_off(symbol), q, why

    async def _audit_dust(self, order: Order, qty: Decimal, cost: Decimal, price: Decimal, why: str) -> None:
        """The audit row of a remainder written off after ``order``'s sell (source system: no one
        asked for it, but it moves the book as the operator's write-off does). A failed write is
        logged: the sell and the write-off are stored already."""
        if self.db is None:
            return
        args = {"symbol": order.symbol, "quantity": str(qty), "price": str(price), "value": str(qty * price),
                "cost": str(cost), "order": order.client_order_id}
        text = (f"{digits(qty)} {order.symbol} left after the sell ({order.client_order_id}) cannot be sold "
                f"(dust: {why}): taken off the book, its cost {digits(cost)} realised as a loss; it stays in "
                "the account")
        try:
            await self.db.audit(self.clock.now_ms(), Source.SYSTEM, "write_off", args, True, text)
        except Exception as exc:  # noqa: BLE001 - the book is stored; only its audit row is missing
            log.error("audit log write failed (the write-off of %s dust): %s", order.symbol, exc)

    def _check_db_lock(self, what: str) -> None:
        """The book's lock file is still the one this engine locked (one ``stat``): deleted or
        replaced, it is locked again; if another engine holds it by now (it started on this book
        meanwhile), nothing more trades here - an emergency stop, as for a storage failure
        (``LockLostError`` raised: an order is not sent)."""
        if self._db_lock is None:
            return
        if self._lock_lost is not None:  # said once; an emergency stop's reset does not make it ours
            raise self._lock_lost
        from tui_trader.storage.lock import LockLostError

        try:
            self._db_lock.check()
        except LockLostError as exc:
            self._lock_lost = exc
            self._storage_failed(what, exc)
            raise

    def _storage_failed(self, what: str, exc: Exception) -> None:
        """A change of the book could not be committed: nothing more may trade on a book the
        database no longer matches (the caller re-raises)."""
        log.critical("could not persist %s: %s - emergency stop", what, exc)
        old, reason = self.sm.state, f"storage failure: {exc}"
        self.sm.force(EngineState.EMERGENCY_STOPPED, Source.SYSTEM, reason)
        self.state_reason = self._storage_failure = reason
        if old is not EngineState.EMERGENCY_STOPPED:  # published as every emergency stop is (the console's toast, bell)
            self.bus.publish(StateChange(self.clock.now_ms(), old, EngineState.EMERGENCY_STOPPED, Source.SYSTEM, reason))

    async def _write_off(self, symbol: str, source: Source, reason: str, why: str) -> WriteOff:
        """Close a position no order can sell by taking it off the book: its cost is realised as a
        loss, cash is unchanged; committed (and audited) like a fill."""
        qty = self.portfolio.positions[symbol].quantity
        self.portfolio.write_off(symbol)
        self._sync_positions(symbol)
        now = self.clock.now_ms()
        if self.db is not None:
            try:
                await self.db.write_off_position(symbol, self._account_fields())
            except Exception as exc:
                self._storage_failed(f"the write-off of {symbol}", exc)
                raise
            await self.db.audit(now, source, "write_off", {"symbol": symbol, "quantity": str(qty)}, True,
                                f"{reason}: {why}")
        result = WriteOff(symbol, qty, why)
        log.warning("%s: %s (%s)", symbol, result, reason)
        self.bus.publish(PositionUpdate(now, symbol, None))
        return result

    def _remember(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        if len(self.orders) > ORDERS_KEPT:
            self.orders.pop(next(iter(self.orders)))

    # ------------------------------------------------------------------ risk

    async def _check_breakers(self, ts: int, equity: float) -> None:
        trips = self.breakers.update(ts, equity, self.portfolio.day_start_equity, self.portfolio.peak_equity)
        for trip in trips:
            if trip.code == "daily_loss" and self.db is not None:  # a restart today keeps it (paused too)
                await self.db.kv_set(DAILY_TRIP_KEY, str(ts // MS_PER_DAY))
            if self.sm.state == EngineState.EMERGENCY_STOPPED:
                # nothing more to stop (a stop restored by a restart trips both again): latched, one line
                log.info("risk breaker while emergency-stopped (no alert): %s", trip.message)
                continue
            self.bus.publish(RiskAlert(ts, trip.severity, trip.code, trip.message))
            log.warning("risk breaker: %s", trip.message)
            if trip.target_state == EngineState.EMERGENCY_STOPPED:
                await self._emergency(trip.message, Source.RISK, close_positions=False)
            elif self.sm.state == EngineState.RUNNING:
                await self._transition(trip.target_state, Source.RISK, trip.message)
            # paused or stopped: the operator's hold stays; a resume or start later today enters
            # reducing (_start_trading) and manual buys are refused meanwhile (_daily_limit_holds)
        if self.sm.state == EngineState.REDUCING and self.breakers.daily_rearmed(ts):
            await self._transition(EngineState.RUNNING, Source.SYSTEM, "new UTC day")

    def _daily_limit_holds(self) -> bool:
        """The daily-loss limit was reached this UTC day and the operator has not overridden it."""
        now = self.clock.now_ms()
        return self.breakers.daily_active(now) and self._daily_override_day != now // MS_PER_DAY

    def _daily_limit_text(self) -> str:
        limit = self.cfg.risk_management.max_daily_loss_percent
        return f"the daily loss limit of {limit:.2f}% was reached today: exits only until the next UTC day"

    async def _override_daily_limit(self, source: Source, reason: str) -> tuple[bool, str]:
        """Reducing -> running by the operator: today's daily-loss limit no longer holds (remembered
        for the rest of the UTC day, so a pause and resume does not bring it back). After the UTC
        day rolled over, before the period that leaves reducing by itself, the limit has re-armed
        already: nothing is overridden, and the answer says so."""
        now, before = self.clock.now_ms(), self._daily_override_day
        held = self.breakers.daily_active(now)  # on the day of the command (the injected clock)
        if held:
            self._daily_override_day = now // MS_PER_DAY  # stored with the state (a restart today keeps it)
        ok = False
        try:
            ok, msg = await self._transition(EngineState.RUNNING, source, reason)
        finally:
            if not ok:
                self._daily_override_day = before
        if not ok:
            return False, msg
        done = "trading resumed" if "resume" in reason else "trading started"
        if not held:
            return True, f"{done}: a new UTC day, the daily loss limit has re-armed (nothing to override)"
        return True, f"{done}: the daily loss limit reached today is overridden"

    async def _start_trading(self, source: Source, reason: str) -> tuple[bool, str]:
        """Start or resume: running - or straight to reducing when the daily-loss limit was
        reached earlier this UTC day (while stopped or paused), so the limit is not used up unseen."""
        done = "trading resumed" if "resume" in reason else "trading started"
        if self._daily_limit_holds():
            why = self._daily_limit_text()
            ok, msg = await self._transition(EngineState.REDUCING, Source.RISK, why)
            return (True, f"{done}, reducing: {why} (start again to override)") if ok else (False, msg)
        ok, msg = await self._transition(EngineState.RUNNING, source, reason)
        return (True, done) if ok else (False, msg)

    async def _transition(
        self, target: EngineState, source: Source, reason: str, account: dict[str, Any] | None = None
    ) -> tuple[bool, str]:
        """Move to ``target`` and store it (with ``account``: those account fields too, in the same
        transaction). Returns (ok, why not)."""
        old = self.sm.state
        # no trading on a book the start-up reconciliation could not confirm: it is tried again
        if (
            target in (EngineState.RUNNING, EngineState.REDUCING)
            and self._reconcile_problem
            and self.sm.check(old, target, source) is None
            and (problem := await self._reconcile_again())
        ):
            return False, f"{problem} (tried again; trading stays off)"
        if target in (EngineState.RUNNING, EngineState.REDUCING) and self._commands_given_up:
            # the quit stopped waiting for this command and audited it as aborted: so it is
            return False, "aborted by quit: the engine stopped before the reconciliation tried again had ended"
        old, old_reason = self.sm.state, self.state_reason  # (the try above may have taken a while)
        ok, msg = self.sm.transition(target, source, reason)
        if ok and old != target:
            self.state_reason = reason
            now = self.clock.now_ms()
            log.info("engine %s -> %s (%s: %s)", old.value, target.value, source.value, reason)
            self.bus.publish(StateChange(now, old, target, source, reason))
            try:
                await self._save_state(account=account)
            except Exception as exc:
                if self.sm.state is target and (target is EngineState.RUNNING
                                                or old is EngineState.EMERGENCY_STOPPED):
                    # toward trading, or out of an emergency stop: not on a state that cannot be
                    # stored (the command says it failed, and so it did); a pause or reducing holds,
                    # and so does whatever came meanwhile (an emergency stop while this was written)
                    why = f"{reason}: not stored ({exc})"
                    self.sm.force(old, Source.SYSTEM, why)
                    self.state_reason = old_reason
                    self.bus.publish(StateChange(self.clock.now_ms(), target, old, Source.SYSTEM, why))
                raise
            if self.db is not None:
                await self.db.audit(now, source, "state", {"from": old.value, "to": target.value}, True, reason)
        return ok, msg

    async def _save_state(self, db: Any = None, account: dict[str, Any] | None = None) -> None:
        """Store the engine state, and in the same transaction a daily-loss override that changed
        and ``account``'s fields (if given)."""
        db = db or self.db
        if db is None:
            return
        override = self.threshold if self.threshold != self.cfg.signal_generation.z_score_threshold else None
        day = self._daily_override_day
        if account is None and day == self._daily_override_saved:
            await db.save_engine_state(self.sm.state, self.state_reason, self.clock.now_ms(), override,
                                       set(self.locked))
            return
        async with db.transaction():  # all or nothing (a nested save is a savepoint of it)
            await db.save_engine_state(self.sm.state, self.state_reason, self.clock.now_ms(), override,
                                       set(self.locked))
            if account is not None:
                await db.save_account(**account)
                if "peak_equity" in account:  # set on purpose: older equity points must not raise it again
                    await db.mark_references(self.session_id, self.clock.now_ms())
            if day != self._daily_override_saved:
                await db.kv_set(DAILY_OVERRIDE_KEY, None if day is None else str(day))
        self._daily_override_saved = day

    async def _emergency(self, reason: str, source: Source, close_positions: bool) -> tuple[int, int, str]:
        """State first (nothing automatic from here on), then cancel open orders, then - only when
        asked - close the positions. Never waits for an order in flight before cancelling. Returns
        the orders cancelled, the positions closed and why cancelling failed ("" when it did not)."""
        self._emergencies_running += 1
        try:
            return await self._emergency_stop(reason, source, close_positions)
        finally:
            self._emergencies_running -= 1

    async def _emergency_stop(self, reason: str, source: Source, close_positions: bool) -> tuple[int, int, str]:
        now = self.clock.now_ms()
        self.order_mgr.halt("emergency stop")  # an order waiting to be sent (again) is not sent any more
        changed = self.sm.state != EngineState.EMERGENCY_STOPPED
        if changed:
            old = self.sm.state
            self.sm.force(EngineState.EMERGENCY_STOPPED, source, reason)
            self.state_reason = reason
            self.bus.publish(StateChange(now, old, EngineState.EMERGENCY_STOPPED, source, reason))
        # stored while the exchange is asked to cancel, not after (live that may take seconds: a
        # crash or kill meanwhile must not bring the engine back trading); the cancels go first
        save = asyncio.ensure_future(self._save_state()) if changed else None
        cancel_error = ""
        try:
            cancelled = await self.order_mgr.cancel_all()
        except Exception as exc:  # noqa: BLE001 - the stop itself must hold whatever the broker says
            cancelled, cancel_error = 0, str(exc) or type(exc).__name__
            log.error("emergency stop: cancelling open orders failed: %s", exc)
        if save is not None:
            await save  # a failed save raises here, after the cancels
        closed = 0
        not_closed: list[str] = []
        if close_positions:
            async with self._trade_lock:
                for sym in list(self.portfolio.positions if not self._stopping else ()):
                    res = await self._sell(sym, None, source, f"emergency stop: {reason}", None, override=True,
                                           emergency_close=True)
                    if isinstance(res, WriteOff) or isinstance(res, Order) and res.status is OrderStatus.FILLED:
                        closed += 1
                    else:
                        not_closed.append(sym)
        if self.db is not None:
            outcome = f"{reason}: {cancelled} order(s) cancelled"
            outcome += f"; cancelling open orders failed: {cancel_error}" if cancel_error else ""
            if close_positions:
                outcome += f", {closed} position(s) closed" + (f", not closed: {', '.join(not_closed)}"
                                                               if not_closed else "")
            await self.db.audit(self.clock.now_ms(), source, "emergency_stop", {"close_positions": close_positions},
                                True, outcome)
        return cancelled, closed, cancel_error

    # ------------------------------------------------------------------ commands

    async def submit(self, cmd: Command) -> CommandResult:
        """Validate and apply an operator/system command; every command is audited."""
        self._commands_running += 1
        self._commands_idle.clear()
        self._commands_seq += 1
        key = self._commands_seq
        if isinstance(cmd, Command):
            self._commands_open[key] = cmd
        try:
            return await self._submit(cmd, key)
        finally:
            self._commands_open.pop(key, None)
            self._commands_audited.discard(key)
            self._commands_running -= 1
            if not self._commands_running:
                self._commands_idle.set()

    async def _submit(self, cmd: Command, key: int) -> CommandResult:
        name = type(cmd).__name__
        self.counters["commands"] += 1
        state_before = self.sm.state
        try:
            if isinstance(cmd, Command):
                _settle_reason(cmd)
            if not isinstance(cmd, Command):
                res = CommandResult(False, f"not a command: {cmd!r}")
            elif (bad_source := _command_source(cmd)) is not None:
                res = CommandResult(False, bad_source)
            elif self._stopping and isinstance(cmd, EmergencyStop) and self._state_restored and not self._closing:
                res = await self._emergency_while_stopping(cmd)
            elif not self._started or self._stopping:
                res = CommandResult(False, f"engine is not running ({'stopping' if self._stopping else 'not started'})")
            elif not self._state_restored:
                res = await self._while_starting(cmd)
            else:
                res = await self._apply(cmd)
        except Exception as exc:  # noqa: BLE001 - a command never crashes the engine
            log.exception("command %s failed", name)
            now_state = self.sm.state  # what is in effect all the same (a pause that was not stored)
            res = CommandResult(False, f"{name} failed: {exc}" + (f"; the engine is {now_state.value} now"
                                                                  if now_state is not state_before else ""))
        res.command = name
        if isinstance(cmd, Command) and key not in self._commands_audited:  # (else a quit audited it)
            # claimed before the write: a quit that gives up while it is written adds no "not finished" row
            self._commands_audited.add(key)
            row = (self.clock.now_ms(), cmd.source, name, _audit_args(cmd), res.ok, res.message)
            if self.db is not None:
                try:
                    await self.db.audit(*row)
                except Exception as exc:  # noqa: BLE001
                    log.error("audit log write failed: %s", exc)
            elif self._persist and self._stop_future is None and len(self._audit_backlog) < AUDIT_BACKLOG_MAX:
                self._audit_backlog.append(row)  # before start-up opened the database: written then
        src = str(cmd.source) if isinstance(cmd, Command) else "?"
        (log.info if res.ok else log.warning)("%s from %s: %s", name, src, res.message)
        return res

    async def _emergency_while_stopping(self, cmd: EmergencyStop) -> CommandResult:
        """An emergency stop sent while :meth:`stop` waits for the loop's last event or an order in
        flight (before the broker and storage close): in effect at once - the order manager sends
        nothing more, not even an order waiting to be sent again - and stored at once (as every
        emergency stop: the stop may wait seconds more, and a kill meanwhile must not bring the book
        back trading) and again with the state as the engine closes, so the next start comes back
        emergency-stopped (its reconciliation then cancels every order still open). Nothing is
        canceled or closed now: the engine is closing."""
        close, note = _close_flag(cmd)
        reason = cmd.reason or "operator emergency stop"
        self.order_mgr.halt("emergency stop")
        if self.sm.state is not EngineState.EMERGENCY_STOPPED:
            old = self.sm.state
            self.sm.force(EngineState.EMERGENCY_STOPPED, cmd.source, reason)
            self.state_reason = reason
            self.bus.publish(StateChange(self.clock.now_ms(), old, EngineState.EMERGENCY_STOPPED, cmd.source, reason))
            try:
                await self._save_state()
            except Exception as exc:  # noqa: BLE001 - in effect all the same; the close-down stores it again
                log.error("emergency stop while stopping: the state not stored now (the close-down tries "
                          "again): %s", exc)
        log.warning("emergency stop while the engine stops: %s", reason)
        msg = "EMERGENCY STOP while stopping: nothing more is sent; stored (the next start comes back stopped)"
        msg += f"; {note}" if note else ""
        if self._in_flight or self._unsettled:
            return CommandResult(False, f"{msg}; an order in flight is not canceled now: check the exchange (the "
                                 "next start cancels it if it is still open)")
        closing = ", positions not closed" if close else ""
        return CommandResult(not close and not (note and self.portfolio.positions), f"{msg}{closing}")

    async def _while_starting(self, cmd: Command) -> CommandResult:
        """A command sent while :meth:`start_up` runs: nothing is applied before the book is
        recovered and its open orders reconciled, so it is refused - but an emergency stop is
        never refused: it waits, and takes effect at the end of the start-up, before any trading."""
        if self._startup_failure:
            return CommandResult(False, self._startup_failure)
        if isinstance(cmd, EmergencyStop):  # (a malformed close flag too: read as false at the end)
            fut: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
            self._startup_stops.append((cmd, fut))
            if self._stops_storable:
                await self._store_waiting_stop(cmd)
            if (mgr := getattr(self, "order_mgr", None)) is not None:
                # a reconciliation running now cancels the orders it waits for (and those after) at
                # once, rather than waiting for each until the order timeout
                mgr.halt(self._stop_cancel_reason())
            return await fut
        return CommandResult(False, "engine is starting up (recovering the book and reconciling its open "
                             "orders): nothing is applied before that; try again once it has started")

    async def _store_waiting_stop(self, cmd: EmergencyStop) -> None:
        """Store an emergency stop sent during the start-up at once, with an audit row: a kill
        before the start-up ends brings the book back emergency-stopped. The state alone (the
        stored threshold and locks are not read back yet); it takes effect (its cancels and
        closes) when the start-up ends. A failed write is logged: the stop still waits."""
        now = self.clock.now_ms()
        reason = cmd.reason or "operator emergency stop"
        try:
            async with self.db.transaction():
                await self.db.save_engine_state_only(EngineState.EMERGENCY_STOPPED, reason, now)
                await self.db.audit(now, cmd.source, "emergency_stop_waiting",
                                    {"close_positions": _close_flag(cmd)[0]}, True,
                                    f"{reason}: stored; takes effect when the start-up ends")
        except Exception as exc:  # noqa: BLE001 - the stop still takes effect at the end of the start-up
            log.error("could not store the emergency stop sent during start-up (it takes effect when the "
                      "start-up ends): %s", exc)
        else:
            self._stops_stored += 1

    async def _apply(self, cmd: Command) -> CommandResult:
        if (bad := _flag_refusal(cmd)) is not None:
            return bad
        st = self.sm.state
        if isinstance(cmd, Start):
            if st == EngineState.RUNNING:
                return CommandResult(True, "already running")
            if st == EngineState.REDUCING:  # start (as resume) is the operator's override of the limit
                ok, msg = await self._override_daily_limit(cmd.source, "operator start")
                return CommandResult(ok, msg if ok else f"cannot start: {msg}")
            ok, msg = await self._start_trading(cmd.source, "operator start")
            if not ok and self.sm.state == EngineState.RUNNING:  # another start got there while this one waited
                return CommandResult(True, "already running")
            return CommandResult(ok, msg if ok else f"cannot start: {msg}")
        if isinstance(cmd, Pause):
            if st == EngineState.REDUCING:
                return CommandResult(False, "cannot pause while reducing (exits only until the next UTC day): "
                                     "start overrides the daily loss limit, an emergency stop halts everything")
            ok, msg = await self._transition(EngineState.PAUSED, cmd.source, "operator pause")
            return CommandResult(ok, "trading paused" if ok else f"cannot pause: {msg}")
        if isinstance(cmd, Resume):
            if st in (EngineState.STOPPED, EngineState.RUNNING):
                return CommandResult(False, f"cannot resume: not paused ({st.value})"
                                     + (": use start" if st == EngineState.STOPPED else ""))
            if st == EngineState.REDUCING:  # the operator's explicit override of today's daily-loss limit
                ok, msg = await self._override_daily_limit(cmd.source, "operator resume")
            else:
                ok, msg = await self._start_trading(cmd.source, "operator resume")
            return CommandResult(ok, msg if ok else f"cannot resume: {msg}")
        if isinstance(cmd, EmergencyStop):
            close, note = _close_flag(cmd)
            cancelled, closed, cancel_error = await self._emergency(
                cmd.reason or "operator emergency stop", cmd.source, close)
            extra = f", {closed} position(s) closed" if close else f"; {note}" if note else ""
            # (a malformed flag: the positions may have been meant to close; the operator looks)
            left = len(self.portfolio.positions) if close or note else 0
            # stopped either way; not ok when orders may still be open at the exchange or positions are
            failed = (f"; cancelling open orders failed ({cancel_error}): check the exchange for open orders"
                      if cancel_error else "")
            return CommandResult(left == 0 and not cancel_error,
                                 f"EMERGENCY STOP: {cancelled} open order(s) cancelled{failed}{extra}"
                                 + (f", {left} position(s) still open" if left else ""))
        if isinstance(cmd, ResetEmergency):
            if st != EngineState.EMERGENCY_STOPPED:
                return CommandResult(False, "not emergency-stopped")
            if self._emergencies_running:
                # reset now, its closing sells would still go out after it, and a start could trade
                # while they do: the stop ends first (its cancels and closes), then it may be reset
                return CommandResult(False, "cannot reset: the emergency stop is still being carried out "
                                     "(cancelling open orders, closing positions); reset once it has finished")
            # the operator accepts the loss: the drawdown is measured from here on. The new peak is
            # stored with the state, in one transaction: a kill between the two would leave the reset
            # with the old peak, and the drawdown breaker would trip again at the restart's first price
            pf, peak = self.portfolio, self._equity_now()
            before, pf.peak_equity = pf.peak_equity, peak
            ok = False
            try:
                # (the day's start with it: the equity points before the reset no longer count for it)
                ok, msg = await self._transition(EngineState.STOPPED, cmd.source, cmd.reason, account={
                    "peak_equity": to_decimal(round(peak, 8)),
                    "day_start_equity": to_decimal(round(pf.day_start_equity, 8)),
                    "day_start_ms": (pf.day or 0) * MS_PER_DAY})
            finally:
                if not ok:  # not reset: the stored peak is the old one too (or one marked since)
                    pf.peak_equity = max(before, pf.peak_equity)
            if not ok:
                return CommandResult(False, f"cannot reset: {msg}")
            self.breakers.rearm_drawdown()
            return CommandResult(True, "emergency stop reset: engine stopped (press start to trade; closes, sells "
                                 "and flatten go out without it)")
        if isinstance(cmd, SetZThreshold):
            try:
                if isinstance(cmd.value, bool):
                    raise TypeError("a flag is no threshold")
                v = float(cmd.value)
            except OverflowError:  # an integer too large for a float
                return CommandResult(False, "z threshold must be in (0, 10], got an integer too large to be one")
            except (TypeError, ValueError):
                return CommandResult(False, f"z threshold must be a number, got {cmd.value!r}")
            if not math.isfinite(v) or v <= 0 or v > 10:
                return CommandResult(False, f"z threshold must be in (0, 10], got {cmd.value}")
            before = self.threshold
            self.threshold = v
            self._board_version += 1
            try:
                await self._save_state()
            except Exception:
                if self.threshold == v:  # (not one set meanwhile)
                    self.threshold = before  # a setting that could not be stored is not in effect
                raise
            return CommandResult(True, f"z threshold set to {v:g}")
        if isinstance(cmd, LockSymbol):
            sym = str(cmd.symbol).upper()
            if sym not in self.sym_index:
                return CommandResult(False, f"unknown symbol {cmd.symbol!r}")
            was_locked = sym in self.locked
            (self.locked.add if cmd.locked else self.locked.discard)(sym)
            self._board_version += 1
            try:
                await self._save_state()
            except Exception:
                if (sym in self.locked) == bool(cmd.locked):  # (not changed back meanwhile)
                    (self.locked.add if was_locked else self.locked.discard)(sym)  # not stored: not in effect
                raise
            return CommandResult(True, f"{sym} {'locked' if cmd.locked else 'unlocked'}")
        if isinstance(cmd, ManualBuy | ManualSell | ClosePosition | FlattenAll):
            return await self._manual(cmd)
        if isinstance(cmd, AbandonOrder):
            if cmd.source is not Source.UI:  # never automatic: the operator's decision alone
                return CommandResult(False, "only the operator abandons an order")
            async with self._trade_lock:  # (no order of this session is in flight meanwhile)
                if self._stopping:  # it waited for an order in flight while the engine began to stop
                    return CommandResult(False, "engine is not running (stopping)")
                return await self._abandon_order(str(cmd.client_order_id), cmd.source)
        if isinstance(cmd, AcceptAccount):
            # not while an order is in flight: the account would already show its fill, and the book
            # would be cut by it as if sold outside tui-trader, then book the same sale again
            async with self._trade_lock:
                if self._stopping:  # as a manual order: the quit waits for it, it changes nothing
                    return CommandResult(False, "engine is not running (stopping)")
                return await self._accept_account(cmd.source)
        return CommandResult(False, f"unknown command {type(cmd).__name__}")

    async def _manual(self, cmd: Command) -> CommandResult:
        is_buy = isinstance(cmd, ManualBuy)
        refusal = self.sm.manual_refusal(Side.BUY if is_buy else Side.SELL)
        if refusal is not None:
            return CommandResult(False, f"refused: {refusal}")
        if is_buy and self._reconcile_problem and (problem := await self._reconcile_again()):
            return CommandResult(False, f"refused: {problem} (tried again; no buying until it passes)")
        if isinstance(cmd, ManualBuy | ManualSell | ClosePosition):
            sym = str(cmd.symbol).upper()
            if sym not in self.sym_index:
                if sym not in self.portfolio.positions:
                    return CommandResult(False, f"unknown symbol {cmd.symbol!r}")
                if is_buy:  # held from a book made over a wider universe: it can be closed (see _sell)
                    return CommandResult(False, f"refused: {sym} {NOT_IN_MARKET}: nothing to buy it at")
        async with self._trade_lock:
            if self._stopping:  # it waited for an order in flight while the engine began to stop
                return CommandResult(False, "engine is not running (stopping)")
            # judged again by the state of now: an order in flight may have held the lock while the
            # state changed (an emergency stop sends nothing more, whatever was asked before it)
            refusal = self.sm.manual_refusal(Side.BUY if is_buy else Side.SELL)
            if refusal is not None:
                return CommandResult(False, f"refused: {refusal}")
            if isinstance(cmd, ManualBuy):
                amount, bad = _positive_decimal(cmd.quote_amount, "quote amount")
                if amount is None:
                    return CommandResult(False, bad)
                # the breakers judge the prices of now, not of the last period's close
                await self._check_breakers(self.clock.now_ms(), self._mark())
                refusal = self.sm.manual_refusal(Side.BUY)
                if refusal is None and self._daily_limit_holds():
                    refusal = self._daily_limit_text()
                if refusal is not None:
                    return CommandResult(False, f"refused: {refusal}")
                res = await self._buy(sym, amount, cmd.source, "manual buy", None, bool(cmd.override_risk))
                return self._order_result("BUY", sym, res)
            if isinstance(cmd, ManualSell | ClosePosition):
                qty: Decimal | None = None
                override = False
                label = "manual close"
                if isinstance(cmd, ManualSell):
                    override = bool(cmd.override_risk)
                    if cmd.quantity is not None:
                        qty, bad = _positive_decimal(cmd.quantity, "quantity")
                        if qty is None:
                            return CommandResult(False, bad)
                        label = "manual sell"
                res = await self._sell(sym, qty, cmd.source, label, None, override)
                return self._order_result("SELL", sym, res)
            assert isinstance(cmd, FlattenAll)
            results = []
            for s in list(self.portfolio.positions):
                if (refusal := self.sm.manual_refusal(Side.SELL)) is not None:  # an emergency stop meanwhile
                    results.append((s, refusal))
                    continue
                res = await self._sell(s, None, cmd.source, cmd.reason or "operator flatten", None, override=True)
                results.append((s, res))
            closed = [(s, r) for s, r in results
                      if isinstance(r, WriteOff) or isinstance(r, Order) and r.status is OrderStatus.FILLED]
            failed = [f"{s}: {r if isinstance(r, str) else r.status.value}" for s, r in results
                      if (s, r) not in closed]
            dust = [f"{r.symbol} {digits(r.quantity)}" for _, r in closed if isinstance(r, WriteOff)]
            msg = f"flattened {len(closed)} position(s)"
            msg += f" ({len(dust)} written off as unsellable dust: {', '.join(dust)})" if dust else ""
            stored = [f"{r.symbol} @ {digits(r.avg_price)}" for _, r in closed
                      if isinstance(r, Order) and UNCARRIED_CLOSE in r.reason and r.avg_price is not None]
            msg += (f" ({', '.join(stored)} at the last stored price: not in this session's market)"
                    if stored else "")
            msg += f"; not closed: {', '.join(failed)}" if failed else ""
            return CommandResult(not failed, msg)

    @staticmethod
    def _order_result(side: str, sym: str, res: Order | WriteOff | str) -> CommandResult:
        if isinstance(res, WriteOff):
            return CommandResult(True, f"{side} {sym}: {res}")
        if isinstance(res, str):
            return CommandResult(False, f"{side} {sym} refused: {res}")
        if res.executed_qty > 0:  # filled, or filled in part before the rest expired or was canceled
            # (a paper close of a symbol the feed does not carry says at which stored price)
            note = f" - {res.reason}" if UNCARRIED_CLOSE in res.reason else ""
            return CommandResult(True, f"{side} {sym}: {_fill_text(res)}{note}",
                                 data={"client_order_id": res.client_order_id})
        return CommandResult(False, f"{side} {sym} {res.status.value}: {res.error or res.reason}",
                             data={"client_order_id": res.client_order_id})


def _dust_reason(qty: Decimal, price: Decimal, f: SymbolFilters | None, by_value: bool = True) -> str:
    """Why no order can sell ``qty`` at about ``price`` under the symbol's filters ("" when one can);
    ``by_value=False`` leaves out the minimum notional (a price that may move back)."""
    if f is None:
        return ""
    if qty <= 0 or qty < f.step_size:
        return f"below one step of {digits(f.step_size)}"
    if qty < f.min_qty:
        return f"below the minimum quantity {digits(f.min_qty)}"
    if by_value and qty * price < f.min_notional:
        return f"worth {qty * price:.2f}, below the minimum notional {digits(f.min_notional)}"
    return ""


def _filter_changes(old: SymbolFilters | None, new: SymbolFilters) -> str:
    """What differs between a symbol's filters as they were and as reloaded ("" when nothing):
    ``step_size 0.0001 -> 0.01, min_qty 0.0001 -> 0.01``."""
    if old is None:
        return "none before"
    out = []
    for f in dataclasses.fields(new):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            out.append(f"{f.name} {digits(a) if isinstance(a, Decimal) else a} -> "
                       f"{digits(b) if isinstance(b, Decimal) else b}")
    return ", ".join(out)


def _fill_text(order: Order) -> str:
    """What an order bought or sold: ``20 @ 100 (FILLED)``, or for a part
    ``1.8 of 2.25 @ 132.99 (EXPIRED: IOC remainder expired)``."""
    qty = digits(order.executed_qty)
    if order.executed_qty < order.quantity:
        qty += f" of {digits(order.quantity)}"
    done = order.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
    why = "" if done or not order.error else f": {order.error}"
    return f"{qty} @ {digits(order.avg_price)} ({order.status.value}{why})"


def fill_line(fill: Fill, reason: str) -> str:
    """The trades log's line for a fill, amounts with their significant digits (an exchange sends
    ``53.22000000``), the fee as charged: ``BUY 53.22 ADAUSDT @ 0.8461, fee 0.05322 ADA (manual buy)``."""
    fee, asset = fill.charged_fee()
    return (f"{fill.side.value} {digits(fill.quantity)} {fill.symbol} @ {digits(fill.price)}, "
            f"fee {digits(fee)} {asset} ({reason})")


def _plain(v: Any) -> Any:
    """A command argument as plain JSON-able data for the audit log."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if v is None or isinstance(v, str | int | float):
        return v
    return repr(v)  # whatever a host put there: refused, but still audited (JSON cannot hold it)


def _audit_args(cmd: Command) -> dict[str, Any]:
    """A command's arguments as its audit row holds them (its source has a column of its own)."""
    return {f.name: _plain(getattr(cmd, f.name)) for f in dataclasses.fields(cmd) if f.name != "source"}


def _flag_refusal(cmd: Command) -> CommandResult | None:
    """A flag given as "false" or 0 is no flag (bool("false") is True): the command is refused -
    but never an emergency stop, which reads its flag the safe way instead (:func:`_close_flag`)."""
    if isinstance(cmd, EmergencyStop):
        return None
    for f in dataclasses.fields(cmd):
        if isinstance(f.default, bool) and not isinstance(value := getattr(cmd, f.name), bool):
            return CommandResult(False, f"{f.name} must be true or false, got {value!r}")
    return None


def _close_flag(cmd: EmergencyStop) -> tuple[bool, str]:
    """Whether an emergency stop closes the positions, and a note for its answer when its flag is
    no bool ("false", 1, None from a script): the stop is never refused for that, and closes
    nothing on a guess (a sale the operator may not have meant cannot be taken back)."""
    value = cmd.close_positions
    if isinstance(value, bool):
        return value, ""
    return False, f"close_positions {value!r} is not true or false: read as false, positions not closed"


def _settle_reason(cmd: Command) -> None:
    """A command's ``reason`` (emergency stop, reset, flatten) as the text the engine stores with
    its state and audit row: none or blank is the command's default ("operator reset"), anything
    that is no text is written as text. Never a refusal: an emergency stop holds whatever it says."""
    default = next((f.default for f in dataclasses.fields(cmd) if f.name == "reason"), None)
    if not isinstance(default, str):
        return
    value = cmd.reason  # type: ignore[attr-defined]
    try:
        text = "" if value is None else value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - an object whose str() fails is no reason
        text = ""
    cmd.reason = text if text.strip() else default  # type: ignore[attr-defined]


def _command_source(cmd: Command) -> str | None:
    """Why ``cmd``'s source is refused (None = accepted; ``"ui"`` is taken as ``Source.UI``). The
    strategy acts through signals, never through commands (it changes no state)."""
    try:
        cmd.source = Source(cmd.source)
    except (TypeError, ValueError):
        return f"unknown command source {cmd.source!r} (one of: ui, risk, system)"
    if cmd.source is Source.STRATEGY:
        return "the strategy sends no commands (only ui, risk or system)"
    return None


def _positive_decimal(value: object, what: str) -> tuple[Decimal | None, str]:
    """``(amount, "")`` for a positive number given by an operator, else ``(None, why)``."""
    try:
        amount = to_decimal(value)
    except (TypeError, ValueError):
        return None, f"{what} must be a number, got {value!r}"
    if amount <= 0:
        return None, f"{what} must be positive, got {value}"
    return amount, ""
