"""Start-up gaps: an emergency stop sent while the engine starts up is stored at once (a kill before
the start-up ends brings the book back emergency-stopped), and still takes effect as the start-up
ends."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_helpers import MIN, T0, engine_config, klines, make_engine, store_manual_buy_intent, until

from tui_trader.cli import main
from tui_trader.events import EmergencyStop, LockSymbol, ManualBuy, SetZThreshold
from tui_trader.models import EngineState, OrderStatus
from tui_trader.storage.db import Database
from tui_trader.storage.schema import StorageError

S = EngineState


async def _nothing() -> None:
    return None


async def _book(db: str) -> None:
    """A book that was trading (threshold 2.5, CCCUSDT locked) with a buy intent a kill left."""
    h = await make_engine(db_path=db).start()
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    assert (await e.submit(SetZThreshold(value=2.5))).ok
    assert (await e.submit(LockSymbol(symbol="CCCUSDT", locked=True))).ok
    await store_manual_buy_intent(e, "BBBUSDT")
    assert e.state is S.RUNNING
    await h.stop()


def _restart(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, asyncio.Event, asyncio.Event, asyncio.Task]:
    """The book's engine starting up (autostart), held right after the database is opened (before
    its book is checked) until the first gate is set, and before its open orders are reconciled
    until the second one is."""
    h = make_engine(db_path=db, start_ms=T0 + 6 * MIN, history=klines(T0 + 5 * MIN, [100.0] * 4))
    e = h.engine
    gates = asyncio.Event(), asyncio.Event()
    for name, gate in zip(("_check_book_mode", "_reconcile"), gates, strict=True):

        async def held(gate: asyncio.Event = gate, original: Any = getattr(e, name)) -> Any:
            await gate.wait()
            return await original()

        monkeypatch.setattr(e, name, held)
    return h, *gates, asyncio.create_task(e.start_up())


async def _held_at_reconciliation(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, asyncio.Event, asyncio.Task]:
    """The trading book's engine restarting, its book open and warmed up, held before its open
    orders are reconciled until the returned gate is set."""
    db = str(tmp_path / "book.db")
    await _book(db)
    h, opened, gate, task = _restart(db, monkeypatch)
    e = h.engine
    opened.set()
    await until(lambda: e.last_price("AAAUSDT") is not None and e.db is not None, "the warm-up")
    return h, e, gate, task


async def _killed(h: Any, task: asyncio.Task, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill -9 of the starting engine: nothing more is written."""
    monkeypatch.setattr(h.engine, "_close_session", lambda db: _nothing())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await h.stop()


