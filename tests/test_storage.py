"""Storage layer: schema/migrations, exact money, transactions, typed loads."""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import aiosqlite
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.clock import ManualClock
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
from tui_trader.storage import (
    SCHEMA_VERSION,
    AccountError,
    BacktestTrade,
    ConflictingFillError,
    Database,
    DuplicateOrderError,
    DuplicateRunError,
    MigrationError,
    OrderNotFoundError,
    SchemaVersionError,
    StorageError,
    from_db,
    to_db,
)
from tui_trader.storage.schema import MIGRATIONS, migrate, split_statements

D = Decimal


def make_order(cid: str = "o1", symbol: str = "BTCUSDT", **kw) -> Order:
    base = dict(
        client_order_id=cid,
        symbol=symbol,
        side=Side.BUY,
        type=OrderType.MARKET,
        quantity=D("0.00100000"),
        price=None,
        status=OrderStatus.INTENT,
        source=Source.STRATEGY,
        reason="z>2.5",
        created_ms=1_000,
        updated_ms=1_000,
    )
    base.update(kw)
    return Order(**base)


def make_fill(order: Order, price: str, qty: str, fee: str, trade_id: str = "", ts: int = 2_000) -> Fill:
    return Fill(
        order.client_order_id, order.symbol, order.side, D(price), D(qty), D(fee), "USDT", ts, trade_id
    )


@pytest.fixture
async def db(tmp_path: Path):
    database = await Database.open(tmp_path / "t.db", clock=ManualClock(5_000), start_writer=False)
    yield database
    await database.close()


