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
* Every write first checks that the file is still the one opened (one ``stat``): SQLite itself
  goes on committing into a deleted file in WAL mode, and all of it is lost at exit. A file
  deleted, moved or replaced meanwhile makes the write fail (:class:`~.schema.DatabaseMovedError`).
* ``foreign_keys=ON``, ``busy_timeout`` (another process holding the write
  lock is waited for up to this long, then ``database is locked`` is raised).
* ``wal_autocheckpoint=0``: SQLite would otherwise run a checkpoint (copying the
  WAL into the database file, two fsyncs: ~10 ms for a few MB) inside whichever
  commit crosses 1000 WAL pages - possibly a money transaction run on the event
  loop thread. Instead the database runs ``PRAGMA wal_checkpoint(PASSIVE)`` in a
  background thread on a second, checkpoint-only connection once
  :attr:`Database.checkpoint_rows` rows were written by the batched writer or
  :attr:`Database.checkpoint_uses` other transactions ran since the last one. A
  PASSIVE checkpoint never blocks the writing connection, so no transaction
  waits for it. The checkpoint starts at the end of a writer flush and repeats
  until no commit came in meanwhile, so that the next commit restarts the WAL
  file from its beginning; if commits keep that from happening until the WAL
  holds :attr:`Database.wal_max_frames` frames, one checkpoint runs on the main
  connection (nothing can commit meanwhile), so the WAL stays bounded.

Concurrency
-----------
One connection, used by one task at a time: an ``asyncio.Lock`` guards every
statement (every access goes through ``_use()``), so a read never sees another
task's uncommitted rows and a flush of the batched writer never interleaves
with a money transaction. :meth:`Database.transaction` is re-entrant for the
task that holds it (nested blocks become SAVEPOINTs that roll back on their
own). A task must not wait for ANOTHER task that needs the database while
holding a transaction.

aiosqlite runs statements on its own thread; a trip there and back costs
~0.1-0.2 ms of queueing and event loop wake-up, more than the SQL of a money
transaction, and a bulk flush queued ahead of it made it wait tens of
milliseconds. So:

* A money transaction (``_critical_sync``) runs right away on the event loop
  thread, on the same connection (opened with ``check_same_thread=False``),
  when no other task is inside a transaction or a read and no job is running
  on the database thread: it is short (one small transaction, no fsync with
  ``synchronous=NORMAL``) and, having no ``await`` inside, cannot interleave
  with any other task. A thread mutex (:class:`_Connection`) keeps the two
  threads from ever using the connection at the same time. With
  ``synchronous=FULL`` (an fsync per commit) money transactions always go to the
  database thread so the event loop never waits for the disk.
* The batched writer flushes in pieces of one table and at most
  :data:`FLUSH_CHUNK_ROWS` rows. A piece is ONE multi-row ``INSERT`` statement
  (atomic by itself, ~1-3 ms). Under the same conditions as a money transaction
  it runs right here on the event loop thread, one piece per event loop step,
  so money transactions and the UI get their turn between two pieces. Measured
  on the 2024 replay, this is 0.25-0.35 s faster than handing pieces to the
  database thread: that thread needs the GIL back after every SQLite call and
  waits up to one switch interval (5 ms) for it while the event loop computes,
  and each hand-over costs the event loop thread more than the insert saves.
  Otherwise (``synchronous=FULL``, the connection busy, or another process
  holding the write lock) the piece runs as ONE job on the database thread
  (few SQLite calls per job: ``executemany`` makes one per row, and a 2,000-row
  flush took seconds while the loop was busy); a money transaction may overtake
  that job while it has not started. A money transaction that finds a piece
  running there waits for that piece only, then runs inline; the writer then
  pauses :data:`PIECE_PAUSE_S` so that the rest of a burst of money transactions
  (an order intent, its fills, the next orders) runs inline too.
* Reads, ``transaction()`` blocks and checkpoints on the main connection run on
  the database thread.

Money methods run their transaction to completion even if the awaiting task is
cancelled, so a cancelled caller never leaves "committed but not known" or
half-written state behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from tui_trader.clock import Clock, WallClock
from tui_trader.private import create_file, make_folders
from tui_trader.storage.queries import BUFFERED_TABLES, QueriesMixin
from tui_trader.storage.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    DatabaseMovedError,
    SchemaVersionError,
    StorageError,
    failure_hint,
    file_in_the_way,
    migrate,
    user_version,
)
from tui_trader.storage.writer import Batch, BatchedWriter

