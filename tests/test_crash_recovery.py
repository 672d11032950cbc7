"""Recovery: what a restarted engine loads (cash, positions, state, z-scores), how it resolves the
orders a crash left open (never re-sent), that simulated time never goes backwards across
restarts, and a crash test that SIGKILLs the headless runner at random moments."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import MIN, T0, ScriptedFeed, engine_config, klines, make_engine

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.engine import TradingEngine
from tui_trader.events import EmergencyStop, LockSymbol, ManualBuy, Pause, SetZThreshold, Start
from tui_trader.execution.paper import PaperBroker
from tui_trader.models import EngineState, Order, OrderRequest, OrderStatus, OrderType, Side, Source
from tui_trader.portfolio.portfolio import Portfolio
from tui_trader.runtime import build_engine
from tui_trader.snapshots import HISTORY_LEN
from tui_trader.storage.db import Database
from tui_trader.storage.schema import MixedBookError, StorageError
from tui_trader.strategy.signals import DROPPED_PREFIX

REPO = Path(__file__).resolve().parent.parent
PERIOD = 3 * MIN
STEP = np.array([1.004, 0.996, 1.001, 0.999])


async def _trend(h, periods: int, idle: set[int] | None = None) -> None:
    """Trending klines from the harness clock on; symbol 3 skips the periods in ``idle``."""
    t0 = h.clock.now_ms()
    t0 -= t0 % PERIOD
    close = np.full(4, 100.0)
    for k in range(periods * 3):
        new = close * STEP * (1 + 0.002 * np.sin(k + np.arange(4)))
        syms = [0, 1, 2] if idle and (k // 3) in idle else [0, 1, 2, 3]
        await h.step(klines(t0 + k * MIN, new[syms].tolist(), open_=close[syms].tolist(), symbols=syms))
        close = new


async def _price_shocks(h) -> None:
    """Three strong moves (two symbols +-6 %, each then trending a period on): exits and entries are
    signalled."""
    e = h.engine
    for shock in ([1.06, 0.94, 1.0, 1.0], [0.94, 1.06, 1.0, 1.0], [1.06, 0.94, 1.0, 1.0]):
        t0 = h.clock.now_ms()
        t0 -= t0 % PERIOD
        close = e.cache.price.copy()
        for k in range(3 * 4):
            new = close * (np.array(shock) if k == 0 else STEP)
            await h.step(klines(t0 + k * MIN, new.tolist(), open_=close.tolist()))
            close = new


async def test_restart_restores_book_state_and_z_scores(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _trend(h, 9, idle={3, 4})
    free = next(s for s in e.symbols if s not in e.portfolio.positions)
    assert (await e.submit(ManualBuy(symbol=free, quote_amount=Decimal(700)))).ok
    assert (await e.submit(SetZThreshold(value=1.7))).ok
    assert (await e.submit(LockSymbol(symbol="DDDUSDT"))).ok
    assert (await e.submit(Pause())).ok
    before = {
        "cash": e.portfolio.cash, "positions": dict(e.portfolio.positions), "z": e.z.copy(), "ma": e.ma.copy(),
        "std": e.zstd.copy(), "rating": e.rating.copy(), "rd": e.rd.copy(), "vol": e.vol.copy(),
        "count": e.zs.count.copy(), "realized": e.portfolio.realized_pnl, "fees": e.portfolio.fees_paid,
    }
    assert before["positions"] and int(before["count"][3]) == 5 and int(before["count"][0]) == 5
    assert np.abs(before["z"]).max() > 0.5
    await h.stop()

    h2 = await make_engine(db_path=db, autostart=False).start()
    e2 = h2.engine
    try:
        assert e2.portfolio.cash == before["cash"]
        assert e2.portfolio.positions == before["positions"]
        assert (e2.portfolio.realized_pnl, e2.portfolio.fees_paid) == (before["realized"], before["fees"])
        assert e2.state is EngineState.PAUSED
        assert e2.threshold == 1.7 and e2.locked == {"DDDUSDT"}
        # z-scores are valid at once and equal those before the stop (idle periods left out as live)
        np.testing.assert_array_equal(e2.zs.count, before["count"])
        np.testing.assert_allclose(e2.z, before["z"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(e2.ma, before["ma"], rtol=1e-12)
        np.testing.assert_allclose(e2.zstd, before["std"], rtol=1e-9)
        for name in ("rating", "rd", "vol"):
            np.testing.assert_array_equal(getattr(e2, name), before[name])
        # the restarted clock continues after the stored history
        assert e2.clock.now_ms() > T0 + 9 * PERIOD
        # and the paper account holds what the book says
        bal = await e2.broker.balances()
        assert bal["USDT"] == before["cash"]
        assert {a + "USDT": q for a, q in bal.items() if a != "USDT"} == {
            s: p.quantity for s, p in before["positions"].items()}
    finally:
        await h2.stop()


async def test_a_restart_keeps_signal_cooldowns_and_the_recent_history(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    cooldown = 30 * PERIOD
    cfg = engine_config(signal_generation={"signal_cooldown_ms": cooldown})
    h = await make_engine(cfg, db_path=db).start()
    e = h.engine
    await _trend(h, 12)
    await e.db.flush()
    stored = await e.db.load_signals(limit=None)
    assert stored  # the trend produced signals
    recent = [(s.id, s.symbol, s.ts_ms) for s in e.recent_signals]
    orders = [(o.client_order_id, o.status, o.executed_qty) for o in e.orders.values()]
    fills = [(f.client_order_id, f.price, f.quantity, f.fee) for f in e.fills]
    assert orders and fills
    cooling_before = e.generator.cooling(h.clock.now_ms())
    before_hist = {s: e.symbol_history(s) for s in e.symbols}
    assert before_hist["AAAUSDT"].ts_ms.shape[0] == 12  # one entry per rating period
    last_ms = e.generator._last_ms.copy()
    assert cooling_before.any()
    await h.stop()

    h2 = await make_engine(cfg, db_path=db, autostart=False).start()
    e2 = h2.engine
    try:
        # the panes and the symbol detail show what they showed
        assert [(s.id, s.symbol, s.ts_ms) for s in e2.recent_signals] == recent
        assert [(o.client_order_id, o.status, o.executed_qty) for o in e2.orders.values()] == orders
        assert [(f.client_order_id, f.price, f.quantity, f.fee) for f in e2.fills] == fills
        sym = e2.fills[-1].symbol
        detail = e2.symbol_history(sym)
        assert detail.fills and detail.fills == [f for f in e2.fills if f.symbol == sym]
        assert {o.symbol for o in detail.orders} == {sym}
        # the detail charts: rating, z and moving average of every stored period (no stored prices
        # for a simulated market)
        for s in e2.symbols:
            got = e2.symbol_history(s)
            want = before_hist[s]
            np.testing.assert_array_equal(got.ts_ms, want.ts_ms)
            for name in ("rating", "z", "moving_average"):
                np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
            assert np.isnan(got.price).all()
        # each symbol's cooldown restarts from its last signal that started one (not from dropped entries)
        np.testing.assert_array_equal(e2.generator._last_ms, last_ms)
        expected = {s.symbol: s.ts_ms for s in stored if not s.outcome.startswith(DROPPED_PREFIX)}
        for i, sym in enumerate(e2.symbols):
            assert e2.generator._last_ms[i] == expected.get(sym, -np.inf)
        np.testing.assert_array_equal(e2.generator.cooling(h2.clock.now_ms()), cooling_before)
    finally:
        await h2.stop()


async def test_old_rating_rows_are_pruned_but_the_z_window_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "p.db")
    cfg = engine_config(data_processing={"rating_retention_days": 0.001})  # 86 s: below the z window
    h = await make_engine(cfg, db_path=db).start()
    e = h.engine
    keep = e._rating_keep_ms()
    assert keep == (2 * 5 + 2) * PERIOD  # never less than what a restart reads back
    await _trend(h, 30)
    await e.db.flush()
    last = e._period_ts
    before = {"z": e.z.copy(), "count": e.zs.count.copy(), "rating": e.rating.copy()}
    await h.stop()

    con = sqlite3.connect(db)
    try:
        oldest, newest, rows = con.execute("SELECT MIN(ts_ms), MAX(ts_ms), COUNT(*) FROM glicko_ratings").fetchone()
    finally:
        con.close()
    assert newest == last
    assert last - oldest <= keep + keep // 2  # pruned in steps of half the retention
    assert rows < 30 * 4  # 30 periods x 4 symbols were stored

    h2 = await make_engine(cfg, db_path=db, autostart=False).start()
    try:
        e2 = h2.engine
        np.testing.assert_array_equal(e2.zs.count, before["count"])
        np.testing.assert_allclose(e2.z, before["z"], rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(e2.rating, before["rating"])
    finally:
        await h2.stop()


async def test_storage_synchronous_full_is_applied_and_keeps_writes_off_the_event_loop(tmp_path: Path) -> None:
    cfg = engine_config(storage={"synchronous": "FULL"})
    h = await make_engine(cfg, db_path=str(tmp_path / "f.db")).start()
    e = h.engine
    try:
        assert await e.db.pragma("synchronous") == 2  # FULL
        await _trend(h, 4)
        free = next(s for s in e.symbols if s not in e.portfolio.positions)
        assert (await e.submit(ManualBuy(symbol=free, quote_amount=Decimal(500)))).ok
        await e.db.flush()
        assert e.db.inline_transactions == 0 and e.db.inline_pieces == 0
        assert e.db.thread_transactions >= 2  # the order intent, then its fill
    finally:
        await h.stop()


async def test_the_detail_prices_of_a_live_feed_come_back_from_the_stored_klines(tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    cfg = engine_config(data_processing={"kline_retention_days": 1.0})
    h = make_engine(cfg, db_path=db)
    h.feed.kind = "binance"  # the live feed's klines are stored (replayed and simulated ones are not)
    await h.start()
    await _trend(h, 6)
    before = {s: h.engine.symbol_history(s) for s in h.engine.symbols}
    assert np.isfinite(before["AAAUSDT"].price).all()
    restart_ms = h.clock.now_ms() + PERIOD  # a live feed restarts at the wall clock's time
    await h.stop()

    h2 = make_engine(cfg, db_path=db, autostart=False, start_ms=restart_ms)
    h2.feed.kind = "binance"
    await h2.start()
    try:
        for s in h2.engine.symbols:
            got, want = h2.engine.symbol_history(s), before[s]
            np.testing.assert_array_equal(got.ts_ms, want.ts_ms)
            np.testing.assert_array_equal(got.price, want.price)  # each period's last close
            np.testing.assert_array_equal(got.rating, want.rating)
    finally:
        await h2.stop()


async def test_an_emergency_stop_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "e.db")
    h = await make_engine(db_path=db).start()
    assert (await h.engine.submit(EmergencyStop(reason="smoke in the server room"))).ok
    await h.stop()
    h2 = await make_engine(db_path=db, autostart=True).start()  # even a host that wants to trade
    try:
        assert h2.engine.state is EngineState.EMERGENCY_STOPPED
        assert h2.engine.state_reason == "smoke in the server room"
        res = await h2.engine.submit(Start())
        assert not res.ok and "reset the emergency stop first" in res.message
    finally:
        await h2.stop()


@pytest.mark.parametrize("fails_in", ["feed start", "warm-up"])
async def test_a_restart_that_fails_half_way_leaves_the_stored_state_and_account_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails_in: str
) -> None:
    # e.g. a mistyped --data folder: the run ends with an error, and the next start still finds
    # the emergency stop, the peak equity the drawdown breaker measures from, and the day start
    db = str(tmp_path / "f.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _trend(h, 6)
    free = next(s for s in e.symbols if s not in e.portfolio.positions)
    assert (await e.submit(ManualBuy(symbol=free, quote_amount=Decimal(700)))).ok
    await _trend(h, 2)
    assert (await e.submit(EmergencyStop(reason="smoke in the server room"))).ok
    await h.stop()
    keys = ("cash", "realized_pnl", "fees_paid", "peak_equity", "day_start_ms", "day_start_equity")
    async with await Database.open(db) as store:
        state, account = await store.load_engine_state(), await store.load_account()
    assert state["state"] is EngineState.EMERGENCY_STOPPED and account["peak_equity"] > account["starting_balance"]

    h2 = make_engine(db_path=db, autostart=True, start_ms=T0 + 86_400_000)  # a host that wants to trade, next day

    async def fail(*_a: object, **_k: object) -> None:
        raise OSError("no kline files found")

    if fails_in == "feed start":
        monkeypatch.setattr(h2.feed, "start", fail)
    else:  # after the book was loaded, before the state was restored
        monkeypatch.setattr(h2.engine, "_warm_from_storage", fail)
    with pytest.raises(OSError, match="no kline files"):
        await h2.engine.start_up()
    await h2.engine.stop()

    async with await Database.open(db) as store:
        state2, account2 = await store.load_engine_state(), await store.load_account()
        sessions = await store._fetchall("SELECT id, ended_ms FROM sessions ORDER BY id")
    assert (state2["state"], state2["reason"]) == (EngineState.EMERGENCY_STOPPED, "smoke in the server room")
    assert {k: account2[k] for k in keys} == {k: account[k] for k in keys}
    assert all(ended is not None for _, ended in sessions)  # a session it opened is closed too
    assert len(sessions) == (1 if fails_in == "feed start" else 2)
    h3 = await make_engine(db_path=db, autostart=True).start()
    try:
        assert h3.engine.state is EngineState.EMERGENCY_STOPPED
    finally:
        await h3.stop()


async def test_reducing_is_restored_on_the_same_utc_day_only(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    async with await Database.open(db) as store:
        await store.save_engine_state(EngineState.REDUCING, "Daily loss 11%", T0 + 1000, None, set())
    h = await make_engine(db_path=db, start_ms=T0 + 3_600_000).start()
    assert h.engine.state is EngineState.REDUCING
    await h.stop()
    h = await make_engine(db_path=db, start_ms=T0 + 86_400_000).start()  # the next UTC day
    try:
        assert h.engine.state is EngineState.RUNNING
    finally:
        await h.stop()


async def _db_with_intent(path: str, cid: str, symbol: str = "AAAUSDT") -> None:
    async with await Database.open(path) as store:
        await store.init_account(Decimal(10_000), "USDT", Decimal(10_000), T0)
        sid = await store.start_session("run", "paper", "sim", {}, ts_ms=T0)
        order = Order(cid, symbol, Side.BUY, OrderType.MARKET, Decimal(5), None, OrderStatus.INTENT,
                      Source.STRATEGY, "crash test", T0 + 10, T0 + 10)
        await store.write_order_intent(order, sid)


async def test_an_intent_left_by_a_crash_is_resolved_and_never_resent(tmp_path: Path) -> None:
    db = str(tmp_path / "i.db")
    await _db_with_intent(db, "tt1-1")
    h = make_engine(db_path=db)
    await h.engine.start_up()
    try:
        e = h.engine
        order = await e.db.get_order("tt1-1")
        assert order.status is OrderStatus.CANCELED and order.error == "not sent before restart"
        assert e.broker.submit_calls == 0  # looked up, never sent
        assert not await e.db.load_open_orders()
        assert e.portfolio.cash == Decimal(10_000) and not e.portfolio.positions
        assert e.state is EngineState.RUNNING  # reconciled first, then trading
    finally:
        await h.engine.stop()


async def test_an_order_filled_at_the_exchange_before_the_crash_is_booked_on_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "f.db")
    await _db_with_intent(db, "tt1-7")
    cfg = engine_config()
    clock = ManualClock(T0)
    feed = ScriptedFeed(clock)
    # the exchange executed the order; the process died before booking it
    exchange = PaperBroker(cfg, clock, price_fn=lambda s: 100.0, filters=feed.filters())
    res = await exchange.submit(OrderRequest("tt1-7", "AAAUSDT", Side.BUY, OrderType.MARKET, Decimal(5)))
    assert res.status is OrderStatus.FILLED
    engine = TradingEngine(cfg, feed=feed, clock=clock, broker=exchange, db_path=db, autostart=True)
    await engine.start_up()
    try:
        assert exchange.submit_calls == 1  # reconciliation queried it, it did not send it again
        order = await engine.db.get_order("tt1-7")
        assert order.status is OrderStatus.FILLED and order.executed_qty == Decimal(5)
        fills = await engine.db.load_fills()
        assert [(f.client_order_id, f.quantity, f.price) for f in fills] == [("tt1-7", Decimal(5), Decimal(100))]
        pos = engine.portfolio.positions["AAAUSDT"]
        assert pos.quantity == Decimal(5)
        assert engine.portfolio.cash == Decimal(10_000) - Decimal(500) - fills[0].fee
        assert (await engine.db.load_positions())["AAAUSDT"].quantity == Decimal(5)
    finally:
        await engine.stop()


def _sim_cfg(speed: float | str = "max", **over) -> Config:
    return engine_config(feed={"kind": "sim", "interval": "1m", "speed": speed,
                               "sim": {"n_symbols": 8, "seed": 5, "warmup_periods": 8}},
                         signal_generation={"z_score_threshold": 0.8, "moving_average_period": 10,
                                            "confidence_threshold": 0.0, "signal_cooldown_ms": 0},
                         data_processing={"rating_calculation_interval_ms": 60_000, "kline_retention_days": 1},
                         **over)


async def test_the_sim_market_resumes_after_the_last_stored_time(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    ends = []
    for _ in range(3):
        e = build_engine(_sim_cfg(), db_path=db, session_kind="run", autostart=True, max_klines=60)
        await e.start_up()
        start = e.clock.now_ms()
        if ends:
            assert start > ends[-1]
        await e.run()
        ends.append(e.clock.now_ms())
        await e.stop()
    con = sqlite3.connect(db)
    try:
        for table, col in (("fills", "ts_ms"), ("glicko_ratings", "ts_ms"), ("equity_snapshots", "ts_ms"),
                           ("trading_signals", "ts_ms"), ("orders", "created_ms"), ("audit_log", "ts_ms"),
                           ("sessions", "started_ms")):
            times = [r[0] for r in con.execute(f"SELECT {col} FROM {table} ORDER BY id")]
            assert times == sorted(times), f"time goes backwards in {table}"
        n_fills = con.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        sessions = con.execute("SELECT COUNT(*) FROM sessions WHERE ended_ms IS NOT NULL").fetchone()[0]
    finally:
        con.close()
    assert n_fills > 0 and sessions == 3


async def test_a_restarted_sim_market_continues_from_the_last_prices(tmp_path: Path, monkeypatch, caplog) -> None:
    """Quit and restart on the sim market: the prices go on from where they were, so held
    positions are not marked to (and stop-lossed or profit-taken at) the seed's starting prices.
    The prices are saved as the run goes (a kill -9 loses at most a couple of seconds) and at stop."""
    import tui_trader.recovery as recovery_mod

    db = str(tmp_path / "p.db")
    e = build_engine(_sim_cfg(), db_path=db, session_kind="run", autostart=True, max_klines=120)
    await e.start_up()
    monkeypatch.setattr(recovery_mod, "SIM_PRICES_SAVE_S", 0.0)  # save every period
    await e.run()
    last = e.cache.price.copy()
    con = sqlite3.connect(db)  # committed while running, before any stop
    saved = json.loads(con.execute("SELECT value FROM kv WHERE key = 'sim_prices'").fetchone()[0])
    con.close()
    assert saved["prices"] == dict(zip(e.symbols, last.tolist(), strict=True))
    held = {s: p.quantity for s, p in e.portfolio.positions.items()}
    equity = e._equity_now()
    cash = e.portfolio.cash
    with caplog.at_level(logging.INFO, logger="tui_trader.engine"):
        await e.stop()
    assert held, "the run should end holding something"
    cash_text = f"{cash.normalize():f} USDT"  # as written, not the 16 decimals cash is held to
    assert f"closed: cash {cash_text}, {len(held)} position(s)" in caplog.text

    e = build_engine(_sim_cfg(), db_path=db, session_kind="run", autostart=True, max_klines=3)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tui_trader.engine"):
        await e.start_up()
    assert f"restored account: cash {cash_text}, {len(held)} position(s)" in caplog.text
    try:
        np.testing.assert_array_equal(e.cache.price, last)  # the warm-up ends at the saved prices
        assert e._equity_now() == pytest.approx(equity, rel=1e-12)
        await e.run()
        moved = np.abs(e.cache.price / last - 1.0)
        assert moved.max() < 0.02  # three minutes of the process, not a jump to other prices
    finally:
        await e.stop()


async def test_a_restarted_paced_sim_market_shows_the_earlier_prices_in_the_symbol_detail(tmp_path: Path) -> None:
    """The console's simulated market (paced, not speed max) stores its closed klines, so a restart
    can show the prices before it in the symbol detail, beside the restored ratings: a resumed
    market continues from its last prices, its earlier candles cannot be made again. Kept only
    as far back as the detail history reaches; at speed max nothing is stored."""
    db = str(tmp_path / "k.db")
    e = build_engine(_sim_cfg(speed=1e7), db_path=db, session_kind="run", autostart=True, max_klines=30)
    await e.start_up()
    await e.run()
    before = e.symbol_history(e.symbols[0])
    await e.stop()
    con = sqlite3.connect(db)
    stored = con.execute("SELECT COUNT(*), COUNT(DISTINCT open_time) FROM klines").fetchone()
    con.close()
    warm = before.ts_ms.size - 30  # the periods before the run: the warm-up's history
    assert warm > 0 and stored == (8 * (30 + warm), 30 + warm)  # the warm-up's klines are stored too
    e = build_engine(_sim_cfg(speed=1e7), db_path=db, session_kind="run", autostart=True, max_klines=2)
    await e.start_up()
    try:
        after = e.symbol_history(e.symbols[0])
        restored = np.isin(after.ts_ms, before.ts_ms)
        assert restored.sum() == 30 + warm  # the last run's periods and its warm-up's, restored
        np.testing.assert_array_equal(after.price[restored], before.price)  # with their prices
        assert np.isfinite(before.price).all()
    finally:
        await e.stop()
    # pruned (at each new UTC day of engine time) to the detail history's reach, HISTORY_LEN
    # periods, not to the configured day of retention
    long = str(tmp_path / "l.db")
    e = build_engine(_sim_cfg(speed=1e7), db_path=long, session_kind="run", autostart=True, max_klines=1500)
    await e.start_up()
    await e.run()
    await e.stop()
    day2 = (e.clock.now_ms() // 86_400_000) * 86_400_000
    con = sqlite3.connect(long)
    oldest, times = con.execute("SELECT MIN(open_time), COUNT(DISTINCT open_time) FROM klines").fetchone()
    con.close()
    assert oldest == day2 - HISTORY_LEN * 60_000 and times < 1500 - 900
    # at speed max (runs, benchmarks) the klines are not stored
    fast = str(tmp_path / "f.db")
    e = build_engine(_sim_cfg(), db_path=fast, session_kind="run", autostart=True, max_klines=10)
    await e.start_up()
    await e.run()
    await e.stop()
    con = sqlite3.connect(fast)
    assert con.execute("SELECT COUNT(*) FROM klines").fetchone()[0] == 0
    con.close()


async def test_a_warm_up_too_large_to_store_is_not_stored_and_says_so(tmp_path: Path, monkeypatch, caplog) -> None:
    """2,000 live symbols warm up on ~2 M klines: those are not written (the run's own closed
    klines still are), and the log says what that means for the symbol detail."""
    import tui_trader.recovery as recovery_mod

    monkeypatch.setattr(recovery_mod, "WARMUP_KLINES_STORED", 8 * 5)
    db = str(tmp_path / "w.db")
    e = build_engine(_sim_cfg(speed=1e7), db_path=db, session_kind="run", autostart=True, max_klines=3)
    with caplog.at_level(logging.INFO, logger="tui_trader.engine"):
        await e.start_up()
    await e.run()
    await e.stop()
    assert "warm-up klines are not stored (more than 40)" in caplog.text
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT open_time) FROM klines").fetchone() == (8 * 3, 3)
    con.close()


async def test_a_restart_on_stored_ratings_refills_the_market_cache_from_the_feed(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    e = build_engine(_sim_cfg(), db_path=db, session_kind="run", autostart=True, max_klines=40)
    await e.start_up()
    await e.run()
    await e.stop()
    e = build_engine(_sim_cfg(), db_path=db, session_kind="run", autostart=True, max_klines=5)
    await e.start_up()
    try:
        assert e.counters["periods"] == 0  # ratings came from storage, nothing was re-rated
        assert int(e.zs.count.min()) >= 10
        # but prices and volatility are known before the first live kline
        assert np.isfinite(e.cache.price).all()
        assert np.isfinite(e._volatility()).all()
        assert (e.last_kline_ms == e.clock.now_ms() - 60_000).all()
    finally:
        await e.stop()


# ------------------------------------------------------------------ the SIGKILL crash test

CRASH_CONFIG = """
[feed]
interval = "1m"
[feed.sim]
n_symbols = 12
seed = {seed}
warmup_periods = 12
[signal_generation]
z_score_threshold = 0.6
moving_average_period = 12
confidence_threshold = 0.0
signal_cooldown_ms = 0
[data_processing]
rating_calculation_interval_ms = 60000
kline_retention_days = 1
[risk_management]
max_position_percent = 8.0
max_total_positions = 8
stop_loss_percent = 0.6
profit_target_percent = 0.8
max_liquidity_share = 1.0
max_volatility = 10.0
max_daily_loss_percent = 90.0
max_drawdown_percent = 95.0
max_data_staleness_periods = 1000.0
[rating]
volatility_window = 10
[monitoring]
log_level = "warning"
"""


def _runner(db: Path, cfg: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tui_trader", "run", "--headless", "--feed", "sim", "--speed", "max",
         "--db", str(db), "--config", str(cfg), *extra],
        cwd=str(db.parent), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        con.close()


def _check_consistent(db: Path, start: Decimal) -> dict:
    """The stored book equals the replay of the stored fills; ids unique; file intact."""
    con = sqlite3.connect(str(db), timeout=10)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in con.execute("SELECT client_order_id FROM orders")]
        assert len(ids) == len(set(ids))
        fill_ids = [r[0] for r in con.execute("SELECT client_order_id FROM fills")]
        assert set(fill_ids) <= set(ids)
        from tui_trader.models import Fill

        fills = [
            Fill(r[0], r[1], Side(r[2]), Decimal(r[3]), Decimal(r[4]), Decimal(r[5]), r[6], int(r[7]), r[8] or "")
            for r in con.execute("SELECT client_order_id, symbol, side, price, quantity, fee, fee_asset, ts_ms, "
                                 "trade_id FROM fills ORDER BY id")
        ]
        book = Portfolio.replay_fills(start, fills)
        cash = Decimal(con.execute("SELECT cash FROM account").fetchone()[0])
        assert cash == book.cash
        fees = Decimal(con.execute("SELECT fees_paid FROM account").fetchone()[0])
        assert fees == book.fees_paid == sum((f.fee for f in fills), Decimal(0))
        realized = Decimal(con.execute("SELECT realized_pnl FROM account").fetchone()[0])
        assert realized == book.realized_pnl
        stored = {r[0]: (Decimal(r[1]), Decimal(r[2]), Decimal(r[3])) for r in
                  con.execute("SELECT symbol, quantity, cost, fees FROM positions")}
        assert stored == {s: (p.quantity, p.cost, p.fees) for s, p in book.positions.items()}
        # cash = start - buys - fees + sells, to the unit
        flows = sum(((-1 if f.side is Side.BUY else 1) * f.price * f.quantity - f.fee for f in fills), Decimal(0))
        assert cash == start + flows
        # filled orders have exactly their fills
        for cid, qty in con.execute("SELECT client_order_id, executed_qty FROM orders WHERE status = 'FILLED'"):
            assert sum((f.quantity for f in fills if f.client_order_id == cid), Decimal(0)) == Decimal(qty)
        return {"fills": len(fills), "orders": len(ids),
                "open": con.execute("SELECT COUNT(*) FROM orders WHERE status IN ('INTENT','NEW',"
                                    "'PARTIALLY_FILLED')").fetchone()[0]}
    finally:
        con.close()


@pytest.mark.timeout(120)
def test_sigkill_at_random_moments_never_corrupts_the_book(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    cfg = tmp_path / "crash.toml"
    cfg.write_text(CRASH_CONFIG.format(seed=11))
    rng = random.Random(20240611)
    start = Decimal("10000")
    fills_seen = 0
    for kill in range(4):
        proc = _runner(db, cfg)
        try:
            # wait until this run trades (a new fill), then kill it at a random moment soon after
            deadline = time.monotonic() + 20
            while _count(db, "SELECT COUNT(*) FROM fills") <= fills_seen:
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "the runner did not trade"
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.8))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        state = _check_consistent(db, start)
        assert state["fills"] > fills_seen, f"run {kill} continued trading"
        fills_seen = state["fills"]
    # a last, clean run: reconciles what the kills left open, trades on, ends with exit 0
    proc = _runner(db, cfg, "--duration", "2s", "--json")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    state = _check_consistent(db, start)
    assert state["open"] == 0  # every INTENT/NEW order the kills left was resolved
    assert state["fills"] > fills_seen and summary["fills"] > 0
    con = sqlite3.connect(str(db))
    try:
        sessions = con.execute("SELECT id, started_ms, ended_ms, summary_json FROM sessions ORDER BY id").fetchall()
        unclean = con.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'session_closed_unclean'").fetchone()[0]
        times = [r[0] for r in con.execute("SELECT ts_ms FROM fills ORDER BY id")]
    finally:
        con.close()
    # each killed run's session was closed by the next start, at or after its own start and no later
    # than the next one's, marked unclean; the clean run ended its own
    assert len(sessions) == 5 and all(ended is not None for _, _, ended, _ in sessions)
    for (_, started, ended, summary), (_, next_started, _, _) in zip(sessions, sessions[1:], strict=False):
        assert started <= ended <= next_started
        assert json.loads(summary)["ended"] == "unclean"
    assert json.loads(sessions[-1][3]).get("ended") != "unclean" and unclean == 4
    assert times == sorted(times)  # simulated time never went backwards across the restarts


def test_engine_helpers_feed_is_a_market_feed() -> None:
    from tui_trader.market.feed import MarketFeed

    assert isinstance(ScriptedFeed(ManualClock(0)), MarketFeed)
    asyncio.run(asyncio.sleep(0))


async def test_a_book_is_either_paper_or_live(tmp_path: Path) -> None:
    """Live trading on a paper book would take paper positions for real ones and measure the
    drawdown from a paper peak; the engine refuses the other mode's book before writing anything."""
    from tui_trader.storage.schema import MixedBookError

    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()  # a paper book with a session
    await h.stop()
    for mode in ("live", "paper"):
        clock = ManualClock(0)
        feed = ScriptedFeed(clock)
        engine = TradingEngine(engine_config(), feed=feed, clock=clock, db_path=db, mode=mode, autostart=True)
        if mode == "live":
            with pytest.raises(MixedBookError, match=r"keeps a paper book; live trading keeps its own"):
                await engine.start_up()
            await engine.stop()
        else:
            await engine.start_up()  # the same mode opens it as before
            await engine.stop()
    con = sqlite3.connect(db)
    try:
        assert [m for (m,) in con.execute("SELECT mode FROM sessions ORDER BY id")] == ["paper", "paper"]
    finally:
        con.close()
    # and the other way round
    live_db = str(tmp_path / "live.db")
    async with await Database.open(live_db) as store:
        await store.start_session("tui", "live", "binance", {}, ts_ms=T0)
    with pytest.raises(MixedBookError, match="keeps a live book; paper trading"):
        h = make_engine(db_path=live_db)
        try:
            await h.engine.start_up()
        finally:
            await h.engine.stop()