async def until(condition) -> None:
    """Let other tasks run until ``condition()`` holds (a bounded number of loop turns)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def funded(db: Database, cash: str = "10000") -> None:
    await db.init_account(D(cash), "USDT", D(cash), 0)


# ---------------------------------------------------------------------------
# schema, pragmas, migrations
# ---------------------------------------------------------------------------


async def test_open_creates_folder_sets_pragmas_and_schema(tmp_path: Path):
    path = tmp_path / "a" / "b" / "trader.db"
    db = await Database.open(path)
    try:
        assert path.exists()
        assert await db.pragma("journal_mode") == "wal"
        assert await db.pragma("synchronous") == 1  # NORMAL
        assert await db.pragma("foreign_keys") == 1
        assert await db.pragma("busy_timeout") == 5000
        assert await db.schema_version() == SCHEMA_VERSION >= 1
        assert await db.integrity_check() == "ok"
        assert db.writer.running
    finally:
        await db.close()
    assert db.closed
    with pytest.raises(StorageError, match="closed"):
        await db.load_account()


async def test_full_synchronous_option(tmp_path: Path):
    db = await Database.open(tmp_path / "f.db", synchronous="FULL")
    try:
        assert await db.pragma("synchronous") == 2
    finally:
        await db.close()
    with pytest.raises(ValueError, match="synchronous"):
        await Database.open(tmp_path / "g.db", synchronous="OFF")  # type: ignore[arg-type]


async def test_reopen_is_idempotent_and_keeps_data(tmp_path: Path):
    path = tmp_path / "t.db"
    db = await Database.open(path)
    await funded(db, "123.45")
    await db.write_order_intent(make_order(), None)
    await db.close()
    for _ in range(2):
        db = await Database.open(path)
        try:
            assert await db.schema_version() == SCHEMA_VERSION
            assert (await db.load_account())["cash"] == D("123.45")
            assert await db.client_order_ids() == ["o1"]
        finally:
            await db.close()


async def test_memory_database_works(tmp_path: Path):
    db = await Database.open(":memory:")
    try:
        await funded(db)
        assert (await db.load_account())["cash"] == D("10000")
        assert await db.schema_version() == SCHEMA_VERSION
    finally:
        await db.close()


async def test_newer_schema_version_is_refused_without_touching_the_file(tmp_path: Path):
    path = tmp_path / "new.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE future (x)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(SchemaVersionError, match="newer"):
        await Database.open(path)
    assert path.read_bytes() == before


async def test_not_a_database_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not a usable SQLite database"):
        await Database.open(path)


async def test_someone_elses_sqlite_file_is_refused_and_left_as_it_was(tmp_path: Path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE foo (x)")
    con.commit()
    con.close()
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(StorageError, match="is not a tui-trader database: it holds other tables \\(foo\\)"):
            await Database.open(path, read_only=read_only)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["other.db"]
    # an empty file (or a new one) becomes a tui-trader database; read-only, it is not one
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StorageError, match="not a tui-trader database: it holds no tui-trader tables"):
        await Database.open(empty, read_only=True)
    assert empty.read_bytes() == b""
    db = await Database.open(empty)
    assert await db.schema_version() == SCHEMA_VERSION
    await db.close()


async def test_a_read_only_open_changes_nothing_and_writes_nothing(tmp_path: Path):
    path = tmp_path / "book.db"
    db = await Database.open(path)
    await db.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    before = path.read_bytes()
    db = await Database.open(path, read_only=True, start_writer=False)
    try:
        assert await db.schema_version() == SCHEMA_VERSION
        async with db._use() as conn:
            with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
                await conn.execute("CREATE TABLE x (y)")
    finally:
        await db.close()
    assert path.read_bytes() == before
    with pytest.raises(StorageError, match="no database at"):
        await Database.open(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()


async def test_migrations_apply_in_order_and_only_once(tmp_path: Path):
    v1 = "CREATE TABLE a (x INTEGER);"
    v2 = "ALTER TABLE a ADD COLUMN y TEXT; INSERT INTO a (x, y) VALUES (1, 'v2');"
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as conn:
        assert await migrate(conn, [v1]) == 1
        assert await migrate(conn, [v1]) == 1  # nothing re-run (CREATE TABLE would fail)
        assert await migrate(conn, [v1, v2]) == 2
        assert list(await conn.execute_fetchall("SELECT x, y FROM a")) == [(1, "v2")]
        assert list(await conn.execute_fetchall("PRAGMA user_version")) == [(2,)]
        with pytest.raises(SchemaVersionError):
            await migrate(conn, [v1])


async def test_a_version_1_database_gets_the_time_index_on_ratings_and_keeps_its_rows(tmp_path: Path):
    path = tmp_path / "v1.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await migrate(conn, MIGRATIONS[:1]) == 1
        await conn.execute(
            "INSERT INTO glicko_ratings (period, ts_ms, symbol, rating, rating_deviation, volatility) "
            "VALUES (0, 1000, 'BTCUSDT', 1510.5, 300, 0.06), (1, 2000, 'BTCUSDT', 1520.5, 290, 0.06)"
        )
    db = await Database.open(path)
    try:
        assert await db.schema_version() == SCHEMA_VERSION == 2
        async with db._use() as conn:
            idx = {r[0] for r in await conn.execute_fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'glicko_ratings'")}
        assert idx == {"glicko_ratings_ts_symbol"}
        ts, values = await db.load_rating_history(["BTCUSDT"], 5)
        assert ts.tolist() == [1000, 2000] and values[:, 0].tolist() == [1510.5, 1520.5]
    finally:
        await db.close()


async def test_pruning_deletes_old_rows_in_chunks(tmp_path: Path):
    db = await Database.open(tmp_path / "p.db", start_writer=False)
    try:
        syms = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
        for period in range(10):
            await db.queue_ratings(None, period, period * 1000, syms, np.full(3, 1500.0), np.ones(3), np.ones(3))
        await db.flush()
        assert await db.prune_ratings(4000, chunk_rows=4) == 12  # 4 periods x 3 symbols, in whole periods
        ts, values = await db.load_rating_history(syms, 100)
        assert ts.tolist() == list(range(4000, 10_000, 1000)) and np.isfinite(values).all()
        assert await db.prune_ratings(4000, chunk_rows=4) == 0
        with pytest.raises(ValueError, match="chunk_rows"):
            await db.prune_ratings(4000, chunk_rows=0)
    finally:
        await db.close()


async def test_failed_migration_leaves_the_database_unchanged(tmp_path: Path):
    good = "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"
    bad = "CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);"
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as conn:
        with pytest.raises(MigrationError, match="1 -> 2"):
            await migrate(conn, [good, bad])
        assert list(await conn.execute_fetchall("PRAGMA user_version")) == [(0,)]
        tables = list(await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'"))
        assert tables == []  # even the good first script was rolled back


def test_split_statements_keeps_trigger_bodies_whole():
    script = """
    CREATE TABLE t (x);  -- a comment; with a semicolon
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        INSERT INTO t VALUES (1);
        SELECT 'a;b';
    END;
    INSERT INTO t VALUES (';');
    """
    stmts = split_statements(script)
    assert len(stmts) == 3
    assert stmts[1].startswith("CREATE TRIGGER") and stmts[1].rstrip().endswith("END;")
    with pytest.raises(MigrationError, match="incomplete"):
        split_statements("CREATE TABLE t (x); CREATE TABLE u (")


# ---------------------------------------------------------------------------
# money
# ---------------------------------------------------------------------------

finite_decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(min_value=D("-1e12"), max_value=D("1e12"), places=8, allow_nan=False, allow_infinity=False),
    st.sampled_from([D("0.00000001"), D("123456789.12345678"), D("1.10"), D("0E-8"), D("-0"), D("1E+2")]),
)


@given(finite_decimals)
def test_money_text_round_trips_sign_digits_and_exponent(d: Decimal):
    text = to_db(d)
    assert isinstance(text, str)
    back = from_db(text)
    assert back == d
    assert back.as_tuple() == d.as_tuple()


def test_money_rejects_floats_and_junk_loudly():
    with pytest.raises(TypeError, match="float"):
        to_db(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_db(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_db("1.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        to_db(D("NaN"))
    with pytest.raises(ValueError, match="finite"):
        to_db(D("Infinity"))
    with pytest.raises(TypeError, match="float"):
        from_db(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a decimal"):
        from_db("abc")
    assert to_db(None) is None and from_db(None) is None
    assert to_db(7) == "7" and from_db("0.00000001") == D("0.00000001")
    assert to_db(D("0.00000001")) == "0.00000001"  # positional, readable in SQL


amounts = st.decimals(min_value=D("0.00000001"), max_value=D("123456789.12345678"), places=8)
signed = st.decimals(min_value=D("-99999999.99999999"), max_value=D("99999999.99999999"), places=8)


@settings(max_examples=25, deadline=None)
@given(qty=amounts, price=amounts, fee=amounts, cash=signed, pnl=signed, raw=finite_decimals)
def test_decimals_round_trip_exactly_through_orders_fills_positions_account(qty, price, fee, cash, pnl, raw):
    async def body() -> None:
        db = await Database.open(":memory:", start_writer=False)
        try:
            await db.init_account(raw, "USDT", raw, 0)
            order = make_order(quantity=qty, price=price, type=OrderType.LIMIT)
            await db.write_order_intent(order, None)
            order.status = OrderStatus.FILLED
            order.executed_qty, order.avg_price, order.fees, order.realized_pnl = qty, price, fee, pnl
            fill = Fill("o1", "BTCUSDT", Side.BUY, price, qty, fee, "USDT", 2_000, "t1")
            pos = Position("BTCUSDT", qty, price, 2_000, fee, pnl, raw, 2_000)
            await db.apply_order_update(
                order, [fill], pos, "BTCUSDT", cash, {"realized_pnl": pnl, "fees_paid": fee}
            )
            (got,) = await db.load_orders()
            assert got == order
            assert got.quantity.as_tuple() == qty.as_tuple() and got.price.as_tuple() == price.as_tuple()
            assert await db.load_fills() == [fill]
            assert (await db.load_positions())["BTCUSDT"] == pos
            acc = await db.load_account()
            assert (acc["cash"], acc["realized_pnl"], acc["fees_paid"]) == (cash, pnl, fee)
            assert acc["starting_balance"].as_tuple() == raw.as_tuple()
        finally:
            await db.close()

    asyncio.run(body())


async def test_float_money_is_refused_and_nothing_is_written(db: Database):
    await funded(db)
    with pytest.raises(TypeError, match="quantity.*float"):
        await db.write_order_intent(make_order(quantity=0.001), None)  # type: ignore[arg-type]
    assert await db.client_order_ids() == []
    await db.write_order_intent(make_order(), None)
    order = make_order(status=OrderStatus.FILLED)
    with pytest.raises(TypeError, match="cash"):
        await db.apply_order_update(order, [], None, "BTCUSDT", 9000.5, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fees_paid"):
        await db.save_account(fees_paid=0.1)
    with pytest.raises(TypeError, match="cash"):
        await db.queue_equity(None, 1, 1.0, 1.0, 0.0, 0.0)  # type: ignore[arg-type]
    assert (await db.load_orders())[0].status is OrderStatus.INTENT
    assert (await db.load_account())["cash"] == D("10000")


# ---------------------------------------------------------------------------
# transactions
# ---------------------------------------------------------------------------


async def test_transaction_rollback_on_exception_leaves_nothing(db: Database):
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO kv (key, value) VALUES ('a', '1')")
            await db.audit(1, Source.UI, "pause", {}, True, "paused")  # joins the transaction
            raise RuntimeError("boom")
    assert await db.kv_get("a") is None
    assert await db.load_audit() == []
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO kv (key, value) VALUES ('a', '1')")
    assert await db.kv_get("a") == "1"


async def test_nested_transaction_is_a_savepoint_and_does_not_deadlock(db: Database):
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO kv (key, value) VALUES ('outer', '1')")
        with pytest.raises(ValueError):
            async with db.transaction() as inner:
                await inner.execute("INSERT INTO kv (key, value) VALUES ('inner', '1')")
                raise ValueError("inner fails")
        async with db.transaction() as inner:
            await inner.execute("INSERT INTO kv (key, value) VALUES ('inner2', '1')")
        await db.kv_set("via_method", "1")  # a method called inside the transaction joins it
    assert await db.kv_get("outer") == "1"
    assert await db.kv_get("inner") is None
    assert await db.kv_get("inner2") == "1"
    assert await db.kv_get("via_method") == "1"


async def test_close_inside_a_transaction_is_refused(db: Database):
    async with db.transaction():
        with pytest.raises(StorageError, match="inside a transaction"):
            await db.close()
    assert not db.closed


async def test_other_tasks_never_see_uncommitted_rows(db: Database):
    entered, release = asyncio.Event(), asyncio.Event()
    seen: list[str | None] = []

    async def writer() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO kv (key, value) VALUES ('k', 'v')")
            entered.set()
            await release.wait()

    async def reader() -> None:
        await entered.wait()
        seen.append(await db.kv_get("k"))  # waits for the writer's commit

    tw, tr = asyncio.create_task(writer()), asyncio.create_task(reader())
    await entered.wait()
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == []  # the reader is blocked, not reading the half-done transaction
    release.set()
    await asyncio.gather(tw, tr)
    assert seen == ["v"]


# ---------------------------------------------------------------------------
# orders, fills, positions, account
# ---------------------------------------------------------------------------


async def test_duplicate_client_order_id_is_refused(db: Database):
    sid = await db.start_session("run", "paper", "sim", {})
    await db.write_order_intent(make_order(quantity=D("1")), sid)
    with pytest.raises(DuplicateOrderError, match="o1"):
        await db.write_order_intent(make_order(quantity=D("2")), sid)
    (stored,) = await db.load_orders()
    assert stored.quantity == D("1")


async def test_apply_order_update_books_everything_in_one_go(db: Database):
    await funded(db)
    sid = await db.start_session("run", "paper", "sim", {})
    order = make_order(quantity=D("0.002"))
    await db.write_order_intent(order, sid)
    order.status, order.updated_ms = OrderStatus.FILLED, 2_500
    order.executed_qty, order.avg_price, order.fees = D("0.002"), D("50000.5"), D("0.10")
    fills = [
        make_fill(order, "50000", "0.001", "0.05", "t1"),
        make_fill(order, "50001", "0.001", "0.05", "t2"),
    ]
    pos = Position("BTCUSDT", D("0.002"), D("50000.5"), 2_000, D("0.10"), D(0), D("100.101"), 2_500)
    await db.apply_order_update(order, fills, pos, "BTCUSDT", D("9899.899"), {"fees_paid": D("0.10")})
    assert await db.load_orders() == [order]
    assert await db.load_fills() == fills
    assert await db.load_fills(session_id=sid) == fills
    assert await db.load_fills(session_id=sid + 1) == []
    assert await db.load_positions() == {"BTCUSDT": pos}
    acc = await db.load_account()
    assert acc["cash"] == D("9899.899") and acc["fees_paid"] == D("0.10") and acc["updated_ms"] == 2_500
    assert await db.load_open_orders() == []

    # Re-applying the same fills (e.g. a repeated exchange report) changes nothing.
    await db.apply_order_update(order, fills, pos, "BTCUSDT", D("9899.899"), {"fees_paid": D("0.10")})
    assert len(await db.load_fills()) == 2

    # Closing: zero quantity (or None) deletes the position row.
    sell = make_order("o2", side=Side.SELL, quantity=D("0.002"))
    await db.write_order_intent(sell, sid)
    sell.status = OrderStatus.FILLED
    closed = Position("BTCUSDT", D(0), D("50000.5"), 2_000)
    await db.apply_order_update(
        sell, [make_fill(sell, "51000", "0.002", "0.1", "t3")], closed, "BTCUSDT", D("10001"), {}
    )
    assert await db.load_positions() == {}


async def test_fills_without_trade_id_are_never_deduplicated(db: Database):
    await funded(db)
    order = make_order()
    await db.write_order_intent(order, None)
    f = make_fill(order, "10", "0.0005", "0.01")
    await db.apply_order_update(order, [f, f], None, "BTCUSDT", D("9990"), {})
    assert len(await db.load_fills()) == 2


async def _state(db: Database) -> tuple:
    return (await db.load_orders(), await db.load_fills(), await db.load_positions(), await db.load_account())


async def test_apply_order_update_failure_mid_way_leaves_nothing_visible(db: Database):
    await funded(db)
    order = make_order()
    await db.write_order_intent(order, None)
    before = await _state(db)
    order.status = OrderStatus.FILLED
    fills = [make_fill(order, "100", "0.001", "0.01", "t1")]
    pos = Position("BTCUSDT", D("0.001"), D("100"), 2_000)
    # Inject a failure at the LAST step (the account update), after the order,
    # fill and position statements have run inside the transaction.
    async with db.transaction() as conn:
        await conn.execute(
            "CREATE TEMP TRIGGER fail_account BEFORE UPDATE ON account BEGIN SELECT RAISE(ABORT, 'injected'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        await db.apply_order_update(order, fills, pos, "BTCUSDT", D("9999.89"), {})
    assert await _state(db) == before
    async with db.transaction() as conn:
        await conn.execute("DROP TRIGGER temp.fail_account")
    await db.apply_order_update(order, fills, pos, "BTCUSDT", D("9999.89"), {})
    assert (await db.load_account())["cash"] == D("9999.89")
    assert await db.integrity_check() == "ok"


async def test_conflicting_fill_rolls_back_the_whole_update(db: Database):
    await funded(db)
    order = make_order()
    await db.write_order_intent(order, None)
    order.status = OrderStatus.PARTIALLY_FILLED
    await db.apply_order_update(
        order, [make_fill(order, "100", "0.0005", "0.01", "t1")], None, "BTCUSDT", D("9990"), {}
    )
    before = await _state(db)
    order.status = OrderStatus.FILLED
    new = make_fill(order, "101", "0.0005", "0.01", "t2")
    wrong = make_fill(order, "999", "0.0005", "0.01", "t1")  # same trade id, different price
    with pytest.raises(ConflictingFillError, match="t1"):
        await db.apply_order_update(order, [new, wrong], None, "BTCUSDT", D("9980"), {})
    assert await _state(db) == before


async def test_missing_account_or_order_is_a_clear_error(db: Database):
    order = make_order()
    with pytest.raises(OrderNotFoundError):
        await db.apply_order_update(order, [], None, "BTCUSDT", D(1), {})
    with pytest.raises(OrderNotFoundError):
        await db.update_order(order)
    await db.write_order_intent(order, None)
    order.status = OrderStatus.FILLED
    with pytest.raises(AccountError, match="init_account"):
        await db.apply_order_update(order, [make_fill(order, "1", "1", "0", "t")], None, "BTCUSDT", D(1), {})
    assert (await db.load_orders())[0].status is OrderStatus.INTENT
    assert await db.load_fills() == []
    with pytest.raises(AccountError):
        await db.save_account(cash=D(1))


async def test_apply_order_update_validates_inputs_before_writing(db: Database):
    await funded(db)
    order = make_order()
    await db.write_order_intent(order, None)
    other = make_order("zz", symbol="ETHUSDT")
    with pytest.raises(ValueError, match="does not belong"):
        await db.apply_order_update(order, [make_fill(other, "1", "1", "0")], None, "BTCUSDT", D(1), {})
    with pytest.raises(ValueError, match="position_symbol"):
        await db.apply_order_update(order, [], Position("ETHUSDT", D(1), D(1), 0), "BTCUSDT", D(1), {})
    with pytest.raises(ValueError, match="unknown account field"):
        await db.apply_order_update(order, [], None, "BTCUSDT", D(1), {"cash": D(2)})
    assert (await db.load_account())["cash"] == D("10000")


async def test_update_order_changes_only_mutable_fields(db: Database):
    order = make_order()
    await db.write_order_intent(order, None)
    order.status, order.exchange_order_id, order.attempts, order.error = OrderStatus.NEW, "X9", 2, "timeout"
    order.updated_ms = 9_000
    await db.update_order(order)
    assert await db.get_order("o1") == order
    order.quantity = D("5")
    with pytest.raises(StorageError, match="cannot change"):
        await db.update_order(order)
    assert (await db.get_order("o1")).quantity == D("0.00100000")
    assert await db.get_order("nope") is None


async def test_order_loads_filter_and_order(db: Database):
    s1 = await db.start_session("run", "paper", "sim", {})
    s2 = await db.start_session("tui", "live", "binance", {})
    statuses = list(OrderStatus)
    for i, status in enumerate(statuses):
        sym = "BTCUSDT" if i % 2 else "ETHUSDT"
        await db.write_order_intent(
            make_order(f"c{i}", sym, status=status, created_ms=100 + i), s1 if i < 4 else s2
        )
    ids = [f"c{i}" for i in range(len(statuses))]
    assert await db.client_order_ids() == ids
    assert [o.client_order_id for o in await db.load_orders()] == ids
    assert [o.client_order_id for o in await db.load_orders(limit=2)] == ids[-2:]
    assert {o.symbol for o in await db.load_orders(symbol="BTCUSDT")} == {"BTCUSDT"}
    assert [o.client_order_id for o in await db.load_orders(session_id=s1)] == ids[:4]
    open_ = await db.load_open_orders()
    assert [o.status for o in open_] == [OrderStatus.INTENT, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED]


async def test_load_fills_limit_symbol_and_time_order(db: Database):
    await funded(db)
    for i, sym in enumerate(["BTCUSDT", "ETHUSDT", "BTCUSDT"]):
        o = make_order(f"c{i}", sym)
        await db.write_order_intent(o, None)
        fill = make_fill(o, "1", "1", "0", f"t{i}", ts=3_000 - i * 1_000)  # later orders, earlier fills
        await db.apply_order_update(o, [fill], None, sym, D(1), {})
    assert [f.ts_ms for f in await db.load_fills()] == [1_000, 2_000, 3_000]
    assert [f.trade_id for f in await db.load_fills(limit=2)] == ["t1", "t0"]
    assert [f.trade_id for f in await db.load_fills(symbol="BTCUSDT")] == ["t2", "t0"]


async def test_account_init_replace_and_save(db: Database):
    assert await db.load_account() is None
    await db.init_account(D("500.5"), "USDT", D("500.5"), 7)
    acc = await db.load_account()
    assert acc == {
        "cash": D("500.5"),
        "quote_asset": "USDT",
        "starting_balance": D("500.5"),
        "realized_pnl": D(0),
        "fees_paid": D(0),
        "peak_equity": D("500.5"),
        "day_start_ms": 7,
        "day_start_equity": D("500.5"),
        "updated_ms": 7,
    }
    with pytest.raises(AccountError, match="already"):
        await db.init_account(D(1), "USDT", D(1), 8)
    await db.save_account(peak_equity=D("600"), day_start_ms=86_400_000, updated_ms=9)
    acc = await db.load_account()
    assert (acc["peak_equity"], acc["day_start_ms"], acc["cash"]) == (D("600"), 86_400_000, D("500.5"))
    with pytest.raises(ValueError, match="unknown account field"):
        await db.save_account(equity=D(1))
    await db.init_account(D(1), "BUSD", D(1), 8, replace=True)
    assert (await db.load_account())["quote_asset"] == "BUSD"


# ---------------------------------------------------------------------------
# small state: sequences, engine state, audit, sessions, kv
# ---------------------------------------------------------------------------


async def test_next_sequence_is_monotonic_and_persistent(tmp_path: Path):
    path = tmp_path / "s.db"
    db = await Database.open(path)
    assert [await db.next_sequence("order") for _ in range(3)] == [1, 2, 3]
    assert await db.next_sequence("signal") == 1
    await db.close()
    db = await Database.open(path)
    try:
        assert await db.next_sequence("order") == 4
    finally:
        await db.close()


async def test_engine_state_round_trip(db: Database):
    assert await db.load_engine_state() is None
    await db.save_engine_state(EngineState.PAUSED, "operator", 10, 3.0, {"ETHUSDT", "BTCUSDT"})
    await db.save_engine_state(EngineState.REDUCING, "daily loss", 20, None, set())
    st_ = await db.load_engine_state()
    assert st_ == {
        "state": EngineState.REDUCING,
        "reason": "daily loss",
        "updated_ms": 20,
        "z_threshold": None,
        "locked": set(),
    }
    await db.save_engine_state(EngineState.RUNNING, "", 30, 2.75, ["XRPUSDT"])
    assert (await db.load_engine_state())["locked"] == {"XRPUSDT"}
    with pytest.raises(ValueError):
        await db.save_engine_state("flying", "", 1, None, set())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        await db.save_engine_state(EngineState.RUNNING, "", 1, math.nan, set())


async def test_audit_log_round_trip_and_redaction(db: Database):
    for i in range(5):
        await db.audit(
            i, Source.UI if i % 2 else "system", f"act{i}", {"n": i, "api_secret": "s3cr3t"}, i != 3, "done"
        )
    rows = await db.load_audit(limit=3)
    assert [r["action"] for r in rows] == ["act2", "act3", "act4"]
    assert rows[1]["ok"] is False and rows[1]["source"] == "ui" and rows[0]["source"] == "system"
    assert rows[2]["args"] == {"n": 4, "api_secret": "***"}


async def test_sessions_store_redacted_config_and_summary(db: Database):
    sid = await db.start_session(
        "run", "paper", "sim", {"feed": {"kind": "sim"}, "binance": {"api_key": "KEY"}}, "x"
    )
    summary = {"pnl": D("1.50"), "trades": np.int64(3), "syms": {"B", "A"}, "sharpe": math.nan, "x": [np.inf]}
    await db.end_session(sid, summary, ts_ms=9_000)
    (s,) = await db.load_sessions()
    assert s["id"] == sid and s["started_ms"] == 5_000 and s["ended_ms"] == 9_000  # clock-stamped start
    assert s["config"] == {"feed": {"kind": "sim"}, "binance": {"api_key": "***"}}
    assert s["summary"] == {"pnl": "1.50", "trades": 3, "syms": ["A", "B"], "sharpe": None, "x": [None]}
    with pytest.raises(ValueError, match="kind"):
        await db.start_session("nap", "paper", "sim", {})
    with pytest.raises(ValueError, match="mode"):
        await db.start_session("run", "demo", "sim", {})
    with pytest.raises(ValueError, match="JSON"):
        await db.start_session("run", "paper", "sim", "{not json")
    with pytest.raises(StorageError, match="no session"):
        await db.end_session(999, {})


async def test_kv(db: Database):
    assert await db.kv_get("k", "dflt") == "dflt"
    await db.kv_set("k", "1")
    await db.kv_set("k", "2")
    assert await db.kv_get("k") == "2"
    with pytest.raises(TypeError):
        await db.kv_set("k", 3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# buffered tables: signals, ratings, klines, equity
# ---------------------------------------------------------------------------


def make_signal(i: int, sym: str = "BTCUSDT", **kw) -> Signal:
    return Signal(
        ts_ms=1_000 * i,
        symbol=sym,
        type=SignalType.BUY,
        strength=0.5,
        confidence=0.8,
        z_score=2.6,
        reason="z",
        id=i,
        **kw,
    )


async def test_signals_round_trip_update_and_max_id(db: Database):
    sid = await db.start_session("run", "paper", "sim", {})
    assert await db.max_signal_id() == 0
    sigs = [make_signal(i, "BTCUSDT" if i % 2 else "ETHUSDT") for i in range(1, 6)]
    sigs[0].z_score = math.nan
    for s in sigs:
        await db.queue_signal(s, sid)
    assert await db.load_signals() == []  # buffered, not yet flushed
    assert await db.max_signal_id() == 5  # counts buffered ids
    await db.flush()
    got = await db.load_signals()
    assert [g.id for g in got] == [1, 2, 3, 4, 5]
    assert math.isnan(got[0].z_score)
    assert got[1:] == sigs[1:]
    sigs[2].executed, sigs[2].outcome, sigs[2].order_client_id = True, "filled", "o3"
    await db.queue_signal(sigs[2], sid)
    await db.flush()
    assert (await db.load_signals(symbol="BTCUSDT", limit=1))[0] == sigs[4]
    assert [s for s in await db.load_signals() if s.id == 3] == [sigs[2]]
    assert len(await db.load_signals(session_id=sid)) == 5
    assert await db.max_signal_id() == 5


def _reference_history(stored: list[tuple[int, str, float]], symbols: list[str], n: int):
    ts = sorted({t for t, s, _ in stored if s in symbols})[-n:]
    out = np.full((len(ts), len(symbols)), np.nan)
    for t, s, v in stored:
        if s in symbols and t in ts:
            out[ts.index(t), symbols.index(s)] = v
    return np.array(ts, dtype=np.int64), out


async def test_rating_history_shape_nan_and_last_n(db: Database):
    rng = np.random.default_rng(7)
    universe = ["A", "B", "C", "D"]
    stored: list[tuple[int, str, float]] = []
    for period in range(30):
        ts = 60_000 * period
        rating = 1500 + rng.normal(0, 50, size=4)
        rating[rng.random(4) < 0.3] = np.nan  # unrated this period: skipped
        if period > 20:
            rating[3] = np.nan  # D stops being rated
        z = rng.normal(size=4)
        z[0] = np.nan
        n = await db.queue_ratings(
            None, period, ts, universe, rating, np.full(4, 50.0), np.full(4, 0.06), None, z, None
        )
        assert n == int(np.count_nonzero(~np.isnan(rating)))
        stored += [(ts, s, float(r)) for s, r in zip(universe, rating, strict=True) if not np.isnan(r)]
    await db.flush()
    for symbols, n in (
        (["A", "B", "C", "D"], 5),
        (["D"], 4),
        (["C", "A"], 100),
        (["D", "B"], 1),
        (["X", "A"], 3),
    ):
        ts, vals = await db.load_rating_history(symbols, n)
        ref_ts, ref_vals = _reference_history(stored, symbols, n)
        assert ts.dtype == np.int64 and vals.dtype == np.float64
        assert vals.shape == (len(ref_ts), len(symbols))
        np.testing.assert_array_equal(ts, ref_ts)
        np.testing.assert_array_equal(vals, ref_vals)
    ts, z = await db.load_rating_history(["A", "B"], 30, field="z_score")
    assert np.isnan(z[:, 0]).all() and not np.isnan(z[:, 1]).all()
    ts, vals = await db.load_rating_history(["A"], 0)
    assert ts.shape == (0,) and vals.shape == (0, 1)
    with pytest.raises(ValueError, match="duplicate"):
        await db.load_rating_history(["A", "A"], 3)
    with pytest.raises(ValueError, match="field"):
        await db.load_rating_history(["A"], 3, field="rating; DROP TABLE x")
    with pytest.raises(ValueError, match="shape"):
        await db.queue_ratings(None, 0, 0, universe, np.ones(3), np.ones(4), np.ones(4))


async def test_rating_history_staggered_symbols_and_sessions(db: Database):
    s1 = await db.start_session("run", "paper", "sim", {})
    s2 = await db.start_session("run", "paper", "sim", {})
    stored = []
    for t in range(10):  # A rated on even times, B on odd times
        sym = "A" if t % 2 == 0 else "B"
        await db.queue_ratings(s1 if t < 6 else s2, t, t, [sym], np.array([float(t)]), np.ones(1), np.ones(1))
        stored.append((t, sym, float(t)))
    # a re-rating of time 9 by a later run: the later row wins
    await db.queue_ratings(s2, 9, 9, ["B"], np.array([99.0]), np.ones(1), np.ones(1))
    stored = [x for x in stored if x[0] != 9] + [(9, "B", 99.0)]
    await db.flush()
    ts, vals = await db.load_rating_history(["A", "B"], 3)
    ref_ts, ref_vals = _reference_history(stored, ["A", "B"], 3)
    np.testing.assert_array_equal(ts, ref_ts)
    np.testing.assert_array_equal(vals, ref_vals)
    ts, vals = await db.load_rating_history(["A", "B"], 10, session_id=s1)
    np.testing.assert_array_equal(ts, np.arange(6))


def make_klines(interval: int, sym: list[int], open_time: list[int], closed: list[bool]) -> KlineBatch:
    n = len(sym)
    close = np.arange(1, n + 1, dtype=np.float64) * 1.5
    return KlineBatch(
        interval_ms=interval,
        sym=np.array(sym, dtype=np.int32),
        open_time=np.array(open_time, dtype=np.int64),
        close_time=np.array(open_time, dtype=np.int64) + interval - 1,
        open=close - 0.5,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=np.full(n, 10.0),
        quote_volume=np.full(n, 15.0),
        trades=np.arange(n, dtype=np.int64),
        taker_buy_base=np.full(n, 4.0),
        closed=np.array(closed, dtype=bool),
    )


async def test_klines_closed_only_deduplicated_loaded_and_pruned(db: Database):
    syms = ["BTCUSDT", "ETHUSDT"]
    batch = make_klines(
        60_000, [0, 1, 0, 1, 0], [0, 0, 60_000, 60_000, 120_000], [True, True, True, True, False]
    )
    batch.close[3] = np.nan  # unusable row: skipped
    assert await db.queue_klines(syms, batch) == 3
    again = make_klines(60_000, [0], [0], [True])
    again.close[:] = 999.0  # a re-sent kline does not overwrite the stored one
    await db.queue_klines(syms, again)
    await db.flush()
    got = await db.load_klines(syms, 60_000)
    np.testing.assert_array_equal(got.sym, [0, 1, 0])
    np.testing.assert_array_equal(got.open_time, [0, 0, 60_000])
    np.testing.assert_array_equal(got.close, batch.close[[0, 1, 2]])
    np.testing.assert_array_equal(got.trades, [0, 1, 2])
    np.testing.assert_array_equal(got.close_time, [59_999, 59_999, 119_999])
    assert got.closed.all() and got.volume.tolist() == [10.0] * 3
    assert len(await db.load_klines(["ETHUSDT"], 60_000)) == 1
    assert len(await db.load_klines(syms, 60_000, start_ms=60_000)) == 1
    assert len(await db.load_klines(syms, 300_000)) == 0
    assert await db.prune_klines(60_000) == 2
    assert len(await db.load_klines(syms, 60_000)) == 1
    with pytest.raises(ValueError, match="out of range"):
        await db.queue_klines(["BTCUSDT"], batch)


async def test_equity_round_trip(db: Database):
    s1 = await db.start_session("run", "paper", "sim", {})
    for i in range(4):
        await db.queue_equity(s1 if i < 3 else None, 1_000 * i, 100.0 + i, D("50.25"), 50.0 + i, 0.5 * i)
    await db.flush()
    ts, eq = await db.load_equity(s1)
    np.testing.assert_array_equal(ts, [0, 1_000, 2_000])
    np.testing.assert_array_equal(eq, [100.0, 101.0, 102.0])
    ts, eq = await db.load_equity()
    assert ts.dtype == np.int64 and eq.dtype == np.float64 and len(ts) == 4


# ---------------------------------------------------------------------------
# backtest runs
# ---------------------------------------------------------------------------


async def test_backtest_run_round_trip(db: Database):
    trades = [
        BacktestTrade(1_000, "BTCUSDT", Side.BUY, D("50000.01"), D("0.001"), D("0.05")),
        BacktestTrade.from_fill(
            Fill("bt-2", "BTCUSDT", Side.SELL, D("51000"), D("0.001"), D("0.051"), "USDT", 2_000, "x"),
            realized_pnl=D("0.889"),
            reason="profit_target",
        ),
    ]
    ts = np.arange(0, 5_000, 1_000)
    eq = np.array([100.0, 100.5, 99.0, 101.0, 101.2])
    await db.save_backtest_run(
        "run-1", 10, {"token": "t", "z": 2.5}, "BTC 1m 2024", {"return_pct": 1.2}, trades, ts, eq
    )
    run = await db.load_backtest_run("run-1")
    assert run["trades"] == trades and run["summary"] == {"return_pct": 1.2}
    assert run["config"] == {"token": "***", "z": 2.5} and run["data_desc"] == "BTC 1m 2024"
    np.testing.assert_array_equal(run["equity_ts"], ts)
    np.testing.assert_array_equal(run["equity"], eq)
    with pytest.raises(DuplicateRunError):
        await db.save_backtest_run("run-1", 11, None, "", {}, [], [], [])
    await db.save_backtest_run("run-1", 11, None, "again", {}, trades[:1], [0], [1.0], replace=True)
    assert (await db.load_backtest_run("run-1"))["trades"] == trades[:1]
    assert [r["run_id"] for r in await db.list_backtest_runs()] == ["run-1"]
    assert await db.delete_backtest_run("run-1") is True
    assert await db.load_backtest_run("run-1") is None
    assert await db.load_backtest_trades("run-1") == []  # cascaded
    with pytest.raises(ValueError, match="NaN"):
        await db.save_backtest_run("run-2", 1, None, "", {}, [], [0], [math.nan])


async def test_one_flush_keeps_executemany_semantics_across_multi_row_statements(db: Database):
    db._max_variables = 30  # two signal rows (14 columns) per statement: several statements per piece
    first = make_signal(1)
    again = make_signal(1, executed=True, outcome="filled", order_client_id="o1")  # same id, same flush
    for s in (first, make_signal(2), again, make_signal(3), make_signal(4), make_signal(5)):
        await db.queue_signal(s, None)
    rating = np.array([1500.0, 1490.0, 1480.0])
    await db.queue_ratings(None, 0, 0, ["A", "B", "C"], rating, np.ones(3), np.ones(3),
                           score=np.array([0.5, np.nan, 1.0]))
    assert await db.flush() == 9
    got = await db.load_signals()
    assert [g.id for g in got] == [1, 2, 3, 4, 5]
    assert got[0] == again  # the later row of the same id won, as with one statement per row
    rows = await db._fetchall("SELECT symbol, performance_score FROM glicko_ratings ORDER BY id")
    assert rows == [("A", 0.5), ("B", None), ("C", 1.0)]  # NaN stored as NULL, order kept


# ---------------------------------------------------------------------------
# money on the event loop thread; WAL checkpoints
# ---------------------------------------------------------------------------


async def test_money_runs_inline_when_idle_and_on_the_database_thread_when_busy(db: Database):
    await funded(db)
    assert db.inline_transactions == 1 and db.thread_transactions == 0  # init_account, inline
    reader = asyncio.create_task(db.load_orders())
    await asyncio.sleep(0)  # the read holds the connection
    await db.write_order_intent(make_order("o1"), None)
    await reader
    assert db.thread_transactions == 1  # queued behind the read, not interleaved with it
    await db.write_order_intent(make_order("o2"), None)
    assert db.inline_transactions == 2
    async with db.transaction():
        await db.write_order_intent(make_order("o3"), None)  # a savepoint of the caller's transaction
    assert db.inline_transactions == 2 and db.thread_transactions == 1
    assert await db.client_order_ids() == ["o1", "o2", "o3"]


async def test_full_synchronous_keeps_money_off_the_event_loop(tmp_path: Path):
    db = await Database.open(tmp_path / "f.db", synchronous="FULL", start_writer=False)
    try:
        await funded(db)
        await db.write_order_intent(make_order(), None)
        assert db.inline_transactions == 0 and db.thread_transactions == 2  # an fsync per commit
    finally:
        await db.close()


async def test_money_waits_for_another_process_without_blocking_the_loop(tmp_path: Path):
    path = tmp_path / "l.db"
    db = await Database.open(path, busy_timeout_ms=10_000, start_writer=False)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await funded(db)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        # Released by a callback of this event loop: if the money transaction blocked the
        # loop while waiting for the lock, the callback could never run.
        asyncio.get_running_loop().call_later(0.05, other.execute, "ROLLBACK")
        await db.write_order_intent(make_order(), None)
        assert not other.in_transaction
        assert db.thread_transactions == 1  # the inline attempt gave up at once, nothing done
        assert await db.client_order_ids() == ["o1"]
    finally:
        other.close()
        await db.close()


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _write_cycles(db: Database, cycles: int) -> list[int]:
    """Rating rows and money through the database; the WAL file size after each cycle."""
    syms = [f"S{i:02d}" for i in range(50)]
    sizes = []
    for c in range(cycles):
        for period in range(40):  # 2,000 rows
            t = c * 40 + period
            await db.queue_ratings(None, t, t, syms, np.full(50, 1500.0 + t), np.ones(50), np.ones(50))
        await db.write_order_intent(make_order(f"o{c}"), None)
        await db.flush()
        if db._checkpoint_task is not None:
            await db._checkpoint_task
        sizes.append(_wal_bytes(Path(db.path)))
    return sizes


async def test_checkpoints_keep_the_wal_bounded(tmp_path: Path):
    db = await Database.open(tmp_path / "c.db", max_batch_size=10_000, start_writer=False)
    try:
        assert await db.pragma("wal_autocheckpoint") == 0  # never inside a commit
        db.checkpoint_rows = 2_000  # after every flush of the cycles below
        sizes = await _write_cycles(db, 8)
        assert db.checkpoints >= 8
        busy, frames, done = await db.checkpoint()
        assert busy == 0 and done == frames  # the WAL is copied into the database file
        assert frames < 400  # about one cycle's pages (the WAL restarts after each checkpoint)
    finally:
        await db.close()
    control = await Database.open(tmp_path / "n.db", max_batch_size=10_000, start_writer=False)
    try:
        control.checkpoint_rows = control.checkpoint_uses = 10**9  # no checkpoint at all
        sizes_without = await _write_cycles(control, 8)
        assert control.checkpoints == 0
    finally:
        await control.close()
    # Without checkpoints the WAL holds everything written; with them it is reused.
    assert sizes_without[-1] > 3 * sizes[-1]
    assert sizes[-1] - sizes[1] < (sizes_without[-1] - sizes_without[1]) / 3


async def test_checkpoint_on_the_main_connection_when_the_wal_grows_too_large(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    db = await Database.open(tmp_path / "m.db", start_writer=False)
    try:
        await funded(db)
        for i in range(5):
            await db.write_order_intent(make_order(f"o{i}"), None)
        db.wal_max_frames = 1
        with caplog.at_level("INFO", logger="tui_trader.storage.db"):
            busy, frames, done = await db.checkpoint()
        assert "checkpointing on the main connection" in caplog.text
        assert (busy, done) == (0, frames)
        await db.write_order_intent(make_order("after"), None)  # restarts the WAL from its beginning
        db.wal_max_frames = 10**9
        _busy, frames_after, _ = await db.checkpoint()
        assert frames_after < frames
    finally:
        await db.close()


# ---------------------------------------------------------------------------
# cancellation
# ---------------------------------------------------------------------------


async def test_cancelled_caller_does_not_cut_a_money_transaction(db: Database):
    await funded(db)
    order = make_order()
    await db.write_order_intent(order, None)
    order.status = OrderStatus.FILLED
    fills = [make_fill(order, "100", "0.0005", "0.01", f"t{i}") for i in range(2)]
    pos = Position("BTCUSDT", D("0.001"), D("100"), 2_000)
    # A read in progress keeps the connection busy: the update is queued for the database thread.
    reader = asyncio.create_task(db.load_orders())
    task = asyncio.create_task(db.apply_order_update(order, fills, pos, "BTCUSDT", D("9899.98"), {}))
    await asyncio.sleep(0)  # the caller reaches the shielded transaction
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await reader
    # The transaction finished anyway: everything is booked (reads queue behind it).
    assert len(await db.load_fills()) == 2
    assert (await db.load_account())["cash"] == D("9899.98")
    assert (await db.load_orders())[0].status is OrderStatus.FILLED
    assert db.thread_transactions == 1  # it did take the database thread path


async def test_cancelled_caller_waiting_for_a_flush_piece_still_commits(db: Database):
    await funded(db)
    await db.queue_signal(make_signal(1), None)
    conn = db._conn
    assert conn is not None
    conn._mutex.acquire()  # as if the flush piece's job were running on the database thread
    try:
        flush = asyncio.create_task(db.flush())
        await until(lambda: db._piece_holder)
        task = asyncio.create_task(db.write_order_intent(make_order(), None))
        await asyncio.sleep(0)  # the caller finds the piece running and waits for it
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        conn._mutex.release()  # the piece runs, then the money transaction
    assert await flush == 1
    assert await db.client_order_ids() == ["o1"]  # committed although its caller was cancelled
    assert db.inline_transactions == 2  # right after the piece, on the event loop thread
