"""The SQLite database of tui-trader (aiosqlite): connection, transactions, lifecycle.

``await Database.open(path)`` creates the parent folder, opens the file (or
``":memory:"`` for tests), sets the pragmas, migrates the schema
(:mod:`.schema`) and starts the batched writer (:mod:`.writer`). The typed
table methods live in :mod:`.queries` and are called on the ``Database``.

Durability
----------
* ``journal_mode=WAL``: readers never block the writer; a commit is a single
  append to the WAL file.
* ``synchronous=NORMAL`` by default. In WAL mode a committed transaction is
  atomic and consistent even if the process is killed (``kill -9``) right
  after ``COMMIT`` returns: the WAL frames are in the OS page cache and the
  next open replays them. Only an operating-system crash or power loss can
  lose the last few commits (never corrupt the file). ``synchronous="FULL"``
  (an fsync per commit) closes that window at a cost of milliseconds per money
  transaction; live trading can afford it, but the default stays NORMAL because
  after a restart the order manager reconciles INTENT/open orders with the
  exchange anyway, and paper/backtest runs would pay the fsync on every fill.
* ``foreign_keys=ON``, ``busy_timeout`` (another process holding the write
  lock is waited for up to this long, then ``database is locked`` is raised).

Concurrency
-----------
One connection, used by one task at a time: an ``asyncio.Lock`` guards every
statement, so a read never sees another task's uncommitted rows and a flush of
the batched writer never interleaves with a money transaction.
:meth:`Database.transaction` is re-entrant for the task that holds it (nested
blocks become SAVEPOINTs that roll back on their own). A task must not wait for
ANOTHER task that needs the database while holding a transaction.

Money methods run their transaction to completion even if the awaiting task is
cancelled, so a cancelled caller never leaves "committed but not known" or
half-written state behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Literal, TypeVar

import aiosqlite

from tui_trader.clock import Clock, WallClock
from tui_trader.storage.queries import BUFFERED_TABLES, QueriesMixin
from tui_trader.storage.schema import SCHEMA_VERSION, SchemaVersionError, StorageError, migrate, user_version
from tui_trader.storage.writer import Batch, BatchedWriter

__all__ = ["Database"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_KIB = 16_384  # SQLite page cache per connection (KiB)


class Database(QueriesMixin):
    """An open tui-trader database. Create with :meth:`open`, finish with :meth:`close`."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: str,
        clock: Clock,
        *,
        max_batch_size: int = 100,
        flush_interval_s: float = 2.0,
        max_buffered_rows: int = 100_000,
    ) -> None:
        # Use Database.open(); this only wires an already configured connection.
        self._conn: aiosqlite.Connection | None = conn
        self.path = path
        self._clock = clock
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._tx_depth = 0
        self._closing = False
        self.writer = BatchedWriter(
            self._write_batch,
            max_batch_size=max_batch_size,
            flush_interval_s=flush_interval_s,
            max_buffered_rows=max_buffered_rows,
            can_flush_now=self._not_in_transaction,
        )
        for table, sql in BUFFERED_TABLES.items():
            self.writer.register(table, sql)

    # -- lifecycle ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        clock: Clock | None = None,
        max_batch_size: int = 100,
        flush_interval_s: float = 2.0,
        max_buffered_rows: int = 100_000,
        busy_timeout_ms: int = 5_000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        start_writer: bool = True,
    ) -> Database:
        """Open (creating if needed) and migrate the database at ``path``.

        ``max_batch_size`` rows in one buffer trigger a flush (use
        ``config.data_processing.max_batch_size``; backtests may pass thousands);
        ``flush_interval_s`` bounds how long buffered rows wait (wall time);
        ``max_buffered_rows`` caps each buffer while flushes fail. ``clock``
        stamps session start/end when no time is given. With ``start_writer``
        False no background flush task runs (rows are flushed by size,
        ``flush()`` and ``close()`` only).

        Raises :class:`SchemaVersionError` for a database written by a newer
        version, :class:`StorageError` for a file that is not a usable SQLite
        database.
        """
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        if max_batch_size < 1 or not flush_interval_s > 0 or max_buffered_rows < max_batch_size:
            raise ValueError(
                "need max_batch_size >= 1, flush_interval_s > 0 and max_buffered_rows >= max_batch_size; got "
                f"{max_batch_size}, {flush_interval_s}, {max_buffered_rows}"
            )
        path_str = str(path)
        if not path_str:
            raise ValueError("database path must not be empty (use ':memory:' for a throw-away database)")
        memory = path_str == ":memory:"
        if not memory:
            path_str = _prepare_path(path_str)
        conn = await aiosqlite.connect(path_str, isolation_level=None)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            try:
                version = await user_version(conn)
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"{path_str} is not a usable SQLite database: {exc}") from exc
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{path_str}: database schema version {version} is newer than this tui-trader supports "
                    f"({SCHEMA_VERSION}); upgrade tui-trader or use another database file"
                )
            if not memory:
                rows = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
                if str(rows[0][0]).lower() != "wal":
                    raise StorageError(f"{path_str}: could not enable WAL journal mode (got {rows[0][0]!r})")
            await conn.execute(f"PRAGMA synchronous = {synchronous}")
            # 16 MiB of page cache (default 2 MiB): index pages of the high-volume tables stay in
            # memory during long batched writes (~30 % fewer microseconds per rating row)
            await conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await migrate(conn)
        except BaseException:
            await conn.close()
            raise
        db = cls(
            conn,
            path_str,
            clock or WallClock(),
            max_batch_size=max_batch_size,
            flush_interval_s=flush_interval_s,
            max_buffered_rows=max_buffered_rows,
        )
        if start_writer:
            db.writer.start()
        return db

    async def close(self) -> None:
        """Flush every buffered row, then close. Idempotent.

        If the final flush fails twice the connection is still closed and a
        :class:`StorageError` tells how many buffered rows were lost.
        """
        if self._conn is None or self._closing:
            return
        if not self._not_in_transaction():
            raise StorageError("close() inside a transaction: leave the transaction block first")
        self._closing = True
        try:
            await self.writer.stop()
            error: BaseException | None = None
            for _ in range(2):
                try:
                    await self.writer.flush()
                    error = None
                    break
                except Exception as exc:  # retried once, then reported
                    error = exc
            lost = self.writer.pending
            async with self._lock:
                conn, self._conn = self._conn, None
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("PRAGMA optimize")
                await conn.close()
            if error is not None:
                raise StorageError(
                    f"closing {self.path}: final flush failed, {lost} buffered rows lost: {error}"
                )
        finally:
            self._closing = False

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    # -- connection access -----------------------------------------------------------

    def _not_in_transaction(self) -> bool:
        return self._owner is not asyncio.current_task()

    @contextlib.asynccontextmanager
    async def _use(self) -> AsyncIterator[aiosqlite.Connection]:
        """Exclusive use of the connection (re-entrant for the owning task)."""
        conn = self._conn
        if conn is None:
            raise StorageError("database is closed")
        task = asyncio.current_task()
        if self._owner is task and task is not None:
            yield conn
            return
        async with self._lock:
            if self._conn is None:
                raise StorageError("database is closed")
            self._owner = task
            try:
                yield conn
            finally:
                self._owner = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` if the block raises.

        Yields the aiosqlite connection. Nested use in the same task becomes a
        SAVEPOINT (an exception inside rolls back only the nested part, then
        propagates).
        """
        async with self._use() as conn:
            if self._tx_depth > 0:
                name = f"sp{self._tx_depth}"
                await conn.execute(f"SAVEPOINT {name}")
                self._tx_depth += 1
                try:
                    yield conn
                except BaseException:
                    await conn.execute(f"ROLLBACK TO {name}")
                    await conn.execute(f"RELEASE {name}")
                    raise
                else:
                    await conn.execute(f"RELEASE {name}")
                finally:
                    self._tx_depth -= 1
                return
            await conn.execute("BEGIN IMMEDIATE")
            self._tx_depth = 1
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                await self._rollback(conn)
                raise
            finally:
                self._tx_depth = 0

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        try:
            await conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:  # e.g. COMMIT went through before a cancel
            log.debug("rollback: %s", exc)

    async def _critical(self, fn: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` in one transaction that completes even if the caller is cancelled."""

        async def body() -> T:
            async with self.transaction() as conn:
                return await fn(conn)

        if self._owner is asyncio.current_task():
            return await body()  # inside the caller's own transaction: part of it
        task = asyncio.ensure_future(body())
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _critical_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Like :meth:`_critical` for a *synchronous* ``fn(raw sqlite3 connection)``: the whole
        transaction (``BEGIN IMMEDIATE``, ``fn``, ``COMMIT`` - or a SAVEPOINT inside the caller's
        own transaction) runs in ONE trip to the database thread instead of one per statement.
        Completes even if the caller is cancelled; any exception rolls it back and propagates."""

        async def body() -> T:
            async with self._use() as conn:
                savepoint = f"sp{self._tx_depth}" if self._tx_depth > 0 else None
                return await conn._execute(_run_transaction, conn._conn, fn, savepoint)

        if self._owner is asyncio.current_task():
            return await body()  # inside the caller's own transaction: a savepoint of it
        task = asyncio.ensure_future(body())
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    # -- maintenance ---------------------------------------------------------------

    async def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` plus ``foreign_key_check``: ``"ok"`` or the problems found."""
        rows = await self._fetchall("PRAGMA integrity_check")
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
        fk = await self._fetchall("PRAGMA foreign_key_check")
        problems += [f"foreign key violation: table {r[0]} rowid {r[1]} -> {r[2]}" for r in fk]
        return "ok" if not problems else "\n".join(problems)

    async def schema_version(self) -> int:
        async with self._use() as conn:
            return await user_version(conn)

    async def pragma(self, name: str) -> object:
        """Read a PRAGMA value (diagnostics and tests), e.g. ``await db.pragma("journal_mode")``."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad pragma name {name!r}")
        row = await self._fetchone(f"PRAGMA {name}")
        return None if row is None else row[0]

    # -- batched writer ---------------------------------------------------------------

    async def flush(self) -> int:
        """Commit every buffered row now; returns how many. Raises if the flush fails
        (the rows stay buffered). Must not be called inside ``transaction()``."""
        if not self._not_in_transaction():
            raise StorageError("flush() inside a transaction: buffered rows would share its fate")
        return await self.writer.flush()

    async def _queued(self, due: bool) -> None:
        if due:
            await self.writer.maybe_flush()

    async def _write_batch(self, batches: list[Batch]) -> dict[str, int]:
        """The writer's flush: all batches in one transaction. If a row violates a
        constraint, the transaction is redone row by row and the bad rows are
        refused (counted) so one bad row never blocks the others forever."""
        try:
            async with self.transaction() as conn:
                for _table, sql, rows in batches:
                    await conn.executemany(sql, rows)
            return {}
        except sqlite3.IntegrityError as exc:
            log.warning("storage writer: constraint violation in a batch (%s); isolating bad rows", exc)
        rejected: dict[str, int] = {}
        async with self.transaction() as conn:
            for table, sql, rows in batches:
                bad = 0
                for row in rows:
                    try:
                        await conn.execute(sql, row)
                    except sqlite3.IntegrityError as exc:
                        bad += 1
                        if bad == 1:
                            log.error("storage writer: %s row refused (%s): %r", table, exc, row)
                if bad:
                    rejected[table] = bad
        return rejected


def _prepare_path(path: str) -> str:
    """Expand ``~`` and create the parent folder; returns the path to open."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    return str(p)


def _run_transaction(raw: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], savepoint: str | None) -> T:
    """On the database thread: ``fn(raw)`` in its own transaction (or savepoint), rolled back on error."""
    if savepoint is not None:
        raw.execute(f"SAVEPOINT {savepoint}")
        try:
            out = fn(raw)
        except BaseException:
            raw.execute(f"ROLLBACK TO {savepoint}")
            raw.execute(f"RELEASE {savepoint}")
            raise
        raw.execute(f"RELEASE {savepoint}")
        return out
    raw.execute("BEGIN IMMEDIATE")
    try:
        out = fn(raw)
        raw.execute("COMMIT")
    except BaseException:
        try:
            raw.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:  # e.g. the transaction already ended
            log.debug("rollback: %s", exc)
        raise
    return out


def _retrieve(task: asyncio.Future[object]) -> None:
    """Mark a shielded task's exception as seen (the awaiting caller may be gone)."""
    if not task.cancelled():
        task.exception()
