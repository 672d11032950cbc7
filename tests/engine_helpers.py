"""Hand-driven market feed and helpers for the engine tests.

:class:`ScriptedFeed` implements the :class:`~tui_trader.market.feed.MarketFeed`
protocol over batches the test builds itself. The test pushes one event at a
time with :meth:`ScriptedFeed.step`, which advances the shared
:class:`~tui_trader.clock.ManualClock` to the event time (as real feeds do),
hands the event to the running engine and returns once the engine has fully
processed it (the engine asks for the next event only after the previous one).

Prices are float quote units, times integer ms (UTC). Interval 1 minute by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.engine import TradingEngine
from tui_trader.events import ManualBuy
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import (
    EngineState,
    KlineBatch,
    Order,
    OrderStatus,
    OrderType,
    PriceBatch,
    Side,
    Source,
    SymbolFilters,
)
from tui_trader.storage.schema import MIGRATIONS, SCHEMA_VERSION

MIN = 60_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z
STEP_TIMEOUT_S = 10.0
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")

# A small simulated market (10 symbols, one-minute periods, at full speed) whose strategy trades
# within minutes: the config of a whole run (``Config.model_validate``, a storage path added).
TRADING_SIM: dict[str, Any] = {
    "feed": {"kind": "sim", "interval": "1m", "speed": "max", "sim": {"n_symbols": 10, "warmup_periods": 12}},
    "signal_generation": {
        "z_score_threshold": 0.8,
        "moving_average_period": 12,
        "confidence_threshold": 0.0,
        "signal_cooldown_ms": 0,
    },
    "data_processing": {"rating_calculation_interval_ms": 60_000, "rating_worker": "off"},
    "risk_management": {
        "max_liquidity_share": 1.0,
        "max_volatility": 10.0,
        "max_data_staleness_periods": 1000.0,
    },
    "rating": {"volatility_window": 10},
}


def engine_config(**sections: dict[str, Any]) -> Config:
    """A small, fast configuration: 1m klines, 3-kline rating periods, a 5-period z window,
    no cooldown, permissive risk limits; ``sections`` are laid over it (``risk_management={...}``)."""
    base: dict[str, Any] = {
        "feed": {"kind": "sim", "interval": "1m", "speed": "max"},
        "signal_generation": {"z_score_threshold": 1.0, "moving_average_period": 5,
                              "confidence_threshold": 0.0, "signal_cooldown_ms": 0},
        "data_processing": {"rating_calculation_interval_ms": 150_000, "kline_retention_days": 0},
        "risk_management": {"max_position_percent": 10.0, "max_total_positions": 10, "stop_loss_percent": 2.0,
                            "profit_target_percent": 4.0, "max_liquidity_share": 1.0, "max_volatility": 10.0,
                            "max_data_staleness_periods": 1000.0, "max_daily_loss_percent": 10.0,
                            "max_drawdown_percent": 15.0},
        "rating": {"volatility_window": 5},
        "broker": {"starting_balance": 10_000.0, "fee_rate": 0.001, "slippage_bps": 0.0, "slippage_impact": 0.0},
    }
    for name, over in sections.items():
        base[name] = {**base.get(name, {}), **over}
    return Config.model_validate(base)


def klines(
    open_time: int,
    close: Sequence[float],
    *,
    open_: Sequence[float] | None = None,
    symbols: Sequence[int] | None = None,
    volume: float = 1_000.0,
    taker_share: Sequence[float] | float = 0.5,
    interval_ms: int = MIN,
) -> KlineBatch:
    """Closed klines opening at ``open_time`` for symbol indices ``symbols`` (default 0..len-1),
    closing at ``close`` (open = ``open_`` or the close: a flat candle unless given)."""
    c = np.asarray(close, dtype=np.float64)
    n = c.shape[0]
    sym = np.arange(n, dtype=np.int32) if symbols is None else np.asarray(symbols, dtype=np.int32)
    o = c.copy() if open_ is None else np.asarray(open_, dtype=np.float64)
    vol = np.full(n, float(volume))
    share = np.broadcast_to(np.asarray(taker_share, dtype=np.float64), (n,))
    return KlineBatch(
        interval_ms=interval_ms,
        sym=sym,
        open_time=np.full(n, open_time, dtype=np.int64),
        close_time=np.full(n, open_time + interval_ms - 1, dtype=np.int64),
        open=o,
        high=np.maximum(o, c) * 1.001,
        low=np.minimum(o, c) * 0.999,
        close=c,
        volume=vol,
        quote_volume=vol * c,
        trades=np.full(n, 100, dtype=np.int64),
        taker_buy_base=vol * share,
        closed=np.ones(n, dtype=bool),
    )


def prices(ts: int, price: Sequence[float], symbols: Sequence[int] | None = None) -> PriceBatch:
    """A price update at ``ts`` for symbol indices ``symbols`` (default 0..len-1)."""
    p = np.asarray(price, dtype=np.float64)
    n = p.shape[0]
    sym = np.arange(n, dtype=np.int32) if symbols is None else np.asarray(symbols, dtype=np.int32)
    nan = np.full(n, np.nan)
    return PriceBatch(sym=sym, event_time=np.full(n, ts, dtype=np.int64), price=p, open_24h=nan.copy(),
                      high_24h=nan.copy(), low_24h=nan.copy(), volume_24h=nan.copy(), quote_volume_24h=nan.copy())


def event_time(ev: KlineBatch | PriceBatch) -> int:
    """When a feed emits ``ev``: a kline batch at its close (close_time + 1), prices at their time."""
    if isinstance(ev, KlineBatch):
        return int(ev.close_time.max()) + 1
    return int(ev.event_time.max())


class ScriptedFeed:
    """A MarketFeed the test drives event by event (see the module docstring)."""

    kind = "sim"

    def __init__(
        self,
        clock: ManualClock,
        symbols: Sequence[str] = SYMBOLS,
        *,
        interval_ms: int = MIN,
        start_ms: int = T0,
        history: KlineBatch | None = None,
        ref_prices: Sequence[float] | None = None,
    ) -> None:
        self.clock = clock
        self._symbols = list(symbols)
        self.interval_ms = interval_ms
        self.start_ms = start_ms
        self._history = history
        ref = ref_prices if ref_prices is not None else [100.0] * len(self._symbols)
        self._filters = {s: synthetic_filters(s, p) for s, p in zip(self._symbols, ref, strict=True)}
        self._queue: asyncio.Queue[KlineBatch | PriceBatch | None] = asyncio.Queue()
        self._consumed = 0
        self._pushed = 0
        self._progress = asyncio.Event()
        self.running = False
        self.started = False
        self.stopped = False
        self.watch: asyncio.Task | None = None  # the consumer's task (crash detection)

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    async def start(self) -> None:
        self.started = True
        self.running = True
        self.clock.advance_to(self.start_ms)

    async def stop(self) -> None:
        self.stopped = True
        self.running = False
        self._queue.put_nowait(None)

    async def history(self, symbols: Sequence[str], interval: str, n: int) -> KlineBatch:
        if self._history is None:
            return KlineBatch.empty(self.interval_ms)
        return self._history

    def filters(self) -> dict[str, SymbolFilters]:
        return dict(self._filters)

    def health(self) -> dict[str, Any]:
        return {"connected": self.running, "streams": {"scripted": {"last_event_ms": self.clock.now_ms(),
                                                                   "stale": False, "reconnects": 0}},
                "received": self._consumed, "rejected": 0, "rejected_by_reason": {}}

    async def events(self) -> AsyncIterator[KlineBatch | PriceBatch]:
        while True:
            ev = await self._queue.get()
            if ev is None:
                return
            self.clock.advance_to(event_time(ev))
            yield ev
            self._consumed += 1
            self._progress.set()

    async def step(self, *events: KlineBatch | PriceBatch) -> None:
        """Push events and wait until the engine has processed every one of them (it asks for the
        next event only when done with the previous one). Raises if the consumer task died."""
        for ev in events:
            self._pushed += 1
            target = self._pushed
            self._queue.put_nowait(ev)
            async with asyncio.timeout(STEP_TIMEOUT_S):
                while self._consumed < target:
                    self._progress.clear()
                    if self.watch is not None and self.watch.done():
                        self.watch.result()
                        raise RuntimeError("the engine loop ended before consuming the event")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._progress.wait(), 0.05)

    async def end(self) -> None:
        """End the event stream (like a replay running out of data)."""
        self._queue.put_nowait(None)


class Harness:
    """An engine on a :class:`ScriptedFeed` with its run loop as a background task."""

    def __init__(self, engine: TradingEngine, feed: ScriptedFeed, clock: ManualClock) -> None:
        self.engine = engine
        self.feed = feed
        self.clock = clock
        self.task: asyncio.Task | None = None

    async def start(self) -> Harness:
        await self.engine.start_up()
        self.task = asyncio.create_task(self.engine.run())
        self.feed.watch = self.task
        await asyncio.sleep(0)
        return self

    async def step(self, *events: KlineBatch | PriceBatch) -> None:
        await self.feed.step(*events)

    async def stop(self) -> None:
        await self.engine.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)

    async def __aenter__(self) -> Harness:
        """``async with make_engine(cfg) as h:`` - started, and stopped however the block ends."""
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def until(condition: Callable[[], bool], what: str, timeout_s: float = STEP_TIMEOUT_S) -> None:
    """Let the event loop run, one turn at a time, until ``condition()`` holds (an order in
    flight reached a state; checked after every turn, so a state that lasts only a few turns,
    like a retry's wait on the virtual clock, is caught).

    Bounding the wait by a count of turns is not enough: the engine's storage answers from its
    own thread, which a loaded machine may not schedule for many turns. The timeout only bounds
    a broken test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0)


