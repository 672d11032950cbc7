"""What the engine shows its hosts: snapshots, a symbol's history, the equity curve, a summary.

:class:`EngineViews` is the part of :class:`~tui_trader.engine.TradingEngine` that only
reads: every method builds plain data (:mod:`tui_trader.events`) from the engine's state
and never changes it (not even the book's marks, peak or day). The console, the headless
runner and the backtester read the engine through these and the event bus only.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tui_trader.events import (
    EngineSnapshot,
    HealthCheck,
    HealthView,
    LeaderboardView,
    MarketView,
    PortfolioView,
    PositionView,
    SymbolHistory,
)
from tui_trader.execution.filters import tick_decimals
from tui_trader.models import EngineState, Position
from tui_trader.monitor.health import (
    HEALTHY,
    RejectWatch,
    after_stop,
    broker_check,
    checked,
    clock_check,
    database_check,
    engine_check,
    feed_checks,
    memory_check,
    overall,
    positions_check,
    progress_check,
    with_feed_counts,
)

log = logging.getLogger(__name__)

HISTORY_LEN = 500  # periods kept per symbol for the detail view
SIGNALS_KEPT = 200  # recent signals kept for the panes (newest first)
ORDERS_KEPT = 2000  # recent orders kept by client id
#: The summary's figures of the book: null when the start-up did not load it (see ``summary``).
BOOK_FIGURES = ("final_equity", "return_pct", "cash", "fees_paid", "open_positions", "starting_balance",
                "book_resumed")


class EngineViews:
    """Read-only views of a :class:`~tui_trader.engine.TradingEngine` (a mixin: the
    attributes it reads are the engine's)."""

    def equity_curve(self) -> tuple[np.ndarray, np.ndarray]:
        return self.portfolio.equity_curve()

    def summary(self) -> dict[str, Any]:
        """The end-of-run figures (stored with the session, printed by the headless runner). Never
        raises: a figure that cannot be read (a feed whose ``health()`` raises or answers no number)
        is None, "unavailable", and logged - the session is saved with the rest all the same."""
        equity = _figure("final equity", lambda: self._equity_now() if self.symbols else float(self.portfolio.cash))
        start = float(self.portfolio.starting_cash)
        # this run's, beyond the curve's capacity too
        max_dd = _figure("max drawdown", self.portfolio.curve_max_drawdown_pct)
        rejected = _figure("rejected messages", self._rejected_messages) if self._started else 0
        summary = {
            "periods": self.counters["periods"],
            "signals": self.counters["signals"],
            "orders": self.counters["orders"],
            "fills": self.counters["fills"],
            "rejected_orders": self.counters["rejected_orders"],
            "klines": self.counters["klines"],
            "final_equity": None if equity is None else round(equity, 8),
            # the book's return since its starting balance; on a resumed book (an earlier run's
            # account restored from the database) that spans every run, while the counters and
            # the drawdown (this run's equity curve) are this run's
            "return_pct": None if equity is None else round((equity / start - 1.0) * 100.0, 6) if start else 0.0,
            "starting_balance": start,
            "book_resumed": bool(self._persist and not self._new_account),
            "max_drawdown_pct": None if max_dd is None else round(max_dd, 6),
            "cash": str(self.portfolio.cash),
            "open_positions": len(self.portfolio.positions),
            "fees_paid": str(self.portfolio.fees_paid),
            "state": self.sm.state.value,
            "rejected_messages": rejected,
        }
        if self._persist and not self._book_loaded:
            # a start-up cut before the book was read (a signal, a failed recovery): the figures
            # held are the configured balance's, not the stored book's, which is left unchanged
            summary.update(dict.fromkeys(BOOK_FIGURES))
        return summary

    def _rejected_messages(self) -> int:
        """The feed's count of malformed messages it rejected (its ``health()``'s ``rejected``)."""
        return int(self.feed.health().get("rejected", 0) or 0)  # (a text, inf or nan raises: unavailable)

    def _events_per_s(self) -> float:
        return self._event_rate.per_second()  # 0 when metrics are off: nothing is noted

    def _price_of_held(self, sym: str, pos: Position) -> float:
        """A held symbol's price for display and equity: the last price, else the book's last
        mark, else the entry price. Reads only."""
        return self.last_price(sym) or self.portfolio.marks.get(sym) or float(pos.avg_entry)

    def _position_view(self, sym: str) -> PositionView | None:
        pos = self.portfolio.positions.get(sym)
        if pos is None:
            return None
        entry = float(pos.avg_entry)
        last = self._price_of_held(sym, pos)
        qty = float(pos.quantity)
        value = qty * last
        cost = float(pos.cost)
        u = value - cost  # buy fees included: realised + unrealised = equity - starting balance
        rm = self.cfg.risk_management
        return PositionView(
            symbol=sym,
            quantity=pos.quantity,
            avg_entry=pos.avg_entry,
            last_price=last,
            value=value,
            unrealized_pnl=u,
            unrealized_pct=(u / cost * 100.0) if cost > 0 else 0.0,
            stop_price=entry * (1 - rm.stop_loss_percent / 100.0),
            target_price=entry * (1 + rm.profit_target_percent / 100.0),
            entry_ms=pos.entry_ms,
            fees=pos.fees,
            price_decimals=-1 if (f := self.filters.get(sym)) is None else tick_decimals(f.tick_size),
        )

    def _stats_24h(self, now: int) -> tuple[np.ndarray, np.ndarray]:
        """24 h open and quote volume for the prices view: the feed's ticker figures, or, for a
        feed without a ticker (replay), figures it makes from its klines (kept per clock time)."""
        cache = self.cache
        stats = getattr(self.feed, "stats_24h", None)
        if stats is None or not np.isnan(cache.open_24h).all():
            return cache.open_24h, cache.quote_volume_24h
        if self._kline_24h is None or self._kline_24h[0] != now:
            self._kline_24h = (now, stats(now))
        got = self._kline_24h[1]
        return got if got is not None else (cache.open_24h, cache.quote_volume_24h)

    def _price_decimals(self) -> np.ndarray:
        """Per symbol (int8), the decimals of its tick size (-1: none known): a fresh copy. Made again
        only when a symbol's filters changed (a reload after a filter failure, the broker's at start)."""
        got = list(map(self.filters.get, self.symbols))  # (C loops: ~70 us a snapshot at 2,000 symbols with the check)
        held = getattr(self, "_decimals_of", None)
        if held is None or len(held[0]) != len(got) or not all(map(operator.is_, held[0], got)):
            dec = np.array([-1 if f is None else tick_decimals(f.tick_size) for f in got], dtype=np.int8)
            self._decimals_of = held = (got, dec)
        return held[1].copy()

    def snapshot(self) -> EngineSnapshot:
        """Plain data for hosts; reads only (never moves the book's marks, peak or day)."""
        now = self.clock.now_ms()
        n = self.n
        started = self._started and hasattr(self, "cache")
        if started:
            cache = self.cache
            price = cache.price.copy()
            open_24h, qv = self._stats_24h(now)
            with np.errstate(divide="ignore", invalid="ignore"):
                change = (cache.price / open_24h - 1.0) * 100.0
            qv = qv.copy()
            upd = cache.price_ts.copy()
        else:
            price, change, qv = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
            upd = np.zeros(n, dtype=np.int64)
        market = MarketView(list(self.symbols), price, change, qv, upd, self._market_version, self._price_decimals())
        empty = np.zeros(0)
        board = LeaderboardView(
            list(self.symbols),
            self.rating.copy() if started else empty,
            self.rd.copy() if started else empty,
            self.vol.copy() if started else empty,
            self.z.copy() if started else empty,
            self.ma.copy() if started else empty,
            self.score.copy() if started else empty,
            self.counters["periods"],
            self.threshold,
            self._board_version,
        )
        positions = [v for v in (self._position_view(s) for s in self.portfolio.positions) if v is not None]
        pf = self.portfolio
        positions_value = sum(p.value for p in positions)
        equity = float(pf.cash) + positions_value
        upv = sum(p.unrealized_pnl for p in positions)
        daily, daily_pct, peak, drawdown = pf.day_and_drawdown(equity, now)
        portfolio = PortfolioView(
            cash=pf.cash,
            equity=equity,
            positions_value=positions_value,
            realized_pnl=pf.realized_pnl,
            unrealized_pnl=upv,
            daily_pnl=daily,
            daily_pnl_pct=daily_pct,
            peak_equity=peak,
            drawdown_pct=drawdown,
            fees_paid=pf.fees_paid,
            starting_balance=pf.starting_cash,
            quote_asset=pf.quote_asset,
        )
        return EngineSnapshot(
            ts_ms=now,
            mode=self.mode,
            feed_kind=self.feed.kind,
            # once stopped, the engine runs no more, whatever state is stored for the next start
            state=EngineState.STOPPED if self._stopped else self.sm.state,
            state_reason=self.state_reason,
            market=market,
            leaderboard=board,
            locked=frozenset(self.locked),
            signals=list(self.recent_signals),
            positions=positions,
            portfolio=portfolio,
            health=self._health(),
            counters=dict(self.counters),
            unlisted_orders=dict(self._unlisted_orders),
        )

    def _health(self) -> HealthView:
        fh: dict[str, Any] = {}
        if self._started:
            try:
                fh = self.feed.health()
            except Exception as exc:  # noqa: BLE001
                fh = {"connected": False, "error": str(exc)}
        answer = ""  # a health() that answers no figures fails the feed row, not the snapshot
        if not isinstance(fh, Mapping):
            answer, fh = f"the feed's health() answered {type(fh).__name__}, not its figures", {}
        breaker_state = self.order_breaker.state if hasattr(self, "order_breaker") else "closed"
        now_ms = self.clock.now_ms()

        def feed_rows() -> list[HealthCheck]:
            if answer:
                raise TypeError(answer)
            rows = feed_checks(fh, self.feed.kind, self._rejects_quiet_ms(fh), now_ms, counts=False)
            # the period length is known once start-up has read the feed's interval
            # before the first period, from the first market event: klines that never close at all
            last = self._period_ts or self._first_event_ms
            rows[0] = progress_check(rows[0], now_ms, last, getattr(self, "period_ms", 0))
            return rows

        # each check on its own: one that raises is a failed row, never a failed snapshot
        checks = checked("feed", feed_rows, critical=True)
        lost = getattr(self, "_lock_lost", None)  # (another engine holds the book's lock)
        # this run's storage failure, while its emergency stop holds (not one restored from an earlier run)
        failure = getattr(self, "_storage_failure", "")
        if self.sm.state is not EngineState.EMERGENCY_STOPPED or self.state_reason != failure:
            failure = ""
        checks += checked("database", lambda: database_check(
            self._persist, self.db is not None, self.db.writer.stats() if self.db is not None else None,
            str(lost) if lost is not None else "", failure), critical=True)
        checks += checked("broker", lambda: broker_check(getattr(self.broker, "name", "?"), breaker_state,
                                                         len(getattr(self, "_unsettled", ()))), critical=True)
        bh = self._broker_health()
        if "clock_offset_ms" in bh:  # a live broker's (the paper broker has no clock of its own)
            checks += checked("clock", lambda: clock_check(bh["clock_offset_ms"], bh.get("clock_offset_measured_ms"),
                                                           int(bh.get("recv_window_ms") or 5000), now_ms))
        checks += checked("memory", lambda: memory_check() if self.cfg.monitoring.metrics_collection_enabled
                          else HealthCheck("memory", HEALTHY, "not collected (metrics off)"))
        checks += checked("positions", lambda: positions_check(len(self.portfolio.positions),
                                                               self.cfg.risk_management.max_total_positions))
        eng = engine_check(self._error)
        if eng is not None:
            checks.append(eng)
        elif self._stopped:
            checks = after_stop(checks, self.feed.kind)
        checks = with_feed_counts(checks, fh)  # after the row's own reason (a stall, a clean stop)
        return HealthView(overall(checks), checks, fh, self._events_per_s(), {"orders": breaker_state})

    def _broker_health(self) -> dict[str, Any]:
        """The broker's own health figures ({} when it has none, or they cannot be read)."""
        health = getattr(getattr(self, "broker", None), "health", None)
        if health is None:
            return {}
        try:
            return dict(health())
        except Exception:  # noqa: BLE001 - a health view never fails for one source
            return {}

    def _rejects_quiet_ms(self, fh: dict[str, Any]) -> int | None:
        """Engine time since the feed last rejected a message (the health checks' own memo, never
        the engine's state)."""
        watch = self.__dict__.get("_reject_watch")
        if watch is None:
            watch = self._reject_watch = RejectWatch()
        return watch.quiet_ms(int(fh.get("rejected", 0) or 0), self.clock.now_ms())

    def symbol_history(self, symbol: str) -> SymbolHistory:
        i = self.sym_index.get(symbol)
        if i is None:
            raise KeyError(symbol)
        k = self._hist_count
        idx = (np.arange(self._hist_pos - k, self._hist_pos) % HISTORY_LEN) if k else np.zeros(0, dtype=np.int64)
        h = self._hist
        return SymbolHistory(
            symbol=symbol,
            ts_ms=self._hist_ts[idx].copy(),
            price=h[0, idx, i].copy(),
            rating=h[1, idx, i].copy(),
            z=h[2, idx, i].copy(),
            moving_average=h[3, idx, i].copy(),
            threshold=self.threshold,
            signals=[s for s in reversed(self.recent_signals) if s.symbol == symbol],  # the list is newest first
            orders=[o for o in self.orders.values() if o.symbol == symbol],
            fills=[f for f in self.fills if f.symbol == symbol],
            position=self._position_view(symbol),
            locked=symbol in self.locked,
        )

    def uncarried_history(self, symbol: str) -> SymbolHistory:
        """The history of a symbol this session's feed does not carry (a position, or a signal,
        restored from a book made over a universe that held it), read only: no prices, ratings or
        z-scores (empty arrays: the feed gives none); its orders and fills as the book stored them
        (read at start-up for a held symbol), then this session's (its close), each once, oldest
        first; its signals still kept, its position. KeyError for a symbol the feed carries: its
        history is :meth:`symbol_history`'s."""
        if symbol in self.sym_index:
            raise KeyError(symbol)
        stored_orders, stored_fills = self.__dict__.get("_uncarried_stored", {}).get(symbol, ((), ()))
        orders = {o.client_order_id: o for o in stored_orders}
        orders.update((o.client_order_id, o) for o in self.orders.values() if o.symbol == symbol)  # newer
        fills = {_fill_key(f): f for f in stored_fills}
        fills.update((_fill_key(f), f) for f in self.fills if f.symbol == symbol)
        empty = np.zeros(0, dtype=np.float64)
        return SymbolHistory(
            symbol=symbol,
            ts_ms=np.zeros(0, dtype=np.int64),
            price=empty,
            rating=empty.copy(),
            z=empty.copy(),
            moving_average=empty.copy(),
            threshold=self.threshold,
            signals=[s for s in reversed(self.recent_signals) if s.symbol == symbol],
            orders=sorted(orders.values(), key=lambda o: o.created_ms),  # (stable: as stored on a tie)
            fills=sorted(fills.values(), key=lambda f: f.ts_ms),
            position=self._position_view(symbol),
            locked=symbol in self.locked,
        )


def _fill_key(f: Any) -> tuple:
    """One fill however often it is read (from the book, and as this session's)."""
    return (f.client_order_id, f.trade_id, f.ts_ms, f.price, f.quantity)


def _figure(what: str, read: Callable[[], Any]) -> Any:
    """``read()``, or None (logged) when it raises: one figure of the summary that cannot be read
    must not keep the session from being saved, nor the rest of the summary from being shown."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - the summary is written at every stop, whatever one source says
        log.warning("run summary: %s unavailable (%s: %s)", what, type(exc).__name__, exc)
        return None