__all__ = ["Database"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_KIB = 16_384  # SQLite page cache per connection (KiB)
#: Rows committed by a writer flush in one transaction (see :class:`BatchedWriter`).
FLUSH_CHUNK_ROWS = 1_000
#: Pause (s) of a flush after a piece that a money transaction had to wait for.
PIECE_PAUSE_S = 5e-3
#: Rows per multi-row INSERT statement of a flush (see :func:`_statements`).
ROWS_PER_STATEMENT = 2_000
#: A WAL checkpoint runs once the batched writer committed this many rows since the last one ...
CHECKPOINT_ROWS = 10_000
#: ... or once this many other transactions/statements ran (a money transaction writes a few pages).
CHECKPOINT_USES = 200
#: WAL frames (pages) beyond which a checkpoint runs on the main connection to get a complete one.
WAL_MAX_FRAMES = 8_000
#: Bytes the WAL file is cut back to when it restarts (``PRAGMA journal_size_limit``). SQLite reuses
#: the WAL file without shrinking it: one burst (the warm-up's klines, a long prune: tens to hundreds
#: of MB with a large universe) would otherwise keep that much disk for as long as the engine runs.
#: A checkpoint cycle of normal running writes a few MB, well below it, so it costs nothing then.
WAL_SIZE_LIMIT = 16 * 1024 * 1024


_MUTEX_POLL_S = 50e-6  # the database thread waits for an inline transaction (~0.1 ms) in these steps


class _Connection(aiosqlite.Connection):
    """An aiosqlite connection that knows which jobs its thread has (every job handed to
    the thread is registered until it has finished running there) and that can run a
    function on the calling thread instead (:meth:`run_here`) when no job is running.

    A thread mutex is held by every job while it runs and by :meth:`run_here`, so the
    two never use the SQLite connection at the same time, even when a *deferrable* job
    (one that is a whole transaction by itself: a writer flush piece) is queued: a call
    of :meth:`run_here` made before that job starts runs first, and the job waits.

    The busy timeout (how long SQLite waits for another process's write lock) is
    ``busy_timeout_ms`` for work on the database thread, but 0 for work on the
    calling thread (the event loop must not wait for another process). It is
    switched lazily, inside the next job of the other kind, so back-to-back inline
    transactions pay no extra statement. A deferrable job does not switch it (one
    more SQLite call in a job costs a GIL round trip, up to 5 ms while the event loop
    computes): a flush piece right after an inline transaction does not wait for
    another process's write lock, it fails and the writer retries it later."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_timeout_ms: int) -> None:
        super().__init__(connector, 64)
        self._jobs: set[object] = set()  # added on the loop thread, discarded on the worker thread
        self._deferrable: object | None = None  # the token of the queued deferrable job
        self._mutex = threading.Lock()  # held while the sqlite3 connection is in use
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._timeout_set = self.busy_timeout_ms  # what the sqlite3 connection has now

    @property
    def only_deferrable(self) -> bool:
        """No job queued or running, except (maybe) a deferrable one."""
        jobs = self._jobs
        return not jobs or (len(jobs) == 1 and self._deferrable in jobs)

    def _set_timeout(self, raw: sqlite3.Connection, ms: int) -> None:
        if self._timeout_set != ms:
            raw.execute(f"PRAGMA busy_timeout = {ms}").fetchall()
            self._timeout_set = ms

    def run_here(self, fn: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """``(True, fn(raw connection))`` run on the calling thread with no busy wait, or
        ``(False, None)`` without running it when a job is running on the database thread
        or the connection is inside a transaction. The caller guarantees
        :attr:`only_deferrable` and that no other task uses the connection meanwhile."""
        if not self.only_deferrable or not self._mutex.acquire(blocking=False):
            return False, None
        try:
            raw = self._conn
            if raw.in_transaction:  # never expected: only between the jobs of a transaction
                return False, None
            self._set_timeout(raw, 0)
            return True, fn(raw)
        finally:
            self._mutex.release()

    def _acquire_mutex(self) -> None:
        """On the database thread: take the mutex, only ever while holding the GIL. A blocking
        ``acquire`` would take it as soon as :meth:`run_here` lets go, then wait (up to the
        interpreter's switch interval, 5 ms) for the GIL while the event loop computes - and
        the next inline call would find the connection taken by a job that has not started."""
        while not self._mutex.acquire(blocking=False):
            time.sleep(_MUTEX_POLL_S)

    async def execute_deferrable(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the database thread as a deferrable job: it must be a whole
        transaction by itself (it may wait while :meth:`run_here` calls run before it)."""
        return await self._execute(fn, *args, _deferrable=True)

    async def _execute(self, fn: Callable[..., Any], *args: Any, _deferrable: bool = False, **kwargs: Any) -> Any:
        call = functools.partial(fn, *args, **kwargs)
        token = object()
        jobs = self._jobs

        def job() -> object:
            try:
                self._acquire_mutex()
                try:
                    if not _deferrable and self._connection is not None:
                        self._set_timeout(self._connection, self.busy_timeout_ms)
                    return call()
                finally:
                    self._mutex.release()
            finally:
                jobs.discard(token)

        jobs.add(token)
        if _deferrable:
            self._deferrable = token
        try:
            return await super()._execute(job)
        except ValueError:  # "Connection closed" before queuing, or raised by the job itself (done)
            jobs.discard(token)
            raise


def _connect(path: str, busy_timeout_ms: int, *, uri: bool = False) -> _Connection:
    """Like :func:`aiosqlite.connect` (autocommit mode), with a :class:`_Connection`.
    ``check_same_thread=False``: inline transactions use it from the event loop thread.
    ``uri``: ``path`` is a ``file:`` URI (a read-only open)."""
    return _Connection(
        lambda: sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000, uri=uri
        ),
        busy_timeout_ms,
    )


def _read_only_uri(path: str, *, immutable: bool = False) -> str:
    """The ``file:`` URI that opens the existing file at ``path`` read-only: SQLite refuses
    every write on it (no migration, no journal mode switch, nothing created but the WAL
    index files a reader of a WAL database needs). ``immutable``: not even those (a file
    on a read-only disk, see :func:`_prepare_read_only`)."""
    return f"{Path(path).expanduser().resolve().as_uri()}?mode=ro{'&immutable=1' if immutable else ''}"


def schema_tables(version: int) -> frozenset[str]:
    """The tables the migrations up to ``version`` create: a file at that version lacking one
    is not ours (a book of an older version has only its own version's tables)."""
    return frozenset(
        m.group(1) for script in MIGRATIONS[:version] for m in re.finditer(r"CREATE TABLE (\w+)", script)
    )


async def _other_tables(conn: aiosqlite.Connection) -> list[str]:
    """The tables of the file at ``conn`` (SQLite's own ``sqlite_*`` ones aside)."""
    rows = await conn.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name"
    )
    return [str(r[0]) for r in rows]