def make_engine(
    cfg: Config | None = None,
    *,
    db_path: str = ":memory:",
    persist: bool = True,
    autostart: bool = True,
    symbols: Sequence[str] = SYMBOLS,
    start_ms: int = T0,
    history: KlineBatch | None = None,
    ref_prices: Sequence[float] | None = None,
    broker: Any = None,
    keep_held: bool = False,
) -> Harness:
    clock = ManualClock(0)
    feed = ScriptedFeed(clock, symbols, start_ms=start_ms, history=history, ref_prices=ref_prices)
    engine = TradingEngine(cfg or engine_config(), feed=feed, clock=clock, broker=broker, db_path=db_path,
                           persist=persist, autostart=autostart, session_kind="run",
                           keep_held=keep_held)
    return Harness(engine, feed, clock)


def dec(x: float | str) -> Decimal:
    return Decimal(str(x))


async def store_manual_buy_intent(engine: TradingEngine, symbol: str, cid: str = "tt1-99") -> Order:
    """A manual buy of 1.000 ``symbol`` committed as an intent, as a kill -9 right after it leaves it."""
    now = engine.clock.now_ms()
    intent = Order(
        client_order_id=cid,
        symbol=symbol,
        side=Side.BUY,
        type=OrderType.MARKET,
        quantity=Decimal("1.000"),
        price=None,
        status=OrderStatus.INTENT,
        source=Source.UI,
        reason="manual buy",
        created_ms=now,
        updated_ms=now,
    )
    await engine.db.write_order_intent(intent, engine.session_id)
    return intent


