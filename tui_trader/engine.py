"""The trading engine: one code path for the console, the headless runner and the backtester.

Pipeline (all on one asyncio loop, no Textual)::

    feed -> validation (in the feed) -> MarketCache
         -> rating period: performance scores -> matches -> rate_period -> z-scores
         -> SignalGenerator -> PreTradeChecks / sizing -> OrderManager -> Broker
         -> Portfolio -> Database (order intents, fills, cash committed before acting)

Hosts differ only in the feed (sim / replay / Binance), the clock (ManualClock
driven by the feed's event times, or WallClock) and the broker (PaperBroker by
default, BinanceBroker live). They talk to the engine through
:mod:`tui_trader.events` only: ``submit(Command)``, ``snapshot()``,
``symbol_history()``, ``equity_curve()`` and the event ``bus``.

Rating periods close every ``data_processing.rating_calculation_interval_ms``
rounded up to a whole number of kline intervals (aligned to the epoch); a
period's inputs are the klines that closed in it. Between periods every price
update re-checks open positions for stop loss and profit target.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import resource
import time
from collections import deque
from decimal import Decimal
from typing import Any

import numpy as np

from tui_trader.clock import Clock
from tui_trader.config import Config, redacted_dump
from tui_trader.events import (
    ClosePosition,
    Command,
    CommandResult,
    EmergencyStop,
    EngineSnapshot,
    EventBus,
    FillEvent,
    FlattenAll,
    HealthCheck,
    HealthView,
    LeaderboardView,
    LockSymbol,
    ManualBuy,
    ManualSell,
    MarketView,
    OrderUpdate,
    Pause,
    PortfolioView,
    PositionUpdate,
    PositionView,
    PriceUpdate,
    RatingUpdate,
    ResetEmergency,
    Resume,
    RiskAlert,
    SetZThreshold,
    SignalEvent,
    Start,
    StateChange,
    SymbolHistory,
)
from tui_trader.execution.broker import Broker
from tui_trader.execution.circuit import CircuitBreaker
from tui_trader.execution.client_ids import make_client_order_id
from tui_trader.execution.filters import quantize_qty, to_decimal
from tui_trader.execution.order_manager import OrderManager
from tui_trader.market.cache import MarketCache
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
)
from tui_trader.portfolio.portfolio import Portfolio
from tui_trader.rating.glicko2 import rate_period
from tui_trader.rating.matches import build_outcomes
from tui_trader.rating.performance import performance_score
from tui_trader.rating.zscore import RollingZScore
from tui_trader.risk.breakers import RiskBreakers
from tui_trader.risk.checks import PreTradeChecks, TradeContext
from tui_trader.risk.sizing import position_size
from tui_trader.risk.state import TradingStateMachine
from tui_trader.strategy.signals import SignalGenerator

log = logging.getLogger("tui_trader.engine")

HISTORY_LEN = 500  # periods kept per symbol for the detail view
SIGNALS_KEPT = 200


def period_ms_for(cfg: Config, interval_ms: int) -> int:
    """The rating period: the configured interval rounded up to whole klines."""
    rating_ms = cfg.data_processing.rating_calculation_interval_ms
    return max(1, math.ceil(rating_ms / interval_ms)) * interval_ms


class TradingEngine:
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
        label: str = "",
    ) -> None:
        self.cfg = cfg
        self.feed = feed
        self.clock = clock
        self.broker: Broker | None = broker
        self.mode = mode
        self.session_kind = session_kind
        self.autostart = autostart
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
        self.recent_signals: deque[Signal] = deque(maxlen=SIGNALS_KEPT)
        self.counters: dict[str, int] = {
            "periods": 0,
            "signals": 0,
            "orders": 0,
            "fills": 0,
            "rejected_orders": 0,
            "klines": 0,
            "price_batches": 0,
            "commands": 0,
        }
        self._trade_lock = asyncio.Lock()
        self._stopping = False
        self._started = False
        self._run_task: asyncio.Task | None = None
        self._order_seq = 0
        self._signal_seq = 0
        self._market_version = 0
        self._board_version = 0
        self._error: str = ""
        self._events_window: deque[tuple[float, int]] = deque(maxlen=64)
        self.orders: dict[str, Order] = {}  # recent orders by client id (bounded)
        self.fills: deque[Fill] = deque(maxlen=2000)
        self._exit_refused: dict[str, int] = {}

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
        """Open storage, start the feed, recover state, warm up, reconcile orders."""
        if self._started:
            return
        self._started = True
        cfg = self.cfg
        if self._persist:
            from tui_trader.storage.db import Database

            self.db = await Database.open(self._db_path)
            self.session_id = await self.db.start_session(
                self.session_kind,
                self.mode,
                self.feed.kind,
                json.dumps(redacted_dump(cfg), sort_keys=True),
                self.label,
            )
        await self.feed.start()
        self.symbols = list(self.feed.symbols)
        self.sym_index = {s: i for i, s in enumerate(self.symbols)}
        n = len(self.symbols)
        self.interval_ms = int(self.feed.interval_ms)
        self.period_ms = period_ms_for(cfg, self.interval_ms)
        window = cfg.signal_generation.moving_average_period
        vol_window = cfg.rating.volatility_window
        self.cache = MarketCache(self.symbols, capacity=max(vol_window + 2, 64))
        r = cfg.rating
        self.rating = np.full(n, r.initial_rating, dtype=np.float64)
        self.rd = np.full(n, r.initial_rd, dtype=np.float64)
        self.vol = np.full(n, r.initial_volatility, dtype=np.float64)
        self.score = np.full(n, np.nan)
        self.zs = RollingZScore(n, window)
        self.z = np.zeros(n)
        self.ma = np.full(n, np.nan)
        self.zstd = np.zeros(n)
        self.last_kline_ms = np.full(n, -1, dtype=np.int64)
        self.gaps = np.zeros(n, dtype=np.int64)
        self._hist_ts = np.zeros(HISTORY_LEN, dtype=np.int64)
        self._hist = np.full((4, HISTORY_LEN, n), np.nan)  # price, rating, z, ma
        self._hist_pos = 0
        self._hist_count = 0
        self._reset_period_acc(None)
        self.generator = SignalGenerator(cfg, self.symbols)
        self.checks = PreTradeChecks(cfg)
        self.breakers = RiskBreakers(cfg)
        self._rng_seed = cfg.feed.sim.seed

        # recovery of the book and the engine state
        restored_state = EngineState.STOPPED
        if self.db is not None:
            await self._recover()
            st = await self.db.load_engine_state()
            if st:
                restored_state = EngineState(st["state"])
                self.state_reason = st.get("reason", "")
                if st.get("z_threshold") is not None:
                    self.threshold = float(st["z_threshold"])
                self.locked = set(st.get("locked") or ())

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
        else:
            try:
                self.filters.update(await self.broker.exchange_filters(self.symbols))
            except Exception as exc:  # noqa: BLE001
                log.warning("could not load exchange filters from the broker: %s", exc)
        await self.broker.start()
        self.order_breaker = CircuitBreaker(
            cfg.risk_management.circuit_breaker_failures, cfg.risk_management.circuit_breaker_cooloff_ms, self.clock
        )
        self.order_mgr = OrderManager(self.broker, self, self.clock, cfg, sleep=self.clock.sleep,
                                      breaker=self.order_breaker)

        # warm-up: rating history from storage, else the feed's history
        warmed = False
        if self.db is not None:
            warmed = await self._warm_from_storage()
        if not warmed:
            await self._warm_from_feed()

        # reconcile open orders before trading (fails closed)
        reconcile_ok = True
        if self.db is not None:
            try:
                open_orders = await self.db.load_open_orders()
                if open_orders:
                    fixed = await self.order_mgr.reconcile(open_orders)
                    log.warning("reconciled %d open order(s) from the last run", len(fixed))
            except Exception as exc:  # noqa: BLE001
                reconcile_ok = False
                log.error("order reconciliation failed: %s - trading stays off", exc)
                self._error = f"reconciliation failed: {exc}"

        if restored_state == EngineState.EMERGENCY_STOPPED:
            self.sm.force(EngineState.EMERGENCY_STOPPED)
            log.warning("emergency stop restored from the last run: %s", self.state_reason)
        elif not reconcile_ok:
            self.sm.force(EngineState.PAUSED)
            self.state_reason = "startup reconciliation failed"
        elif self.autostart or restored_state in (EngineState.RUNNING, EngineState.REDUCING):
            await self._transition(EngineState.RUNNING, Source.SYSTEM, "start-up")
        await self._save_state()

    async def run(self) -> None:
        """Consume the feed until it ends or :meth:`stop` is called."""
        if not self._started:
            await self.start_up()
        self._run_task = asyncio.current_task()
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
            self._error = f"engine crashed: {exc!r}"
            log.exception("engine loop crashed; trading stopped")
            if self.sm.state not in (EngineState.STOPPED, EngineState.EMERGENCY_STOPPED):
                self.sm.force(EngineState.PAUSED)
                self.state_reason = self._error
            raise
        finally:
            self._run_task = None
            self._close_period_if_due(final=True)

    async def stop(self) -> None:
        """Stop the feed, flush and close storage. Idempotent."""
        if self._stopping and self.db is None:
            return
        self._stopping = True
        try:
            await asyncio.wait_for(self.feed.stop(), timeout=10)
        except Exception as exc:  # noqa: BLE001
            log.warning("feed stop: %s", exc)
        if self.broker is not None:
            try:
                await asyncio.wait_for(self.broker.stop(), timeout=10)
            except Exception as exc:  # noqa: BLE001
                log.warning("broker stop: %s", exc)
        if self.db is not None:
            db, self.db = self.db, None
            try:
                if self._started:
                    await self._save_state(db)
                    await db.end_session(self.session_id, self.summary())
            finally:
                await db.close()

    # ------------------------------------------------------------------ recovery

    async def _recover(self) -> None:
        db = self.db
        acct = await db.load_account()
        if acct is None:
            start = Decimal(str(self.cfg.broker.starting_balance))
            await db.init_account(start, self.cfg.broker.quote_asset, start, self.clock.now_ms())
            return
        positions = await db.load_positions()
        day_ms = int(acct.get("day_start_ms") or 0)
        state = {
            "starting_cash": acct["starting_balance"],
            "quote_asset": acct["quote_asset"],
            "cash": acct["cash"],
            "realized_pnl": acct["realized_pnl"],
            "fees_paid": acct["fees_paid"],
            "peak_equity": float(acct["peak_equity"]),
            "day_start_equity": float(acct["day_start_equity"]),
            "day": day_ms // 86_400_000 if day_ms else None,
        }
        self.portfolio = Portfolio.from_state(state, positions)
        self._signal_seq = await db.max_signal_id()
        log.info(
            "restored account: cash %s, %d position(s)", self.portfolio.cash, len(self.portfolio.positions)
        )

    def _paper_balances(self) -> dict[str, Decimal]:
        """The paper account's balances: recovered cash plus the base asset of each position."""
        bal: dict[str, Decimal] = {self.portfolio.quote_asset: self.portfolio.cash}
        for sym, pos in self.portfolio.positions.items():
            bal[self.portfolio.base_asset(sym)] = pos.quantity
        return bal

    def _account_fields(self) -> dict[str, Any]:
        pf = self.portfolio
        return {
            "realized_pnl": pf.realized_pnl,
            "fees_paid": pf.fees_paid,
            "peak_equity": to_decimal(round(pf.peak_equity, 8)),
            "day_start_equity": to_decimal(round(pf.day_start_equity, 8)),
            "day_start_ms": (pf.day or 0) * 86_400_000,
        }

    async def _warm_from_storage(self) -> bool:
        try:
            ts, hist = await self.db.load_rating_history(self.symbols, self.cfg.signal_generation.moving_average_period)
        except Exception as exc:  # noqa: BLE001
            log.warning("rating history unavailable: %s", exc)
            return False
        if hist.size == 0 or not np.isfinite(hist).any():
            return False
        self.zs.load(hist)
        last = hist[-1]
        ok = np.isfinite(last)
        self.rating[ok] = last[ok]
        _, rd = await self.db.load_rating_history(self.symbols, 1, field="rating_deviation")
        _, vol = await self.db.load_rating_history(self.symbols, 1, field="volatility")
        if rd.size and vol.size:
            m = np.isfinite(rd[-1]) & np.isfinite(vol[-1])
            self.rd[m] = rd[-1][m]
            self.vol[m] = vol[-1][m]
        self.z = np.nan_to_num(self.zs.z.copy())
        self.ma = self.zs.mean.copy()
        self.zstd = self.zs.std.copy()
        self.counters["periods"] = 0
        log.info("z-scores restored from %d stored periods", hist.shape[0])
        return True

    async def _warm_from_feed(self) -> None:
        n_hist = max(self.cfg.signal_generation.moving_average_period, self.cfg.rating.volatility_window) + 1
        try:
            hist = await self.feed.history(self.symbols, self.cfg.feed.interval, n_hist * (self.period_ms // self.interval_ms))
        except Exception as exc:  # noqa: BLE001
            log.warning("warm-up history unavailable: %s", exc)
            return
        if len(hist) == 0:
            return
        order = np.lexsort((hist.sym, hist.open_time))
        hist = hist.take(order)
        times, starts = np.unique(hist.open_time, return_index=True)
        bounds = list(starts) + [len(hist)]
        self._warming = True
        try:
            for k in range(len(times)):
                self._ingest_klines(hist.take(slice(bounds[k], bounds[k + 1])), trade=False)
            self._close_period_if_due(final=True)
        finally:
            self._warming = False
        log.info("warmed up on %d historical klines (%d periods)", len(hist), self.counters["periods"])

    # ------------------------------------------------------------------ market data

    def _reset_period_acc(self, pidx: int | None) -> None:
        n = len(self.symbols)
        self._pidx = pidx
        self._p_open = np.full(n, np.nan)
        self._p_close = np.full(n, np.nan)
        self._p_vol = np.zeros(n)
        self._p_taker = np.zeros(n)
        self._p_count = np.zeros(n, dtype=np.int32)

    async def _on_prices(self, batch: PriceBatch) -> None:
        self.cache.update_prices(batch)
        self._market_version += 1
        self.counters["price_batches"] += 1
        self._note_events(len(batch))
        if self.portfolio.positions:
            await self._realtime_exits(batch.sym, batch.price)
        self.bus.publish(PriceUpdate(self.clock.now_ms(), len(batch)))

    async def _on_klines(self, batch: KlineBatch) -> None:
        self._note_events(len(batch))
        closed_period = self._ingest_klines(batch, trade=True)
        if self.db is not None and self.cfg.data_processing.kline_retention_days > 0:
            await self.db.queue_klines(self.symbols, batch)
        self.bus.publish(PriceUpdate(self.clock.now_ms(), len(batch)))
        if closed_period:
            # the period's signal pass checks stop loss / profit target of every holding itself
            await self._after_period()
        elif self.portfolio.positions:
            closed = batch.closed
            await self._realtime_exits(batch.sym[closed], batch.close[closed])

    def _ingest_klines(self, batch: KlineBatch, trade: bool) -> bool:
        """Add klines to the cache and the period accumulators; close the period when due.
        Returns True when a period closed."""
        if len(batch) == 0:
            return False
        if not batch.closed.all():
            live = ~batch.closed
            self.cache.add_klines(batch)  # in-progress candles update prices only
            self._market_version += 1
            batch = batch.take(~live)
            if len(batch) == 0:
                return False
        else:
            self.cache.add_klines(batch)
            self._market_version += 1
        self.counters["klines"] += len(batch)
        sym = batch.sym
        prev = self.last_kline_ms[sym]
        gap = (prev >= 0) & (batch.open_time - prev > self.interval_ms)
        if gap.any():
            self.gaps[sym[gap]] += 1
        self.last_kline_ms[sym] = batch.open_time
        closed_any = False
        pidx = int(batch.open_time.min()) // self.period_ms
        if self._pidx is not None and pidx > self._pidx:
            closed_any = self._close_period_if_due(final=True)
        if self._pidx is None:
            self._pidx = pidx
        first = self._p_count[sym] == 0
        self._p_open[sym[first]] = batch.open[first]
        self._p_close[sym] = batch.close
        self._p_vol[sym] += batch.volume
        self._p_taker[sym] += batch.taker_buy_base
        self._p_count[sym] += 1
        period_end = (self._pidx + 1) * self.period_ms
        if int(batch.close_time.max()) + 1 >= period_end:
            closed_any = self._close_period_if_due(final=True) or closed_any
        return closed_any

    def _close_period_if_due(self, final: bool) -> bool:
        if self._pidx is None or not self._p_count.any():
            return False
        ts = (self._pidx + 1) * self.period_ms
        self._rate_period(ts)
        self._reset_period_acc(None)
        return True

    def _rate_period(self, ts_ms: int) -> None:
        cfg = self.cfg
        active = self._p_count > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            change_pct = (self._p_close - self._p_open) / self._p_open * 100.0
            ratio = np.where(self._p_vol > 0, self._p_taker / self._p_vol, 0.5)
        sigma = self.cache.return_volatility(cfg.rating.volatility_window)
        sigma = np.where(np.isfinite(sigma), sigma, 0.0)
        change_pct[~active] = np.nan
        score = performance_score(change_pct, ratio, sigma)
        period = self.counters["periods"]
        rng = np.random.default_rng((self._rng_seed, period)) if cfg.rating.opponents > 0 else None
        outcomes = build_outcomes(
            score,
            mode=cfg.rating.outcome_mode,
            opponents=cfg.rating.opponents,
            rng=rng,
            margin_scale=cfg.rating.margin_scale,
            draw_epsilon=cfg.rating.draw_epsilon,
        )
        self.rating, self.rd, self.vol = rate_period(
            self.rating, self.rd, self.vol, outcomes, tau=cfg.rating.tau,
            max_vol=cfg.rating.max_volatility, max_rd=cfg.rating.max_rd,
        )
        z, mean, std = self.zs.update(self.rating, active)
        self.z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        self.ma = mean
        self.zstd = std
        self.score = score
        self.counters["periods"] = period + 1
        self._board_version += 1
        self._period_ts = ts_ms
        # detail history ring
        p = self._hist_pos
        self._hist_ts[p] = ts_ms
        h = self._hist
        h[0, p] = self.cache.price
        h[1, p] = self.rating
        h[2, p] = self.z
        h[3, p] = mean
        self._hist_pos = (p + 1) % HISTORY_LEN
        self._hist_count = min(self._hist_count + 1, HISTORY_LEN)
        self._pending_period = True

    async def _after_period(self) -> None:
        """Signals, risk and orders for the period that just closed; equity sample; breakers."""
        if not getattr(self, "_pending_period", False):
            return
        self._pending_period = False
        ts = self.clock.now_ms()
        if self.db is not None:
            await self.db.queue_ratings(self.session_id, self.counters["periods"] - 1, self._period_ts, self.symbols,
                                        self.rating, self.rd, self.vol, self.score, self.z, self.ma)
        await self._run_signals(ts)
        equity = self._mark()
        self.portfolio.sample(ts)
        if self.db is not None:
            await self.db.queue_equity(self.session_id, ts, equity, self.portfolio.cash,
                                       self.portfolio.positions_value, self.portfolio.drawdown_pct)
        await self._check_breakers(ts, equity)
        self.bus.publish(RatingUpdate(ts, self.counters["periods"], int(np.count_nonzero(self.score == self.score))))

    def _note_events(self, n: int) -> None:
        self._events_window.append((time.monotonic(), n))

    def _recent_quote_volume(self, symbol: str) -> float:
        i = self.sym_index.get(symbol)
        if i is None:
            return 0.0
        qv = self.cache.recent_quote_volume(self.cfg.rating.volatility_window)
        v = float(qv[i])
        return v if math.isfinite(v) else 0.0

    # ------------------------------------------------------------------ strategy path

    def _holding_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.n
        holding = np.zeros(n, dtype=bool)
        entry = np.full(n, np.nan)
        for sym, pos in self.portfolio.positions.items():
            i = self.sym_index.get(sym)
            if i is not None:
                holding[i] = True
                entry[i] = float(pos.avg_entry)
        return holding, entry

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
        last = self.last_kline_ms
        with np.errstate(invalid="ignore"):
            st = np.where(last >= 0, (ts - (last + self.interval_ms)) / self.period_ms, np.inf)
        return np.maximum(st, 0.0)

    async def _run_signals(self, ts: int) -> None:
        holding, entry = self._holding_arrays()
        signals = self.generator.evaluate(
            ts,
            self.z,
            self.zstd,
            self.zs.count,
            self._staleness(ts),
            self.gaps,
            holding,
            entry,
            self.cache.price,
            locked=self._locked_mask(),
            threshold=self.threshold,
        )
        if signals:
            await self._act_on(signals, ts)

    async def _realtime_exits(self, sym: np.ndarray, price: np.ndarray) -> None:
        held = [(self.sym_index[s], float(p.avg_entry)) for s, p in self.portfolio.positions.items()
                if s in self.sym_index]
        if not held or len(sym) == 0:
            return
        pos_idx = np.fromiter((h[0] for h in held), dtype=np.int64, count=len(held))
        entry_by_sym = np.full(self.n, np.nan)
        entry_by_sym[pos_idx] = [h[1] for h in held]
        m = np.isfinite(entry_by_sym[sym])
        if not m.any():
            return
        ts = self.clock.now_ms()
        signals = self.generator.check_exits(ts, sym[m], price[m], entry_by_sym[sym[m]])
        if signals:
            await self._act_on(signals, ts)

    async def _act_on(self, signals: list[Signal], ts: int) -> None:
        async with self._trade_lock:
            for sig in signals:
                if sig.type is SignalType.SELL:
                    # exits for a position already gone (closed earlier in this batch) are moot, and a
                    # refused exit is not retried on every tick: once per cooldown
                    if sig.symbol not in self.portfolio.positions:
                        continue
                    last = self._exit_refused.get(sig.symbol)
                    if last is not None and ts - last < self.cfg.signal_generation.signal_cooldown_ms:
                        continue
                self._signal_seq += 1
                sig.id = self._signal_seq
                self.counters["signals"] += 1
                if not sig.outcome:
                    await self._execute_signal(sig, ts)
                    if sig.type is SignalType.SELL and not sig.executed:
                        self._exit_refused[sig.symbol] = ts
                    elif sig.type is SignalType.SELL:
                        self._exit_refused.pop(sig.symbol, None)
                self.recent_signals.appendleft(sig)
                if self.db is not None:
                    await self.db.queue_signal(sig, self.session_id)
                self.bus.publish(SignalEvent(ts, sig))

    async def _execute_signal(self, sig: Signal, ts: int) -> None:
        state = self.sm
        if sig.type is SignalType.BUY:
            if not state.allows_entries:
                sig.outcome = f"not executed: engine {state.state.value}"
                return
            if sig.symbol in self.locked:
                sig.outcome = "not executed: symbol locked"
                return
            order = await self._buy(sig.symbol, None, Source.STRATEGY, sig.reason, sig, override=False)
        else:
            urgent_ok = sig.kind == "stop_loss" and state.allows_stop_loss
            if not (state.allows_exits or urgent_ok):
                sig.outcome = f"not executed: engine {state.state.value}"
                return
            if sig.symbol in self.locked and sig.kind != "stop_loss":
                sig.outcome = "not executed: symbol locked"
                return
            order = await self._sell(sig.symbol, None, Source.STRATEGY, sig.reason, sig, override=False)
        if isinstance(order, str):
            sig.outcome = f"refused: {order}"
            return
        sig.order_client_id = order.client_order_id
        if order.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
            sig.executed = True
            sig.outcome = f"executed: {order.side.value} {order.executed_qty} @ {order.avg_price}"
        else:
            sig.outcome = f"order {order.status.value.lower()}: {order.error or order.reason}"

    # ------------------------------------------------------------------ orders

    def _next_client_id(self) -> str:
        self._order_seq += 1
        return make_client_order_id(f"tt{self.session_id}", self._order_seq)

    def _equity_dec(self) -> Decimal:
        return to_decimal(self._mark())

    def _mark(self) -> float:
        return self.portfolio.mark(self._price_of, self.clock.now_ms())

    def _price_of(self, symbol: str) -> float | None:
        return self.last_price(symbol)

    def _context(self, symbol: str, qty: Decimal, price: Decimal, source: Source) -> TradeContext:
        i = self.sym_index[symbol]
        equity = self._mark()
        pos = self.portfolio.positions.get(symbol)
        ts = self.clock.now_ms()
        vol = self.cache.return_volatility(self.cfg.rating.volatility_window)[i]
        return TradeContext(
            symbol=symbol,
            quantity=qty,
            price=price,
            fee_rate=Decimal(str(self.cfg.broker.fee_rate)),
            cash=self.portfolio.cash,
            equity=to_decimal(equity),
            open_positions=len(self.portfolio.positions),
            holding=pos is not None,
            position_value=(pos.quantity * price) if pos else Decimal(0),
            total_position_value=to_decimal(self.portfolio.positions_value),
            stale_periods=float(self._staleness(ts)[i]),
            gaps=int(self.gaps[i]),
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
        price_f = self.last_price(symbol)
        if price_f is None:
            return "no price yet"
        price = to_decimal(price_f)
        f = self.filters.get(symbol)
        if quote_amount is None:
            assert sig is not None
            vol = self.cache.return_volatility(self.cfg.rating.volatility_window)[self.sym_index[symbol]]
            qty = position_size(sig, self._equity_dec(), price, float(vol), self.cfg, f)
        else:
            qty = quote_amount / price
            qty = quantize_qty(qty, f) if f else qty
        if qty <= 0:
            return "size rounds to zero (below the minimum quantity or notional)"
        reasons = self.checks.check_entry(self._context(symbol, qty, price, source))
        if reasons and not override:
            self.counters["rejected_orders"] += 1
            self.bus.publish(RiskAlert(self.clock.now_ms(), "info", "risk_refused", f"{symbol} BUY: {'; '.join(reasons)}"))
            return "; ".join(reasons)
        if reasons and override:
            reason = f"{reason} [risk override: {'; '.join(reasons)}]"
        return await self._place(symbol, Side.BUY, qty, price, source, reason, sig)

    async def _sell(
        self,
        symbol: str,
        quantity: Decimal | None,
        source: Source,
        reason: str,
        sig: Signal | None,
        override: bool,
    ) -> Order | str:
        pos = self.portfolio.positions.get(symbol)
        if pos is None:
            return f"no position in {symbol}"
        price_f = self.last_price(symbol)
        if price_f is None:
            return "no price yet"
        price = to_decimal(price_f)
        qty = pos.quantity if quantity is None else min(quantity, pos.quantity)
        f = self.filters.get(symbol)
        if f is not None:
            qty = quantize_qty(qty, f)
        if qty <= 0:
            return "quantity rounds to zero"
        reasons = self.checks.check_exit(symbol, qty, price, pos.quantity, f)
        if reasons and not override:
            self.counters["rejected_orders"] += 1
            return "; ".join(reasons)
        return await self._place(symbol, Side.SELL, qty, price, source, reason, sig)

    async def _place(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        source: Source,
        reason: str,
        sig: Signal | None,
    ) -> Order:
        oe = self.cfg.order_execution
        otype = OrderType.MARKET
        limit: Decimal | None = None
        if oe.use_limit_orders:
            from tui_trader.execution.filters import quantize_price

            buf = Decimal(str(oe.limit_order_buffer_percent)) / Decimal(100)
            raw = price * (1 + buf) if side is Side.BUY else price * (1 - buf)
            f = self.filters.get(symbol)
            limit = quantize_price(raw, f, side) if f else raw
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
        result = await self.order_mgr.execute(order)
        if result.status is OrderStatus.REJECTED:
            self.counters["rejected_orders"] += 1
        return result

    # OrderJournal protocol (called by the OrderManager) ---------------------

    async def record_intent(self, order: Order) -> None:
        self._remember(order)
        if self.db is not None:
            await self.db.write_order_intent(order, self.session_id)
        self.bus.publish(OrderUpdate(self.clock.now_ms(), order))

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        """Apply fills to the portfolio and commit order, fills, position and cash together."""
        self._remember(order)
        realized = Decimal(0)
        for fill in fills:
            realized += self.portfolio.apply_fill(fill)
            self.fills.append(fill)
            self.counters["fills"] += 1
        if fills:
            order.realized_pnl += realized
        if self.db is not None:
            pos = self.portfolio.positions.get(order.symbol)
            try:
                await self.db.apply_order_update(
                    order, fills, pos, order.symbol, self.portfolio.cash, self._account_fields()
                )
            except Exception as exc:
                log.critical("could not persist order %s: %s - emergency stop", order.client_order_id, exc)
                self.sm.force(EngineState.EMERGENCY_STOPPED)
                self.state_reason = f"storage failure: {exc}"
                raise
        now = self.clock.now_ms()
        self.bus.publish(OrderUpdate(now, order))
        for fill in fills:
            self.bus.publish(FillEvent(now, fill))
        if fills:
            self.bus.publish(PositionUpdate(now, order.symbol, self.portfolio.positions.get(order.symbol)))

    def _remember(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        if len(self.orders) > 2000:
            self.orders.pop(next(iter(self.orders)))

    # ------------------------------------------------------------------ risk

    async def _check_breakers(self, ts: int, equity: float) -> None:
        trips = self.breakers.update(ts, equity, self.portfolio.day_start_equity, self.portfolio.peak_equity)
        for trip in trips:
            self.bus.publish(RiskAlert(ts, trip.severity, trip.code, trip.message))
            log.warning("risk breaker: %s", trip.message)
            if trip.target_state == EngineState.EMERGENCY_STOPPED:
                await self._emergency(trip.message, Source.RISK, close_positions=False)
            elif self.sm.state == EngineState.RUNNING:
                await self._transition(trip.target_state, Source.RISK, trip.message)
        if self.sm.state == EngineState.REDUCING and self.breakers.daily_rearmed(ts):
            await self._transition(EngineState.RUNNING, Source.SYSTEM, "new UTC day")

    async def _transition(self, target: EngineState, source: Source, reason: str) -> tuple[bool, str]:
        old = self.sm.state
        ok, msg = self.sm.transition(target, source, reason)
        if ok and old != target:
            self.state_reason = reason
            now = self.clock.now_ms()
            self.bus.publish(StateChange(now, old, target, source, reason))
            await self._save_state()
            if self.db is not None:
                await self.db.audit(now, source, "state", {"from": old.value, "to": target.value}, True, reason)
        return ok, msg

    async def _save_state(self, db: Any = None) -> None:
        db = db or self.db
        if db is None:
            return
        override = self.threshold if self.threshold != self.cfg.signal_generation.z_score_threshold else None
        await db.save_engine_state(self.sm.state, self.state_reason, self.clock.now_ms(), override, set(self.locked))

    async def _emergency(self, reason: str, source: Source, close_positions: bool) -> tuple[int, int]:
        if self.sm.state != EngineState.EMERGENCY_STOPPED:
            old = self.sm.state
            self.sm.force(EngineState.EMERGENCY_STOPPED, source, reason)
            self.state_reason = reason
            self.bus.publish(StateChange(self.clock.now_ms(), old, EngineState.EMERGENCY_STOPPED, source, reason))
        cancelled = await self.order_mgr.cancel_all()
        closed = 0
        if close_positions:
            for sym in list(self.portfolio.positions):
                res = await self._sell(sym, None, source, f"emergency stop: {reason}", None, override=True)
                if isinstance(res, Order) and res.status is OrderStatus.FILLED:
                    closed += 1
        await self._save_state()
        if self.db is not None:
            await self.db.audit(self.clock.now_ms(), source, "emergency_stop", {"close_positions": close_positions},
                                True, reason)
        return cancelled, closed

    # ------------------------------------------------------------------ commands

    async def submit(self, cmd: Command) -> CommandResult:
        """Validate and apply an operator/system command; every command is audited."""
        name = type(cmd).__name__
        self.counters["commands"] += 1
        try:
            res = await self._apply(cmd)
        except Exception as exc:  # noqa: BLE001 - a command never crashes the engine
            log.exception("command %s failed", name)
            res = CommandResult(False, f"{name} failed: {exc}")
        res.command = name
        if self.db is not None:
            args = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in _fields(cmd).items() if k != "source"}
            try:
                await self.db.audit(self.clock.now_ms(), cmd.source, name, args, res.ok, res.message)
            except Exception as exc:  # noqa: BLE001
                log.error("audit log write failed: %s", exc)
        (log.info if res.ok else log.warning)("%s from %s: %s", name, cmd.source.value, res.message)
        return res

    async def _apply(self, cmd: Command) -> CommandResult:
        st = self.sm.state
        if isinstance(cmd, Start):
            if st == EngineState.RUNNING:
                return CommandResult(True, "already running")
            ok, msg = await self._transition(EngineState.RUNNING, cmd.source, "operator start")
            return CommandResult(ok, "trading started" if ok else msg)
        if isinstance(cmd, Pause):
            ok, msg = await self._transition(EngineState.PAUSED, cmd.source, "operator pause")
            return CommandResult(ok, "trading paused" if ok else msg)
        if isinstance(cmd, Resume):
            ok, msg = await self._transition(EngineState.RUNNING, cmd.source, "operator resume")
            return CommandResult(ok, "trading resumed" if ok else msg)
        if isinstance(cmd, EmergencyStop):
            async with self._trade_lock:
                cancelled, closed = await self._emergency(cmd.reason or "operator emergency stop", cmd.source,
                                                          cmd.close_positions)
            extra = f", {closed} position(s) closed" if cmd.close_positions else ""
            return CommandResult(True, f"EMERGENCY STOP: {cancelled} open order(s) cancelled{extra}")
        if isinstance(cmd, ResetEmergency):
            if st != EngineState.EMERGENCY_STOPPED:
                return CommandResult(False, "not emergency-stopped")
            ok, msg = await self._transition(EngineState.STOPPED, cmd.source, cmd.reason)
            return CommandResult(ok, "emergency stop reset: engine stopped (press start to trade)" if ok else msg)
        if isinstance(cmd, SetZThreshold):
            v = float(cmd.value)
            if not math.isfinite(v) or v <= 0 or v > 10:
                return CommandResult(False, f"z threshold must be in (0, 10], got {cmd.value}")
            self.threshold = v
            self._board_version += 1
            await self._save_state()
            return CommandResult(True, f"z threshold set to {v:g}")
        if isinstance(cmd, LockSymbol):
            sym = cmd.symbol.upper()
            if sym not in self.sym_index:
                return CommandResult(False, f"unknown symbol {cmd.symbol!r}")
            (self.locked.add if cmd.locked else self.locked.discard)(sym)
            self._board_version += 1
            await self._save_state()
            return CommandResult(True, f"{sym} {'locked' if cmd.locked else 'unlocked'}")
        if isinstance(cmd, ManualBuy | ManualSell | ClosePosition | FlattenAll):
            return await self._manual(cmd)
        return CommandResult(False, f"unknown command {type(cmd).__name__}")

    async def _manual(self, cmd: Command) -> CommandResult:
        st = self.sm.state
        if not self.sm.allows_manual(is_buy=isinstance(cmd, ManualBuy)):
            return CommandResult(False, f"refused: manual orders not allowed while {st.value}")
        async with self._trade_lock:
            if isinstance(cmd, ManualBuy):
                sym = cmd.symbol.upper()
                if sym not in self.sym_index:
                    return CommandResult(False, f"unknown symbol {cmd.symbol!r}")
                amount = Decimal(cmd.quote_amount)
                if not amount.is_finite() or amount <= 0:
                    return CommandResult(False, f"quote amount must be positive, got {cmd.quote_amount}")
                res = await self._buy(sym, amount, cmd.source, "manual buy", None, cmd.override_risk)
                return self._order_result("BUY", sym, res)
            if isinstance(cmd, ManualSell | ClosePosition):
                sym = cmd.symbol.upper()
                qty = cmd.quantity if isinstance(cmd, ManualSell) else None
                override = cmd.override_risk if isinstance(cmd, ManualSell) else False
                label = "manual sell" if isinstance(cmd, ManualSell) and qty is not None else "manual close"
                res = await self._sell(sym, qty, cmd.source, label, None, override)
                return self._order_result("SELL", sym, res)
            assert isinstance(cmd, FlattenAll)
            results = []
            for sym in list(self.portfolio.positions):
                res = await self._sell(sym, None, cmd.source, cmd.reason, None, override=True)
                results.append((sym, res))
            done = sum(1 for _, r in results if isinstance(r, Order) and r.status is OrderStatus.FILLED)
            failed = [f"{s}: {r if isinstance(r, str) else r.status.value}" for s, r in results
                      if not (isinstance(r, Order) and r.status is OrderStatus.FILLED)]
            msg = f"flattened {done} position(s)" + (f"; not closed: {', '.join(failed)}" if failed else "")
            return CommandResult(not failed, msg)

    @staticmethod
    def _order_result(side: str, sym: str, res: Order | str) -> CommandResult:
        if isinstance(res, str):
            return CommandResult(False, f"{side} {sym} refused: {res}")
        if res.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
            return CommandResult(True, f"{side} {sym}: {res.executed_qty} @ {res.avg_price} ({res.status.value})",
                                 data={"client_order_id": res.client_order_id})
        return CommandResult(False, f"{side} {sym} {res.status.value}: {res.error or res.reason}",
                             data={"client_order_id": res.client_order_id})

    # ------------------------------------------------------------------ views

    def equity_curve(self) -> tuple[np.ndarray, np.ndarray]:
        return self.portfolio.equity_curve()

    def summary(self) -> dict[str, Any]:
        equity = self._mark() if self.symbols else float(self.portfolio.cash)
        start = float(self.portfolio.starting_cash)
        _, eq = self.equity_curve()
        max_dd = 0.0
        if len(eq):
            peak = np.maximum.accumulate(eq)
            max_dd = float(np.max((peak - eq) / peak) * 100.0)
        fh = self.feed.health() if self._started else {}
        return {
            "periods": self.counters["periods"],
            "signals": self.counters["signals"],
            "orders": self.counters["orders"],
            "fills": self.counters["fills"],
            "rejected_orders": self.counters["rejected_orders"],
            "klines": self.counters["klines"],
            "final_equity": round(equity, 8),
            "return_pct": round((equity / start - 1.0) * 100.0, 6) if start else 0.0,
            "max_drawdown_pct": round(max_dd, 6),
            "cash": str(self.portfolio.cash),
            "open_positions": len(self.portfolio.positions),
            "fees_paid": str(self.portfolio.fees_paid),
            "state": self.sm.state.value,
            "rejected_messages": int(fh.get("rejected", 0)),
        }

    def _events_per_s(self) -> float:
        w = self._events_window
        if len(w) < 2:
            return 0.0
        dt = w[-1][0] - w[0][0]
        return sum(n for _, n in list(w)[1:]) / dt if dt > 0 else 0.0

    def snapshot(self) -> EngineSnapshot:
        now = self.clock.now_ms()
        n = self.n
        cache = self.cache if self._started else None
        if cache is not None:
            price = cache.price.copy()
            with np.errstate(divide="ignore", invalid="ignore"):
                change = (cache.price / cache.open_24h - 1.0) * 100.0
            qv = cache.quote_volume_24h.copy()
            upd = cache.price_ts.copy()
        else:
            price = change = qv = np.full(n, np.nan)
            upd = np.zeros(n, dtype=np.int64)
        market = MarketView(list(self.symbols), price, change, qv, upd, self._market_version)
        board = LeaderboardView(
            list(self.symbols),
            self.rating.copy() if self._started else np.zeros(0),
            self.rd.copy() if self._started else np.zeros(0),
            self.vol.copy() if self._started else np.zeros(0),
            self.z.copy() if self._started else np.zeros(0),
            self.ma.copy() if self._started else np.zeros(0),
            self.score.copy() if self._started else np.zeros(0),
            self.counters["periods"],
            self.threshold,
            self._board_version,
        )
        positions = []
        upv = 0.0
        for sym, pos in self.portfolio.positions.items():
            last = self.last_price(sym) or float(pos.avg_entry)
            entry = float(pos.avg_entry)
            value = float(pos.quantity) * last
            u = (last - entry) * float(pos.quantity)
            upv += u
            positions.append(
                PositionView(
                    symbol=sym,
                    quantity=pos.quantity,
                    avg_entry=pos.avg_entry,
                    last_price=last,
                    value=value,
                    unrealized_pnl=u,
                    unrealized_pct=(last / entry - 1.0) * 100.0 if entry else 0.0,
                    stop_price=entry * (1 - self.cfg.risk_management.stop_loss_percent / 100.0),
                    target_price=entry * (1 + self.cfg.risk_management.profit_target_percent / 100.0),
                    entry_ms=pos.entry_ms,
                    fees=pos.fees,
                )
            )
        equity = self._mark() if self._started else float(self.portfolio.cash)
        pf = self.portfolio
        day_start = pf.day_start_equity or equity
        portfolio = PortfolioView(
            cash=pf.cash,
            equity=equity,
            positions_value=pf.positions_value,
            realized_pnl=pf.realized_pnl,
            unrealized_pnl=upv,
            daily_pnl=equity - day_start,
            daily_pnl_pct=(equity / day_start - 1.0) * 100.0 if day_start else 0.0,
            peak_equity=pf.peak_equity,
            drawdown_pct=pf.drawdown_pct,
            fees_paid=pf.fees_paid,
            starting_balance=pf.starting_cash,
            quote_asset=pf.quote_asset,
        )
        return EngineSnapshot(
            ts_ms=now,
            mode=self.mode,
            feed_kind=self.feed.kind,
            state=self.sm.state,
            state_reason=self.state_reason,
            market=market,
            leaderboard=board,
            locked=frozenset(self.locked),
            signals=list(self.recent_signals),
            positions=positions,
            portfolio=portfolio,
            health=self._health(),
            counters=dict(self.counters),
        )

    def _health(self) -> HealthView:
        checks: list[HealthCheck] = []
        fh: dict[str, Any] = {}
        if self._started:
            try:
                fh = self.feed.health()
            except Exception as exc:  # noqa: BLE001
                fh = {"connected": False, "error": str(exc)}
        connected = bool(fh.get("connected", False))
        stale = [name for name, s in (fh.get("streams") or {}).items() if s.get("stale")]
        if not connected:
            checks.append(HealthCheck("feed", "unhealthy", "disconnected", critical=True))
        elif stale:
            checks.append(HealthCheck("feed", "warning", f"stale: {', '.join(stale)}", critical=True))
        else:
            checks.append(HealthCheck("feed", "healthy", f"{self.feed.kind} connected", critical=True))
        rej = int(fh.get("rejected", 0))
        if rej:
            checks.append(HealthCheck("messages", "warning", f"{rej} malformed message(s) rejected"))
        checks.append(
            HealthCheck("database", "healthy" if (self.db is not None or not self._persist) else "unhealthy",
                        "connected" if self.db is not None else ("off" if not self._persist else "closed"),
                        critical=True)
        )
        breaker_state = self.order_breaker.state if self._started else "closed"
        checks.append(
            HealthCheck("broker", "healthy" if breaker_state == "closed" else "warning",
                        f"{getattr(self.broker, 'name', '?')} · order circuit {breaker_state}", critical=True)
        )
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        checks.append(HealthCheck("memory", "healthy" if rss_mb < 4096 else "warning", f"{rss_mb:.0f} MB peak RSS"))
        npos = len(self.portfolio.positions)
        lim = self.cfg.risk_management.max_total_positions
        checks.append(HealthCheck("positions", "healthy" if npos <= lim else "warning", f"{npos} / {lim} positions"))
        if self._error:
            checks.append(HealthCheck("engine", "unhealthy", self._error, critical=True))
        if any(c.status == "unhealthy" and c.critical for c in checks):
            overall = "unhealthy"
        elif any(c.status != "healthy" for c in checks):
            overall = "warning"
        else:
            overall = "healthy"
        return HealthView(overall, checks, fh, self._events_per_s(),
                          {"orders": breaker_state})

    def symbol_history(self, symbol: str) -> SymbolHistory:
        i = self.sym_index.get(symbol)
        if i is None:
            raise KeyError(symbol)
        k = self._hist_count
        idx = (np.arange(self._hist_pos - k, self._hist_pos) % HISTORY_LEN) if k else np.zeros(0, dtype=np.int64)
        h = self._hist
        pos_view = next((p for p in self.snapshot().positions if p.symbol == symbol), None)
        return SymbolHistory(
            symbol=symbol,
            ts_ms=self._hist_ts[idx].copy(),
            price=h[0, idx, i].copy(),
            rating=h[1, idx, i].copy(),
            z=h[2, idx, i].copy(),
            moving_average=h[3, idx, i].copy(),
            threshold=self.threshold,
            signals=[s for s in self.recent_signals if s.symbol == symbol],
            orders=[o for o in self.orders.values() if o.symbol == symbol],
            fills=[f for f in self.fills if f.symbol == symbol],
            position=pos_view,
            locked=symbol in self.locked,
        )


def _fields(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in getattr(obj, "__slots__", ())}