async def test_a_failed_save_of_the_sim_prices_does_not_stop_the_engine(tmp_path: Path, caplog) -> None:
    """The simulated prices saved every few seconds are a chart's anchor: a save that meets a
    database locked by another program for longer than the busy timeout is logged, and trading
    goes on (the next save tries again)."""
    h = await make_engine(db_path=str(tmp_path / "s.db")).start()
    e = h.engine
    try:
        await _trend(h, 3)

        async def locked(key: str, value: str) -> None:
            raise sqlite3.OperationalError("database is locked")

        e.db.kv_set = locked
        e._sim_prices_saved = -1e18  # a save is due at the next period
        periods = e.counters["periods"]
        with caplog.at_level(logging.WARNING, logger="tui_trader"):
            await _trend(h, 3)
        assert not h.task.done() and e.counters["periods"] > periods
        assert e.state is EngineState.RUNNING
        assert "could not save the simulated prices" in caplog.text and "database is locked" in caplog.text
    finally:
        del e.db.kv_set
        await h.stop()


async def test_a_storage_failure_mid_run_stops_trading_with_a_clear_error_and_sends_nothing(tmp_path: Path) -> None:
    """The database stops taking writes mid-run (here: a real SQLITE_READONLY error): the order
    intent cannot be committed, so the order is not sent; the loop ends with a StorageError that
    names the file and the cause (no raw sqlite3 error for the host to print), trading is paused,
    and a restart finds the book as it was last committed."""
    db = str(tmp_path / "ro.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _trend(h, 6)
    await e.db.flush()
    cash, positions, n_fills = e.portfolio.cash, dict(e.portfolio.positions), e.counters["fills"]
    sent = e.broker.submit_calls
    e.db._conn._conn.execute("PRAGMA query_only = ON")  # every write now fails: attempt to write a readonly database
    with pytest.raises(StorageError) as err:
        await _price_shocks(h)  # each exit and entry signalled needs its intent committed first
    msg = str(err.value)
    assert f"storage failure on {db}" in msg and "readonly" in msg and "cannot be written" in msg
    assert h.task.done() and isinstance(h.task.exception(), StorageError)
    assert e.state is EngineState.PAUSED and "storage failure" in e.state_reason
    assert e.counters["fills"] == n_fills and e.portfolio.cash == cash  # nothing sent, nothing booked
    assert e.broker.submit_calls == sent
    with pytest.raises(StorageError):  # the final flush cannot write the buffered rows either
        await h.stop()
    con = sqlite3.connect(db)
    try:
        open_orders = con.execute("SELECT COUNT(*) FROM orders WHERE status IN ('INTENT','NEW')").fetchone()[0]
    finally:
        con.close()
    assert open_orders == 0  # no intent was committed, so no order can be resent by a restart
    h2 = await make_engine(db_path=db).start()
    try:
        assert h2.engine.portfolio.cash == cash and dict(h2.engine.portfolio.positions) == positions
    finally:
        await h2.stop()


async def test_a_database_locked_by_another_program_at_start_up_is_a_storage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program (an sqlite3 shell) holds the write lock while the engine starts: a
    StorageError that says so, not a raw sqlite3 error."""
    db = str(tmp_path / "l.db")
    h = await make_engine(db_path=db).start()
    await h.stop()
    opened = Database.open
    monkeypatch.setattr(Database, "open", lambda *a, **k: opened(*a, **{**k, "busy_timeout_ms": 50}))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        h2 = make_engine(db_path=db)
        with pytest.raises(StorageError, match=r"storage failure on .*database is locked \(another program holds"):
            await h2.engine.start_up()
        await h2.engine.stop()
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_a_book_in_another_quote_asset_is_refused_and_a_new_starting_balance_is_named(
    tmp_path: Path, caplog
) -> None:
    """A restart whose configuration trades another quote asset would spend the book's USDT cash
    on USDC prices: refused before anything is written. A different starting balance only applies
    to a new book: the restart says so."""
    db = str(tmp_path / "q.db")
    h = await make_engine(db_path=db).start()
    await h.stop()
    usdc = engine_config(broker={"quote_asset": "USDC"}, feed={"universe": {"quote_asset": "USDC"}})
    h2 = make_engine(usdc, db_path=db)
    with pytest.raises(MixedBookError, match=r"keeps a book in USDT; broker.quote_asset is USDC"):
        await h2.engine.start_up()
    await h2.engine.stop()
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1  # nothing written
    finally:
        con.close()
    with caplog.at_level(logging.WARNING, logger="tui_trader"):
        h3 = await make_engine(engine_config(broker={"starting_balance": 50_000.0}), db_path=db).start()
    try:
        assert h3.engine.portfolio.cash == Decimal(10_000)
        assert "this book began with 10000 USDT: broker.starting_balance (50000) applies to a new book" in caplog.text
    finally:
        await h3.stop()


async def test_a_manual_buy_whose_intent_cannot_be_stored_leaves_no_order_behind(tmp_path: Path) -> None:
    """The intent of a manual buy cannot be committed (the database stopped taking writes): the
    command fails, nothing is sent, and no never-stored order lingers in the symbol detail."""
    h = await make_engine(db_path=str(tmp_path / "m.db")).start()
    e = h.engine
    try:
        await _trend(h, 3)
        free = next(s for s in e.symbols if s not in e.portfolio.positions)
        known, sent = set(e.orders), e.broker.submit_calls
        e.db._conn._conn.execute("PRAGMA query_only = ON")
        res = await e.submit(ManualBuy(symbol=free, quote_amount=Decimal(500)))
        assert not res.ok and "readonly" in res.message
        assert e.broker.submit_calls == sent and set(e.orders) == known
    finally:
        e.db._conn._conn.execute("PRAGMA query_only = OFF")
        await h.stop()