async def _check_ours(conn: aiosqlite.Connection, path: str, version: int, *, read_only: bool) -> None:
    """Refuse a SQLite file that is not a tui-trader database: a file at version 0 that
    already holds tables (someone else's database: migrating would write our schema into it),
    a file lacking a table of its version's schema (an engine would start on it and fail
    half way, after writing its session row), or, for a read-only open, a file at version 0."""
    tables = await _other_tables(conn)
    if version == 0 and (tables or read_only):
        held = f"it holds other tables ({', '.join(tables[:5])}{', ...' if len(tables) > 5 else ''})" \
            if tables else "it holds no tui-trader tables"
        raise StorageError(f"{path} is not a tui-trader database: {held}; give another --db file "
                           "(a new or empty file becomes a tui-trader database)")
    missing = sorted(schema_tables(version) - set(tables))
    if missing:
        raise StorageError(f"{path} is not a tui-trader database: it lacks the tables {', '.join(missing)}")


#: The tables of the bulk rows (ratings, klines, equity samples, backtests): by far the largest
#: part of a book (a 500 MB one takes ~1.6 s to check whole), written only by appending and
#: pruning, and not checked at open (damage there surfaces as a storage failure when it is hit).
BULK_TABLES = frozenset({"glicko_ratings", "klines", "equity_snapshots", "backtest_trades", "backtest_equity"})


async def _check_not_damaged(conn: aiosqlite.Connection, path: str, version: int) -> None:
    """Refuse a damaged book before anything is written to it (a session row, the migration,
    ``PRAGMA optimize`` at close): ``PRAGMA quick_check`` of each table but the bulk ones (the
    book's money, orders, state and history; ~2 ms for a year replayed, 733 fills). The page-1 header and
    the schema are read by the open already. SQLite before 3.33 checks only a whole file."""
    if sqlite3.sqlite_version_info < (3, 33, 0):
        checks = ["PRAGMA quick_check(1)"]
    else:
        checks = [f"PRAGMA quick_check('{t}')" for t in sorted(schema_tables(version) - BULK_TABLES)]
    for sql in checks:
        try:
            rows = await conn.execute_fetchall(sql)
        except sqlite3.DatabaseError as exc:  # a page too damaged to be checked ("malformed")
            if _is_busy(exc):  # another program took a lock since the open read the header: no damage
                raise
            problems = [str(exc)]
        else:
            problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
        if problems:
            first = (problems[0].replace("*** in database main ***", "").strip().splitlines() or ["?"])[0]
            raise StorageError(f"{path}: the database file is damaged ({first}); nothing was written to it: "
                               f"restore a backup, or start a new book with another --db{_stale_wal_hint(path)}")


def _wal_beside(path: str) -> bool:
    """A ``-wal`` file with commits in it is beside the database file at ``path``."""
    wal = Path(f"{path}-wal")
    return wal.is_file() and wal.stat().st_size > 0


def _reader_files(path: str) -> bool:
    """The ``-wal`` or ``-shm`` file is beside the database file at ``path`` (``~`` expanded)."""
    p = Path(path).expanduser()
    return Path(f"{p}-wal").exists() or Path(f"{p}-shm").exists()


def _drop_reader_files(path: str) -> None:
    """Remove the empty ``-wal`` and the ``-shm`` a read-only open made beside a WAL book that had
    none (a book closed cleanly), as an engine's close does: SQLite, not this code, removes them,
    as a connection that may write closes (``query_only``: it writes nothing; its ``-wal`` is empty,
    so its checkpoint copies nothing) - only when it is the book's last connection. A book another
    program opened meanwhile keeps them, as does one this process may not write (SQLite then opens
    it read-only) and one whose ``-wal`` holds commits (never copied into the file here)."""
    wal = Path(f"{path}-wal")
    try:
        if not wal.is_file() or wal.stat().st_size:
            return
        con = sqlite3.connect(path, isolation_level=None, timeout=0)
    except (OSError, sqlite3.Error):
        return
    try:
        con.execute("PRAGMA query_only = ON")
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error:
        pass
    finally:
        with contextlib.suppress(sqlite3.Error):
            con.close()


def _stale_wal_hint(path: str) -> str:
    """SQLite reads the ``-wal`` file beside a file as that file's last commits, whatever file it
    is: one left by the file a backup replaced damages the copy. Said when there is one."""
    if not _wal_beside(path):
        return ""
    name = Path(path).name
    return (f"; if this file was restored from a backup, first move away the {name}-wal and "
            f"{name}-shm files beside it: they are the replaced file's")


async def _check_file(conn: aiosqlite.Connection, path: str, *, read_only: bool) -> None:
    """Refuse (:class:`StorageError`) a file this program must not open: a newer or a negative
    schema version, a file that is not a tui-trader database, a damaged book (not for a read-only
    open: an export reads what it can), a file another program holds locked."""
    try:
        version = await user_version(conn)
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{path}: database schema version {version} is newer than this tui-trader supports "
                f"({SCHEMA_VERSION}); upgrade tui-trader or use another database file"
            )
        if version < 0:  # a hand edit or a damaged header: no migration starts below 0
            raise StorageError(
                f"{path} is not a tui-trader database: its schema version (PRAGMA user_version) is "
                f"{version}, none that tui-trader writes; give another --db file"
            )
        await _check_ours(conn, path, version, read_only=read_only)
        if not read_only:  # (an export reads what it can of a damaged file)
            await _check_not_damaged(conn, path, version)
    except sqlite3.DatabaseError as exc:
        if _is_busy(exc):  # a lock held by another program (an exclusive one blocks readers too)
            raise StorageError(f"cannot open the database {path}: {exc}{failure_hint(exc)}") from exc
        raise StorageError(f"{path} is not a usable SQLite database: {exc}") from exc