async def _until_stored(e: Any) -> None:
    """Until the engine's database holds an emergency stop (bounded: then the test's checks say
    what is stored instead)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while loop.time() < end and e.db is not None:
        if (state := await e.db.load_engine_state()) and state["state"] is S.EMERGENCY_STOPPED:
            return
        await asyncio.sleep(0.01)


async def _stored(db: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    async with await Database.open(db) as store:
        return await store.load_engine_state(), await store.load_audit(limit=None)


@pytest.mark.parametrize("sent_at", ["open", "reconcile"])
async def test_an_emergency_stop_sent_during_start_up_survives_a_kill_before_the_start_up_ends(
    tmp_path, monkeypatch: pytest.MonkeyPatch, sent_at: str
) -> None:
    db = str(tmp_path / "book.db")
    await _book(db)
    h, opened, reconciling, task = _restart(db, monkeypatch)
    e = h.engine
    if sent_at == "open":
        await until(lambda: e.db is not None, "the database opened")
    else:
        opened.set()
        await until(lambda: e.last_price("AAAUSDT") is not None, "the warm-up")
    stop = asyncio.create_task(e.submit(EmergencyStop(reason="wrong config", close_positions=True)))
    for _ in range(20):
        await asyncio.sleep(0)
    if sent_at == "open":
        assert (await e.db.load_engine_state())["state"] is S.RUNNING  # the book not checked yet: not stored
        opened.set()
    await _until_stored(e)
    assert not stop.done() and not task.done() and e.state is S.STOPPED  # waits for the start-up's end
    await _killed(h, task, monkeypatch)

    state, audit = await _stored(db)
    assert state["state"] is S.EMERGENCY_STOPPED and state["reason"] == "wrong config"
    # stored alone: the threshold and the lock the start-up had not read back yet are kept
    assert state["z_threshold"] == 2.5 and state["locked"] == {"CCCUSDT"}
    waiting = [a for a in audit if a["action"] == "emergency_stop_waiting"]
    assert [(a["source"], a["ok"], a["args"]) for a in waiting] == [("ui", True, {"close_positions": True})]
    res = await stop
    assert not res.ok and "did not start" in res.message and "stop is stored" in res.message, res

    h2 = make_engine(db_path=db, start_ms=T0 + 8 * MIN, history=klines(T0 + 7 * MIN, [100.0] * 4))
    await h2.start()
    try:
        e2 = h2.engine
        assert e2.state is S.EMERGENCY_STOPPED and e2.state_reason == "wrong config"
        assert e2.threshold == 2.5 and e2.locked == {"CCCUSDT"}
    finally:
        await h2.stop()


async def test_an_emergency_stop_sent_during_start_up_still_takes_effect_at_its_end_never_trading_first(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, e, gate, task = await _held_at_reconciliation(tmp_path, monkeypatch)
    stop = asyncio.create_task(e.submit(EmergencyStop(reason="wrong config")))
    await _until_stored(e)
    try:
        gate.set()
        await task
        res = await stop
        assert res.ok and res.message.startswith("EMERGENCY STOP"), res
        assert e.state is S.EMERGENCY_STOPPED and e.state_reason == "wrong config"
        # the reconciled intent never went out; the restored threshold and lock hold
        assert all(o.status is not OrderStatus.FILLED for o in e.orders.values() if o.symbol == "BBBUSDT")
        assert e.threshold == 2.5 and e.locked == {"CCCUSDT"}
        state = await e.db.load_engine_state()
        assert state["state"] is S.EMERGENCY_STOPPED and state["z_threshold"] == 2.5
        assert state["locked"] == {"CCCUSDT"}
        audit = await e.db.load_audit(limit=None)
        this_start = audit[[a["action"] for a in audit].index("emergency_stop_waiting") :]
        # the book that was trading is not started (nor stored running) before the stop
        assert not [a for a in this_start if a["action"] == "state"], this_start
        assert [a["action"] for a in this_start if a["action"] in ("emergency_stop", "EmergencyStop")] == [
            "emergency_stop",
            "EmergencyStop",
        ]
    finally:
        gate.set()
        await h.stop()


async def test_an_emergency_stop_with_a_bad_flag_during_start_up_is_stored_and_closes_nothing(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was refused at once and the book started trading: an emergency stop is never refused for
    # how a script spelt its flag. It is stored at once like any stop sent during the start-up,
    # takes effect at its end, and reads the flag the safe way: no position is sold on a guess.
    h, e, gate, task = await _held_at_reconciliation(tmp_path, monkeypatch)
    try:
        stop = asyncio.create_task(e.submit(EmergencyStop(reason="x", close_positions="no")))  # type: ignore[arg-type]
        await _until_stored(e)
        assert (await e.db.load_engine_state())["state"] is S.EMERGENCY_STOPPED
        waiting = [a for a in await e.db.load_audit(limit=None) if a["action"] == "emergency_stop_waiting"]
        assert [a["args"] for a in waiting] == [{"close_positions": False}]
        gate.set()
        await task
        res = await asyncio.wait_for(stop, 5)
        assert e.state is S.EMERGENCY_STOPPED
        assert "close_positions 'no' is not true or false: read as false, positions not closed" in res.message
        assert res.ok and not e.portfolio.positions  # (none held: ok, whatever the flag meant)
    finally:
        gate.set()
        await h.stop()


# ---------------------------------------------------------------- a damaged database file


async def _book_with_a_buy(db: str) -> None:
    h = await make_engine(db_path=db).start()
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    assert (await h.engine.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500))).ok
    await h.stop()


def _damage(db: str, table: str) -> bytes:
    """One page of ``table`` damaged (its cell pointers overwritten, as a bad sector or a torn
    copy leaves them). Returns the damaged file's bytes."""
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size + 8)  # (a leaf page's header is 8 bytes)
        f.write(b"\xff" * 64)
    return Path(db).read_bytes()


def _file(db: str) -> tuple[bytes, bool]:
    """The database file's bytes, and whether a WAL file is next to it."""
    return Path(db).read_bytes(), Path(db + "-wal").exists()


@pytest.mark.parametrize("table", ["fills", "orders", "sessions", "audit_log"])
async def test_a_damaged_book_is_refused_before_anything_is_written_to_it(tmp_path, table: str) -> None:
    db = str(tmp_path / "book.db")
    await _book_with_a_buy(db)
    damaged = _damage(db, table)
    h = make_engine(db_path=db)
    with pytest.raises(StorageError, match="damaged") as err:
        await h.engine.start_up()
    await h.stop()
    assert "restore a backup" in str(err.value) and db in str(err.value)
    # no session row, no migration, no PRAGMA optimize: the file is as the damage left it
    assert _file(db) == (damaged, False)


