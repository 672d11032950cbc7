"""The SQLite schema, its migrations and the storage error types.

Versioning uses ``PRAGMA user_version``: ``MIGRATIONS[i]`` takes the database
from version ``i`` to ``i + 1``. Pending scripts are applied in order inside one
``BEGIN IMMEDIATE`` transaction together with the new ``user_version``, so a
failed upgrade leaves the file exactly as it was. A file whose version is newer
than :data:`SCHEMA_VERSION` is refused with :class:`SchemaVersionError` (an
older program must not write into a schema it does not know).

Never edit a released migration: append a new script instead.

Conventions (mirroring :mod:`tui_trader.models`):

* times are integer milliseconds since the epoch (UTC), columns ``*_ms``;
* booked money is ``TEXT`` holding an exact decimal (:mod:`.money`);
  market data, ratings and equity valuations are ``REAL``;
* booleans are ``INTEGER`` 0/1; enums are their string values.

Mapping from the seed's ``production_orders``: ``order_id`` -> ``exchange_order_id``
(plus our own ``client_order_id``, the idempotency key), ``transact_time`` ->
``created_ms``/``updated_ms``, ``fills JSONB`` -> the ``fills`` table,
``signal_data JSONB`` -> ``signal_id`` (a ``trading_signals.id``). ``stop_price``
is kept (NULL: this bot sends MARKET and LIMIT IOC orders only).

Backtests keep their results in ``backtest_runs`` / ``backtest_trades`` /
``backtest_equity`` keyed by ``run_id`` (not in ``fills``/``equity_snapshots``):
a backtest runs its engine on its own scratch database, so the operator's
account, positions and order history are never mixed with simulated ones, and
a stored run is self-contained (deleting it cascades).

Soft references (no foreign key on purpose): ``orders.signal_id`` and
``trading_signals.order_client_id``. Signals go through the batched writer and
orders are committed immediately, so either side may be on disk before the
other.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DatabaseMovedError",
    "MigrationError",
    "SchemaVersionError",
    "StorageError",
    "failure_hint",
    "file_in_the_way",
    "migrate",
    "split_statements",
    "storage_failure",
    "user_version",
]


class StorageError(Exception):
    """Base class of the storage layer's errors."""

    #: Raised while a run traded (a disk that ran full), not by a book refused at start-up: the
    #: headless runner's exit 1, not the usage code 2. Set by the runner that knows it.
    during_run: bool = False


def file_in_the_way(path: Path) -> str:
    """Why ``path`` cannot be made when a file stands where one of its folders should be:
    ``"/etc/hostname is a file, not a folder"`` (the OS says only "File exists" or "Not a
    directory", naming no path the operator gave); "" otherwise."""
    for parent in path.parents:
        if parent.exists():
            return "" if parent.is_dir() else f"{parent} is a file, not a folder"
    return ""


class MixedBookError(StorageError):
    """A paper book opened for live trading, or a live book for paper: each keeps its own file."""


class SchemaVersionError(StorageError):
    """The database file was written by a newer tui-trader (unknown schema)."""


class MigrationError(StorageError):
    """A migration script failed; the database was left unchanged."""


#: SQLite's extended result code for a database file moved or deleted since it was opened.
SQLITE_READONLY_DBMOVED = 1032