class Database(QueriesMixin):
    """An open tui-trader database. Create with :meth:`open`, finish with :meth:`close`."""

    def __init__(
        self,
        conn: _Connection,
        path: str,
        clock: Clock,
        *,
        max_batch_size: int = 100,
        flush_interval_s: float = 2.0,
        max_buffered_rows: int = 100_000,
        inline_money: bool = True,
        wal: bool = True,
        synchronous: str = "NORMAL",
        max_variables: int = 32_766,
    ) -> None:
        # Use Database.open(); this only wires an already configured connection.
        self._conn: _Connection | None = conn
        self.path = path
        self._clock = clock
        self._lock = asyncio.Lock()
        self._users = 0  # tasks holding or waiting for self._lock (all go through _use)
        self._piece_holder = False  # the lock holder is a flush piece (one deferrable job)
        self._piece_done = asyncio.Event()  # set when no flush piece holds the connection
        self._piece_done.set()
        self._money_waited = False  # a money transaction waited for the current flush piece
        self._owner: asyncio.Task[object] | None = None
        self._tx_depth = 0
        self._closing = False
        self._inline_money = bool(inline_money)
        self._wal = bool(wal)
        self._reader_made_files = False  # a read-only open made the book's -wal and -shm (see open)
        #: checkpoint thresholds (see the module docs); tests may lower them
        self.checkpoint_rows = CHECKPOINT_ROWS
        self.checkpoint_uses = CHECKPOINT_USES
        self.wal_max_frames = WAL_MAX_FRAMES
        self._main_checkpointed_frames = -1  # the WAL size the last main-connection checkpoint copied whole
        self._synchronous = synchronous
        #: the file's absolute path and (device, inode) as opened; None for a memory or read-only open
        self._file_id: tuple[str, tuple[int, int]] | None = None
        self._max_variables = int(max_variables)  # parameters per statement (SQLITE_LIMIT_VARIABLE_NUMBER)
        self._rows_since_checkpoint = 0
        self._uses_since_checkpoint = 0
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._checkpoint_lock = asyncio.Lock()  # one checkpoint at a time (the side connection)
        self._checkpoint_conn: sqlite3.Connection | None = None  # used by one checkpoint thread at a time
        #: checkpoints run, and the last one's ``(busy, wal frames, frames checkpointed)``
        self.checkpoints = 0
        self.last_checkpoint: tuple[int, int, int] | None = None
        #: money transactions run on the event loop thread / on the database thread
        self.inline_transactions = 0
        self.inline_pieces = 0  # writer flush pieces run on the event loop thread
        self.thread_transactions = 0
        self.writer = BatchedWriter(
            self._write_batch,
            max_batch_size=max_batch_size,
            flush_interval_s=flush_interval_s,
            max_buffered_rows=max_buffered_rows,
            can_flush_now=self._not_in_transaction,
            max_chunk_rows=FLUSH_CHUNK_ROWS,
            on_flushed=self._flushed,
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
        read_only: bool = False,
    ) -> Database:
        """Open (creating if needed) and migrate the database at ``path``.

        ``max_batch_size`` rows in one buffer trigger a flush (use
        ``config.data_processing.max_batch_size``; backtests may pass thousands);
        ``flush_interval_s`` bounds how long buffered rows wait (wall time);
        ``max_buffered_rows`` caps each buffer while flushes fail. ``clock``
        stamps session start/end when no time is given. With ``start_writer``
        False no background flush task runs (rows are flushed by size,
        ``flush()`` and ``close()`` only). ``read_only`` opens an existing
        file for reading only (``tui-trader export``): SQLite refuses every
        write, nothing is migrated and the journal mode is left as it is.

        A SQLite file that is not a tui-trader database (version 0 with
        tables of its own; read-only: version 0 or a schema table missing) is
        refused with :class:`StorageError` and left untouched.

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
        # a reader of a WAL book makes its -wal and -shm when there are none (a book closed cleanly):
        # removed again as it closes (see _drop_reader_files); an immutable open makes none
        reader_makes_files = read_only and not memory and not _reader_files(path_str)
        if read_only:
            path_str, ro_uri = _prepare_read_only(path_str)
            reader_makes_files = reader_makes_files and "immutable=1" not in ro_uri
        elif not memory:
            try:
                path_str = _prepare_path(path_str)
                # opened here first: when aiosqlite fails to open a file, its thread may still
                # report to the event loop after the loop closed (a traceback at exit)
                sqlite3.connect(path_str, timeout=0).close()
            except (OSError, sqlite3.Error) as exc:  # a folder, no permission, no such device...
                raise StorageError(f"cannot open the database {path_str}: {exc}") from exc
        first_read_only = not read_only and not memory and _wal_beside(path_str)
        if first_read_only:
            # checked first on a read-only connection, so that a file refused is left exactly as it
            # was: a connection that may write copies the WAL into the file as it closes, and the WAL
            # beside a file restored from a backup is the replaced file's (it would damage the copy)
            check = await _connect(_read_only_uri(path_str), int(busy_timeout_ms), uri=True)
            try:
                await check.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                await _check_file(check, path_str, read_only=False)
            finally:
                await check.close()
        # money transactions may run on the event loop thread while the connection is
        # idle (see the module docs); access stays serialised.
        conn = await _connect(ro_uri if read_only else path_str, int(busy_timeout_ms), uri=read_only)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not first_read_only:
                await _check_file(conn, path_str, read_only=read_only)
            if read_only:
                await conn.execute("PRAGMA query_only = ON")
            elif not memory:
                rows = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
                if str(rows[0][0]).lower() != "wal":
                    raise StorageError(f"{path_str}: could not enable WAL journal mode (got {rows[0][0]!r})")
                # checkpoints run on the database thread (Database._checkpoint), never inside a commit
                await conn.execute("PRAGMA wal_autocheckpoint = 0")
                await conn.execute(f"PRAGMA journal_size_limit = {int(WAL_SIZE_LIMIT)}")
            await conn.execute(f"PRAGMA synchronous = {synchronous}")
            # 16 MiB of page cache (default 2 MiB): index pages of the high-volume tables stay in
            # memory during long batched writes (~30 % fewer microseconds per rating row)
            await conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            await conn.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                await migrate(conn)
            max_variables = await conn._execute(conn._conn.getlimit, sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except BaseException:
            await conn.close()
            if reader_makes_files:  # a file refused: as it was
                await asyncio.to_thread(_drop_reader_files, path_str)
            raise
        db = cls(
            conn,
            path_str,
            clock or WallClock(),
            max_batch_size=max_batch_size,
            flush_interval_s=flush_interval_s,
            max_buffered_rows=max_buffered_rows,
            inline_money=synchronous == "NORMAL",
            wal=not memory and not read_only,  # a reader runs no checkpoints
            synchronous=synchronous,
            max_variables=max_variables,
        )
        if not memory and not read_only:
            db._file_id = _file_identity(path_str)
        db._reader_made_files = reader_makes_files
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
            if self._checkpoint_task is not None:
                with contextlib.suppress(Exception):
                    await self._checkpoint_task
            async with self._checkpoint_lock:
                side, self._checkpoint_conn = self._checkpoint_conn, None
            if side is not None:  # closed first: the main connection, closing last, removes the WAL
                await asyncio.to_thread(side.close)
            async with self._use() as conn:
                self._conn = None
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("PRAGMA optimize")
                await conn.close()  # the last connection to close checkpoints the WAL and removes it
            if self._reader_made_files:
                await asyncio.to_thread(_drop_reader_files, self.path)
            if error is not None:
                # only bulk rows go through the writer: say so, or the operator fears for the book
                raise StorageError(
                    f"closing {self.path}: final flush failed, {lost} buffered rows lost (ratings, signals, "
                    f"equity samples, klines; orders, fills and cash were committed before): {error}"
                    f"{failure_hint(error)}"
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

    def _check_in_place(self) -> None:
        """Before a write: raise :class:`DatabaseMovedError` if the file is no longer where it was
        opened, or another file stands there (deleted, moved, a backup restored over it). SQLite
        itself notices neither in WAL mode: the commits go into the deleted file and are lost at
        exit. Costs one ``stat``: a few us (the 2024 1h replay: 1,680 writes, ~30 ms of its ~7 s)."""
        if self._file_id is None:
            return
        path, ident = self._file_id
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise DatabaseMovedError(self.path) from None
        except OSError:  # no permission to look (a folder's mode changed): the open file still works
            return
        if (st.st_dev, st.st_ino) != ident:
            raise DatabaseMovedError(self.path)

    def _not_in_transaction(self) -> bool:
        return self._owner is not asyncio.current_task()

    @contextlib.asynccontextmanager
    async def _use(self, *, count: bool = True) -> AsyncIterator[_Connection]:
        """Exclusive use of the connection (re-entrant for the owning task). Every
        access to the connection goes through here (or runs inline, see
        :meth:`_critical_sync`, only while nobody is in here). ``count``: this use
        counts towards the next checkpoint."""
        conn = self._conn
        if conn is None:
            raise StorageError("database is closed")
        task = asyncio.current_task()
        if self._owner is task and task is not None:
            yield conn
            return
        self._users += 1
        try:
            async with self._lock:
                if self._conn is None:
                    raise StorageError("database is closed")
                self._owner = task
                try:
                    yield conn
                finally:
                    self._owner = None
        finally:
            self._users -= 1
        if count:
            self._used()

    def _may_run_inline(self) -> bool:
        """No task is inside a transaction or between the statements of a read: nobody
        holds or waits for the connection, or the holder is a writer flush piece whose
        single job (a whole transaction) is queued or done (:meth:`_Connection.run_here`
        then checks that it is not running)."""
        return self._users == 0 or self._piece_holder

    @contextlib.asynccontextmanager
    async def read_snapshot(self) -> AsyncIterator[None]:
        """The reads of this task inside the block see one committed state of the file (one read
        transaction): an engine committing meanwhile makes no table newer than another, as it
        would between two autocommitted reads (``export``: an order booked FILLED whose fill is
        missing). Nothing may be written inside."""
        async with self._use() as conn:
            await conn.execute("BEGIN")
            try:
                yield
            finally:
                await conn.execute("COMMIT")

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
                    # after a full disk or an I/O error SQLite may have rolled the whole transaction
                    # back itself: the savepoint is gone, and ROLLBACK TO would hide the cause
                    if conn.in_transaction:
                        await conn.execute(f"ROLLBACK TO {name}")
                        await conn.execute(f"RELEASE {name}")
                    raise
                else:
                    await conn.execute(f"RELEASE {name}")
                finally:
                    self._tx_depth -= 1
                return
            self._check_in_place()
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
        own transaction) runs in ONE go, committed before this returns. Completes even if the
        caller is cancelled; any exception rolls it back and propagates.

        When no other transaction is open or running (:meth:`_may_run_inline`: nobody uses
        the connection, or only a writer flush piece that has not started yet) it runs right
        here on the event loop thread (no thread hop; nothing can interleave as there is no
        ``await``). If a flush piece is running, it waits for the piece's end and then runs
        inline. Otherwise it runs on the database thread, queued behind the work in progress.
        ``fn`` must only run SQL on the connection: if the inline attempt meets a database
        locked by another process it is rolled back and ``fn`` runs again on the database
        thread, which waits up to ``busy_timeout`` for the lock.
        """

        async def body() -> T:
            async with self._use() as conn:
                savepoint = f"sp{self._tx_depth}" if self._tx_depth > 0 else None
                out = await conn._execute(_run_transaction, conn._conn, fn, savepoint)
                if savepoint is None:
                    self.thread_transactions += 1
                return out

        async def after_piece() -> T:
            while self._piece_holder:  # a flush piece is running: wait for it, then go inline
                self._money_waited = True
                await self._piece_done.wait()
                if self._may_run_inline():
                    status, out = self._run_inline(fn)
                    if status == "done":
                        return out  # type: ignore[return-value]
                    if status == "locked":
                        break
            return await body()

        if self._conn is None:
            raise StorageError("database is closed")
        if self._owner is asyncio.current_task():
            return await body()  # inside the caller's own transaction: a savepoint of it
        self._check_in_place()
        wait_piece = False
        if self._inline_money and self._may_run_inline():
            status, out = self._run_inline(fn)
            if status == "done":
                return out  # type: ignore[return-value]
            wait_piece = status == "in_use" and self._piece_holder
        task = asyncio.ensure_future(after_piece() if wait_piece else body())
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    def _run_inline(self, fn: Callable[[sqlite3.Connection], T]) -> tuple[str, T | None]:
        """``fn`` in its own transaction on the calling (event loop) thread: ``("done", result)``,
        or, with nothing done, ``("in_use", None)`` if a job is running on the database thread,
        ``("locked", None)`` if another connection holds the write lock."""
        conn = self._conn
        if conn is None:
            raise StorageError("database is closed")
        try:
            done, out = conn.run_here(lambda raw: _run_transaction(raw, fn, None))
        except sqlite3.OperationalError as exc:
            if _is_busy(exc) and not conn._conn.in_transaction:
                log.debug("inline money transaction: database locked, retrying on the database thread")
                return "locked", None
            raise
        if not done:
            return "in_use", None
        self.inline_transactions += 1
        self._used()
        return "done", out

    # -- WAL checkpoints --------------------------------------------------------------

    def _used(self) -> None:
        """A transaction or statement ran: start a background checkpoint when enough did."""
        self._uses_since_checkpoint += 1
        if self._uses_since_checkpoint >= self.checkpoint_uses:
            self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        if not self._wal or self._closing or self._conn is None:
            return
        if self._checkpoint_task is not None and not self._checkpoint_task.done():
            return
        self._checkpoint_task = asyncio.get_running_loop().create_task(
            self._checkpoint_logged(), name="storage-checkpoint"
        )

    async def _checkpoint_logged(self) -> None:
        # The WAL restarts from its beginning at the first commit after a checkpoint that
        # copied every frame with nothing committed since: repeat (cheap when little is new)
        # until one finds no frame added since the previous one.
        try:
            last = -1
            for _ in range(4):
                _busy, frames, done = await self.checkpoint()
                if done >= frames == last:
                    break
                last = frames
        except StorageError:  # closed meanwhile: closing checkpoints anyway
            pass
        except sqlite3.Error as exc:
            log.warning("storage: WAL checkpoint failed: %s", exc)

    async def checkpoint(self) -> tuple[int, int, int]:
        """One WAL checkpoint now, as the database runs them by itself (see the module docs):
        ``PRAGMA wal_checkpoint(PASSIVE)`` on the checkpoint connection, in a worker thread,
        copying the committed WAL frames into the database file without blocking the main
        connection; if the WAL holds :attr:`wal_max_frames` frames or more, one more on the
        main connection (complete: nothing commits meanwhile). Returns ``(busy, WAL frames,
        frames checkpointed)`` of the last one; ``(0, -1, -1)`` for an in-memory database."""
        if self._conn is None:
            raise StorageError("database is closed")
        if not self._wal:
            return 0, -1, -1
        self._check_in_place()  # (the checkpoint connection, opened on first use, would make a new empty file)
        async with self._checkpoint_lock:
            self._rows_since_checkpoint = 0
            self._uses_since_checkpoint = 0
            out = await asyncio.to_thread(self._checkpoint_side)
            # not again over the same WAL, already copied whole (a repeat round with no commit since)
            same = out[2] >= out[1] == self._main_checkpointed_frames
            if out[1] >= self.wal_max_frames and not same:
                log.info("storage: WAL at %d frames, checkpointing on the main connection", out[1])
                async with self._use(count=False) as conn:
                    rows = list(await conn.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)"))
                out = (int(rows[0][0]), int(rows[0][1]), int(rows[0][2]))
                self._main_checkpointed_frames = out[1] if out[2] >= out[1] else -1
            self.checkpoints += 1
            self.last_checkpoint = out
            return out

    async def _between_chunks(self) -> None:
        """Between two chunks of a long delete (pruning): one checkpoint, so that the next chunk's
        commit restarts the WAL from its beginning. The WAL then holds about one chunk's pages
        instead of the whole delete's (a month of a large universe's rows is hundreds of MB)."""
        if not self._wal:
            return
        try:
            await self.checkpoint()
        except sqlite3.Error as exc:  # housekeeping: the delete goes on, the WAL just grows meanwhile
            log.warning("storage: WAL checkpoint between delete chunks failed: %s", exc)

    def _checkpoint_side(self) -> tuple[int, int, int]:
        """In a worker thread: one PASSIVE checkpoint on the checkpoint-only connection."""
        raw = self._checkpoint_conn
        if raw is None:
            raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            raw.execute(f"PRAGMA synchronous = {self._synchronous}")  # the same syncs as the main connection
            self._checkpoint_conn = raw
        # fetchall: the statement runs to its end and keeps no read lock on the WAL
        row = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        return int(row[0]), int(row[1]), int(row[2])

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
        """The writer's flush of one piece: all batches in one transaction, in one trip to
        the database thread. If a row violates a constraint, the transaction is redone
        row by row and the bad rows are refused (counted) so one bad row never blocks
        the others forever."""
        self._check_in_place()
        statements = _statements(batches, self._max_variables)
        written = self._write_inline(statements, batches)
        if written is not None:
            rejected, problems = written
            await asyncio.sleep(0)  # other tasks (money, the UI) run between two pieces
        else:
            async with self._use(count=False) as conn:
                self._piece_holder = True
                self._piece_done.clear()
                try:
                    rejected, problems = await conn.execute_deferrable(
                        _write_rows, conn._conn, statements, batches
                    )
                finally:
                    self._piece_holder = False
                    self._piece_done.set()
            if self._money_waited:  # money is being booked: let the rest of the burst run inline first
                self._money_waited = False
                await asyncio.sleep(PIECE_PAUSE_S)
        if problems is not None:
            first, samples = problems
            log.warning("storage writer: constraint violation in a batch (%s); isolating bad rows", first)
            for table, error, row in samples:
                log.error("storage writer: %s row refused (%s): %r", table, error, row)
        self._rows_since_checkpoint += sum(len(rows) for _, _, rows in batches)
        return rejected

    def _write_inline(
        self, statements: list[tuple[str, list[Any]]], batches: list[Batch]
    ) -> tuple[dict[str, int], tuple[str, list[tuple[str, str, tuple]]] | None] | None:
        """One flush piece run right here on the event loop thread, as money transactions are
        (same conditions: ``synchronous=NORMAL``, nobody using the connection, nothing running on
        the database thread); None, with nothing written, when it has to go to the database
        thread (also when another process holds the write lock: the thread waits for it)."""
        conn = self._conn
        if not self._inline_money or self._users or conn is None:
            return None
        try:
            done, out = conn.run_here(lambda raw: _write_rows(raw, statements, batches))
        except sqlite3.OperationalError as exc:
            if _is_busy(exc) and not conn._conn.in_transaction:
                return None
            raise
        if not done:
            return None
        self.inline_pieces += 1
        return out

    def _flushed(self, rows: int) -> None:
        """End of a writer flush (the writer is quiet now): checkpoint if enough rows were written."""
        if self._rows_since_checkpoint >= self.checkpoint_rows:
            self._checkpoint_soon()


