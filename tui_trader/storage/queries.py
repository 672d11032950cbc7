"""Typed reads and writes of the trading tables (mixed into :class:`~.db.Database`).

Every method here is called on the ``Database`` object. Three kinds of writes:

* **Money** (``write_order_intent``, ``apply_order_update``, ``update_order``,
  ``init_account``, ``save_account``, ``save_backtest_run``): one
  ``BEGIN IMMEDIATE ... COMMIT`` each, committed before the method returns and
  run to completion even if the awaiting task is cancelled. The order and account
  writes run their whole transaction in one go: on the event loop thread when
  the database is idle, else in one trip to the database thread (see :mod:`.db`).
* **Small state** (sessions, ``audit``, ``next_sequence``, engine state, kv,
  pruning): a single autocommitted statement, committed before returning.
* **High volume** (``queue_*``): appended to the batched writer, committed by
  the next flush (size, time, ``flush()`` or ``close()``).

List reads return rows in chronological order (oldest first); with ``limit``
they return the most recent ``limit`` rows, still oldest first.

Money comes back as :class:`~decimal.Decimal`, times as integer ms.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite
import numpy as np

from tui_trader.clock import MS_PER_DAY
from tui_trader.models import (
    EngineState,
    Fill,
    KlineBatch,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
    SignalType,
    Source,
)
from tui_trader.storage.money import from_db, to_db
from tui_trader.storage.schema import StorageError, failure_hint

if TYPE_CHECKING:
    from tui_trader.clock import Clock
    from tui_trader.storage.writer import BatchedWriter

#: The latest time stored under a session's id (see ``end_unclean_sessions``) up to ``:end``, the
#: start of the session after it: a later session updates rows that keep the id (a reconciliation
#: books its stored orders and their fills at its own time), so an order counts by its creation
#: and by its last update only up to then. The ratings and the signals are read down their time
#: index within the session's span (a full scan of a long book's ratings otherwise); the equity
#: samples and the orders by their session index; the fills through their orders.
_SESSION_LAST_SQL = """
SELECT MAX(t) FROM (
    SELECT MAX(ts_ms) AS t FROM equity_snapshots WHERE session_id = :sid AND ts_ms <= :end
    UNION ALL SELECT (SELECT ts_ms FROM glicko_ratings WHERE session_id = :sid AND ts_ms >= :start
                      AND ts_ms <= :end ORDER BY ts_ms DESC LIMIT 1)
    UNION ALL SELECT (SELECT ts_ms FROM trading_signals WHERE session_id = :sid AND ts_ms >= :start
                      AND ts_ms <= :end ORDER BY ts_ms DESC LIMIT 1)
    UNION ALL SELECT MAX(created_ms) FROM orders WHERE session_id = :sid AND created_ms <= :end
    UNION ALL SELECT MAX(updated_ms) FROM orders WHERE session_id = :sid AND updated_ms <= :end
    UNION ALL SELECT MAX(f.ts_ms) FROM fills AS f JOIN orders AS o ON o.client_order_id = f.client_order_id
              WHERE o.session_id = :sid AND f.ts_ms <= :end
)
"""

#: ``:end`` of a session with no later session it could be bounded by (see ``end_unclean_sessions``).
_NO_LATER_START = 2**62

#: The ``summary_json`` of a session closed by a later start (``end_unclean_sessions``), in place of
#: the end summary a clean stop writes: the sessions table has no column for how a session ended.
UNCLEAN_END_SUMMARY: dict[str, Any] = {
    "ended": "unclean",
    "note": "the engine stopped without closing its session (killed, crashed or the machine went down); "
    "ended_ms is the last time it is known to have committed a row",
}

log = logging.getLogger(__name__)

__all__ = [
    "ACCOUNT_FIELDS",
    "AccountError",
    "BacktestTrade",
    "ConflictingFillError",
    "DuplicateOrderError",
    "DuplicateRunError",
    "OrderNotFoundError",
    "QueriesMixin",
    "redact",
]

T = TypeVar("T")
#: Rows deleted per transaction when old klines or ratings are pruned.
PRUNE_CHUNK_ROWS = 20_000
#: kv: where the equity points that may raise the stored peak equity begin (see ``mark_references``).
REFERENCES_MARK_KEY = "references_mark"


class DuplicateOrderError(StorageError):
    """An order with this client order id is already stored."""


class OrderNotFoundError(StorageError):
    """No stored order has this client order id."""


class ConflictingFillError(StorageError):
    """A fill repeats a stored (client order id, trade id) with different values."""


class AccountError(StorageError):
    """The account row is missing, or already exists when initialising it."""


class DuplicateRunError(StorageError):
    """A backtest run with this run id is already stored."""


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

_SECRET_KEY = re.compile(r"secret|api_?key|password|passphrase|token|private", re.IGNORECASE)
REDACTED = "***"


def redact(obj: Any) -> Any:
    """A copy of a JSON-like structure with secret-looking keys' values replaced by ``"***"``."""
    if isinstance(obj, Mapping):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and _SECRET_KEY.search(k) and v not in (None, "")
                else redact(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} {obj!r} as JSON")


def _finite(obj: Any) -> Any:
    """A copy with NaN/inf floats replaced by None (JSON has no NaN)."""
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def _dumps(obj: Any) -> str:
    """Compact JSON; Decimals as text, numpy values as Python ones, NaN/inf as null."""
    return json.dumps(_finite(obj), default=_json_default, separators=(",", ":"), allow_nan=False)


def _json_text(value: str | Mapping[str, Any] | None, what: str) -> str:
    """``value`` (JSON text or a mapping) as redacted JSON text."""
    if value is None:
        return "{}"
    if isinstance(value, str):
        if not value.strip():
            return "{}"
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} is not valid JSON: {exc}") from exc
    else:
        parsed = value
    return _dumps(redact(parsed))


def _stored_json(text: str | None, what: str) -> dict[str, Any]:
    """A stored JSON object read back; ``{}`` (and a warning) when it is damaged, so that one bad
    record shows as blank figures rather than hiding every other."""
    try:
        value = json.loads(text) if text else {}
    except ValueError as exc:
        log.warning("%s is damaged (%s): shown without it", what, exc)
        return {}
    return value if isinstance(value, dict) else {}


def _opt_float(x: float | None) -> float | None:
    """A finite float, or None for None/NaN (stored as NULL)."""
    if x is None:
        return None
    f = float(x)
    return None if math.isnan(f) else f