async def bought_half_then(cfg: Config, db_path: str, price: float) -> Harness:
    """A started book that bought AAA with half its cash at 100 (the operator's override of the
    risk check), then saw AAA at ``price`` for three minutes (the breakers had their say)."""
    h = await make_engine(cfg, db_path=db_path).start()
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=5000, override_risk=True))).ok
    for k in range(3, 6):
        await h.step(klines(T0 + k * MIN, [price, 100.0, 100.0, 100.0]))
    return h


def drawdown_cfg() -> Config:
    """The drawdown breaker (5 %) trips before the daily-loss one (40 %); the held position is kept."""
    return engine_config(
        risk_management={
            "stop_loss_percent": 50.0,
            "max_daily_loss_percent": 40.0,
            "max_drawdown_percent": 5.0,
        }
    )


async def drawdown_tripped(db_path: str) -> Harness:
    """A book (``drawdown_cfg``) emergency-stopped by the drawdown breaker: AAA bought with half the
    cash, then -20 %."""
    h = await bought_half_then(drawdown_cfg(), db_path, 80.0)
    e = h.engine
    assert e.state is EngineState.EMERGENCY_STOPPED and "Drawdown" in e.state_reason
    return h


def schema_book(path: Any, pragmas: Sequence[str] = ()) -> sqlite3.Connection:
    """A new book file at the current schema version, written with sqlite3 alone (as an older writer
    or a hand edit leaves a book); ``pragmas`` (``"journal_mode = WAL"``) are set first. Returns
    the open connection, nothing committed after the schema."""
    con = sqlite3.connect(path)
    for pragma in pragmas:
        con.execute(f"PRAGMA {pragma}")
    for script in MIGRATIONS:
        con.executescript(script)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return con


def slow_open_orders(engine: TradingEngine) -> tuple[asyncio.Event, list[bool]]:
    """The engine's broker answers its open-orders request only once the returned event is set (a
    slow or unreachable exchange); each request is noted in the returned list as it begins."""
    real, answer, asked = engine.broker.open_orders, asyncio.Event(), []

    async def slow(*args: Any) -> Any:
        asked.append(True)
        await answer.wait()
        return await real(*args)

    engine.broker.open_orders = slow
    return answer, asked