def _prepare_path(path: str) -> str:
    """Expand ``~``, create the parent folder and an empty book, owner-only (:mod:`tui_trader.private`:
    SQLite makes the ``-wal`` and ``-shm`` files with the book's mode); returns the path to open. A
    book or folder there already keeps its mode."""
    p = Path(path).expanduser()
    try:
        make_folders(p.parent)
        create_file(p)
    except OSError as exc:  # "[Errno 17] File exists" names no path the operator gave
        if why := file_in_the_way(p):
            raise StorageError(f"cannot open the database {path}: {why}") from exc
        raise
    return str(p)


def _file_identity(path: str) -> tuple[str, tuple[int, int]]:
    """The absolute path of the file at ``path`` and its (device, inode), for
    :meth:`Database._check_in_place`."""
    abs_path = os.path.abspath(path)
    st = os.stat(abs_path)
    return abs_path, (st.st_dev, st.st_ino)


def _prepare_read_only(path: str) -> tuple[str, str]:
    """Expand ``~``; the file must exist (a read-only open creates nothing) and open read-only
    (tried here first, as in :meth:`Database.open`). Returns the path and the URI to open it
    with; StorageError otherwise.

    A WAL database whose folder cannot be written (a backup on a read-only disk or snapshot, or
    in a folder of mode 0500) cannot be read the usual way when it was closed cleanly: the reader must create the
    ``-shm`` index file. With no ``-wal`` file beside it every commit is in the file itself
    and no engine has it open, so it is opened as immutable instead (SQLite then reads the
    file alone)."""
    p = Path(path).expanduser()
    if path == ":memory:" or not p.is_file():
        raise StorageError(f"no database at {path}")
    uri = _read_only_uri(str(p))
    wal = Path(f"{p}-wal")
    if _cannot_open(uri) and not wal.exists():
        uri = _read_only_uri(str(p), immutable=True)
    if exc := _cannot_open(uri):  # no permission to read it...
        # commits still in the -wal file need the -shm index, which this folder cannot take
        why = (f" (its last commits are in {wal.name}, and its folder takes no files: copy both to a "
               "folder you can write to, and read the copy)") if wal.exists() and not _may_write(p.parent) else ""
        raise StorageError(f"cannot open the database {p}: {exc}{why}") from exc
    return str(p), uri