class DatabaseMovedError(sqlite3.OperationalError):
    """The database file was deleted, moved or replaced while it was open: SQLite would go on
    writing into the old file, which nobody can open again (every commit lost). A ``sqlite3``
    error, so that an engine treats it as any storage failure (trading stops, nothing is sent)."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the database file {path} was deleted or replaced while tui-trader had it open: nothing more "
            "is written (it would go into the deleted file)"
        )
        self.sqlite_errorcode = SQLITE_READONLY_DBMOVED
        self.sqlite_errorname = "SQLITE_READONLY_DBMOVED"


#: What an operator can do about a SQLite error, by its extended result code (before the primary one).
_EXTENDED_HINTS = {
    SQLITE_READONLY_DBMOVED: "put the file back, or restore a backup, before starting again",
}

#: What an operator can do about a SQLite error, by its primary result code.
_FAILURE_HINTS = {
    sqlite3.SQLITE_BUSY: "another program holds a lock on the file, e.g. an sqlite3 shell or a backup tool",
    sqlite3.SQLITE_LOCKED: "another program holds a lock on the file, e.g. an sqlite3 shell or a backup tool",
    sqlite3.SQLITE_FULL: "the disk is full: free some space",
    sqlite3.SQLITE_READONLY: "the file or its folder cannot be written",
    sqlite3.SQLITE_IOERR: "the disk reported an I/O error",
    sqlite3.SQLITE_CORRUPT: "the file is damaged: restore a backup",
    sqlite3.SQLITE_NOTADB: "the file is damaged: restore a backup",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened (moved, deleted or no permission?)",
}


def failure_hint(exc: BaseException) -> str:
    """What an operator can do about the SQLite error ``exc``, as `` (hint)``; "" when unknown."""
    code = getattr(exc, "sqlite_errorcode", None)
    hint = (_EXTENDED_HINTS.get(code) or _FAILURE_HINTS.get(code & 0xFF)) if isinstance(code, int) else None
    return f" ({hint})" if hint else ""


def unreadable_book(path: object, exc: Exception, hint: str = "") -> StorageError:
    """A stored amount, position, state or time that cannot be read back: nothing is done on a
    guess, and the operator reads which file and what to do (``hint`` adds another way out)."""
    return StorageError(f"{path}: the stored book cannot be read ({exc}); restore a backup of this file{hint}")


def storage_failure(path: str, exc: BaseException) -> StorageError:
    """The :class:`StorageError` for a SQLite error met while an engine runs on the database at
    ``path``: what failed and what to do, for the operator (the caller stops trading)."""
    return StorageError(
        f"storage failure on {path}: {exc}{failure_hint(exc)}; trading stopped, the database "
        "keeps what was committed before: fix the cause and start again"
    )


_V1 = """
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    started_ms    INTEGER NOT NULL,
    ended_ms      INTEGER,
    mode          TEXT    NOT NULL CHECK (mode IN ('paper', 'live')),
    feed_kind     TEXT    NOT NULL,
    config_json   TEXT    NOT NULL DEFAULT '{}',
    kind          TEXT    NOT NULL CHECK (kind IN ('run', 'tui', 'backtest')),
    label         TEXT    NOT NULL DEFAULT '',
    summary_json  TEXT
);

CREATE TABLE klines (
    symbol          TEXT    NOT NULL,
    interval_ms     INTEGER NOT NULL,
    open_time       INTEGER NOT NULL,
    close_time      INTEGER NOT NULL,
    open            REAL    NOT NULL,
    high            REAL    NOT NULL,
    low             REAL    NOT NULL,
    close           REAL    NOT NULL,
    volume          REAL    NOT NULL,
    quote_volume    REAL,
    trades          INTEGER,
    taker_buy_base  REAL,
    PRIMARY KEY (symbol, interval_ms, open_time)
) WITHOUT ROWID;
CREATE INDEX klines_open_time ON klines (open_time);

CREATE TABLE glicko_ratings (
    id                 INTEGER PRIMARY KEY,
    session_id         INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    period             INTEGER NOT NULL,
    ts_ms              INTEGER NOT NULL,
    symbol             TEXT    NOT NULL,
    rating             REAL    NOT NULL,
    rating_deviation   REAL    NOT NULL,
    volatility         REAL    NOT NULL,
    performance_score  REAL,
    z_score            REAL,
    moving_average     REAL
);
CREATE INDEX glicko_ratings_symbol_ts ON glicko_ratings (symbol, ts_ms);
CREATE INDEX glicko_ratings_ts ON glicko_ratings (ts_ms);

CREATE TABLE orders (
    id                 INTEGER PRIMARY KEY,
    client_order_id    TEXT    NOT NULL UNIQUE,
    exchange_order_id  TEXT    NOT NULL DEFAULT '',
    symbol             TEXT    NOT NULL,
    side               TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    type               TEXT    NOT NULL CHECK (type IN ('MARKET', 'LIMIT')),
    quantity           TEXT    NOT NULL,
    price              TEXT,
    stop_price         TEXT,
    status             TEXT    NOT NULL CHECK (status IN ('INTENT', 'NEW', 'PARTIALLY_FILLED', 'FILLED',
                                                          'CANCELED', 'EXPIRED', 'REJECTED')),
    time_in_force      TEXT,
    created_ms         INTEGER NOT NULL,
    updated_ms         INTEGER NOT NULL,
    executed_qty       TEXT    NOT NULL DEFAULT '0',
    avg_price          TEXT    NOT NULL DEFAULT '0',
    fees               TEXT    NOT NULL DEFAULT '0',
    realized_pnl       TEXT    NOT NULL DEFAULT '0',
    source             TEXT    NOT NULL,
    reason             TEXT    NOT NULL DEFAULT '',
    signal_id          INTEGER,
    attempts           INTEGER NOT NULL DEFAULT 0,
    error              TEXT    NOT NULL DEFAULT '',
    session_id         INTEGER REFERENCES sessions (id) ON DELETE SET NULL
);
CREATE INDEX orders_symbol_created ON orders (symbol, created_ms);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_session ON orders (session_id);

