"""The batched writer: flush by size and time, retry after failure, bounds, close."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tui_trader.models import Order, OrderStatus, OrderType, Side, Signal, SignalType, Source
from tui_trader.storage import BatchedWriter, Database, StorageError
from tui_trader.storage.writer import Batch


class FakeSink:
    """An execute_batch callback that records batches and fails on demand."""

    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times
        self.calls = 0
        self.rows: dict[str, list[tuple]] = {}

    async def __call__(self, batches: list[Batch]) -> dict[str, int]:
        self.calls += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise sqlite3.OperationalError("disk I/O error (injected)")
        for table, _sql, rows in batches:
            self.rows.setdefault(table, []).extend(rows)
        return {}


class PieceSink(FakeSink):
    """Records every call (one piece = one transaction) and fails the calls listed in ``fail_at``."""

    def __init__(self, fail_at: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.fail_at = set(fail_at)
        self.pieces: list[tuple[str, list[tuple]]] = []

    async def __call__(self, batches: list[Batch]) -> dict[str, int]:
        self.calls += 1
        if self.calls in self.fail_at:
            raise sqlite3.OperationalError(f"disk I/O error in piece {self.calls} (injected)")
        for table, _sql, rows in batches:
            self.pieces.append((table, list(rows)))
            self.rows.setdefault(table, []).extend(rows)
        return {}


def make_writer(sink: FakeSink, **kw) -> BatchedWriter:
    w = BatchedWriter(sink, **kw)
    w.register("a", "INSERT INTO a VALUES (?)")
    w.register("b", "INSERT INTO b VALUES (?, ?)")
    return w


async def test_size_trigger_and_one_piece_per_table():
    sink = FakeSink()
    w = make_writer(sink, max_batch_size=3)
    assert w.add("a", [(1,), (2,)]) is False
    assert w.add("b", [(1, "x")]) is False
    await w.maybe_flush()
    assert sink.calls == 0  # nothing full yet
    assert w.add("a", [(3,)]) is True
    await w.maybe_flush()
    assert sink.calls == 2  # both tables in one flush: one piece (one transaction) per table
    assert sink.rows == {"a": [(1,), (2,), (3,)], "b": [(1, "x")]}
    assert w.pending == 0 and w.stats()["written"] == {"a": 3, "b": 1}
    with pytest.raises(ValueError, match="not registered"):
        w.add("zzz", [(1,)])


async def test_add_columns_converts_numpy_to_python_values_in_order():
    sink = FakeSink()
    w = make_writer(sink, max_batch_size=1000)
    w.add("b", [(0, "first")])
    w.add_columns("b", 3, (np.array([1, 2, 3], dtype=np.int64), "same"))
    w.add_columns("b", 2, (np.array([4.5, np.nan]), ["p", "q"]))
    assert w.pending == 6
    await w.flush()
    rows = sink.rows["b"]
    assert rows[:5] == [(0, "first"), (1, "same"), (2, "same"), (3, "same"), (4.5, "p")]
    assert np.isnan(rows[5][0]) and rows[5][1] == "q"
    assert type(rows[1][0]) is int and type(rows[4][0]) is float  # no numpy scalars reach SQLite


async def test_failed_flush_keeps_rows_and_retries_later_in_order():
    sink = FakeSink(fail_times=2)
    w = make_writer(sink, max_batch_size=2, flush_interval_s=60)
    w.add("a", [(1,), (2,)])
    await w.maybe_flush()  # fails: logged, kept
    assert sink.calls == 1 and w.pending == 2 and w.failures == 1
    w.add("a", [(3,), (4,)])
    await w.maybe_flush()  # backing off: no new attempt before the retry time
    assert sink.calls == 1
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        await w.flush()  # an explicit flush tries now and reports the error
    assert sink.calls == 2 and w.pending == 4 and w.consecutive_failures == 2
    assert "injected" in str(w.stats()["last_error"])
    assert await w.flush() == 4
    assert sink.rows["a"] == [(1,), (2,), (3,), (4,)]  # each row exactly once, order kept
    assert w.consecutive_failures == 0 and w.pending == 0


async def test_a_flush_failing_for_hours_keeps_retrying_at_the_longest_delay():
    # Each failure doubles the delay; past ~1024 failures in a row (a disk full for hours) the
    # doubling overflowed a float, and the flush raised OverflowError instead of keeping its rows.
    sink = FakeSink(fail_times=10**9)
    w = make_writer(sink, max_batch_size=1, flush_interval_s=2)
    w.add("a", [(1,)])
    w.consecutive_failures = 5000
    await w.maybe_flush()
    assert w.consecutive_failures == 5001 and w.pending == 1
    assert "OverflowError" not in str(w.stats()["last_error"])
    assert w._retry_at - time.monotonic() <= w.max_retry_delay_s


async def test_buffers_are_bounded_and_drop_oldest_rows_counted():
    sink = FakeSink(fail_times=100)
    w = make_writer(sink, max_batch_size=5, max_buffered_rows=10, flush_interval_s=60)
    for i in range(25):
        w.add("a", [(i,)])
    w.add_columns("b", 4, (np.arange(4), "x"))
    assert w.pending == 14
    assert w.dropped == {"a": 15, "b": 0}
    assert w.pending_rows("a") == [(i,) for i in range(15, 25)]  # the newest survive
    w.add_columns("b", 8, (np.arange(4, 12), "y"))  # overflow inside a column chunk
    assert w.pending_rows("b") == [(i, "x" if i < 4 else "y") for i in range(2, 12)]
    assert w.dropped["b"] == 2
    sink.fail_times = 0
    await w.flush()
    assert sink.rows["a"] == [(i,) for i in range(15, 25)]


async def test_background_task_flushes_by_time_and_stops():
    sink = FakeSink()
    w = make_writer(sink, max_batch_size=1000, flush_interval_s=0.05)
    w.start()
    assert w.running
    w.add("a", [(1,)])  # far below the size trigger
    for _ in range(400):  # eventually (at most a few seconds on a loaded machine)
        if sink.rows:
            break
        await asyncio.sleep(0.01)
    assert sink.rows == {"a": [(1,)]}
    await w.stop()
    assert not w.running


async def test_flush_in_pieces_of_one_table_keeps_each_add_call_whole():
    sink = PieceSink()
    flushed: list[int] = []
    w = make_writer(sink, max_batch_size=1000, max_chunk_rows=5, on_flushed=flushed.append)
    w.add("a", [(1,), (2,), (3,)])
    w.add("a", [(4,), (5,), (6,)])  # does not fit beside the first call: next piece
    w.add_columns("a", 12, (np.arange(7, 19),))  # bigger than a piece: the only kind of call cut
    w.add("b", [(1, "x")])
    w.add("a", [(19,)])
    assert await w.flush() == 20
    assert [(t, [r[0] for r in rows]) for t, rows in sink.pieces] == [
        ("a", [1, 2, 3]),
        ("a", [4, 5, 6]),
        ("a", [7, 8, 9, 10, 11]),
        ("a", [12, 13, 14, 15, 16]),
        ("a", [17, 18, 19]),  # the cut call's tail, then the next call
        ("b", [1]),
    ]
    assert all(len(rows) <= 5 for _, rows in sink.pieces)
    assert w.written == {"a": 19, "b": 1} and w.pending == 0 and w.flushes == 1
    assert flushed == [20]  # the hook hears about each flush that committed rows, once
    assert await w.flush() == 0 and flushed == [20]


async def test_failed_piece_and_the_rest_stay_buffered_and_committed_ones_count():
    sink = PieceSink(fail_at=(3,))
    w = make_writer(sink, max_batch_size=1000, max_chunk_rows=2, flush_interval_s=60)
    for i in range(1, 8):
        w.add("a", [(i,)])
    w.add("b", [(1, "x"), (2, "y")])
    assert await w.flush(raise_errors=False) == 4  # pieces 1-2 committed, piece 3 failed
    assert sink.rows == {"a": [(1,), (2,), (3,), (4,)]}
    assert w.written == {"a": 4, "b": 0} and w.failures == 1
    assert w.pending_rows("a") == [(5,), (6,), (7,)] and w.pending_rows("b") == [(1, "x"), (2, "y")]
    w.add("a", [(8,)])  # queued after the failure: stays behind the rows put back
    with pytest.raises(sqlite3.OperationalError, match="piece 4"):
        sink.fail_at = {4}
        await w.flush()
    assert w.pending == 6 and w.consecutive_failures == 2
    assert await w.flush() == 6
    assert sink.rows["a"] == [(i,) for i in range(1, 9)]  # every row exactly once, in order
    assert sink.rows["b"] == [(1, "x"), (2, "y")]
    assert w.written == {"a": 8, "b": 2} and w.consecutive_failures == 0


def test_writer_argument_checks():
    sink = FakeSink()
    with pytest.raises(ValueError):
        BatchedWriter(sink, max_batch_size=0)
    with pytest.raises(ValueError):
        BatchedWriter(sink, flush_interval_s=0)
    with pytest.raises(ValueError):
        BatchedWriter(sink, max_batch_size=10, max_buffered_rows=5)
    with pytest.raises(ValueError, match="max_chunk_rows"):
        BatchedWriter(sink, max_chunk_rows=0)


# ---------------------------------------------------------------------------
# through the Database
# ---------------------------------------------------------------------------


def sig(i: int) -> Signal:
    return Signal(i * 1000, "BTCUSDT", SignalType.BUY, 0.5, 0.9, 2.7, "z", id=i)


def count(path: Path, table: str) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


async def test_size_flush_commits_before_queue_returns(tmp_path: Path):
    db = await Database.open(tmp_path / "w.db", max_batch_size=5, start_writer=False)
    try:
        for i in range(1, 5):
            await db.queue_signal(sig(i), None)
        assert count(tmp_path / "w.db", "trading_signals") == 0
        await db.queue_signal(sig(5), None)
        assert count(tmp_path / "w.db", "trading_signals") == 5  # visible to another connection
    finally:
        await db.close()


async def test_time_flush_through_database(tmp_path: Path):
    db = await Database.open(tmp_path / "w.db", flush_interval_s=0.05)
    try:
        await db.queue_equity(None, 1, 100.0, Decimal("100"), 0.0, 0.0)
        for _ in range(400):
            if db.writer.pending == 0:
                break
            await asyncio.sleep(0.01)
        ts, eq = await db.load_equity()
        assert ts.tolist() == [1] and eq.tolist() == [100.0]
    finally:
        await db.close()


async def test_close_flushes_everything(tmp_path: Path):
    path = tmp_path / "w.db"
    db = await Database.open(path, max_batch_size=1000, flush_interval_s=3600)
    for i in range(1, 8):
        await db.queue_signal(sig(i), None)
    await db.queue_ratings(None, 0, 0, ["A", "B"], np.array([1500.0, 1490.0]), np.ones(2), np.ones(2))
    assert db.writer.pending == 9
    await db.close()
    assert count(path, "trading_signals") == 7
    assert count(path, "glicko_ratings") == 2


async def test_locked_database_flush_fails_then_retries_without_loss(tmp_path: Path):
    path = tmp_path / "w.db"
    db = await Database.open(path, max_batch_size=3, busy_timeout_ms=20, flush_interval_s=3600)
    other = sqlite3.connect(path, isolation_level=None, timeout=0.01)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        for i in range(1, 4):
            await db.queue_signal(sig(i), None)  # size flush fails inside: logged, kept
        assert db.writer.failures == 1 and db.writer.pending == 3
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await db.flush()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await db.next_sequence("x")  # small-state writes fail loudly too
        await db.queue_signal(sig(4), None)
        assert db.writer.pending == 4
        other.execute("ROLLBACK")
        assert await db.flush() == 4
        assert [s.id for s in await db.load_signals()] == [1, 2, 3, 4]
        assert count(path, "trading_signals") == 4
    finally:
        other.close()
        await db.close()


async def test_close_reports_rows_it_could_not_flush(tmp_path: Path):
    path = tmp_path / "w.db"
    db = await Database.open(path, busy_timeout_ms=20, flush_interval_s=3600)
    other = sqlite3.connect(path, isolation_level=None, timeout=0.01)
    try:
        await db.queue_signal(sig(1), None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError, match="1 buffered rows lost"):
            await db.close()
        assert db.closed
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_invalid_rows_are_refused_without_blocking_the_rest(tmp_path: Path):
    db = await Database.open(tmp_path / "w.db", max_batch_size=1000, start_writer=False)
    try:
        sid = await db.start_session("run", "paper", "sim", {})
        await db.queue_signal(sig(1), sid)
        await db.queue_signal(sig(2), sid + 41)  # no such session: foreign key violation
        await db.queue_signal(sig(3), sid)
        await db.queue_equity(sid, 5, 1.0, Decimal(1), 0.0, 0.0)
        assert await db.flush() == 3
        assert [s.id for s in await db.load_signals()] == [1, 3]
        assert db.writer.rejected["trading_signals"] == 1 and db.writer.pending == 0
        assert len((await db.load_equity())[0]) == 1
    finally:
        await db.close()


async def test_rows_queued_inside_a_transaction_are_not_part_of_it(tmp_path: Path):
    db = await Database.open(tmp_path / "w.db", max_batch_size=2, start_writer=False)
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.queue_signal(sig(1), None)
                await db.queue_signal(sig(2), None)  # size reached: flush deferred, not inside the tx
                with pytest.raises(StorageError, match="inside a transaction"):
                    await db.flush()
                raise RuntimeError("roll back")
        assert db.writer.pending == 2  # survived the rollback
        await db.flush()
        assert [s.id for s in await db.load_signals()] == [1, 2]
    finally:
        await db.close()


async def _queue_20_pieces(db: Database) -> None:
    syms = [f"S{i:03d}" for i in range(100)]
    ones = np.ones(100)
    for period in range(200):  # 20,000 rows: 20 pieces
        await db.queue_ratings(None, period, period * 1000, syms, np.full(100, 1500.0), ones, ones)
    assert -(-db.writer.pending // db.writer.max_chunk_rows) == 20


async def test_flush_pieces_run_on_the_event_loop_and_let_money_in_between(tmp_path: Path):
    path = tmp_path / "w.db"
    db = await Database.open(path, max_batch_size=100_000, max_buffered_rows=100_000, start_writer=False)
    try:
        await _queue_20_pieces(db)
        flush = asyncio.create_task(db.flush())
        for _ in range(100):  # until the first piece is committed
            if db.inline_pieces:
                break
            await asyncio.sleep(0)
        assert db.inline_pieces == 1  # one piece per event loop step
        order = Order("c1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.5"), None, OrderStatus.INTENT,
                      Source.STRATEGY, "during a flush", 1, 1)
        await db.write_order_intent(order, None)
        assert not flush.done()  # committed while most of the flush is still to come
        assert count(path, "orders") == 1  # durable: visible to another connection
        assert 1_000 <= count(path, "glicko_ratings") < 20_000
        assert await flush == 20_000
        assert count(path, "glicko_ratings") == 20_000
        assert db.inline_pieces == 20  # no trip to the database thread at all
        assert db.inline_transactions == 1 and db.thread_transactions == 0
    finally:
        await db.close()


async def test_flush_pieces_go_to_the_database_thread_with_full_synchronous(tmp_path: Path):
    path = tmp_path / "w.db"
    db = await Database.open(path, synchronous="FULL", max_batch_size=100_000, max_buffered_rows=100_000,
                             start_writer=False)
    try:
        await _queue_20_pieces(db)
        assert await db.flush() == 20_000  # the event loop never waits for an fsync
        assert count(path, "glicko_ratings") == 20_000
        assert db.inline_pieces == 0
    finally:
        await db.close()


async def test_money_during_a_large_flush_on_the_database_thread_is_not_queued_behind_it(tmp_path: Path):
    path = tmp_path / "w.db"
    db = await Database.open(path, max_batch_size=100_000, max_buffered_rows=100_000, start_writer=False)
    db._write_inline = lambda statements, batches: None  # as when the connection is busy: thread pieces
    try:
        await _queue_20_pieces(db)
        flush = asyncio.create_task(db.flush())
        for _ in range(100):  # until the first piece holds the connection
            if db._piece_holder:
                break
            await asyncio.sleep(0)
        assert db._piece_holder
        order = Order("c1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.5"), None, OrderStatus.INTENT,
                      Source.STRATEGY, "during a flush", 1, 1)
        await db.write_order_intent(order, None)
        assert not flush.done()  # committed while most of the flush is still to come
        assert count(path, "orders") == 1  # durable: visible to another connection
        assert count(path, "glicko_ratings") < 20_000
        assert db.inline_transactions == 1 and db.thread_transactions == 0  # no trip to the thread
        assert await flush == 20_000
        assert count(path, "glicko_ratings") == 20_000
    finally:
        await db.close()


async def test_failed_piece_through_the_database_keeps_it_and_the_rest(tmp_path: Path):
    path = tmp_path / "w.db"
    db = await Database.open(path, max_batch_size=1000, busy_timeout_ms=20, start_writer=False)
    other = sqlite3.connect(path, isolation_level=None, timeout=0.01)
    db.writer.max_chunk_rows = 3
    real = db.writer._execute_batch
    calls = 0

    async def lock_before_third_piece(batches: list[Batch]) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 3:
            other.execute("BEGIN IMMEDIATE")  # another process takes the write lock
        return await real(batches)

    db.writer._execute_batch = lock_before_third_piece
    try:
        for i in range(1, 9):
            await db.queue_signal(sig(i), None)  # pieces: 1-3, 4-6, 7-8
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await db.flush()
        assert count(path, "trading_signals") == 6  # the two pieces before the failure are committed
        assert db.writer.written["trading_signals"] == 6
        assert [r[0] for r in db.writer.pending_rows("trading_signals")] == [7, 8]
        other.execute("ROLLBACK")
        assert await db.flush() == 2
        assert [s.id for s in await db.load_signals()] == list(range(1, 9))  # each row exactly once
    finally:
        other.close()
        await db.close()