def _may_write(folder: Path) -> bool:
    """Whether this process may make files in ``folder``, judged as its opens are: by its effective
    ids and capabilities where the system can ask so (``os.access`` by default asks for the real
    ones, which differ for a set-uid process or root without its override of file modes)."""
    effective = os.access in os.supports_effective_ids
    return os.access(folder, os.W_OK, effective_ids=effective)


#: SQLite's codes for a file that cannot be opened for reading: not at all, or (a WAL file) not
#: without the ``-shm`` index its folder cannot take, on a read-only disk (CANTOPEN) or in a folder
#: of mode 0500 (READONLY_DIRECTORY: "attempt to write a readonly database", which an export said).
_CANNOT_OPEN = {sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY_DIRECTORY, sqlite3.SQLITE_READONLY_CANTINIT}


def _cannot_open(uri: str) -> sqlite3.Error | None:
    """SQLite's error when the file at ``uri`` cannot be opened for reading (:data:`_CANNOT_OPEN`);
    None when it can, or when it fails for another reason (not a database, damaged: said by
    :meth:`Database.open`)."""
    try:
        con = sqlite3.connect(uri, uri=True, timeout=0)
        try:
            con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # connecting reads nothing yet
        finally:
            con.close()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) in _CANNOT_OPEN:
            return exc
    return None


