"""Start-up recovery: the book, the recent history, the z-score window and the state to trade in.

:class:`EngineRecovery` is the part of :class:`~tui_trader.engine.TradingEngine` that
:meth:`~tui_trader.engine.TradingEngine.start_up` runs before any trading (the rules are in
:mod:`tui_trader.engine`'s docstring): the account and positions as last committed; one book
per database (paper or live); a live account checked against the exchange; the recent
signals, orders, fills and signal cooldowns; the ratings and z-score window from the stored
periods, or else from the feed's history; a simulated market resumed after the last stored
time from the prices it last had; and the state the engine trades in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import string
import time
from decimal import Decimal
from typing import Any

import numpy as np

from tui_trader.clock import MS_PER_DAY, utc_text
from tui_trader.events import CommandResult, StartupProgress
from tui_trader.execution.filters import to_decimal
from tui_trader.models import (
    EngineState,
    Fill,
    KlineBatch,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Source,
    digits,
)
from tui_trader.portfolio.portfolio import Portfolio
from tui_trader.rating.periods import period_ms_for
from tui_trader.risk.breakers import utc_day
from tui_trader.snapshots import HISTORY_LEN, ORDERS_KEPT, SIGNALS_KEPT
from tui_trader.strategy.signals import DROPPED_PREFIX

log = logging.getLogger("tui_trader.engine")

DETAIL_RESTORE_CELLS = 200_000  # at most this many symbol-periods of detail history are read back on start
WARMUP_KLINES_STORED = 250_000  # a warm-up's klines are stored up to this many (2,000 live symbols: ~2 M)
SIM_PRICES_KEY = "sim_prices"  # kv: the simulated market's latest prices, for a restart
SIM_PRICES_SAVE_S = 2.0  # wall seconds between saves of them
CLIENT_ID_TAG_KEY = "client_id_tag"  # kv: a live book's own part of its client order ids
DAILY_OVERRIDE_KEY = "daily_override_day"  # kv: the UTC day the operator overrode the daily-loss limit
DAILY_TRIP_KEY = "daily_trip_day"  # kv: the UTC day the daily-loss breaker last tripped (in any state)

#: What the operator may do about it (the console's key for :class:`~tui_trader.events.AcceptAccount`).
ACCEPT_HINT = "; if the account is right, accept it (A in the console) or restore the account"
#: The reason of the external sells with which ``_accept_account`` cuts the book to the account.
EXTERNAL_SELL_REASON = "account accepted: sold or moved outside tui-trader"

#: The least a loss breaker's reference equity becomes when money leaves the account (they must be > 0).
MIN_REFERENCE_EQUITY = 1e-8

#: Why a live engine whose last session was running starts paused (see ``_restore_state``).
LIVE_RESTART_REASON = "live restart: start trading with s"

# The latest time anything was stored (ms): a restarted simulated market resumes after it.
_LAST_STORED_SQL = """
SELECT MAX(t) FROM (
    SELECT MAX(ts_ms) AS t FROM glicko_ratings
    UNION ALL SELECT MAX(ts_ms) FROM equity_snapshots
    UNION ALL SELECT MAX(ts_ms) FROM fills
    UNION ALL SELECT MAX(updated_ms) FROM orders
    UNION ALL SELECT MAX(ts_ms) FROM trading_signals
    UNION ALL SELECT MAX(ts_ms) FROM audit_log
    UNION ALL SELECT MAX(updated_ms) FROM engine_state
    UNION ALL SELECT MAX(updated_ms) FROM account
    UNION ALL SELECT MAX(open_time) FROM klines
    UNION ALL SELECT MAX(ended_ms) FROM sessions
)
"""


# The configurations of the sessions that sent the book's open orders (their recvWindow).
_OPEN_ORDER_CONFIGS_SQL = """
SELECT DISTINCT s.config_json FROM orders AS o JOIN sessions AS s ON s.id = o.session_id
WHERE o.status IN ('INTENT', 'NEW', 'PARTIALLY_FILLED')
"""


#: Audit actions of what a restart does for an emergency stop it restores: the open orders it
#: cancels, and (once) that the stop's close of all positions never ran.
STOP_RESTART_ACTION = "emergency_stop_restart"
STOP_CLOSE_SKIPPED_ACTION = "emergency_stop_close_skipped"
#: Audit action of a session an earlier engine never closed, closed by this start (``_close_unclean_sessions``).
UNCLEAN_SESSION_ACTION = "session_closed_unclean"

# The emergency stops' audit rows: a stop sent during a start-up writes "emergency_stop_waiting"
# when it is stored, and "emergency_stop" once it took effect (the waiting ones in the order sent);
# a restart that reports a waiting stop's close as skipped names the last waiting row it covers
# ("through_id"). A waiting row not matched so is a stop that never took effect.
_STOP_ROWS_SQL = f"""
SELECT id, action, args_json FROM audit_log
WHERE action IN ('emergency_stop_waiting', 'emergency_stop', '{STOP_CLOSE_SKIPPED_ACTION}')
ORDER BY id
"""
#: kv key: the last waiting stop's audit row a restart has seen (those up to it are settled: a
#: later stop's "emergency_stop" row does not stand for them)
STOPS_NOTED_KEY = "emergency_stops_noted_through"


class EngineRecovery:
    """Start-up recovery of a :class:`~tui_trader.engine.TradingEngine` (a mixin: the
    attributes it reads and sets are the engine's)."""

    #: Live: this book's tag in its client order ids (``tt<tag><session>-<n>``), "" for paper.
    _client_id_tag = ""

    async def _load_client_id_tag(self) -> None:
        """Live: Binance keeps an account's orders for good, and an order whose answer was lost is
        looked up by its client id. Session numbers restart at 1 in every database, so a new
        book on the same account would reuse an earlier book's ids, and such a lookup would take
        that book's old order for its own (booking its old fills, never sending the new one).
        Each live book draws six random letters once, kept with it, and puts them in its ids;
        and since a book restored from a backup numbers its sessions again, the second this
        session started (base 36) follows them."""
        if self.mode != "live" or self.db is None:
            return
        tag = await self.db.kv_get(CLIENT_ID_TAG_KEY)
        if not tag or not tag.isascii() or not tag.isalpha() or len(tag) > 8:
            tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
            await self.db.kv_set(CLIENT_ID_TAG_KEY, tag)
        self._client_id_tag = tag + np.base_repr(max(0, self.clock.now_ms() // 1000), 36).lower()

    async def _note_earlier_recv_window(self) -> None:
        """Live: the book's open orders were sent by earlier processes, signed with the recvWindow
        of their configuration, and the exchange takes such a request for that long. A restart
        with a shorter window (the configuration changed after a crash) must still wait the
        longer one before it calls an order it cannot find "not sent": the broker is told."""
        if self.mode != "live" or not hasattr(self.broker, "earlier_recv_window_ms"):
            return
        async with self.db.transaction() as conn:
            rows = list(await conn.execute_fetchall(_OPEN_ORDER_CONFIGS_SQL))
        windows = []
        for (raw,) in rows:
            try:
                windows.append(int(json.loads(raw)["binance"]["recv_window_ms"]))
            except (ValueError, TypeError, KeyError):
                continue  # unreadable: the configuration's own window applies
        if windows:
            self.broker.earlier_recv_window_ms = max(windows)

    async def _note_unfinished_stop(self, saved: dict[str, Any] | None) -> None:
        """Before a stop sent during this start-up is stored: whether the stored state is an
        emergency stop, and whether its close of all positions never ran (it was sent during a
        start-up that ended - a kill - before the stop took effect)."""
        if not saved or saved["state"] != EngineState.EMERGENCY_STOPPED:
            return
        self._restored_stop = saved.get("reason") or "emergency stop"
        async with self.db.transaction() as conn:
            rows = list(await conn.execute_fetchall(_STOP_ROWS_SQL))
        noted = await self.db.kv_get(STOPS_NOTED_KEY)
        self._stops_noted = int(noted) if noted and noted.isdigit() else 0
        pending: list[tuple[int, bool]] = []  # waiting stops not taken effect, oldest first
        for rid, action, args_json in rows:
            rid = int(rid)
            try:
                args = json.loads(args_json or "{}")
                args = args if isinstance(args, dict) else {}
            except ValueError:
                args = {}
            if action == "emergency_stop_waiting":
                if rid > self._stops_noted:
                    pending.append((rid, args.get("close_positions") is True))
            elif action == STOP_CLOSE_SKIPPED_ACTION:
                # (a stop stored during the start-up that reported it came after that, unreported)
                through = args.get("through_id")
                through = through if isinstance(through, int) else rid
                pending = [p for p in pending if p[0] > through]
            elif pending:  # a stop took effect: the oldest one waiting (or one sent later: none)
                pending.pop(0)
        self._stop_close_skipped = any(close for _, close in pending)
        self._stop_close_through = max((rid for rid, _ in pending), default=0)

    def _stop_cancel_reason(self) -> str:
        """Why the reconciliation cancels every open order of the book at once ("" when it does
        not): the book is emergency-stopped - restored so, stopped meanwhile, or a stop waits for
        this start-up's end."""
        if self._restored_stop is not None and (not self._state_restored or self.sm.state is EngineState.EMERGENCY_STOPPED):
            return f"canceled at restart: emergency stop ({self._restored_stop})"
        if self.sm.state is EngineState.EMERGENCY_STOPPED:
            return f"canceled: emergency stop ({self.state_reason or 'emergency stop'})"
        if self._startup_stops:
            cmd = self._startup_stops[0][0]
            return f"canceled: emergency stop sent during the start-up ({cmd.reason or 'operator emergency stop'})"
        return ""

    async def _audit_stop_cancels(self, orders: list[Order], why: str) -> None:
        """An audit row (source system) naming the orders the emergency stop's reconciliation canceled."""
        done = [o.client_order_id for o in orders if o.status.is_final and o.error == why]
        if not done:
            return
        log.warning("%s: %d open order(s) canceled: %s", why, len(done), ", ".join(done))
        await self.db.audit(self.clock.now_ms(), Source.SYSTEM, STOP_RESTART_ACTION, {"canceled": done}, True,
                            f"{why}: {len(done)} open order(s) canceled")

    async def _report_skipped_stop_close(self) -> None:
        """The restored emergency stop asked to close all positions, but never took effect: the
        close is not redone now (days later, at another price: the operator's call). Logged and
        audited once, so that the console shows it."""
        through = self._stop_close_through
        if through <= self._stops_noted:
            return
        # the waiting stops seen are settled now (reported here, or no close asked): with the report,
        # in one transaction - a kill between the two must not lose the report
        async with self.db.transaction():
            if self._stop_close_skipped:
                held = ", ".join(sorted(self.portfolio.positions)) or "none"
                text = (f"the emergency stop ({self._restored_stop}) was stored but the run ended before it took "
                        f"effect: its close of all positions did not run and is not redone now (positions held: "
                        f"{held}); close them yourself if they should still go")
                log.warning("%s", text)
                await self.db.audit(self.clock.now_ms(), Source.SYSTEM, STOP_CLOSE_SKIPPED_ACTION,
                                    {"close_positions": True, "through_id": through}, False, text)
            await self.db.kv_set(STOPS_NOTED_KEY, str(through))
        self._stop_close_skipped = False
        self._stops_noted = through

    async def _last_stored_ms(self) -> int | None:
        async with self.db.transaction() as conn:
            rows = list(await conn.execute_fetchall(_LAST_STORED_SQL))
        v = rows[0][0] if rows else None
        return None if v is None else int(v)

    def _book_ahead_error(self, last_ms: int) -> Exception:
        """The feed starts before the book's last stored time (a replay on a book that ran later
        data, or the same replay again): its records would go back in time, and the day's
        reference for the daily-loss breaker (the equity at the start of the book's last day) would
        not roll over until the feed reached that day, so the day's loss summed up over months."""
        from tui_trader.storage.schema import StorageError

        return StorageError(
            f"{self._db_path} holds a book last written at {utc_text(last_ms)} UTC, after the start of "
            f"this feed ({utc_text(self.clock.now_ms())} UTC): its time would go backwards (and the "
            "daily-loss day would not roll over); use a fresh --db for an independent replay, or start "
            "the replay after that time"
        )

    def _resume_feed_after(self, last_ms: int | None) -> None:
        """A simulated market restarts from its seed at a fixed date: move its start to the first
        rating period after ``last_ms`` so that time never goes backwards in the database."""
        if last_ms is None or self.feed.kind != "sim" or not hasattr(self.feed, "start_ms"):
            return
        period = period_ms_for(self.cfg, int(self.feed.interval_ms))
        start = (int(last_ms) // period + 1) * period
        if start > int(self.feed.start_ms):
            log.info("simulated market resumes at %d (after the last stored time %d)", start, last_ms)
            self.feed.start_ms = start

    async def _anchor_sim_prices(self) -> None:
        """A resumed simulated market continues from the prices the last run saw (saved by
        :meth:`_save_sim_prices`), not from its seed's: a held position keeps its price."""
        if self.resumed_from_ms is None or self.feed.kind != "sim" or not hasattr(self.feed, "anchor_prices"):
            return
        raw = await self.db.kv_get(SIM_PRICES_KEY)
        try:
            saved = json.loads(raw) if raw else None
            prices = {str(k): float(v) for k, v in saved["prices"].items()} if saved else {}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("stored simulated prices unreadable (%s): the market restarts from its seed", exc)
            return
        if saved and saved.get("seed") == getattr(self.feed, "seed", None) and prices:
            self.feed.anchor_prices = prices
            log.info("simulated market continues from the %d prices of %d", len(prices), int(saved.get("ts_ms", 0)))

    async def _save_sim_prices(self, db: Any, force: bool = False) -> None:
        """Keep the simulated market's latest prices (every SIM_PRICES_SAVE_S of wall time, and at
        stop) for :meth:`_anchor_sim_prices`."""
        if self.feed.kind != "sim" or not hasattr(self, "cache"):
            return
        now = time.monotonic()
        if not force and now - self._sim_prices_saved < SIM_PRICES_SAVE_S:
            return
        self._sim_prices_saved = now
        price = self.cache.price
        known = np.isfinite(price)
        if not known.any():
            return
        value = {"ts_ms": self.clock.now_ms(), "seed": getattr(self.feed, "seed", None),
                 "prices": {s: float(p) for s, p, k in zip(self.symbols, price.tolist(), known.tolist(), strict=True)
                            if k}}
        try:
            await db.kv_set(SIM_PRICES_KEY, json.dumps(value))
        except Exception as exc:  # noqa: BLE001 - a chart's anchor never stops trading (the stop's save reports)
            if force:
                raise
            log.warning("could not save the simulated prices (tried again in %.0f s): %s", SIM_PRICES_SAVE_S, exc)

    async def _close_unclean_sessions(self) -> None:
        """The sessions an engine never closed (``kill -9``, a crash, a power cut: ``ended_ms``
        NULL for good) are closed at the last time each committed a row, marked unclean in their
        summary (see :meth:`~tui_trader.storage.queries.QueriesMixin.end_unclean_sessions`), and said in
        the log and the audit log (``export``'s audit.csv). Only under the book's engine lock: no
        other engine can be running one of them then (without a lock, none is touched)."""
        lock = self._db_lock
        if lock is None or not lock.held:
            return
        for s in await self.db.end_unclean_sessions(self.session_id):
            text = (f"session {s['id']} ({s['kind']}, started {utc_text(s['started_ms'])} UTC) was never closed: its "
                    f"engine was killed or crashed; closed at {utc_text(s['ended_ms'])} UTC, the last time it committed "
                    "a row")
            log.warning("%s", text)
            await self.db.audit(self.clock.now_ms(), Source.SYSTEM, UNCLEAN_SESSION_ACTION,
                                {k: s[k] for k in ("id", "started_ms", "ended_ms")}, True, text)

    async def _recover(self) -> None:
        db = self.db
        await self._close_unclean_sessions()
        await self._load_client_id_tag()
        await self._note_earlier_recv_window()
        acct = await db.load_account()
        if acct is None:
            # a new book has neither: a book that traded and lost its account row (a hand edit, a
            # partial restore) would start afresh with the starting balance, its positions left out
            # (and back at the next restart, beside cash that never paid for them)
            held, orders = await db.load_positions(), await db.load_orders(limit=1)
            if held or orders:
                raise ValueError(
                    f"no account row, yet the book holds {len(held)} position(s) and "
                    f"{'orders' if orders else 'no orders'}: its cash is not known"
                )
            start = Decimal(str(self.cfg.broker.starting_balance))
            await db.init_account(start, self.cfg.broker.quote_asset, start, self.clock.now_ms())
            await db.mark_references(None, None)  # every equity point of this book from now on counts
            self._new_account = True  # live: replaced by the exchange account's balance
            return
        configured = Decimal(str(self.cfg.broker.starting_balance))
        if self.mode == "paper" and acct["starting_balance"] != configured:
            log.warning("this book began with %s %s: broker.starting_balance (%s) applies to a new book only "
                        "(give another --db for one)", digits(acct["starting_balance"]), acct["quote_asset"],
                        digits(configured))
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
            "day": day_ms // MS_PER_DAY if day_ms else None,
        }
        await self._committed_references(state)
        self.portfolio = Portfolio.from_state(state, positions)
        unknown = [s for s in self.portfolio.positions if s not in self.sym_index]
        if unknown:
            log.warning(
                "restored positions in symbols the feed does not carry (no prices): %s; add them to "
                "feed.symbols to price and trade them, or close them (x, F: a paper book sells at the "
                "last stored price, a live one refuses)",
                ", ".join(unknown),
            )
        self._signal_seq = await db.max_signal_id()
        cooling = await self._restore_recent()
        log.info(
            "restored account: cash %s %s, %d position(s); %d symbol(s) still in their signal cooldown",
            digits(self.portfolio.cash), self.portfolio.quote_asset, len(self.portfolio.positions), cooling,
        )

    async def _committed_references(self, state: dict[str, Any]) -> None:
        """The loss breakers' references as the last process had them, as far as it committed them.
        The account row keeps the peak and day-start equity as of its last save (a fill, a reset, a
        clean stop); after a kill -9 the equity points committed since (every period, through the
        batched writer: at most ~WRITER_FLUSH_S of wall time behind) know better, and a restart
        that took the older row would measure the drawdown from a lower peak (the breaker tripping
        late) and the day's loss from a later start. So the peak becomes the highest the points
        since the last deliberate setting of the references show (an emergency stop's reset lowers
        the peak, and points from before it must not raise it again: see ``mark_references``), and
        when they reach a later UTC day than the stored day start, that day's start is taken from
        them as ``Portfolio.mark`` took it: the equity at the last point before midnight when the
        same session saw it, else at the day's first point. Changes ``state`` in place."""
        refs = await self.db.references_since_mark()
        if refs is None:  # a book from before the marks: the stored references stand, points count from now
            await self.db.mark_references(None, None)
            return
        stored, peak = float(state["peak_equity"]), refs["peak"]
        if peak is not None and peak > stored + max(1e-6, abs(stored) * 1e-12):  # not the save's 8-decimal rounding
            log.warning("peak equity %.8f from the equity points committed after the last save (the account held "
                        "%.8f: the last run did not stop cleanly)", peak, stored)
            state["peak_equity"] = peak
        last = refs["last"]
        if last is None:
            return
        day = last[0] // MS_PER_DAY
        if state["day"] is not None and state["day"] >= day:
            return
        before, first = refs["day_before"], refs["day_first"]
        if before is not None and first is not None and before[0] // MS_PER_DAY == day - 1 and before[2] == first[2]:
            start = before[1]
        elif first is not None:
            start = first[1]
        else:
            return
        log.warning("day-start equity %.8f for UTC day %d from the committed equity points (the account held "
                    "%.8f of an earlier day: the last run did not stop cleanly)", start, day,
                    float(state["day_start_equity"]))
        state["day"], state["day_start_equity"] = day, start

    async def _check_book_mode(self) -> None:
        """A database keeps one book: paper or live. Live trading on a paper book would take the
        paper positions for real ones and measure the drawdown breaker from a paper peak equity
        (a real account ten times larger could lose 90 % before it fired); paper trading on a live
        book would write paper fills into the real account's history. Either is refused, before
        anything is written."""
        from tui_trader.storage.schema import MixedBookError

        assert self.db is not None
        other = (await self.db.book_modes()) - {self.mode}
        if other:
            raise MixedBookError(
                f"{self._db_path} keeps a {other.pop()} book; {self.mode} trading keeps its own: give it "
                f"another --db (live trading's default is tui-trader-live.db, paper's tui-trader.db)"
            )
        # the book's cash and costs are in its quote asset: trading pairs of another one with them
        # would mix currencies (USDT cash spent on USDC prices)
        acct = await self.db.load_account()
        quote = self.cfg.broker.quote_asset.upper()
        if acct is not None and str(acct["quote_asset"]).upper() != quote:
            raise MixedBookError(
                f"{self._db_path} keeps a book in {acct['quote_asset']}; broker.quote_asset is {quote}: "
                f"give a book in {quote} another --db"
            )

    async def _sync_live_account(self) -> str:
        """Live: the exchange account is the truth about money. Cash becomes the account's free
        quote balance (the paper ``starting_balance`` means nothing here; on a new book it is also
        the starting balance the breakers measure from), and every position of the book must be
        held there: a base balance below a position (sold outside tui-trader, or a book from another
        account) is a mismatch, and trading stays off. Returns what is wrong, or "" when all agrees.
        More of an asset than the book holds is the operator's own and left alone."""
        strange = await self._unknown_open_orders()
        if strange:
            return strange
        try:
            balances, locked = await self._account_balances()
        except Exception as exc:  # noqa: BLE001 - any failure here keeps trading off
            return f"cannot read the exchange account: {exc}"
        pf = self.portfolio
        cash = balances.get(pf.quote_asset, Decimal(0))
        short, tied = [], []
        for sym, pos in sorted(pf.positions.items()):
            f = self.filters.get(sym)
            base = f.base_asset if f else pf.base_asset(sym)
            held, held_locked = balances.get(base, Decimal(0)), locked.get(base, Decimal(0))
            if held >= pos.quantity:
                continue
            if held + held_locked < pos.quantity:
                short.append(f"{sym}: the book holds {digits(pos.quantity)} {base}, the account {digits(held)}"
                             + (f" free and {digits(held_locked)} locked" if held_locked else ""))
            else:  # held still, but locked in an order this book did not place (one in another pair)
                tied.append(f"{sym}: the book holds {digits(pos.quantity)} {base}, the account {digits(held)} free "
                            f"and {digits(held_locked)} locked in an open order")
        if short:
            self._book_holds_more = True
            return "; ".join(short + tied) + ACCEPT_HINT
        if tied:  # not sold: nothing to accept, the order is to be cancelled
            return ("; ".join(tied) + " (placed outside this book, perhaps in another pair): cancel it on the "
                    "exchange, then start again")
        now = self.clock.now_ms()
        if self._new_account and not pf.positions:
            # a new live book starts from what the account has
            self.portfolio = Portfolio(cash, pf.quote_asset)
            if self.db is not None:
                # with a mark: the equity points of the paper balance held until now (a start-up
                # that could not read the account) must not raise the new book's peak again
                async with self.db.transaction():
                    await self.db.init_account(cash, pf.quote_asset, cash, now, replace=True)
                    await self.db.mark_references(self.session_id, now)
            log.info("live account: %s %s free on the exchange", digits(cash), pf.quote_asset)
        elif cash != pf.cash:
            log.warning("live account: %s %s free on the exchange, the book had %s (deposits, withdrawals or "
                        "trades outside tui-trader): using the exchange's; the loss breakers measure from "
                        "references moved by the difference", digits(cash), pf.quote_asset, digits(pf.cash))
            # money that came or went outside tui-trader is no trading gain or loss: the daily-loss and
            # drawdown references move with it, as a fund's do with deposits and withdrawals (else a
            # withdrawal would trip the drawdown breaker at the first price)
            flow = float(cash - pf.cash)
            pf.cash = cash
            pf.peak_equity = max(pf.peak_equity + flow, MIN_REFERENCE_EQUITY)
            pf.day_start_equity = max(pf.day_start_equity + flow, MIN_REFERENCE_EQUITY)
            pf.equity += flow  # the last mark's equity too: the next UTC day starts from it
            if self.db is not None:
                # with a mark: equity points from before the money moved must not raise the peak again
                async with self.db.transaction():
                    await self.db.save_account(cash=cash, peak_equity=to_decimal(round(pf.peak_equity, 8)),
                                               day_start_equity=to_decimal(round(pf.day_start_equity, 8)),
                                               day_start_ms=(pf.day or 0) * MS_PER_DAY)
                    await self.db.mark_references(self.session_id, now)
        return ""

    async def _account_balances(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """The account's free and locked balances (a broker that locks nothing: none locked)."""
        both = getattr(self.broker, "account_balances", None)
        if both is not None:
            return await both()
        return await self.broker.balances(), {}

    async def _unknown_open_orders(self) -> str:
        """Live: orders resting on the exchange in a symbol this book trades or holds that the book
        never placed (tui-trader sends only MARKET and IOC orders, so they were placed by hand, by
        another program, or by this one on an older copy of the database). Any of them may fill at
        any moment and move the account under the book, so trading beside them would be a guess.
        Returns what is wrong, or "" when there are none (or the broker cannot list them)."""
        lister = getattr(self.broker, "resting_orders", None)
        if lister is None:
            return ""
        try:
            resting = await lister(sorted(set(self.symbols) | set(self.portfolio.positions)))
        except Exception as exc:  # noqa: BLE001 - any failure here keeps trading off
            return f"cannot read the exchange's open orders: {exc}"
        unsettled = self.order_mgr.unsettled()
        strange = []
        for cid, text in resting:
            if cid in unsettled or (self.db is not None and await self.db.get_order(cid) is not None):
                continue  # the book's own
            strange.append(text)
        if not strange:
            return ""
        more = f"; and {len(strange) - 3} more" if len(strange) > 3 else ""
        return (f"open order(s) on the exchange that this book did not place: {'; '.join(strange[:3])}{more}"
                " - cancel them on the exchange (or trade that account elsewhere), then start again")

    async def _accept_account(self, source: Source) -> CommandResult:
        """Live, after the start-up reconciliation found the account holding less of an asset than
        the book (sold or moved outside tui-trader), the operator takes the account as the truth.
        Each such position is cut to what the account holds by an external sell, booked like any
        fill and committed with the position in one transaction: an order that was never sent
        (its intent first, as always; a crash before the fill leaves it canceled as "not sent"),
        no fee, at the last price (its realised PnL is an estimate: the real price is not known).
        A remainder too small to trade leaves the book as dust does after a sell. Then the
        reconciliation runs again, and trading may start.

        Its result is ok once the book is cut (or no longer holds more than the account) - that act
        is done, booked, and not undone - even when trading stays off for another reason (an order
        the book did not place, another order): the message then says "but trading stays off:
        <why>", and ``data["trading_stays_off"]`` holds the why ("" when trading may start; the next
        step named is one that works from the engine's state), as :meth:`_abandon_order`'s does."""
        if self.mode != "live":
            return CommandResult(False, "only a live book is checked against an exchange account")
        problem = self._reconcile_problem
        if not problem:
            return CommandResult(False, "nothing to accept: the book agrees with the account")
        if not self._book_holds_more:
            return CommandResult(
                False, f"only an account holding less than the book can be accepted; the problem is: {problem}"
            )
        try:
            balances, locked = await self._account_balances()
        except Exception as exc:  # noqa: BLE001 - nothing was changed
            return CommandResult(False, f"cannot read the exchange account: {exc}")
        pf = self.portfolio
        cut = []
        for sym, pos in sorted(pf.positions.items()):
            f = self.filters.get(sym)
            base = f.base_asset if f else pf.base_asset(sym)
            # what is locked in an open order is still held: never written off as sold
            held = balances.get(base, Decimal(0)) + locked.get(base, Decimal(0))
            if held >= pos.quantity:
                continue
            before = pos.quantity
            await self._book_external_sell(sym, before - held, source)
            after = pf.positions[sym].quantity if sym in pf.positions else Decimal(0)
            cut.append(f"{sym} {digits(before)} -> {digits(after)}")
        problem = await self._reconcile_again()
        done = f"book cut to the account ({', '.join(cut)})" if cut else "the account no longer holds less than the book"
        data = {"cut": cut, "trading_stays_off": problem}
        return self._done_then(done, problem, data)

    def _done_then(self, done: str, problem: str, data: dict[str, Any]) -> CommandResult:
        """The ok result of an operator's act on the book that is done and not undone (accept the
        account, abandon an order): with why trading stays off, if something else keeps it off, or
        else the next step that works from the engine's state."""
        if problem:
            return CommandResult(True, f"{done}; but trading stays off: {problem}", data=data)
        state = self.sm.state
        if state is EngineState.EMERGENCY_STOPPED:
            done += "; the emergency stop holds: reset the emergency stop, then start trading with s"
        elif state in (EngineState.PAUSED, EngineState.STOPPED):
            done += "; start trading with s"
        return CommandResult(True, done, data=data)

    async def _abandon_order(self, cid: str, source: Source) -> CommandResult:
        """The operator's way out of a stored order whose symbol the exchange no longer lists
        (:class:`~tui_trader.events.AbandonOrder`; the caller holds the trade lock): it can never be
        looked up, so the reconciliation would fail for good. Only when a lookup made now is
        answered "invalid symbol" (Binance -1121): a position in the symbol is written off as dust
        is (cost realised as a loss, the coins left in the account: no order can sell them), then
        the order is booked canceled, "abandoned: symbol no longer listed", with no fill - what it
        may have done before the delisting is not known (a live restart takes the cash from the
        account). Write-off first: a crash between the two leaves the order, which can be
        abandoned again. Then the reconciliation runs again.

        Its result is ok once the order is abandoned - that act is done, and cannot be undone - even
        when trading stays off for another reason (another order, the account): the message then
        says "but trading stays off: <why>", and ``data["trading_stays_off"]`` holds the why ("" when
        trading may start; the next step named is one that works from the engine's state)."""
        from tui_trader.execution.order_manager import ABANDONED_NOT_LISTED

        if cid in self._in_flight:
            return CommandResult(False, f"order {cid} is being executed now")
        async with self._reconcile_lock:  # not while a reconciliation books the same stored order
            order = self._unsettled.get(cid)
            if order is None and self.db is not None:
                stored = await self.db.get_order(cid)
                order = stored if stored is not None and not stored.status.is_final else None
            if order is None:
                return CommandResult(False, f"no open order {cid!r} in the book")
            refusal = await self.order_mgr.unlisted_refusal(order)
            if refusal:
                return CommandResult(False, f"order {cid} not abandoned: {refusal}")
            sym = order.symbol
            done = f"order {cid} ({sym}) {ABANDONED_NOT_LISTED}: no fill booked"
            if sym in self.portfolio.positions:
                off = await self._write_off(sym, source, ABANDONED_NOT_LISTED, "the exchange no longer lists it")
                done += f"; {digits(off.quantity)} {sym} written off (it stays in the account)"
            await self.order_mgr.abandon(order, ABANDONED_NOT_LISTED)
            self._unsettled.pop(cid, None)
        if sym in self.sym_index:
            done += f"; remove {sym} from feed.symbols"
        problem = await self._reconcile_again() if self._reconcile_problem else ""
        data = {"client_order_id": cid, "symbol": sym, "abandoned": True, "trading_stays_off": problem}
        return self._done_then(done, problem, data)

    async def _book_external_sell(self, symbol: str, qty: Decimal, source: Source) -> None:
        pos = self.portfolio.positions[symbol]
        last = self.last_price(symbol) or self.portfolio.marks.get(symbol)
        price = to_decimal(round(last, 8)) if last else pos.avg_entry
        order = self._booked_sell(symbol, qty, source, EXTERNAL_SELL_REASON)
        await self.record_intent(order)
        await self._book_fill(order, price, Decimal(0))

    def _booked_sell(self, symbol: str, qty: Decimal, source: Source, reason: str) -> Order:
        """The intent of a SELL the book records but no broker is sent (a sale the account made
        outside tui-trader, accepted; a paper close at a stored price), counted as an order."""
        now = self.clock.now_ms()
        self.counters["orders"] += 1
        return Order(
            client_order_id=self._next_client_id(), symbol=symbol, side=Side.SELL, type=OrderType.MARKET,
            quantity=qty, price=None, status=OrderStatus.INTENT, source=source, reason=reason,
            created_ms=now, updated_ms=now,
        )

    async def _book_fill(self, order: Order, price: Decimal, fee: Decimal) -> None:
        """A :meth:`_booked_sell` filled whole at ``price`` (fee in the quote asset), at its own time."""
        order.status, order.executed_qty, order.avg_price = OrderStatus.FILLED, order.quantity, price
        order.fees = fee  # (as an order's fills add theirs: a paper close's order row said 0)
        fill = Fill(order.client_order_id, order.symbol, Side.SELL, price, order.quantity, fee,
                    self.portfolio.quote_asset, order.created_ms)
        await self.record_update(order, [fill])

    async def _restore_recent(self) -> int:
        """The recent signals, orders and fills (for the panes and the symbol detail) and the
        per-symbol signal cooldowns as last committed, so that a restart neither shows empty
        history nor raises again at once what was just signalled. Returns the number of symbols
        whose cooldown is restored."""
        assert self.db is not None
        for sig in await self.db.load_signals(limit=SIGNALS_KEPT):  # oldest first
            self.recent_signals.appendleft(sig)
        for order in await self.db.load_orders(limit=ORDERS_KEPT):  # oldest first
            self._remember(order)
        self.fills.extend(await self.db.load_fills(limit=self.fills.maxlen))
        cooldown = self.cfg.signal_generation.signal_cooldown_ms
        if cooldown <= 0 or self.resumed_from_ms is None:
            return 0
        since = self.resumed_from_ms - cooldown
        times = await self.db.latest_signal_times(since, skip_outcome_prefix=DROPPED_PREFIX)
        for sym, ts in (await self.db.latest_manual_exit_times(since)).items():
            times[sym] = max(ts, times.get(sym, ts))
        return self.generator.restore_cooldowns(times)

    def _paper_balances(self) -> dict[str, Decimal]:
        """The paper account's balances: recovered cash plus the base asset of each position."""
        bal: dict[str, Decimal] = {self.portfolio.quote_asset: self.portfolio.cash}
        for sym, pos in self.portfolio.positions.items():
            f = self.filters.get(sym)
            bal[f.base_asset if f else self.portfolio.base_asset(sym)] = pos.quantity
        return bal

    def _account_fields(self) -> dict[str, Any]:
        pf = self.portfolio
        return {
            "realized_pnl": pf.realized_pnl,
            "fees_paid": pf.fees_paid,
            "peak_equity": to_decimal(round(pf.peak_equity, 8)),
            "day_start_equity": to_decimal(round(pf.day_start_equity, 8)),
            "day_start_ms": (pf.day or 0) * MS_PER_DAY,
        }

    async def _warm_from_storage(self) -> bool:
        """Ratings, RD, volatility, the z-score window and the symbol-detail history from the
        stored periods, in one read.

        Rows of periods a symbol did not play (no score) are left out of its window, as they
        were when the engine ran, so the restored z-scores equal the ones before the stop (to
        rounding, ~1e-14: the window is summed afresh, not carried).
        Periods stored by an earlier session are used only if they are not newer than the feed's time."""
        # twice the window: a symbol that sat out some of the last periods still finds its last
        # `window` played values (exact for up to `window` idle periods among the last 2 * window)
        window = 2 * self.cfg.signal_generation.moving_average_period
        detail = min(HISTORY_LEN, max(1, DETAIL_RESTORE_CELLS // max(1, self.n)))
        fields = ("rating", "performance_score", "rating_deviation", "volatility", "z_score", "moving_average")
        try:
            ts_all, vals = await self.db.load_rating_fields(self.symbols, max(window, detail), fields)
        except Exception as exc:  # noqa: BLE001
            log.warning("rating history unavailable: %s", exc)
            return False
        ts, (hist, score, rd, vol) = ts_all[-window:], vals[:4, -window:]
        if hist.size == 0 or not np.isfinite(hist).any():
            return False
        if int(ts[-1]) > self.clock.now_ms():
            log.warning("stored ratings (up to %d) are newer than the feed's time %d: not used for warm-up",
                        int(ts[-1]), self.clock.now_ms())
            return False
        last = hist[-1]
        known = np.isfinite(last)
        self.rating[known] = last[known]
        self.score = score[-1].copy()
        hist = np.where(np.isfinite(score), hist, np.nan)
        m = np.isfinite(rd[-1]) & np.isfinite(vol[-1]) & (rd[-1] > 0) & (vol[-1] > 0)
        self.rd[m] = rd[-1][m]
        self.vol[m] = vol[-1][m]
        self.zs.load(hist)
        self.z = self.zs.z.copy()
        self.ma = self.zs.mean.copy()
        self.zstd = self.zs.std.copy()
        self._closed_pidx = int(ts[-1]) // self.period_ms - 1
        await self._restore_detail(ts_all[-detail:], vals[0, -detail:], vals[4, -detail:], vals[5, -detail:])
        log.info("z-scores restored from %d stored periods", hist.shape[0])
        # kept by the pruning until this run has stored as many periods (after a stop longer than
        # the retention, all of them are older than it: a restart meanwhile reads them back again)
        self._history_floor = int(ts_all[0]), max(window, detail)
        return True

    async def _restore_detail(self, ts: np.ndarray, rating: np.ndarray, z: np.ndarray, ma: np.ndarray) -> None:
        """The symbol-detail history ring from stored periods (``ts`` ascending, arrays (T, N)).
        Prices come from the stored closed klines (the live feed keeps them): the close of each
        period's last kline; NaN where none is stored."""
        k = ts.shape[0]
        price = np.full((k, self.n), np.nan)
        if k and self._store_klines:
            try:
                kl = await self.db.load_klines(self.symbols, self.interval_ms, int(ts[0]) - self.interval_ms,
                                               int(ts[-1]))
            except Exception as exc:  # noqa: BLE001 - a detail chart never stops a start
                log.warning("stored klines unavailable for the detail history: %s", exc)
            else:
                end = kl.close_time + 1  # a period's last kline closes at the period's time
                row = np.searchsorted(ts, end)
                hit = (row < k) & (ts[np.minimum(row, k - 1)] == end)
                price[row[hit], kl.sym[hit]] = kl.close[hit]
        self._hist_ts[:k] = ts
        h = self._hist
        h[0, :k], h[1, :k], h[2, :k], h[3, :k] = price, rating, z, ma
        self._hist_pos = k % HISTORY_LEN
        self._hist_count = k

    async def _warm_cache_from_feed(self) -> None:
        """After ratings came from storage: the feed's last klines fill the market cache (prices,
        volatility, liquidity, staleness) so that trading can start at once. Nothing is rated."""
        try:
            hist = await self.feed.history(self.symbols, self.cfg.feed.interval, self._vol_window + 1)
            before = getattr(self.feed, "history_before_start", None)
            if not len(hist) and before is not None:  # a replay resuming a book: the klines before its window
                hist = await before(self.symbols, self._vol_window + 1)
        except Exception as exc:  # noqa: BLE001
            log.warning("recent klines unavailable: %s", exc)
            return
        hist = hist.take(hist.closed) if len(hist) else hist
        if len(hist) == 0:
            return
        hist = hist.take(np.lexsort((hist.sym, hist.open_time)))
        self.cache.add_klines(hist)
        np.maximum.at(self.last_kline_ms, hist.sym, hist.open_time)
        self._market_version += 1

    async def _warm_from_feed(self) -> None:
        """Rate the feed's history (no trading). Periods newer than anything stored are stored
        too, so a restart finds a full z-score window."""
        n_hist = max(self.cfg.signal_generation.moving_average_period, self.cfg.rating.volatility_window) + 1
        self.bus.publish(StartupProgress(self.clock.now_ms(), "loading history", 0, 0))
        await asyncio.sleep(0)  # (a live feed's download awaits the network: the console shows this meanwhile)
        try:
            hist = await self.feed.history(self.symbols, self.cfg.feed.interval,
                                           n_hist * (self.period_ms // self.interval_ms))
        except Exception as exc:  # noqa: BLE001
            log.warning("warm-up history unavailable: %s", exc)
            return
        if len(hist) == 0:
            return
        await self._process_klines(hist, live=False, progress="rating history")
        log.info("warmed up on %d historical klines (%d periods)", len(hist), self.counters["periods"])
        if self.db is not None and self._store_klines:
            await self._store_warmup_klines(hist)

    async def _store_warmup_klines(self, hist: KlineBatch) -> None:
        """The warm-up's klines are stored as the run's closed klines are (where they are: see
        ``_store_klines``), as far back as they are kept, so that after a restart the symbol
        detail's price chart also covers the history before the first start - the simulated
        market's cannot be made again. Not above ``WARMUP_KLINES_STORED`` rows: then the
        stored prices start at this start."""
        part = hist.take(hist.open_time >= int(hist.open_time.max()) - self._kline_keep_ms())
        if len(part) > WARMUP_KLINES_STORED:
            log.info("the %d warm-up klines are not stored (more than %d): after a restart the symbol "
                     "detail's prices start at this start", len(part), WARMUP_KLINES_STORED)
            return
        await self.db.queue_klines(self.symbols, part)

    async def _restore_state(self, saved: dict[str, Any] | None, reconcile_ok: bool) -> None:
        """The state to trade in after start-up (see the module docstring)."""
        restored = EngineState(saved["state"]) if saved else EngineState.STOPPED
        now = self.clock.now_ms()
        if self.db is not None:
            raw = await self.db.kv_get(DAILY_OVERRIDE_KEY)
            day = int(raw) if raw and raw.isdigit() else None
            self._daily_override_saved = day
            if day is not None and day == utc_day(now):
                # the operator overrode the daily-loss limit reached today (stored with the state it
                # made): it holds for the rest of the day, and the limit does not trip again
                self._daily_override_day = day
                self.breakers.note_daily_trip(now)
                log.warning("the daily-loss limit reached today stays overridden (by the operator, before the "
                            "restart)")
            raw = await self.db.kv_get(DAILY_TRIP_KEY)
            if raw and raw.isdigit() and int(raw) == utc_day(now):
                # the limit was reached today, in whatever state (a trip while paused or stopped
                # holds the operator's hold): a resume or start later today enters reducing
                self.breakers.note_daily_trip(now)
        same_day = bool(saved) and utc_day(int(saved.get("updated_ms", 0))) == utc_day(now)
        if restored == EngineState.REDUCING and same_day:
            # today's daily-loss limit holds whatever state this start takes (paused by a failed
            # reconciliation too): a start later today goes back to reducing, not to running
            self.breakers.note_daily_trip(now)
        if self.db is not None:
            await self._report_skipped_stop_close()
        if self._startup_stops:
            # an emergency stop sent during this start-up (stored at once) takes effect right after
            # this: no state in between, stored or traded (a kill now finds the stop stored)
            self._state_restored = True
            return
        if restored == EngineState.EMERGENCY_STOPPED:
            self.sm.force(EngineState.EMERGENCY_STOPPED, Source.SYSTEM, self.state_reason or "restored")
            log.warning("emergency stop restored from the last run: %s", self.state_reason)
        elif not reconcile_ok:
            self.sm.force(EngineState.PAUSED, Source.SYSTEM, "startup reconciliation failed")
            self.state_reason = "startup reconciliation failed"
        elif restored == EngineState.REDUCING and same_day:
            self.sm.force(EngineState.REDUCING, Source.SYSTEM, self.state_reason or "restored")
            log.warning("reducing (daily-loss limit) restored from earlier today: only exits")
        elif restored == EngineState.PAUSED and not self.autostart:
            self.sm.force(EngineState.PAUSED, Source.SYSTEM, self.state_reason or "restored")
        elif saved and restored in (EngineState.PAUSED, EngineState.STOPPED) and self.keep_held:
            # autostart starts a new book or one that was trading, but (keep_held: the console) an
            # operator's pause, or a stop after an emergency reset, holds across a relaunch
            self.sm.force(restored, Source.SYSTEM, self.state_reason or "restored")
            log.warning("%s in the last session (%s): start trading with s", restored.value,
                        self.state_reason or "by the operator")
        elif restored == EngineState.RUNNING and self.mode == "live" and not self.autostart:
            # real money never trades on its own after a restart (a quit, a crash, kill -9): the
            # operator starts it (s). Paused, not stopped: the held positions' stop losses run.
            self.state_reason = LIVE_RESTART_REASON
            self.sm.force(EngineState.PAUSED, Source.SYSTEM, LIVE_RESTART_REASON)
            log.warning("live: the last session was trading when it ended; paused until you start it (s) - "
                        "stop losses of held positions run meanwhile")
        elif self.autostart or restored in (EngineState.RUNNING, EngineState.REDUCING):
            if self._daily_limit_holds():  # reached earlier today (while paused or stopped): as a start would
                await self._transition(EngineState.REDUCING, Source.RISK, self._daily_limit_text())
            else:
                await self._transition(EngineState.RUNNING, Source.SYSTEM, "start-up")
        self._state_restored = True
        await self._save_state()