def test_run_on_a_damaged_book_says_so_in_one_line_and_exits_2(tmp_path, quiet: Path, capsys) -> None:
    db = str(tmp_path / "book.db")
    asyncio.run(_book_with_a_buy(db))
    damaged = _damage(db, "fills")
    assert main(["run", "--speed", "max", "--duration", "1s", "--db", db]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {db}: the database file is damaged ("), (
        captured.err
    )
    assert _file(db) == (damaged, False)


# ---------------------------------------------------------------- pruning after a long stop

PERIOD = 3 * MIN  # engine_config's rating period
STEP = np.array([1.004, 0.996, 1.001, 0.999])


async def _trend(h: Any, periods: int) -> None:
    """Trending klines for ``periods`` rating periods from the harness clock on."""
    t0 = h.clock.now_ms()
    t0 -= t0 % PERIOD
    close = np.full(4, 100.0)
    for k in range(periods * 3):
        new = close * STEP * (1 + 0.002 * np.sin(k + np.arange(4)))
        await h.step(klines(t0 + k * MIN, new.tolist(), open_=close.tolist()))
        close = new


def _live(cfg: Any, db: str, start_ms: int) -> Any:
    h = make_engine(cfg, db_path=db, autostart=False, start_ms=start_ms)
    h.feed.kind = "binance"  # its klines are stored (the symbol detail's prices come back from them)
    return h


async def test_the_first_prune_after_a_stop_longer_than_the_retention_keeps_what_a_restart_reads_back(
    tmp_path,
) -> None:
    db = str(tmp_path / "book.db")
    # ratings kept 86 s (so: the 12 periods a restart reads back), klines a day
    cfg = engine_config(data_processing={"rating_retention_days": 0.001, "kline_retention_days": 1.0})
    h = await _live(cfg, db, T0).start()
    await _trend(h, 30)
    gap_ms = h.clock.now_ms() + 3 * 86_400_000  # down for three days: longer than both retentions
    await h.stop()

    h2 = await _live(cfg, db, gap_ms).start()
    e2 = h2.engine
    try:
        await _trend(h2, 2)  # its first period prunes
        await e2.db.flush()
        window = {"z": e2.z.copy(), "count": e2.zs.count.copy(), "rating": e2.rating.copy()}
        detail = {s: e2.symbol_history(s) for s in e2.symbols}
        assert np.isfinite(detail["AAAUSDT"].price[:-2]).all()  # the periods before the stop too
    finally:
        await h2.stop()  # (or a kill: the same rows are stored)

    # a restart now reads back what the last one had: the stored rows of before the stop are kept
    h3 = await _live(cfg, db, h2.clock.now_ms() + PERIOD).start()
    try:
        e3 = h3.engine
        np.testing.assert_array_equal(e3.zs.count, window["count"])
        np.testing.assert_allclose(e3.z, window["z"], rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(e3.rating, window["rating"])
        for s in e3.symbols:
            got, want = e3.symbol_history(s), detail[s]
            np.testing.assert_array_equal(got.ts_ms, want.ts_ms)
            np.testing.assert_array_equal(got.price, want.price)
    finally:
        await h3.stop()


_KILLED_CHILD = """
import asyncio, os, signal, sys
sys.path.insert(0, sys.argv[2])
from engine_helpers import MIN, T0, klines, make_engine, until
from tui_trader.events import EmergencyStop
from tui_trader.models import EngineState


async def main() -> None:
    h = make_engine(db_path=sys.argv[1], start_ms=T0 + 6 * MIN, history=klines(T0 + 5 * MIN, [100.0] * 4))
    e = h.engine
    never = asyncio.Event()

    async def held() -> str:  # the reconciliation never ends: the start-up is still running
        await never.wait()
        return ""

    e._reconcile = held
    start = asyncio.create_task(e.start_up())
    await until(lambda: e.last_price("AAAUSDT") is not None and e.db is not None, "the warm-up")
    stop = asyncio.create_task(e.submit(EmergencyStop(reason="kill me")))
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while loop.time() < end:  # until the stop is stored (bounded: then the parent says what is)
        state = await e.db.load_engine_state()
        if state["state"] is EngineState.EMERGENCY_STOPPED:
            break
        await asyncio.sleep(0.01)
    assert not start.done() and not stop.done()
    os.kill(os.getpid(), signal.SIGKILL)


asyncio.run(main())
"""


def test_a_sigkill_during_start_up_after_an_emergency_stop_comes_back_emergency_stopped(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    asyncio.run(_book(db))
    tests = str(Path(__file__).parent)
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, db, tests], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    async def restart() -> tuple[EngineState, str]:
        h = make_engine(db_path=db, start_ms=T0 + 8 * MIN, history=klines(T0 + 7 * MIN, [100.0] * 4))
        await h.start()
        try:
            return h.engine.state, h.engine.state_reason
        finally:
            await h.stop()

    assert asyncio.run(restart()) == (S.EMERGENCY_STOPPED, "kill me")