def _run_transaction(raw: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], savepoint: str | None) -> T:
    """``fn(raw)`` in its own transaction (or savepoint), rolled back on error. Runs on the
    database thread, or on the event loop thread while the database is idle."""
    if savepoint is not None:
        raw.execute(f"SAVEPOINT {savepoint}")
        try:
            out = fn(raw)
        except BaseException:
            if raw.in_transaction:  # (not when SQLite rolled it all back itself: see transaction())
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
        _rollback_raw(raw)
        raise
    return out


def _write_rows(
    raw: sqlite3.Connection, statements: list[tuple[str, list[Any]]], batches: list[Batch]
) -> tuple[dict[str, int], tuple[str, list[tuple[str, str, tuple]]] | None]:
    """On the database thread: run ``statements`` (the multi-row INSERTs of ``batches``,
    see :func:`_statements`) in one transaction - one statement alone is one already.
    On a constraint violation, insert ``batches`` row by row instead, skipping the bad
    rows. Returns the rows refused per table and, if any, ``(first error, [(table, error,
    first bad row)])`` for the caller to log (logging stays on the event loop thread)."""
    single = len(statements) == 1
    try:
        if single:  # atomic by itself: no BEGIN/COMMIT (each SQLite call is a GIL round trip)
            raw.execute(*statements[0])
        else:
            raw.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                raw.execute(sql, params)
            raw.execute("COMMIT")
        return {}, None
    except sqlite3.IntegrityError as exc:  # the failed statement is undone, and a transaction too:
        if raw.in_transaction:
            _rollback_raw(raw)
        first = str(exc)
    except BaseException:
        if raw.in_transaction:
            _rollback_raw(raw)
        raise
    rejected: dict[str, int] = {}
    samples: list[tuple[str, str, tuple]] = []
    raw.execute("BEGIN IMMEDIATE")
    try:
        for table, sql, rows in batches:
            bad = 0
            for row in rows:
                try:
                    raw.execute(sql, row)
                except sqlite3.IntegrityError as exc:  # the statement alone is undone
                    bad += 1
                    if bad == 1:
                        samples.append((table, str(exc), row))
            if bad:
                rejected[table] = bad
        raw.execute("COMMIT")
    except BaseException:
        _rollback_raw(raw)
        raise
    return rejected, (first, samples)


