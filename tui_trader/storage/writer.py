"""Batched writes of high-volume, non-critical rows (klines, ratings, signals, equity).

:class:`BatchedWriter` keeps one buffer (a list of parameter tuples) per table.
Producers call :meth:`BatchedWriter.add`, which only appends (no I/O) and says
whether a size flush is due; the database then awaits :meth:`maybe_flush`.
A flush hands the buffered rows to the ``execute_batch`` callback in pieces of
one table and at most ``max_chunk_rows`` rows; the callback writes one piece in
ONE transaction. Pieces keep a flush of tens of thousands of rows from holding
the database for tens of milliseconds at a time: a money transaction waiting
for the database waits for at most one piece. Rows added by one
:meth:`~BatchedWriter.add` / :meth:`~BatchedWriter.add_columns` call stay in one
piece (one transaction) unless that call alone holds more than
``max_chunk_rows`` rows.

* **By size**: a flush is due as soon as one buffer holds ``max_batch_size`` rows.
* **By time**: a background task (:meth:`start` / :meth:`stop`) flushes rows
  that have waited ``flush_interval_s`` seconds of wall time. Wall time is right
  here: it paces I/O, it never drives a trading decision.
* **Failure**: a failed piece and the pieces after it are put back in front of
  the buffers (order kept; the pieces committed before it count as written) and
  are retried later (after ``flush_interval_s``, doubling up to
  ``max_retry_delay_s`` while failures continue); size-triggered flushes wait
  for that retry time too so a broken disk is not hammered on every row.
* **Bounded**: a buffer never holds more than ``max_buffered_rows`` rows; beyond
  that its oldest rows are dropped and counted in :attr:`dropped`. Money never
  goes through this writer (orders, fills, positions and the account are
  committed immediately by the database), so only market data, ratings, signal
  log rows and equity points can be lost this way.

Rows are buffered either as tuples (:meth:`BatchedWriter.add`) or column-wise
as numpy arrays (:meth:`BatchedWriter.add_columns`): queuing a rating period is
then a few array copies, and the conversion to Python values happens once per
piece, in bulk (``ndarray.tolist``).

A flush is shielded from cancellation once it has started: the rows are either
committed or put back, never both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Batch", "BatchedWriter", "ExecuteBatch"]

log = logging.getLogger(__name__)

#: ``(table, sql, rows)`` handed to the execute callback.
Batch = tuple[str, str, list[tuple]]
#: Writes all batches (one piece of a flush) in one transaction; returns
#: ``{table: rows refused as invalid}``.
ExecuteBatch = Callable[[list[Batch]], Awaitable[dict[str, int]]]


class _Chunk(NamedTuple):
    """``n`` buffered rows: as tuples (``rows``) or column-wise (``cols``)."""

    n: int
    rows: list[tuple] | None
    cols: tuple[Any, ...] | None


def _slice(chunk: _Chunk, start: int, stop: int) -> _Chunk:
    """Rows ``start:stop`` of a buffered chunk (columns sliced, scalars kept)."""
    if chunk.rows is not None:
        return _Chunk(stop - start, chunk.rows[start:stop], None)
    assert chunk.cols is not None
    cols = tuple(col[start:stop] if isinstance(col, np.ndarray | list) else col for col in chunk.cols)
    return _Chunk(stop - start, None, cols)


def _pieces(taken: dict[str, list[_Chunk]], limit: int) -> list[tuple[str, list[_Chunk]]]:
    """Split the buffers of a flush into pieces of one table and at most ``limit``
    rows, tables and rows in order. A chunk that does not fit in the current piece
    starts the next one (rows queued together are committed together); only a
    chunk larger than ``limit`` is cut."""
    pieces: list[tuple[str, list[_Chunk]]] = []
    for table, chunks in taken.items():
        piece: list[_Chunk] = []
        size = 0
        for chunk in chunks:
            if size + chunk.n > limit and piece:
                pieces.append((table, piece))
                piece, size = [], 0
            start = 0
            while chunk.n - start > limit:  # only a chunk bigger than a whole piece is cut
                pieces.append((table, [_slice(chunk, start, start + limit)]))
                start += limit
            piece.append(chunk if start == 0 else _slice(chunk, start, chunk.n))
            size += chunk.n - start
        if piece:
            pieces.append((table, piece))
    return pieces


def _materialize(chunks: Sequence[_Chunk]) -> list[tuple]:
    """Row tuples of plain Python values from buffered chunks (order kept)."""
    out: list[tuple] = []
    for c in chunks:
        if c.rows is not None:
            out.extend(c.rows)
            continue
        assert c.cols is not None
        n = c.n
        lists = [
            col.tolist() if isinstance(col, np.ndarray) else col if isinstance(col, list) else [col] * n
            for col in c.cols
        ]
        out.extend(zip(*lists, strict=True))
    return out


class BatchedWriter:
    """Per-table row buffers flushed by size, by time, on demand and on close.

    ``can_flush_now`` (optional) is asked before a size-triggered flush; the
    database answers False while the calling task is inside its own
    transaction, so buffered rows are never committed (or rolled back) as part
    of an unrelated transaction. ``max_chunk_rows`` bounds the rows handed to
    one ``execute_batch`` call (one transaction). ``on_flushed`` (optional) is
    called with the number of rows committed at the end of every flush that
    committed some (the database uses it to start a WAL checkpoint while the
    writer is quiet); it must not block.
    """

    def __init__(
        self,
        execute_batch: ExecuteBatch,
        *,
        max_batch_size: int = 100,
        flush_interval_s: float = 2.0,
        max_buffered_rows: int = 100_000,
        max_retry_delay_s: float = 30.0,
        can_flush_now: Callable[[], bool] | None = None,
        max_chunk_rows: int = 2_000,
        on_flushed: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_chunk_rows < 1:
            raise ValueError(f"max_chunk_rows must be >= 1, got {max_chunk_rows}")
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        if max_buffered_rows < max_batch_size:
            raise ValueError(
                f"max_buffered_rows ({max_buffered_rows}) must be >= max_batch_size ({max_batch_size})"
            )
        self._execute_batch = execute_batch
        self.max_batch_size = int(max_batch_size)
        self.flush_interval_s = float(flush_interval_s)
        self.max_buffered_rows = int(max_buffered_rows)
        self.max_retry_delay_s = float(max_retry_delay_s)
        self.max_chunk_rows = int(max_chunk_rows)
        self._on_flushed = on_flushed
        self._can_flush_now = can_flush_now
        self._sql: dict[str, str] = {}
        self._buffers: dict[str, list[_Chunk]] = {}
        self._counts: dict[str, int] = {}
        #: rows dropped per table because the buffer hit ``max_buffered_rows``
        self.dropped: dict[str, int] = {}
        #: rows refused by the database as invalid (constraint violations), per table
        self.rejected: dict[str, int] = {}
        #: rows committed per table
        self.written: dict[str, int] = {}
        self.flushes = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error = ""
        self._pending_since: float | None = None  # monotonic time the oldest pending row arrived
        self._retry_at = 0.0
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- registration and buffering -------------------------------------------------

    def register(self, table: str, sql: str) -> None:
        """Declare a buffered table and its parameterised INSERT statement."""
        if table in self._sql:
            raise ValueError(f"table {table!r} already registered")
        self._sql[table] = sql
        self._buffers[table] = []
        self._counts[table] = 0
        self.dropped[table] = 0
        self.rejected[table] = 0
        self.written[table] = 0

    def add(self, table: str, rows: Sequence[tuple]) -> bool:
        """Append ``rows`` (tuples of plain Python values) to ``table``'s buffer.

        No I/O. Returns True when a size flush is due (the caller then awaits
        :meth:`maybe_flush`).
        """
        if not rows:
            return False
        return self._append(table, _Chunk(len(rows), list(rows), None))

    def add_columns(self, table: str, n: int, columns: Sequence[Any]) -> bool:
        """Append ``n`` rows given column-wise: each column is a 1-D numpy array
        or list of length ``n`` (converted to Python values at flush time, in
        bulk) or a scalar repeated on every row. NaN floats are stored as NULL.

        The caller must not mutate the arrays afterwards (pass copies).
        Returns True when a size flush is due.
        """
        if n <= 0:
            return False
        return self._append(table, _Chunk(int(n), None, tuple(columns)))

    def _append(self, table: str, chunk: _Chunk) -> bool:
        try:
            buf = self._buffers[table]
        except KeyError:
            raise ValueError(f"table {table!r} is not registered with the writer") from None
        buf.append(chunk)
        count = self._counts[table] + chunk.n
        self._counts[table] = count
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        if count > self.max_buffered_rows:
            self._drop_oldest(table)
            count = self._counts[table]
        return count >= self.max_batch_size

    def _drop_oldest(self, table: str) -> None:
        excess = self._counts[table] - self.max_buffered_rows
        if excess <= 0:
            return
        buf = self._buffers[table]
        dropped = 0
        while dropped < excess:
            head = buf[0]
            if head.n <= excess - dropped:
                buf.pop(0)
                dropped += head.n
            else:  # drop part of the oldest chunk
                cut = excess - dropped
                rows = _materialize([head])[cut:]
                buf[0] = _Chunk(len(rows), rows, None)
                dropped += cut
        self._counts[table] -= dropped
        before = self.dropped[table]
        self.dropped[table] = before + dropped
        if before == 0 or (before + dropped) // 10_000 != before // 10_000:
            log.warning(
                "storage writer: %s buffer over %d rows, dropped %d oldest rows so far (last error: %s)",
                table,
                self.max_buffered_rows,
                self.dropped[table],
                self.last_error or "none",
            )

    @property
    def pending(self) -> int:
        """Rows buffered and not yet committed."""
        return sum(self._counts.values())

    def pending_rows(self, table: str) -> list[tuple]:
        """``table``'s buffered rows as tuples (oldest first)."""
        return _materialize(self._buffers[table])

    def stats(self) -> dict[str, object]:
        """Counters for health displays."""
        return {
            "pending": self.pending,
            "flushes": self.flushes,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "written": dict(self.written),
            "dropped": dict(self.dropped),
            "rejected": dict(self.rejected),
        }

    # -- flushing -------------------------------------------------------------------

    def size_flush_due(self) -> bool:
        return any(c >= self.max_batch_size for c in self._counts.values())

    async def maybe_flush(self) -> None:
        """Flush if a buffer is full, unless retries are backing off or the caller
        is inside a transaction. Never raises for a failed flush (it is counted,
        logged and retried)."""
        if not self.size_flush_due() or time.monotonic() < self._retry_at:
            return
        if self._can_flush_now is not None and not self._can_flush_now():
            return
        await self.flush(raise_errors=False)

    async def flush(self, *, raise_errors: bool = True) -> int:
        """Write every buffered row now, in pieces of at most ``max_chunk_rows``
        rows (one transaction each); returns the number of rows committed.

        If a piece fails, it and the pieces after it are put back (the pieces
        before it stay committed and counted). With ``raise_errors`` the failure
        is then re-raised; otherwise it is logged and the rows committed before
        it are returned.
        """
        return await asyncio.shield(self._flush(raise_errors))

    async def _flush(self, raise_errors: bool) -> int:
        async with self._flush_lock:
            n = await self._flush_pieces(raise_errors)
            if n and self._on_flushed is not None:
                try:
                    self._on_flushed(n)
                except Exception:  # a broken hook must not lose the flush's result
                    log.exception("storage writer: on_flushed hook failed")
            return n

    async def _flush_pieces(self, raise_errors: bool) -> int:
        """Called with the flush lock held: take the buffers, write them piece by piece."""
        taken = {t: buf for t, buf in self._buffers.items() if buf}
        if not taken:
            return 0
        pending_since = self._pending_since
        for t in taken:
            self._buffers[t] = []
            self._counts[t] = 0
        self._pending_since = None
        pieces = _pieces(taken, self.max_chunk_rows)
        committed = 0
        for i, (table, chunks) in enumerate(pieces):
            try:
                batches: list[Batch] = [(table, self._sql[table], _materialize(chunks))]
                rejected = await self._execute_batch(batches)
            except BaseException as exc:
                left: dict[str, list[_Chunk]] = {}
                for t, rest in pieces[i:]:
                    left.setdefault(t, []).extend(rest)
                self._put_back(left, pending_since)
                self.failures += 1
                self.consecutive_failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                # The exponent is capped: past ~1024 failures in a row (hours of a full disk)
                # the product would overflow a float and the flush itself would raise.
                delay = min(
                    self.flush_interval_s * 2.0 ** min(self.consecutive_failures - 1, 64),
                    self.max_retry_delay_s,
                )
                self._retry_at = time.monotonic() + delay
                if raise_errors or not isinstance(exc, Exception):
                    raise
                log.warning(
                    "storage writer: flush failed after %d rows (%s); %d rows kept for retry in %.1f s",
                    committed,
                    self.last_error,
                    sum(c.n for chunks in left.values() for c in chunks),
                    delay,
                )
                return committed
            for t, _, rows in batches:
                bad = int(rejected.get(t, 0))
                self.rejected[t] += bad
                self.written[t] += len(rows) - bad
                committed += len(rows) - bad
        self.flushes += 1
        self.consecutive_failures = 0
        self._retry_at = 0.0
        return committed

    def _put_back(self, taken: dict[str, list[_Chunk]], pending_since: float | None) -> None:
        for t, chunks in taken.items():
            newer = self._buffers[t]
            chunks.extend(newer)
            self._buffers[t] = chunks
            self._counts[t] = sum(c.n for c in chunks)
            if self._counts[t] > self.max_buffered_rows:
                self._drop_oldest(t)
        if pending_since is not None:
            self._pending_since = pending_since

    # -- background task ----------------------------------------------------------

    def start(self) -> None:
        """Start the time-based flush task on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="storage-writer")

    async def stop(self) -> None:
        """Stop the time-based flush task (a flush in progress completes)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # A shielded flush may still be running: wait for it.
        async with self._flush_lock:
            pass

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        tick = min(self.flush_interval_s / 4, 0.5)
        while True:
            await asyncio.sleep(tick)
            since = self._pending_since
            if since is None:
                continue
            now = time.monotonic()
            if now - since >= self.flush_interval_s and now >= self._retry_at:
                try:
                    await self.flush(raise_errors=False)
                except asyncio.CancelledError:
                    raise
                except BaseException:  # pragma: no cover - flush(raise_errors=False) logs Exceptions itself
                    log.exception("storage writer: unexpected error in background flush")