def _float_or_nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _money(value: Decimal | int | None, what: str) -> str | None:
    try:
        return to_db(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{what}: {exc}") from exc


def _req_money(value: Decimal | int, what: str) -> str:
    if value is None:
        raise ValueError(f"{what}: money is required, got None")
    out = _money(value, what)
    assert out is not None
    return out


def _dec(text: str) -> Decimal:
    value = from_db(text)
    assert value is not None
    return value


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


# ---------------------------------------------------------------------------
# row <-> object
# ---------------------------------------------------------------------------

_ORDER_COLS = (
    "client_order_id, exchange_order_id, symbol, side, type, quantity, price, status, source, reason, "
    "created_ms, updated_ms, executed_qty, avg_price, fees, realized_pnl, signal_id, attempts, error"
)

_OPEN_STATUSES = (OrderStatus.INTENT.value, OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)


def _order_from_row(r: Sequence[Any]) -> Order:
    return Order(
        client_order_id=r[0],
        exchange_order_id=r[1],
        symbol=r[2],
        side=Side(r[3]),
        type=OrderType(r[4]),
        quantity=_dec(r[5]),
        price=from_db(r[6]),
        status=OrderStatus(r[7]),
        source=_source(r[8]),
        reason=r[9],
        created_ms=int(r[10]),
        updated_ms=int(r[11]),
        executed_qty=_dec(r[12]),
        avg_price=_dec(r[13]),
        fees=_dec(r[14]),
        realized_pnl=_dec(r[15]),
        signal_id=None if r[16] is None else int(r[16]),
        attempts=int(r[17]),
        error=r[18],
    )


def _source(value: str) -> Source:
    try:
        return Source(value)
    except ValueError:
        raise StorageError(f"stored order has an unknown source {value!r}") from None


def _order_params(order: Order) -> dict[str, Any]:
    """Validated, converted column values of ``order`` (raises before any SQL)."""
    if not isinstance(order, Order):
        raise TypeError(f"expected an Order, got {type(order).__name__}")
    cid = order.client_order_id
    if not isinstance(cid, str) or not cid:
        raise ValueError(f"order client_order_id must be a non-empty string, got {cid!r}")
    if not order.symbol:
        raise ValueError(f"order {cid}: empty symbol")
    side, otype, status = Side(order.side), OrderType(order.type), OrderStatus(order.status)
    return {
        "client_order_id": cid,
        "exchange_order_id": str(order.exchange_order_id or ""),
        "symbol": order.symbol,
        "side": side.value,
        "type": otype.value,
        "quantity": _req_money(order.quantity, f"order {cid} quantity"),
        "price": _money(order.price, f"order {cid} price"),
        "status": status.value,
        "time_in_force": "IOC" if otype is OrderType.LIMIT else None,
        "created_ms": int(order.created_ms),
        "updated_ms": int(order.updated_ms),
        "executed_qty": _req_money(order.executed_qty, f"order {cid} executed_qty"),
        "avg_price": _req_money(order.avg_price, f"order {cid} avg_price"),
        "fees": _req_money(order.fees, f"order {cid} fees"),
        "realized_pnl": _req_money(order.realized_pnl, f"order {cid} realized_pnl"),
        "source": Source(order.source).value,
        "reason": str(order.reason or ""),
        "signal_id": None if order.signal_id is None else int(order.signal_id),
        "attempts": int(order.attempts),
        "error": str(order.error or ""),
    }


def _fill_params(fill: Fill) -> tuple:
    if not isinstance(fill, Fill):
        raise TypeError(f"expected a Fill, got {type(fill).__name__}")
    what = f"fill of {fill.client_order_id}"
    return (
        fill.client_order_id,
        fill.symbol,
        Side(fill.side).value,
        _req_money(fill.price, f"{what} price"),
        _req_money(fill.quantity, f"{what} quantity"),
        _req_money(fill.fee, f"{what} fee"),
        str(fill.fee_asset or ""),
        int(fill.ts_ms),
        str(fill.trade_id) if fill.trade_id not in (None, "") else None,
    )


_FILL_COLS = "client_order_id, symbol, side, price, quantity, fee, fee_asset, ts_ms, trade_id"


def _fill_from_row(r: Sequence[Any]) -> Fill:
    return Fill(
        client_order_id=r[0],
        symbol=r[1],
        side=Side(r[2]),
        price=_dec(r[3]),
        quantity=_dec(r[4]),
        fee=_dec(r[5]),
        fee_asset=r[6],
        ts_ms=int(r[7]),
        trade_id=r[8] or "",
    )


_POSITION_COLS = "symbol, quantity, avg_entry, entry_ms, fees, realized_pnl, cost, updated_ms"


def _position_params(p: Position) -> tuple:
    if not isinstance(p, Position):
        raise TypeError(f"expected a Position, got {type(p).__name__}")
    what = f"position {p.symbol}"
    return (
        p.symbol,
        _req_money(p.quantity, f"{what} quantity"),
        _req_money(p.avg_entry, f"{what} avg_entry"),
        int(p.entry_ms),
        _req_money(p.fees, f"{what} fees"),
        _req_money(p.realized_pnl, f"{what} realized_pnl"),
        _req_money(p.cost, f"{what} cost"),
        int(p.updated_ms),
    )


def _position_from_row(r: Sequence[Any]) -> Position:
    return Position(
        symbol=r[0],
        quantity=_dec(r[1]),
        avg_entry=_dec(r[2]),
        entry_ms=int(r[3]),
        fees=_dec(r[4]),
        realized_pnl=_dec(r[5]),
        cost=_dec(r[6]),
        updated_ms=int(r[7]),
    )


_SIGNAL_COLS = (
    "id, ts_ms, symbol, signal_type, strength, confidence, z_score, reason, urgent, kind, executed, "
    "outcome, order_client_id"
)


def _signal_from_row(r: Sequence[Any]) -> Signal:
    return Signal(
        id=int(r[0]),
        ts_ms=int(r[1]),
        symbol=r[2],
        type=SignalType(r[3]),
        strength=float(r[4]),
        confidence=float(r[5]),
        z_score=_float_or_nan(r[6]),
        reason=r[7],
        urgent=bool(r[8]),
        kind=r[9],
        executed=bool(r[10]),
        outcome=r[11],
        order_client_id=r[12],
    )


#: Account columns: name -> "money" | "int" | "text".
ACCOUNT_FIELDS: dict[str, str] = {
    "cash": "money",
    "quote_asset": "text",
    "starting_balance": "money",
    "realized_pnl": "money",
    "fees_paid": "money",
    "peak_equity": "money",
    "day_start_ms": "int",
    "day_start_equity": "money",
    "updated_ms": "int",
}


def _update_account(raw: sqlite3.Connection, vals: Mapping[str, Any]) -> None:
    """``UPDATE account`` with ``vals`` (column -> stored value; nothing when empty);
    :class:`AccountError` when there is no account row."""
    if not vals:
        return
    sql = f"UPDATE account SET {', '.join(f'{k} = ?' for k in vals)} WHERE id = 1"
    if raw.execute(sql, tuple(vals.values())).rowcount != 1:
        raise AccountError("no account row: call init_account() first")


def _account_values(fields: Mapping[str, Any], *, allow_cash: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        kind = ACCOUNT_FIELDS.get(name)
        if kind is None or (name == "cash" and not allow_cash):
            allowed = sorted(k for k in ACCOUNT_FIELDS if allow_cash or k != "cash")
            raise ValueError(f"unknown account field {name!r}; allowed: {', '.join(allowed)}")
        if kind == "money":
            out[name] = _req_money(value, f"account {name}")
        elif kind == "int":
            out[name] = int(value)
        else:
            if not isinstance(value, str) or not value:
                raise ValueError(f"account {name} must be a non-empty string, got {value!r}")
            out[name] = value
    return out


@dataclass(slots=True)
class BacktestTrade:
    """One executed trade (fill) of a stored backtest run. Money is Decimal."""

    ts_ms: int
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    realized_pnl: Decimal = Decimal(0)
    client_order_id: str = ""
    reason: str = ""

    @classmethod
    def from_fill(cls, fill: Fill, realized_pnl: Decimal = Decimal(0), reason: str = "") -> BacktestTrade:
        return cls(
            ts_ms=fill.ts_ms,
            symbol=fill.symbol,
            side=fill.side,
            price=fill.price,
            quantity=fill.quantity,
            fee=fill.fee,
            realized_pnl=realized_pnl,
            client_order_id=fill.client_order_id,
            reason=reason,
        )


_SIDES = {side.value: side for side in Side}


def _backtest_trades(rows: Sequence[Any]) -> list[BacktestTrade]:
    """The stored rows of :meth:`QueriesMixin.load_backtest_trades` (``ts_ms, symbol, side, price,
    quantity, fee, realized_pnl, client_order_id, reason``) as :class:`BacktestTrade`; a bad side or
    amount raises as :class:`Side` and :func:`_dec` do."""
    dec, sides = _dec, _SIDES
    return [
        BacktestTrade(
            int(ts), symbol, sides[side] if side in sides else Side(side), dec(price), dec(qty), dec(fee),
            dec(pnl), coid, reason,
        )
        for ts, symbol, side, price, qty, fee, pnl, coid, reason in rows
    ]  # fmt: skip


# ---------------------------------------------------------------------------
# buffered tables (SQL used by the batched writer)
# ---------------------------------------------------------------------------

KLINES_SQL = (
    "INSERT OR IGNORE INTO klines (symbol, interval_ms, open_time, close_time, open, high, low, close, "
    "volume, quote_volume, trades, taker_buy_base) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
RATINGS_SQL = (
    "INSERT INTO glicko_ratings (session_id, period, ts_ms, symbol, rating, rating_deviation, volatility, "
    "performance_score, z_score, moving_average) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
SIGNALS_SQL = (
    "INSERT INTO trading_signals (id, session_id, ts_ms, symbol, signal_type, kind, strength, confidence, "
    "z_score, reason, urgent, executed, outcome, order_client_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (id) DO UPDATE SET session_id=excluded.session_id, ts_ms=excluded.ts_ms, "
    "symbol=excluded.symbol, signal_type=excluded.signal_type, kind=excluded.kind, "
    "strength=excluded.strength, confidence=excluded.confidence, z_score=excluded.z_score, "
    "reason=excluded.reason, urgent=excluded.urgent, executed=excluded.executed, "
    "outcome=excluded.outcome, order_client_id=excluded.order_client_id"
)
EQUITY_SQL = (
    "INSERT INTO equity_snapshots (session_id, ts_ms, equity, cash, positions_value, drawdown_pct) "
    "VALUES (?,?,?,?,?,?)"
)

BUFFERED_TABLES: dict[str, str] = {
    "klines": KLINES_SQL,
    "glicko_ratings": RATINGS_SQL,
    "trading_signals": SIGNALS_SQL,
    "equity_snapshots": EQUITY_SQL,
}

_RATING_FIELDS = (
    "rating",
    "rating_deviation",
    "volatility",
    "performance_score",
    "z_score",
    "moving_average",
)


# ---------------------------------------------------------------------------
# the mixin
# ---------------------------------------------------------------------------


class QueriesMixin:
    """Typed table access. Needs the ``Database`` plumbing declared below."""

    _clock: Clock
    writer: BatchedWriter
    path: str

    if TYPE_CHECKING:

        def _use(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

        def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

        async def _critical(self, fn: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T: ...

        async def _critical_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

        async def _queued(self, due: bool) -> None: ...

        async def _between_chunks(self) -> None: ...

        def _check_in_place(self) -> None: ...

    # -- small helpers ----------------------------------------------------------

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._use() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any | None:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    async def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One autocommitted statement; returns its rowcount."""
        self._check_in_place()
        async with self._use() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    # -- sessions -----------------------------------------------------------------

    async def start_session(
        self,
        kind: str,
        mode: str,
        feed_kind: str,
        config_json: str | Mapping[str, Any] | None,
        label: str = "",
        ts_ms: int | None = None,
    ) -> int:
        """Record a new run/tui/backtest session; returns its id. ``config_json``
        (JSON text or a mapping) is stored with secret-looking keys redacted.
        ``ts_ms`` defaults to the database clock's now."""
        if kind not in ("run", "tui", "backtest"):
            raise ValueError(f"session kind must be run, tui or backtest, got {kind!r}")
        if mode not in ("paper", "live"):
            raise ValueError(f"session mode must be paper or live, got {mode!r}")
        cfg = _json_text(config_json, "session config_json")
        started = self._clock.now_ms() if ts_ms is None else int(ts_ms)
        self._check_in_place()
        async with self._use() as conn:
            cur = await conn.execute(
                "INSERT INTO sessions (started_ms, mode, feed_kind, config_json, kind, label) "
                "VALUES (?,?,?,?,?,?)",
                (started, mode, str(feed_kind), cfg, kind, str(label)),
            )
            sid = cur.lastrowid
        assert sid is not None
        return int(sid)

    async def end_session(
        self, session_id: int, summary: Mapping[str, Any], ts_ms: int | None = None
    ) -> None:
        """Close a session with its summary (JSON; Decimals stored as text)."""
        ended = self._clock.now_ms() if ts_ms is None else int(ts_ms)
        n = await self._exec(
            "UPDATE sessions SET ended_ms = ?, summary_json = ? WHERE id = ?",
            (ended, _dumps(redact(dict(summary))), int(session_id)),
        )
        if n == 0:
            raise StorageError(f"no session with id {session_id}")

    async def end_unclean_sessions(self, current_id: int | None) -> list[dict[str, Any]]:
        """Close every session but ``current_id`` that never ended: its engine was killed
        (``kill -9``), crashed or lost its machine, so its row kept ``ended_ms`` NULL. Call it only
        while holding the book's engine lock (no other engine can be writing a session then).

        Its ``ended_ms`` becomes the last time known to be committed by it: the latest time of the
        rows stored under its id (a rating, an equity sample, a signal, an order's creation or last
        update, a fill of one of its orders) up to the start of the session after it (a later
        session books its orders and their fills, the rows keeping its id: it was dead by then), at
        least its ``started_ms``. The process may have lived on
        after that (rows still in the batched writer are lost with it), so the time is when it was
        last known alive, never a guess beyond. The audit log, the account and the engine state
        carry no session id and are not counted. Its ``summary_json`` (the end summary of a clean
        stop) becomes :data:`UNCLEAN_END_SUMMARY`'s object, naming the session that closed it.
        Returns ``{id, kind, started_ms, ended_ms}`` of each session closed, oldest first."""
        rows = await self._fetchall(
            "SELECT id, kind, started_ms FROM sessions WHERE ended_ms IS NULL AND id IS NOT ? ORDER BY id",
            (current_id,),
        )
        closed = []
        for sid, kind, started in rows:
            # its engine held the lock until it died: the next session (this one's, for the last)
            # started after that, unless its clock says otherwise (then it bounds nothing)
            after = await self._fetchone("SELECT started_ms FROM sessions WHERE id > ? ORDER BY id LIMIT 1", (int(sid),))
            end = int(after[0]) if after is not None and int(after[0]) >= int(started) else _NO_LATER_START
            params = {"sid": int(sid), "start": int(started), "end": end}
            (last,) = (await self._fetchone(_SESSION_LAST_SQL, params)) or (None,)
            ended = max(int(started), int(last)) if last is not None else int(started)
            summary = {**UNCLEAN_END_SUMMARY, "closed_by_session": current_id}
            n = await self._exec(
                "UPDATE sessions SET ended_ms = ?, summary_json = ? WHERE id = ? AND ended_ms IS NULL",
                (ended, _dumps(summary), int(sid)),
            )
            if n:
                closed.append({"id": int(sid), "kind": str(kind), "started_ms": int(started), "ended_ms": ended})
        return closed

    async def load_session_rows(self) -> list[tuple[int, str, str, str, str, int, int | None, str | None]]:
        """Every session, oldest first, as stored: (id, kind, mode, feed_kind, label, started_ms,
        ended_ms, summary_json text) - for ``export``, which needs no JSON decoded (one unreadable
        summary does not make the book unreadable)."""
        rows = await self._fetchall(
            "SELECT id, kind, mode, feed_kind, label, started_ms, ended_ms, summary_json FROM sessions ORDER BY id", [])
        return [tuple(r) for r in rows]

    async def load_sessions(self, limit: int = 50, kind: str | None = None) -> list[dict[str, Any]]:
        """The most recent sessions (oldest first) as dicts; JSON columns decoded."""
        where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
        rows = await self._fetchall(
            "SELECT id, started_ms, ended_ms, mode, feed_kind, config_json, kind, label, summary_json "
            f"FROM sessions {where} ORDER BY id DESC LIMIT ?",
            [*params, int(limit)],
        )
        return [
            {
                "id": r[0],
                "started_ms": r[1],
                "ended_ms": r[2],
                "mode": r[3],
                "feed_kind": r[4],
                "config": json.loads(r[5]),
                "kind": r[6],
                "label": r[7],
                "summary": None if r[8] is None else json.loads(r[8]),
            }
            for r in reversed(rows)
        ]

    # -- orders and money ---------------------------------------------------------

    async def write_order_intent(self, order: Order, session_id: int | None) -> None:
        """INSERT a new order row (usually status INTENT) and commit it before returning.

        Raises :class:`DuplicateOrderError` if the client order id is already stored.
        """
        p = _order_params(order)
        p["session_id"] = None if session_id is None else int(session_id)
        cols = ", ".join(p)
        sql = f"INSERT INTO orders ({cols}) VALUES ({_placeholders(len(p))})"
        values = tuple(p.values())

        def body(raw: sqlite3.Connection) -> None:
            try:
                raw.execute(sql, values)
            except sqlite3.IntegrityError as exc:
                if "orders.client_order_id" in str(exc):
                    raise DuplicateOrderError(
                        f"order {order.client_order_id!r} already exists: client order ids must be unique"
                    ) from exc
                raise StorageError(f"order {order.client_order_id!r} refused: {exc}") from exc

        await self._critical_sync(body)

    _UPDATE_ORDER_SQL = (
        "UPDATE orders SET exchange_order_id = ?, price = ?, status = ?, updated_ms = ?, executed_qty = ?, "
        "avg_price = ?, fees = ?, realized_pnl = ?, reason = ?, signal_id = ?, attempts = ?, error = ? "
        "WHERE client_order_id = ? RETURNING symbol, side, type, quantity"
    )

    @staticmethod
    def _update_order_values(p: Mapping[str, Any]) -> tuple:
        return (
            p["exchange_order_id"],
            p["price"],
            p["status"],
            p["updated_ms"],
            p["executed_qty"],
            p["avg_price"],
            p["fees"],
            p["realized_pnl"],
            p["reason"],
            p["signal_id"],
            p["attempts"],
            p["error"],
            p["client_order_id"],
        )

    def _update_order_row(self, raw: sqlite3.Connection, p: Mapping[str, Any]) -> None:
        rows = raw.execute(self._UPDATE_ORDER_SQL, self._update_order_values(p)).fetchall()
        cid = p["client_order_id"]
        if not rows:
            raise OrderNotFoundError(f"order {cid!r} is not stored (write_order_intent first)")
        symbol, side, otype, qty = rows[0]
        if (symbol, side, otype) != (p["symbol"], p["side"], p["type"]) or _dec(qty) != _dec(p["quantity"]):
            raise StorageError(
                f"order {cid!r}: symbol/side/type/quantity cannot change "
                f"(stored {symbol} {side} {otype} {qty}, got {p['symbol']} {p['side']} {p['type']} {p['quantity']})"
            )

    async def update_order(self, order: Order) -> None:
        """Update an existing order's mutable fields (status, exchange id, execution,
        fees, pnl, attempts, error, reason, price, signal id); committed before
        returning. Raises :class:`OrderNotFoundError` for an unknown order."""
        p = _order_params(order)

        def body(raw: sqlite3.Connection) -> None:
            self._update_order_row(raw, p)

        await self._critical_sync(body)

    async def apply_order_update(
        self,
        order: Order,
        fills: Sequence[Fill],
        position: Position | None,
        position_symbol: str,
        cash: Decimal,
        account: Mapping[str, Any],
    ) -> None:
        """Book an order's execution in ONE transaction, committed before returning:

        * the order row is updated (it must exist: :class:`OrderNotFoundError`);
        * ``fills`` are inserted; a fill repeating a stored (client order id,
          trade id) is ignored if identical, :class:`ConflictingFillError` if not;
          fills without a trade id are always inserted;
        * the position of ``position_symbol`` is upserted, or deleted when
          ``position`` is None or has zero quantity;
        * the account's ``cash`` and the ``account`` fields (any of
          :data:`ACCOUNT_FIELDS` except cash; ``updated_ms`` defaults to
          ``order.updated_ms``) are updated (:class:`AccountError` if no account).

        Any error rolls everything back: none of it is visible.
        """
        p = _order_params(order)
        fill_rows = [_fill_params(f) for f in fills]
        for f in fills:
            if f.client_order_id != order.client_order_id or f.symbol != order.symbol:
                raise ValueError(
                    f"fill {f.client_order_id}/{f.symbol} does not belong to order "
                    f"{order.client_order_id}/{order.symbol}"
                )
        pos_row: tuple | None = None
        if position is not None:
            if position.symbol != position_symbol:
                raise ValueError(
                    f"position symbol {position.symbol!r} != position_symbol {position_symbol!r}"
                )
            if position.quantity != 0:
                pos_row = _position_params(position)
        acc = _account_values(account, allow_cash=False)
        acc.setdefault("updated_ms", int(order.updated_ms))
        acc = {"cash": _req_money(cash, "account cash"), **acc}
        acc_sql = f"UPDATE account SET {', '.join(f'{k} = ?' for k in acc)} WHERE id = 1"
        acc_values = tuple(acc.values())

        def body(raw: sqlite3.Connection) -> None:
            self._update_order_row(raw, p)
            if fill_rows:
                cur = raw.executemany(
                    f"INSERT OR IGNORE INTO fills ({_FILL_COLS}) VALUES (?,?,?,?,?,?,?,?,?)", fill_rows
                )
                if cur.rowcount < len(fill_rows):
                    self._check_duplicate_fills(raw, fill_rows)
            if pos_row is None:
                raw.execute("DELETE FROM positions WHERE symbol = ?", (position_symbol,))
            else:
                raw.execute(
                    f"INSERT INTO positions ({_POSITION_COLS}) VALUES (?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (symbol) DO UPDATE SET quantity=excluded.quantity, avg_entry=excluded.avg_entry, "
                    "entry_ms=excluded.entry_ms, fees=excluded.fees, realized_pnl=excluded.realized_pnl, "
                    "cost=excluded.cost, updated_ms=excluded.updated_ms",
                    pos_row,
                )
            cur = raw.execute(acc_sql, acc_values)
            if cur.rowcount != 1:
                raise AccountError("no account row: call init_account() before booking orders")

        await self._critical_sync(body)

    @staticmethod
    def _check_duplicate_fills(raw: sqlite3.Connection, fill_rows: list[tuple]) -> None:
        """Some fills were ignored as (client id, trade id) duplicates: they must be identical."""
        for row in fill_rows:
            if row[8] is None:
                continue
            stored = raw.execute(
                f"SELECT {_FILL_COLS} FROM fills WHERE client_order_id = ? AND trade_id = ?",
                (row[0], row[8]),
            ).fetchall()
            if not stored:
                continue
            s = stored[0]
            same = (
                s[1] == row[1]
                and s[2] == row[2]
                and all(_dec(s[i]) == _dec(row[i]) for i in (3, 4, 5))
                and s[6] == row[6]
                and int(s[7]) == row[7]
            )
            if not same:
                raise ConflictingFillError(
                    f"fill {row[0]}/{row[8]} is already stored with different values "
                    f"(stored price {s[3]} qty {s[4]} fee {s[5]}, got price {row[3]} qty {row[4]} fee {row[5]})"
                )

    async def load_open_orders(self) -> list[Order]:
        """Orders in status INTENT, NEW or PARTIALLY_FILLED, oldest first."""
        rows = await self._fetchall(
            f"SELECT {_ORDER_COLS} FROM orders WHERE status IN ({_placeholders(3)}) ORDER BY created_ms, id",
            _OPEN_STATUSES,
        )
        return [_order_from_row(r) for r in rows]

    async def load_orders(
        self, symbol: str | None = None, limit: int | None = 200, session_id: int | None = None
    ) -> list[Order]:
        """The most recent ``limit`` orders (all if None), oldest first."""
        where, params = self._where(symbol=symbol, session_id=session_id)
        sql = f"SELECT {_ORDER_COLS} FROM orders {where} ORDER BY created_ms DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = await self._fetchall(sql, params)
        return [_order_from_row(r) for r in reversed(rows)]

    async def get_order(self, client_order_id: str) -> Order | None:
        row = await self._fetchone(
            f"SELECT {_ORDER_COLS} FROM orders WHERE client_order_id = ?", (client_order_id,)
        )
        return None if row is None else _order_from_row(row)

    async def client_order_ids(self) -> list[str]:
        """Every stored client order id (in insertion order)."""
        rows = await self._fetchall("SELECT client_order_id FROM orders ORDER BY id")
        return [r[0] for r in rows]

    async def load_fills(
        self, symbol: str | None = None, limit: int | None = None, session_id: int | None = None
    ) -> list[Fill]:
        """Fills in time order; ``session_id`` selects fills of that session's orders;
        ``limit`` keeps the most recent ones."""
        conds: list[str] = []
        params: list[Any] = []
        if symbol is not None:
            conds.append("symbol = ?")
            params.append(symbol)
        if session_id is not None:
            conds.append("client_order_id IN (SELECT client_order_id FROM orders WHERE session_id = ?)")
            params.append(int(session_id))
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        sql = f"SELECT {_FILL_COLS} FROM fills {where} ORDER BY ts_ms DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = await self._fetchall(sql, params)
        return [_fill_from_row(r) for r in reversed(rows)]

    @staticmethod
    def _where(**conds: Any) -> tuple[str, list[Any]]:
        items = [(k, v) for k, v in conds.items() if v is not None]
        if not items:
            return "", []
        return "WHERE " + " AND ".join(f"{k} = ?" for k, _ in items), [v for _, v in items]

    # -- positions and account ----------------------------------------------------

    async def load_positions(self) -> dict[str, Position]:
        """Open positions by symbol."""
        rows = await self._fetchall(f"SELECT {_POSITION_COLS} FROM positions ORDER BY symbol")
        return {r[0]: _position_from_row(r) for r in rows}

    async def load_account(self) -> dict[str, Any] | None:
        """The account row (money as Decimal, times as int ms), or None before ``init_account``."""
        cols = ", ".join(ACCOUNT_FIELDS)
        row = await self._fetchone(f"SELECT {cols} FROM account WHERE id = 1")
        if row is None:
            return None
        out: dict[str, Any] = {}
        for (name, kind), value in zip(ACCOUNT_FIELDS.items(), row, strict=True):
            out[name] = _dec(value) if kind == "money" else int(value) if kind == "int" else value
        return out

    async def init_account(
        self,
        cash: Decimal,
        quote_asset: str,
        starting_balance: Decimal,
        ts_ms: int,
        *,
        replace: bool = False,
    ) -> None:
        """Create the account row (realized pnl and fees 0; peak and day-start equity =
        ``starting_balance``). Raises :class:`AccountError` if it exists, unless ``replace``."""
        vals = _account_values(
            {
                "cash": cash,
                "quote_asset": quote_asset,
                "starting_balance": starting_balance,
                "realized_pnl": Decimal(0),
                "fees_paid": Decimal(0),
                "peak_equity": starting_balance,
                "day_start_ms": ts_ms,
                "day_start_equity": starting_balance,
                "updated_ms": ts_ms,
            }
        )
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        sql = f"{verb} INTO account (id, {', '.join(vals)}) VALUES (1, {_placeholders(len(vals))})"

        def body(raw: sqlite3.Connection) -> None:
            try:
                raw.execute(sql, tuple(vals.values()))
            except sqlite3.IntegrityError as exc:
                raise AccountError("account already initialised (pass replace=True to reset it)") from exc

        await self._critical_sync(body)

    async def write_off_position(self, symbol: str, account: Mapping[str, Any]) -> None:
        """Take ``symbol``'s position off the book without a fill (dust no order can sell), in ONE
        transaction: its row is deleted and the ``account`` fields (e.g. ``realized_pnl``; not
        cash, which a write-off leaves alone) updated. Raises :class:`AccountError` if there is
        no account."""
        vals = _account_values(account, allow_cash=False)

        def body(raw: sqlite3.Connection) -> None:
            raw.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))
            _update_account(raw, vals)

        await self._critical_sync(body)

    async def save_account(self, **fields: Any) -> None:
        """Update some account fields (see :data:`ACCOUNT_FIELDS`; money as Decimal);
        committed before returning. Raises :class:`AccountError` if there is no account."""
        vals = _account_values(fields)
        if not vals:
            return
        await self._critical_sync(lambda raw: _update_account(raw, vals))

    # -- counters, engine state, audit, kv ------------------------------------------

    async def next_sequence(self, name: str) -> int:
        """The next value (1, 2, ...) of a persistent counter, committed before returning."""
        if not name:
            raise ValueError("sequence name must not be empty")
        self._check_in_place()
        rows = await self._fetchall(
            "INSERT INTO sequences (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        )
        return int(rows[0][0])

    async def save_engine_state(
        self,
        state: EngineState,
        reason: str,
        ts_ms: int,
        z_threshold: float | None,
        locked: Iterable[str],
    ) -> None:
        """Persist the engine state (single row), committed before returning."""
        st = EngineState(state)
        z = None if z_threshold is None else float(z_threshold)
        if z is not None and not math.isfinite(z):
            raise ValueError(f"z_threshold must be finite, got {z_threshold!r}")
        await self._exec(
            "INSERT INTO engine_state (id, state, reason, updated_ms, z_threshold, locked_symbols_json) "
            "VALUES (1,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET state=excluded.state, reason=excluded.reason, "
            "updated_ms=excluded.updated_ms, z_threshold=excluded.z_threshold, "
            "locked_symbols_json=excluded.locked_symbols_json",
            (st.value, str(reason), int(ts_ms), z, _dumps(sorted(set(locked)))),
        )

    async def save_engine_state_only(self, state: EngineState, reason: str, ts_ms: int) -> None:
        """Persist the engine state and its reason alone, leaving the stored z threshold and locked
        symbols as they are (an emergency stop sent while the engine starts up, before those are
        read back); committed before returning (or with the transaction it is part of)."""
        await self._exec(
            "INSERT INTO engine_state (id, state, reason, updated_ms) VALUES (1,?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET state=excluded.state, reason=excluded.reason, "
            "updated_ms=excluded.updated_ms",
            (EngineState(state).value, str(reason), int(ts_ms)),
        )

    async def load_engine_state(self) -> dict[str, Any] | None:
        """``{"state": EngineState, "reason", "updated_ms", "z_threshold": float|None,
        "locked": set[str]}`` or None if never saved."""
        row = await self._fetchone(
            "SELECT state, reason, updated_ms, z_threshold, locked_symbols_json FROM engine_state WHERE id = 1"
        )
        if row is None:
            return None
        locked = json.loads(row[4])
        if not isinstance(locked, list) or not all(isinstance(s, str) for s in locked):
            # (a hand edit): ValueError, as for an unreadable amount - a symbol the operator locked
            # must not be traded on a guess
            raise ValueError(f"the stored locked symbols {row[4]!r} are not a list of symbols")
        return {
            "state": EngineState(row[0]),
            "reason": row[1],
            "updated_ms": int(row[2]),
            "z_threshold": None if row[3] is None else float(row[3]),
            "locked": set(locked),
        }

    async def audit(
        self,
        ts_ms: int,
        source: Source | str,
        action: str,
        args: Mapping[str, Any] | None,
        ok: bool,
        outcome: str,
    ) -> int:
        """Append an audit record (args stored as redacted JSON); committed before
        returning. Returns its id."""
        src = source.value if isinstance(source, Source) else str(source)
        self._check_in_place()
        async with self._use() as conn:
            cur = await conn.execute(
                "INSERT INTO audit_log (ts_ms, source, action, args_json, ok, outcome) VALUES (?,?,?,?,?,?)",
                (int(ts_ms), src, str(action), _dumps(redact(dict(args or {}))), int(bool(ok)), str(outcome)),
            )
            rid = cur.lastrowid
        assert rid is not None
        return int(rid)

    async def load_audit(self, limit: int | None = 100) -> list[dict[str, Any]]:
        """The most recent ``limit`` audit records (all if None), oldest first: dicts with id,
        ts_ms, source, action, args (dict), ok (bool), outcome."""
        rows = await self._fetchall(
            "SELECT id, ts_ms, source, action, args_json, ok, outcome FROM audit_log ORDER BY id DESC LIMIT ?",
            (-1 if limit is None else int(limit),),  # SQLite: a negative LIMIT is no limit
        )
        return [
            {
                "id": r[0],
                "ts_ms": r[1],
                "source": r[2],
                "action": r[3],
                "args": json.loads(r[4]),
                "ok": bool(r[5]),
                "outcome": r[6],
            }
            for r in reversed(rows)
        ]

    async def kv_get(self, key: str, default: str | None = None) -> str | None:
        row = await self._fetchone("SELECT value FROM kv WHERE key = ?", (key,))
        return default if row is None else row[0]

    async def kv_set(self, key: str, value: str | None) -> None:
        """Store a text value (committed before returning)."""
        if value is not None and not isinstance(value, str):
            raise TypeError(f"kv values are text; got {type(value).__name__} (json.dumps it first)")
        await self._exec(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(key), value),
        )

    # -- the loss breakers' references after a crash ----------------------------------

    async def mark_references(self, session_id: int | None, ts_ms: int | None) -> None:
        """Note that the account's peak and day-start equity were just set on purpose (an emergency
        stop's reset, money moved in or out, a new book): equity points committed before, or
        buffered before by this session (time ``ts_ms`` or earlier), are not used by
        :meth:`references_since_mark` - the stored references take their place. Committed before
        returning (or with the transaction it is part of)."""

        def body(raw: sqlite3.Connection) -> None:
            after = raw.execute("SELECT COALESCE(MAX(id), 0) FROM equity_snapshots").fetchone()[0]
            value = _dumps({"after_id": int(after), "session_id": session_id,
                            "ts_ms": None if ts_ms is None else int(ts_ms)})
            raw.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                        "value = excluded.value", (REFERENCES_MARK_KEY, value))

        await self._critical_sync(body)

    async def references_since_mark(self) -> dict[str, Any] | None:
        """What the committed equity points since :meth:`mark_references` say about the loss
        breakers' references, which the account row only holds as of its last save (a fill, a
        reset, a clean stop): ``peak`` (the highest peak equity they show, from each point's equity
        and drawdown below its peak; None without points), ``last`` (the latest point's ``(ts_ms,
        equity, session_id)``) and, on that point's UTC day, ``day_before`` (the last point before
        that day began) and ``day_first`` (its first point), as such tuples or None. None when no
        mark is stored (a book from before marks were kept) or it cannot be read."""
        raw = await self.kv_get(REFERENCES_MARK_KEY)
        try:
            mark = json.loads(raw) if raw else None
            after = int(mark["after_id"])
            session = mark.get("session_id")
            session = None if session is None else int(session)
            until = mark.get("ts_ms")
            until = None if until is None else int(until)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        where, params = "id > ?", [after]
        if until is not None:  # what the marking session had buffered before it
            where += " AND NOT (session_id IS ? AND ts_ms <= ?)"
            params += [session, until]
        row = await self._fetchone(
            "SELECT MAX(equity), MAX(CASE WHEN drawdown_pct > 0 AND drawdown_pct < 100 "
            f"THEN equity / (1 - drawdown_pct / 100.0) END) FROM equity_snapshots WHERE {where}",
            params,
        )
        peaks = [float(v) for v in (row or ()) if v is not None and math.isfinite(float(v))]
        cols = "ts_ms, equity, session_id"
        last = await self._fetchone(f"SELECT {cols} FROM equity_snapshots WHERE {where} ORDER BY id DESC LIMIT 1",
                                    params)
        out: dict[str, Any] = {"peak": max(peaks) if peaks else None, "last": None, "day_before": None,
                               "day_first": None}
        if last is None:
            return out
        out["last"] = (int(last[0]), float(last[1]), last[2])
        midnight = int(last[0]) // MS_PER_DAY * MS_PER_DAY
        before = await self._fetchone(
            f"SELECT id, {cols} FROM equity_snapshots WHERE {where} AND ts_ms < ? ORDER BY id DESC LIMIT 1",
            [*params, midnight],
        )
        if before is not None:
            out["day_before"] = (int(before[1]), float(before[2]), before[3])
        first = await self._fetchone(
            f"SELECT {cols} FROM equity_snapshots WHERE {where} AND id > ? AND ts_ms >= ? ORDER BY id LIMIT 1",
            [*params, int(before[0]) if before is not None else after, midnight],
        )
        if first is not None:
            out["day_first"] = (int(first[0]), float(first[1]), first[2])
        return out

    # -- high-volume, buffered writes -----------------------------------------------

    async def queue_klines(self, symbols: Sequence[str], batch: KlineBatch) -> int:
        """Buffer the batch's CLOSED klines (rows with non-finite OHLCV skipped);
        ``batch.sym`` indexes ``symbols``. Stored with INSERT OR IGNORE (a kline
        already stored is kept). Returns the number of rows queued."""
        if len(batch) == 0:
            return 0
        sym = np.asarray(batch.sym)
        if sym.min() < 0 or sym.max() >= len(symbols):
            raise ValueError(f"kline symbol index out of range 0..{len(symbols) - 1}")
        mask = np.asarray(batch.closed, dtype=bool)
        for col in (batch.open, batch.high, batch.low, batch.close, batch.volume):
            mask = mask & np.isfinite(col)
        idx = np.flatnonzero(mask)
        k = int(idx.size)
        if k == 0:
            return 0
        # Fancy indexing copies, so later mutation of the batch cannot reach the buffer.
        cols = (
            np.asarray(symbols, dtype=object)[sym[idx]],
            int(batch.interval_ms),
            np.asarray(batch.open_time, dtype=np.int64)[idx],
            np.asarray(batch.close_time, dtype=np.int64)[idx],
            np.asarray(batch.open, dtype=np.float64)[idx],
            np.asarray(batch.high, dtype=np.float64)[idx],
            np.asarray(batch.low, dtype=np.float64)[idx],
            np.asarray(batch.close, dtype=np.float64)[idx],
            np.asarray(batch.volume, dtype=np.float64)[idx],
            np.asarray(batch.quote_volume, dtype=np.float64)[idx],
            np.asarray(batch.trades, dtype=np.int64)[idx],
            np.asarray(batch.taker_buy_base, dtype=np.float64)[idx],
        )
        await self._queued(self.writer.add_columns("klines", k, cols))
        return k

    async def queue_ratings(
        self,
        session_id: int | None,
        period: int,
        ts_ms: int,
        symbols: Sequence[str],
        rating: np.ndarray,
        rd: np.ndarray,
        vol: np.ndarray,
        score: np.ndarray | None = None,
        z: np.ndarray | None = None,
        ma: np.ndarray | None = None,
    ) -> int:
        """Buffer one rating period for ``symbols`` (float arrays of shape (N,)
        aligned with ``symbols``). Rows whose rating is NaN are skipped; NaN (or
        None for a whole column) in score/z/ma is stored as NULL. Returns the
        number of rows queued. Cheap: a few array copies, no per-row Python."""
        n = len(symbols)
        arrays = (rating, rd, vol, score, z, ma)
        if all(type(a) is np.ndarray and a.shape == (n,) for a in arrays):
            mat = np.array(arrays, dtype=np.float64)  # our own copy of the six columns, in one call
        else:
            mat = np.empty((6, n), dtype=np.float64)
            for i, (name, values) in enumerate(zip(("rating", "rd", "vol", "score", "z", "ma"), arrays, strict=True)):
                if values is None and i >= 3:
                    mat[i] = np.nan
                elif np.shape(values) != (n,):
                    raise ValueError(f"{name}: expected shape ({n},) for {n} symbols, got {np.shape(values)}")
                else:
                    mat[i] = values
        if math.isfinite(mat[:3].sum()):  # fast path: every row rated, rd and vol finite
            k = n
            names = list(symbols)
        else:
            keep = ~np.isnan(mat[0])
            k = int(np.count_nonzero(keep))
            if k == 0:
                return 0
            idx = np.flatnonzero(keep)
            mat = mat[:, idx]
            names = [symbols[i] for i in idx.tolist()]
            if not np.isfinite(mat[:3]).all():
                raise ValueError("rating, rd and vol must be finite where rating is set")
        cols = (
            None if session_id is None else int(session_id),
            int(period),
            int(ts_ms),
            names,
            mat[0],
            mat[1],
            mat[2],
            mat[3],
            mat[4],
            mat[5],
        )
        await self._queued(self.writer.add_columns("glicko_ratings", k, cols))
        return k

    async def queue_signal(self, signal: Signal, session_id: int | None) -> None:
        """Buffer a signal row. With ``signal.id`` set, queuing it again later (e.g.
        once executed) updates the stored row; with ``id`` None SQLite assigns one
        (not reported back: use engine-assigned ids from :meth:`max_signal_id`)."""
        if not isinstance(signal, Signal):
            raise TypeError(f"expected a Signal, got {type(signal).__name__}")
        row = (
            None if signal.id is None else int(signal.id),
            None if session_id is None else int(session_id),
            int(signal.ts_ms),
            signal.symbol,
            SignalType(signal.type).value,
            str(signal.kind),
            float(signal.strength),
            float(signal.confidence),
            _opt_float(signal.z_score),
            str(signal.reason),
            int(bool(signal.urgent)),
            int(bool(signal.executed)),
            str(signal.outcome),
            signal.order_client_id,
        )
        await self._queued(self.writer.add("trading_signals", [row]))

    async def queue_equity(
        self,
        session_id: int | None,
        ts_ms: int,
        equity: float,
        cash: Decimal,
        positions_value: float,
        drawdown_pct: float,
    ) -> None:
        """Buffer an equity point (equity and valuations REAL, cash exact text)."""
        row = (
            None if session_id is None else int(session_id),
            int(ts_ms),
            float(equity),
            _req_money(cash, "equity snapshot cash"),
            float(positions_value),
            float(drawdown_pct),
        )
        await self._queued(self.writer.add("equity_snapshots", [row]))

    async def max_signal_id(self) -> int:
        """The largest signal id stored, buffered or named by an order (0 if none): start the
        engine's signal id counter after it. An order is committed at once and its signal goes
        through the writer: a kill between the two loses the signal row, and a restart that
        numbered from the signals alone gave its id to a new signal, which the order then named."""
        row = await self._fetchone(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM trading_signals), 0), "
            "COALESCE((SELECT MAX(signal_id) FROM orders), 0))"
        )
        stored = int(row[0]) if row else 0
        buffered = [r[0] for r in self.writer.pending_rows("trading_signals") if r[0] is not None]
        return max([stored, *buffered])

    # -- high-volume reads ---------------------------------------------------------

    async def load_signals(
        self, symbol: str | None = None, limit: int | None = 100, session_id: int | None = None
    ) -> list[Signal]:
        """The most recent signals (stored, not buffered), oldest first."""
        where, params = self._where(symbol=symbol, session_id=session_id)
        sql = f"SELECT {_SIGNAL_COLS} FROM trading_signals {where} ORDER BY ts_ms DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = await self._fetchall(sql, params)
        return [_signal_from_row(r) for r in reversed(rows)]

    async def latest_signal_times(self, since_ms: int, skip_outcome_prefix: str = "") -> dict[str, int]:
        """Per symbol, the time (ms) of its latest stored signal at or after ``since_ms``, leaving
        out signals whose outcome starts with ``skip_outcome_prefix`` (if given)."""
        sql = "SELECT symbol, MAX(ts_ms) FROM trading_signals WHERE ts_ms >= ?"
        params: list[Any] = [int(since_ms)]
        if skip_outcome_prefix:
            sql += " AND substr(outcome, 1, ?) != ?"
            params += [len(skip_outcome_prefix), skip_outcome_prefix]
        rows = await self._fetchall(sql + " GROUP BY symbol", params)
        return {str(sym): int(ts) for sym, ts in rows}

    async def book_modes(self) -> set[str]:
        """The modes (paper, live) of the sessions that kept this database's book (run and tui
        sessions; a backtest keeps its own tables)."""
        rows = await self._fetchall("SELECT DISTINCT mode FROM sessions WHERE kind != 'backtest'", [])
        return {str(m) for (m,) in rows}

    async def latest_manual_exit_times(self, since_ms: int) -> dict[str, int]:
        """Per symbol, the time (ms) of its latest sell at or after ``since_ms`` that was not the
        strategy's (an operator's sell, close or flatten, or a risk exit) and filled at least
        in part: such an exit starts the symbol's signal cooldown as a signal does."""
        rows = await self._fetchall(
            "SELECT symbol, MAX(updated_ms) FROM orders WHERE side = 'SELL' AND source != 'strategy' "
            "AND status IN ('FILLED', 'PARTIALLY_FILLED') AND updated_ms >= ? GROUP BY symbol",
            [int(since_ms)],
        )
        return {str(sym): int(ts) for sym, ts in rows}

    async def load_rating_history(
        self,
        symbols: Sequence[str],
        n: int,
        field: str = "rating",
        session_id: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The last ``n`` rating periods of ``symbols`` (for z-score warm-up).

        Returns ``ts`` (T,) int64 ms ascending and ``values`` (T, N) float64 with
        NaN where a symbol has no row; T <= n counts the distinct period times
        in which any of ``symbols`` was rated. ``field`` picks the column
        (rating, rating_deviation, volatility, performance_score, z_score,
        moving_average). If a period was stored twice, the later row wins.
        """
        ts, values = await self.load_rating_fields(symbols, n, (field,), session_id)
        return ts, values[0]

    async def load_rating_fields(
        self,
        symbols: Sequence[str],
        n: int,
        fields: Sequence[str],
        session_id: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`load_rating_history` of several columns in one read: ``values`` is
        (len(fields), T, N), in the order of ``fields``."""
        fields = list(fields)
        bad = [f for f in fields if f not in _RATING_FIELDS]
        if bad or not fields:
            raise ValueError(f"fields must be among {', '.join(_RATING_FIELDS)}, got {fields!r}")
        F = len(fields)
        syms = list(symbols)
        if len(set(syms)) != len(syms):
            raise ValueError("duplicate symbols in load_rating_history")
        N = len(syms)
        if n <= 0 or N == 0:
            return np.empty(0, dtype=np.int64), np.empty((F, 0, N), dtype=np.float64)
        ph = _placeholders(N)
        sess = " AND session_id = ?" if session_id is not None else ""
        sp: list[Any] = [] if session_id is None else [int(session_id)]
        # The n-th latest distinct period time of these symbols: a backward walk of the
        # (ts_ms, symbol) index that stops after n distinct times.
        async with self._use() as conn:
            bound_rows = list(
                await conn.execute_fetchall(
                    f"SELECT DISTINCT ts_ms FROM glicko_ratings WHERE symbol IN ({ph}){sess} "
                    "ORDER BY ts_ms DESC LIMIT 1 OFFSET ?",
                    [*syms, *sp, int(n) - 1],
                )
            )
            bound = bound_rows[0][0] if bound_rows and bound_rows[0][0] is not None else -(2**62)
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT ts_ms, symbol, {', '.join(fields)} FROM glicko_ratings WHERE symbol IN ({ph}){sess} "
                    "AND ts_ms >= ? ORDER BY ts_ms, id",
                    [*syms, *sp, int(bound)],
                )
            )
        if not rows:
            return np.empty(0, dtype=np.int64), np.empty((F, 0, N), dtype=np.float64)
        ts_col = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        sym_col = np.array([r[1] for r in rows], dtype=object)
        # (rows, F); None (NULL) becomes NaN in the float conversion
        val_cols = np.array([r[2:] for r in rows], dtype=np.float64).reshape(len(rows), F)
        ts = np.unique(ts_col)
        if ts.size > n:  # keep the last n distinct period times
            ts = ts[-n:]
            keep = ts_col >= ts[0]
            ts_col, sym_col, val_cols = ts_col[keep], sym_col[keep], val_cols[keep]
        ti = np.searchsorted(ts, ts_col)
        uniq, inv = np.unique(sym_col, return_inverse=True)
        col_of = {s: i for i, s in enumerate(syms)}
        si = np.array([col_of[s] for s in uniq.tolist()], dtype=np.int64)[inv]
        out = np.full((F, ts.size, N), np.nan, dtype=np.float64)
        for k in range(F):
            out[k, ti, si] = val_cols[:, k]  # rows are in id order within a period: the later row wins
        return ts, out

    async def load_equity(self, session_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Stored equity points in time order: ``ts`` int64 ms, ``equity`` float64
        (all sessions when ``session_id`` is None)."""
        where, params = self._where(session_id=session_id)
        rows = await self._fetchall(
            f"SELECT ts_ms, equity FROM equity_snapshots {where} ORDER BY ts_ms, id", params
        )
        ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        eq = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        return ts, eq

    async def load_klines(
        self,
        symbols: Sequence[str],
        interval_ms: int,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> KlineBatch:
        """Stored closed klines of ``symbols`` with ``start_ms <= open_time < end_ms``,
        as one batch sorted by (open_time, symbol index); ``sym`` indexes ``symbols``."""
        syms = list(symbols)
        if not syms:
            return KlineBatch.empty(int(interval_ms))
        conds = [f"symbol IN ({_placeholders(len(syms))})", "interval_ms = ?"]
        params: list[Any] = [*syms, int(interval_ms)]
        if start_ms is not None:
            conds.append("open_time >= ?")
            params.append(int(start_ms))
        if end_ms is not None:
            conds.append("open_time < ?")
            params.append(int(end_ms))
        rows = await self._fetchall(
            "SELECT symbol, open_time, close_time, open, high, low, close, volume, quote_volume, trades, "
            f"taker_buy_base FROM klines WHERE {' AND '.join(conds)}",
            params,
        )
        if not rows:
            return KlineBatch.empty(int(interval_ms))
        col_of = {s: i for i, s in enumerate(syms)}
        cols = list(zip(*rows, strict=True))
        sym = np.array([col_of[s] for s in cols[0]], dtype=np.int32)

        def f(i: int) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in cols[i]], dtype=np.float64)

        open_time = np.array(cols[1], dtype=np.int64)
        order = np.lexsort((sym, open_time))
        batch = KlineBatch(
            interval_ms=int(interval_ms),
            sym=sym,
            open_time=open_time,
            close_time=np.array(cols[2], dtype=np.int64),
            open=f(3),
            high=f(4),
            low=f(5),
            close=f(6),
            volume=f(7),
            quote_volume=f(8),
            trades=np.array([0 if v is None else v for v in cols[9]], dtype=np.int64),
            taker_buy_base=f(10),
            closed=np.ones(len(rows), dtype=bool),
        )
        return batch.take(order)

    async def prune_klines(self, before_ms: int, chunk_rows: int = PRUNE_CHUNK_ROWS) -> int:
        """Delete stored klines opened before ``before_ms``; returns how many."""
        return await self._delete_before("klines", "open_time", before_ms, chunk_rows)

    async def prune_ratings(self, before_ms: int, chunk_rows: int = PRUNE_CHUNK_ROWS) -> int:
        """Delete stored rating rows older than ``before_ms``; returns how many."""
        return await self._delete_before("glicko_ratings", "ts_ms", before_ms, chunk_rows)

    async def _delete_before(self, table: str, column: str, before_ms: int, chunk_rows: int) -> int:
        """``DELETE FROM table WHERE column < before_ms`` in transactions of about ``chunk_rows``
        rows (oldest first, through the column's index; a chunk ends at a whole time, so it may
        hold the rest of that time's rows): a day of a large universe is millions of rows, and one
        statement would hold the database (and any money transaction behind it) for seconds. Other
        work runs between two chunks, and a WAL checkpoint, so the WAL holds about one chunk."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        before = int(before_ms)
        total = 0
        while True:  # each chunk ends at a whole time: at most chunk_rows + (rows of one time) - 1 rows
            cut = await self._fetchone(
                f"SELECT {column} FROM {table} WHERE {column} < ? ORDER BY {column} LIMIT 1 OFFSET ?",
                (before, int(chunk_rows) - 1),
            )
            if total:  # a chunk was deleted before this one: let this one restart the WAL
                await self._between_chunks()
            if cut is None:
                return total + await self._exec(f"DELETE FROM {table} WHERE {column} < ?", (before,))
            total += await self._exec(f"DELETE FROM {table} WHERE {column} <= ?", (int(cut[0]),))

    # -- backtest runs -----------------------------------------------------------

    async def save_backtest_run(
        self,
        run_id: str,
        created_ms: int,
        config_json: str | Mapping[str, Any] | None,
        data_desc: str,
        summary: Mapping[str, Any],
        trades: Sequence[BacktestTrade],
        equity_ts: np.ndarray | Sequence[int],
        equity: np.ndarray | Sequence[float],
        *,
        replace: bool = False,
    ) -> None:
        """Store a finished backtest (run row, trades, equity curve) in ONE
        transaction. Raises :class:`DuplicateRunError` if ``run_id`` exists,
        unless ``replace``."""
        if not run_id:
            raise ValueError("run_id must not be empty")
        cfg = _json_text(config_json, "backtest config_json")
        summ = _dumps(redact(dict(summary)))
        trade_rows = []
        for i, t in enumerate(trades):
            if not isinstance(t, BacktestTrade):
                raise TypeError(f"trades[{i}] must be a BacktestTrade, got {type(t).__name__}")
            w = f"backtest trade {i}"
            trade_rows.append(
                (
                    run_id,
                    i,
                    int(t.ts_ms),
                    t.symbol,
                    Side(t.side).value,
                    _req_money(t.price, f"{w} price"),
                    _req_money(t.quantity, f"{w} quantity"),
                    _req_money(t.fee, f"{w} fee"),
                    _req_money(t.realized_pnl, f"{w} realized_pnl"),
                    str(t.client_order_id),
                    str(t.reason),
                )
            )
        ets = np.asarray(equity_ts, dtype=np.int64)
        eqv = np.asarray(equity, dtype=np.float64)
        if ets.shape != eqv.shape or ets.ndim != 1:
            raise ValueError(f"equity_ts {ets.shape} and equity {eqv.shape} must be 1-D of equal length")
        if not np.isfinite(eqv).all():
            raise ValueError("equity curve contains NaN or infinite values")
        eq_rows = list(zip([run_id] * ets.size, range(ets.size), ets.tolist(), eqv.tolist(), strict=True))

        async def body(conn: aiosqlite.Connection) -> None:
            if replace:
                await conn.execute("DELETE FROM backtest_runs WHERE run_id = ?", (run_id,))
            try:
                await conn.execute(
                    "INSERT INTO backtest_runs (run_id, created_ms, config_json, data_desc, summary_json) "
                    "VALUES (?,?,?,?,?)",
                    (run_id, int(created_ms), cfg, str(data_desc), summ),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateRunError(f"backtest run {run_id!r} already stored") from exc
            if trade_rows:
                await conn.executemany(
                    "INSERT INTO backtest_trades (run_id, seq, ts_ms, symbol, side, price, quantity, fee, "
                    "realized_pnl, client_order_id, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    trade_rows,
                )
            if eq_rows:
                await conn.executemany(
                    "INSERT INTO backtest_equity (run_id, seq, ts_ms, equity) VALUES (?,?,?,?)", eq_rows
                )

        try:
            await self._critical(body)
        except sqlite3.Error as exc:  # a full disk after the whole run: said, not a traceback
            raise StorageError(
                f"{self.path}: the backtest run {run_id} could not be stored: {exc}{failure_hint(exc)}"
            ) from exc

    async def list_backtest_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent stored runs, oldest first (run_id, created_ms, data_desc, summary)."""
        rows = await self._fetchall(
            "SELECT run_id, created_ms, data_desc, summary_json FROM backtest_runs "
            "ORDER BY created_ms DESC, rowid DESC LIMIT ?",
            (int(limit),),
        )
        return [
            {"run_id": r[0], "created_ms": r[1], "data_desc": r[2],
             "summary": _stored_json(r[3], f"backtest run {r[0]}: its summary")}
            for r in reversed(rows)
        ]

    async def load_backtest_run(self, run_id: str) -> dict[str, Any] | None:
        """``{"run_id", "created_ms", "config", "data_desc", "summary", "trades":
        list[BacktestTrade], "equity_ts": int64 array, "equity": float64 array}``
        or None if unknown."""
        row = await self._fetchone(
            "SELECT run_id, created_ms, config_json, data_desc, summary_json FROM backtest_runs WHERE run_id = ?",
            (run_id,),
        )
        if row is None:
            return None
        trades = await self.load_backtest_trades(run_id)
        ts, eq = await self.load_backtest_equity(run_id)
        return {
            "run_id": row[0],
            "created_ms": row[1],
            "config": _stored_json(row[2], f"backtest run {row[0]}: its configuration"),
            "data_desc": row[3],
            "summary": _stored_json(row[4], f"backtest run {row[0]}: its summary"),
            "trades": trades,
            "equity_ts": ts,
            "equity": eq,
        }

    async def load_backtest_trades(self, run_id: str) -> list[BacktestTrade]:
        rows = await self._fetchall(
            "SELECT ts_ms, symbol, side, price, quantity, fee, realized_pnl, client_order_id, reason "
            "FROM backtest_trades WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        # in a thread: the Decimals of 100,000 fills take 0.5-0.9 s of Python, on the event loop a
        # frozen screen (the report viewer loads a run in an async worker); a thread lets the loop run
        return await asyncio.to_thread(_backtest_trades, rows)

    async def load_backtest_equity(self, run_id: str) -> tuple[np.ndarray, np.ndarray]:
        rows = await self._fetchall(
            "SELECT ts_ms, equity FROM backtest_equity WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        eq = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        return ts, eq

    async def delete_backtest_run(self, run_id: str) -> bool:
        """Delete a stored run with its trades and equity; True if it existed."""
        return await self._exec("DELETE FROM backtest_runs WHERE run_id = ?", (run_id,)) > 0