def _statements(batches: list[Batch], max_variables: int) -> list[tuple[str, list[Any]]]:
    """The rows of ``batches`` as multi-row ``INSERT ... VALUES (...), (...), ...`` statements
    with their flat parameter lists: same rows, same order, same conflict handling as
    ``executemany``. Built on the event loop thread, so that the database thread's job is
    the SQLite call alone. ``executemany`` gives the GIL back at every row's
    ``sqlite3_step`` and, while the event loop thread computes, waits up to the
    interpreter's switch interval (5 ms) to get it again: thousands of rows took seconds.
    One statement per up to :data:`ROWS_PER_STATEMENT` rows runs without the GIL, in
    parallel with the event loop."""
    out: list[tuple[str, list[Any]]] = []
    for _table, sql, rows in batches:
        group, ncols = _values_group(sql)
        per = max(1, min(ROWS_PER_STATEMENT, max_variables // ncols))
        for start in range(0, len(rows), per):
            part = rows[start : start + per]
            out.append((_multi_row_sql(sql, group, len(part)), list(itertools.chain.from_iterable(part))))
    return out


_VALUES = re.compile(r"VALUES\s*(\(\s*\?(?:\s*,\s*\?)*\s*\))", re.IGNORECASE)


@functools.lru_cache(maxsize=64)
def _values_group(sql: str) -> tuple[str, int]:
    """The ``(?,?,...)`` group of a single-row INSERT and its number of parameters."""
    found = _VALUES.findall(sql)
    if len(found) != 1:
        raise ValueError(f"expected one VALUES (?,...) group in a buffered INSERT, got {len(found)}: {sql}")
    return found[0], found[0].count("?")


@functools.lru_cache(maxsize=64)
def _multi_row_sql(sql: str, group: str, n: int) -> str:
    return sql.replace(group, ",".join([group] * n), 1)


def _rollback_raw(raw: sqlite3.Connection) -> None:
    try:
        raw.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:  # e.g. the transaction already ended
        log.debug("rollback: %s", exc)


def _is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY (any extended code): another connection holds the lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _retrieve(task: asyncio.Future[object]) -> None:
    """Mark a shielded task's exception as seen (the awaiting caller may be gone)."""
    if not task.cancelled():
        task.exception()