CREATE TABLE fills (
    id               INTEGER PRIMARY KEY,
    client_order_id  TEXT    NOT NULL REFERENCES orders (client_order_id),
    symbol           TEXT    NOT NULL,
    side             TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price            TEXT    NOT NULL,
    quantity         TEXT    NOT NULL,
    fee              TEXT    NOT NULL,
    fee_asset        TEXT    NOT NULL DEFAULT '',
    ts_ms            INTEGER NOT NULL,
    trade_id         TEXT,  -- NULL when the broker gave none (no de-duplication then)
    UNIQUE (client_order_id, trade_id)
);
CREATE INDEX fills_symbol_ts ON fills (symbol, ts_ms);
CREATE INDEX fills_ts ON fills (ts_ms);

CREATE TABLE positions (
    symbol        TEXT    PRIMARY KEY,
    quantity      TEXT    NOT NULL,
    avg_entry     TEXT    NOT NULL,
    entry_ms      INTEGER NOT NULL,
    fees          TEXT    NOT NULL DEFAULT '0',
    realized_pnl  TEXT    NOT NULL DEFAULT '0',
    cost          TEXT    NOT NULL DEFAULT '0',
    updated_ms    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE account (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    cash              TEXT    NOT NULL,
    quote_asset       TEXT    NOT NULL,
    starting_balance  TEXT    NOT NULL,
    realized_pnl      TEXT    NOT NULL DEFAULT '0',
    fees_paid         TEXT    NOT NULL DEFAULT '0',
    peak_equity       TEXT    NOT NULL,
    day_start_ms      INTEGER NOT NULL,
    day_start_equity  TEXT    NOT NULL,
    updated_ms        INTEGER NOT NULL
);

CREATE TABLE trading_signals (
    id               INTEGER PRIMARY KEY,
    session_id       INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    ts_ms            INTEGER NOT NULL,
    symbol           TEXT    NOT NULL,
    signal_type      TEXT    NOT NULL CHECK (signal_type IN ('BUY', 'SELL')),
    kind             TEXT    NOT NULL DEFAULT 'entry',
    strength         REAL    NOT NULL,
    confidence       REAL    NOT NULL,
    z_score          REAL,
    reason           TEXT    NOT NULL DEFAULT '',
    urgent           INTEGER NOT NULL DEFAULT 0,
    executed         INTEGER NOT NULL DEFAULT 0,
    outcome          TEXT    NOT NULL DEFAULT '',
    order_client_id  TEXT
);
CREATE INDEX trading_signals_symbol_ts ON trading_signals (symbol, ts_ms);
CREATE INDEX trading_signals_ts ON trading_signals (ts_ms);

CREATE TABLE equity_snapshots (
    id               INTEGER PRIMARY KEY,
    session_id       INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    ts_ms            INTEGER NOT NULL,
    equity           REAL    NOT NULL,
    cash             TEXT    NOT NULL,
    positions_value  REAL    NOT NULL,
    drawdown_pct     REAL    NOT NULL
);
CREATE INDEX equity_snapshots_session_ts ON equity_snapshots (session_id, ts_ms);
CREATE INDEX equity_snapshots_ts ON equity_snapshots (ts_ms);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    ts_ms      INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    args_json  TEXT    NOT NULL DEFAULT '{}',
    ok         INTEGER NOT NULL,
    outcome    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_ts ON audit_log (ts_ms);

CREATE TABLE engine_state (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    state                TEXT    NOT NULL CHECK (state IN ('stopped', 'running', 'paused', 'reducing',
                                                            'emergency_stopped')),
    reason               TEXT    NOT NULL DEFAULT '',
    updated_ms           INTEGER NOT NULL,
    z_threshold          REAL,
    locked_symbols_json  TEXT    NOT NULL DEFAULT '[]'
);

CREATE TABLE kv (
    key    TEXT PRIMARY KEY,
    value  TEXT
) WITHOUT ROWID;

CREATE TABLE sequences (
    name   TEXT    PRIMARY KEY,
    value  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE backtest_runs (
    run_id        TEXT    PRIMARY KEY,
    created_ms    INTEGER NOT NULL,
    config_json   TEXT    NOT NULL DEFAULT '{}',
    data_desc     TEXT    NOT NULL DEFAULT '',
    summary_json  TEXT    NOT NULL DEFAULT '{}'
);

CREATE TABLE backtest_trades (
    run_id           TEXT    NOT NULL REFERENCES backtest_runs (run_id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    ts_ms            INTEGER NOT NULL,
    symbol           TEXT    NOT NULL,
    side             TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price            TEXT    NOT NULL,
    quantity         TEXT    NOT NULL,
    fee              TEXT    NOT NULL,
    realized_pnl     TEXT    NOT NULL DEFAULT '0',
    client_order_id  TEXT    NOT NULL DEFAULT '',
    reason           TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE backtest_equity (
    run_id  TEXT    NOT NULL REFERENCES backtest_runs (run_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    ts_ms   INTEGER NOT NULL,
    equity  REAL    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
"""

#: Version 2: ``glicko_ratings`` is indexed on ``(ts_ms, symbol)`` only. Every period appends N rows
#: with the same time; an index on ``(symbol, ts_ms)`` scatters them over N places of its b-tree:
#: at N = 500 an insert cost 7.0 us per row with the two version-1 indexes, 1.3 us with this one.
#: Reads by time (pruning, the latest stored time, the z-score warm-up of the last n periods)
#: all use it.
_V2 = """
DROP INDEX glicko_ratings_symbol_ts;
DROP INDEX glicko_ratings_ts;
CREATE INDEX glicko_ratings_ts_symbol ON glicko_ratings (ts_ms, symbol);
"""

#: ``MIGRATIONS[i]`` upgrades version ``i`` to ``i + 1``. Append only.
MIGRATIONS: tuple[str, ...] = (_V1, _V2)

#: The schema version this code reads and writes.
SCHEMA_VERSION = len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (``sqlite3.complete_statement``
    decides where one ends, so semicolons inside strings or triggers are safe).

    ``executescript`` cannot be used for migrations: it commits any open
    transaction first.
    """
    out: list[str] = []
    buf = ""
    pieces = script.split(";")
    for i, piece in enumerate(pieces):
        buf += piece if i == len(pieces) - 1 else piece + ";"
        if buf.rstrip().endswith(";") and sqlite3.complete_statement(buf):
            stmt = _strip_leading_comments(buf)
            if stmt.strip(";").strip() and not _only_comments(stmt):
                out.append(stmt)
            buf = ""
    if buf.strip(";").strip() and not _only_comments(buf):
        raise MigrationError(f"incomplete SQL statement at the end of a migration: {buf.strip()[:80]!r}")
    return out


def _strip_leading_comments(stmt: str) -> str:
    lines = stmt.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].strip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


def _only_comments(stmt: str) -> bool:
    lines = [ln.strip() for ln in stmt.splitlines()]
    return all(not ln or ln.startswith("--") or ln == ";" for ln in lines)


async def user_version(conn: aiosqlite.Connection) -> int:
    rows = await conn.execute_fetchall("PRAGMA user_version")
    return int(list(rows)[0][0])


async def migrate(conn: aiosqlite.Connection, migrations: tuple[str, ...] | list[str] = MIGRATIONS) -> int:
    """Bring the database at ``conn`` up to ``len(migrations)``; returns the version.

    ``conn`` must be in autocommit mode (``isolation_level=None``) with no open
    transaction. All pending scripts and the ``user_version`` bump run in one
    ``BEGIN IMMEDIATE`` transaction; on error it is rolled back and
    :class:`MigrationError` is raised. A newer database raises
    :class:`SchemaVersionError` before anything is written.
    """
    target = len(migrations)
    current = await user_version(conn)
    if current > target:
        raise SchemaVersionError(
            f"database schema version {current} is newer than this tui-trader supports ({target}); "
            "upgrade tui-trader or use another database file"
        )
    if current == target:
        return current
    await conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read inside the write lock: another process may have migrated meanwhile.
        current = await user_version(conn)
        if current > target:
            raise SchemaVersionError(
                f"database schema version {current} is newer than this tui-trader supports ({target})"
            )
        for version in range(current, target):
            for stmt in split_statements(migrations[version]):
                try:
                    await conn.execute(stmt)
                except sqlite3.Error as exc:
                    raise MigrationError(
                        f"migration {version} -> {version + 1} failed: {exc} (in {stmt.strip()[:120]!r})"
                    ) from exc
        await conn.execute(f"PRAGMA user_version = {int(target)}")
        await conn.execute("COMMIT")
    except BaseException:
        # SQLite has already rolled back after some errors (a full disk or an I/O error at COMMIT):
        # a ROLLBACK then fails with "no transaction is active" and hides the cause
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
    return target
