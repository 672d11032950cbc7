"""Engine rules: strategy signals from the z-scores, each stored with the reason it was or was
not executed (``trading_signals``), and the consistency of the snapshots hosts read."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from engine_helpers import MIN, T0, engine_config, klines, make_engine, prices

from tui_trader.events import LockSymbol, ManualBuy, Pause
from tui_trader.models import EngineState, Source

PERIOD = 3 * MIN
STEP = np.array([1.005, 0.995, 1.0, 1.0])  # A rises, B falls every kline, C and D are flat


async def _trend(h, periods: int, start: int = 0, base: np.ndarray | None = None) -> np.ndarray:
    """``periods`` rating periods of trending klines; returns the last closes."""
    close = np.full(4, 100.0) if base is None else base.copy()
    for k in range(start * 3, (start + periods) * 3):
        new = close * STEP
        new[2] = 100.0 + (0.2 if k % 2 else -0.2)  # C wobbles, D stays flat: they never trend
        await h.step(klines(T0 + k * MIN, new.tolist(), open_=close.tolist()))
        close = new
    return close


async def test_z_score_entries_are_executed_and_stored_with_their_order() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _trend(h, 8)
        buys = [s for s in e.recent_signals if s.type.value == "BUY"]
        assert buys, "a steadily winning symbol must reach the z threshold"
        first = buys[-1]
        assert first.symbol == "AAAUSDT" and first.kind == "entry" and first.z_score >= 1.0
        assert first.executed and first.outcome.startswith("executed: BUY")
        assert "AAAUSDT" in e.portfolio.positions and "BBBUSDT" not in e.portfolio.positions
        await e.db.flush()
        stored = {s.id: s for s in await e.db.load_signals(limit=None)}
        row = stored[first.id]
        assert (row.symbol, row.type.value, row.executed, row.outcome) == ("AAAUSDT", "BUY", True, first.outcome)
        order = await e.db.get_order(row.order_client_id)
        assert order.signal_id == first.id and order.source is Source.STRATEGY
        assert order.reason == first.reason and order.reason.startswith("Z-Score ")
        # sized by the rules: at most max_position_percent of equity
        assert order.quantity * order.avg_price <= Decimal("1000.01")
    finally:
        await h.stop()


async def test_signals_that_are_not_executed_are_stored_with_the_reason() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        assert (await e.submit(Pause())).ok
        await _trend(h, 8)
        assert not e.portfolio.positions
        outcomes = {s.outcome for s in e.recent_signals}
        assert outcomes == {"not executed: engine paused"}
        await e.db.flush()
        stored = await e.db.load_signals(limit=None)
        assert len(stored) == e.counters["signals"] > 0
        assert {(s.outcome, s.executed) for s in stored} == {("not executed: engine paused", False)}
        assert {s.id for s in stored} == {s.id for s in e.recent_signals}
    finally:
        await h.stop()


async def test_low_confidence_entries_are_dropped_and_risk_refusals_recorded() -> None:
    cfg = engine_config(signal_generation={"confidence_threshold": 0.99})
    h = await make_engine(cfg).start()
    e = h.engine
    try:
        await _trend(h, 8)
        assert e.recent_signals and not e.portfolio.positions
        assert all(s.outcome.startswith("dropped: confidence ") and not s.executed for s in e.recent_signals)
        await e.db.flush()  # dropped signals are stored too, with the reason they were not acted on
        stored = await e.db.load_signals(limit=None)
        assert sorted((s.id, s.outcome) for s in stored) == sorted((s.id, s.outcome) for s in e.recent_signals)
    finally:
        await h.stop()
    cfg = engine_config(risk_management={"max_total_positions": 1})
    h = await make_engine(cfg).start()
    e = h.engine
    try:
        await _trend(h, 2)
        assert (await e.submit(ManualBuy(symbol="DDDUSDT", quote_amount=Decimal(500)))).ok
        await _trend(h, 6, start=2, base=np.array([100 * 1.005**6, 100 * 0.995**6, 100.0, 100.0]))
        refused = [s for s in e.recent_signals if s.type.value == "BUY"]
        assert refused and all(s.outcome.startswith("refused: max total positions reached: 1 of 1")
                               for s in refused)
        await e.db.flush()
        stored = [s for s in await e.db.load_signals(limit=None) if s.type.value == "BUY"]
        assert [s.outcome for s in stored] == [s.outcome for s in reversed(refused)]
    finally:
        await h.stop()


async def test_the_engine_acts_on_a_periods_entries_in_priority_order() -> None:
    # A and C rise together (C faster) and enter in the same period; with room for one position
    # the entry with the higher strength x confidence is executed and the other refused
    h = await make_engine(engine_config(risk_management={"max_total_positions": 1})).start()
    e = h.engine
    try:
        close = np.full(4, 100.0)
        for k in range(15):
            new = close * np.array([1.004, 0.995, 1.008, 0.997])
            await h.step(klines(T0 + k * MIN, new.tolist(), open_=close.tolist()))
            close = new
        first = min(s.ts_ms for s in e.recent_signals)
        acted = [s for s in reversed(e.recent_signals) if s.ts_ms == first]  # in the order acted on
        assert [s.type.value for s in acted] == ["BUY", "BUY"]
        products = [s.strength * s.confidence for s in acted]
        assert products[0] > products[1]
        assert acted[0].executed and not acted[1].executed
        assert acted[1].outcome.startswith("refused: max total positions reached: 1 of 1")
        assert set(e.portfolio.positions) == {acted[0].symbol}
    finally:
        await h.stop()


async def test_an_entry_is_sized_on_equity_with_unrealised_value_and_the_volatility_multiplier() -> None:
    # half the cash sits in DDD (flat at 100): the strategy's entry in AAA is sized on the whole
    # equity, not the cash left; AAA rises the same 0.5 % every kline, so its return volatility is
    # 0 and the volatility multiplier 1 (an unknown volatility would halve the size)
    h = await make_engine().start()
    e = h.engine
    try:
        await _trend(h, 1)
        assert (await e.submit(ManualBuy(symbol="DDDUSDT", quote_amount=Decimal(5000), override_risk=True))).ok
        await _trend(h, 7, start=1, base=np.array([100 * 1.005**3, 100 * 0.995**3, 100.0, 100.0]))
        entry = next(s for s in reversed(e.recent_signals) if s.kind == "entry")
        assert entry.symbol == "AAAUSDT" and entry.executed
        ddd, aaa = e.fills[0], e.fills[1]
        assert (ddd.symbol, aaa.symbol) == ("DDDUSDT", "AAAUSDT")
        equity = 10_000 - float(ddd.fee)  # cash + DDD at its entry price, as DDD has not moved
        pct = 10.0 * min(entry.strength, 2.0) * entry.confidence  # max_position_percent 10 in these tests
        assert pct < 10.0  # below the cap: each factor shows in the size
        want = equity * pct / 100 / float(aaa.price)  # slippage 0: filled at the sizing price
        assert float(aaa.quantity) == pytest.approx(want, abs=0.0011)  # rounded down to the 0.001 step
    finally:
        await h.stop()


async def test_the_equity_curve_is_sampled_each_rating_period() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _trend(h, 8)
        ts, eq = e.equity_curve()
        assert ts.tolist() == [T0 + (k + 1) * PERIOD for k in range(8)]
        assert eq[-1] == pytest.approx(e.portfolio.equity)
        assert eq[0] == pytest.approx(10_000.0)  # nothing bought in the first period
    finally:
        await h.stop()


async def test_locked_symbols_get_no_entries() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        assert (await e.submit(LockSymbol(symbol="AAAUSDT"))).ok
        await _trend(h, 8)
        assert not [s for s in e.recent_signals if s.symbol == "AAAUSDT"]
        assert float(e.z[0]) >= 1.0  # it would have been an entry
        assert not e.portfolio.positions
    finally:
        await h.stop()


async def test_snapshot_is_consistent() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        last = await _trend(h, 8)
        assert (await e.submit(ManualBuy(symbol="DDDUSDT", quote_amount=Decimal(700)))).ok
        now = T0 + 8 * PERIOD + 30_000
        live = [last[0] * 1.01, last[1], 100.3, 101.0]
        await h.step(prices(now, live))
        pf = e.portfolio
        peak, day_start, marks = pf.peak_equity, pf.day_start_equity, dict(pf.marks)
        snap = e.snapshot()
        # reading a snapshot never moves the book
        assert (pf.peak_equity, pf.day_start_equity, pf.marks) == (peak, day_start, marks)
        assert snap.ts_ms == now and snap.state is EngineState.RUNNING and snap.mode == "paper"
        np.testing.assert_allclose(snap.market.price, live)
        assert snap.market.symbols == e.symbols == snap.leaderboard.symbols
        lb = snap.leaderboard
        assert lb.period == e.counters["periods"] == 8
        for arr, ref in ((lb.rating, e.rating), (lb.z, e.z), (lb.rd, e.rd), (lb.moving_average, e.ma)):
            np.testing.assert_array_equal(arr, ref)
            assert arr is not ref  # copies: the host may keep them
        assert [s.id for s in snap.signals] == sorted((s.id for s in snap.signals), reverse=True)
        held = {p.symbol: p for p in snap.positions}
        assert set(held) == set(pf.positions) == {"AAAUSDT", "DDDUSDT"}
        for sym, p in held.items():
            pos = pf.positions[sym]
            i = e.symbols.index(sym)
            assert p.last_price == live[i] and p.quantity == pos.quantity
            assert p.value == pytest.approx(float(pos.quantity) * live[i])
            assert p.unrealized_pnl == pytest.approx(p.value - float(pos.cost))
            assert p.stop_price == pytest.approx(float(pos.avg_entry) * 0.98)
            assert p.target_price == pytest.approx(float(pos.avg_entry) * 1.04)
        view = snap.portfolio
        assert view.cash == pf.cash
        assert view.positions_value == pytest.approx(sum(p.value for p in snap.positions))
        assert view.equity == pytest.approx(float(pf.cash) + view.positions_value)
        # realised + unrealised (fees included) = equity - starting balance
        assert float(view.realized_pnl) + view.unrealized_pnl == pytest.approx(
            view.equity - float(view.starting_balance), abs=1e-6)
        assert view.daily_pnl == pytest.approx(view.equity - day_start)
        assert view.drawdown_pct >= 0
        names = {c.name: c for c in snap.health.checks}
        assert names["feed"].status == "healthy" and names["database"].message == "connected"
        assert names["positions"].message == "2 / 10 positions"
        assert snap.health.overall == "healthy"
        assert snap.counters["fills"] == len(e.fills) >= 2 and snap.counters["periods"] == 8
        detail = e.symbol_history("AAAUSDT")
        assert detail.position is not None and detail.position.value == held["AAAUSDT"].value
        assert detail.ts_ms.tolist() == [T0 + (k + 1) * PERIOD for k in range(8)]
        np.testing.assert_allclose(detail.rating[-1], e.rating[0])
        assert detail.fills and {f.symbol for f in detail.fills} == {"AAAUSDT"}
        assert len(detail.fills) == len([f for f in e.fills if f.symbol == "AAAUSDT"])
    finally:
        await h.stop()


async def test_an_operator_exit_starts_the_cooldown_so_the_strategy_does_not_buy_straight_back(
    tmp_path,
) -> None:
    from tui_trader.events import ClosePosition

    cooldown = 2 * PERIOD
    # a profit target out of reach: the strategy holds AAA while it keeps rising
    cfg = engine_config(signal_generation={"signal_cooldown_ms": cooldown},
                        risk_management={"profit_target_percent": 50.0})
    db = str(tmp_path / "c.db")
    h = await make_engine(cfg, db_path=db).start()
    e = h.engine
    try:
        close = await _trend(h, 8)
        assert "AAAUSDT" in e.portfolio.positions  # bought by the strategy
        close = await _trend(h, 3, start=8, base=close)  # the entry signal's cooldown is over
        assert e.generator.cooling(h.clock.now_ms())[0] == False  # noqa: E712
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert res.ok and "AAAUSDT" not in e.portfolio.positions
        closed_at = h.clock.now_ms()
        assert e.generator.cooling(closed_at)[0]
        buys_before = [s.id for s in e.recent_signals if s.symbol == "AAAUSDT" and s.type.value == "BUY"]
        # AAA still tops the board, but the next period does not buy it back
        close = await _trend(h, 1, start=11, base=close)
        assert "AAAUSDT" not in e.portfolio.positions
        assert [s.id for s in e.recent_signals if s.symbol == "AAAUSDT" and s.type.value == "BUY"] == buys_before
    finally:
        await h.stop()

    # the cooldown survives a restart (the operator's sell is in the orders table)
    h2 = await make_engine(cfg, db_path=db, autostart=False).start()
    try:
        assert h2.engine.generator._last_ms[0] == closed_at
    finally:
        await h2.stop()

    # once the cooldown is over the strategy may enter again
    h3 = await make_engine(cfg, db_path=db).start()
    try:
        await _trend(h3, 3, start=12, base=close)
        assert "AAAUSDT" in h3.engine.portfolio.positions
    finally:
        await h3.stop()


async def test_a_single_symbol_universe_is_warned_about(caplog) -> None:
    # alone, a symbol plays no games: its rating never moves and no signal can fire
    with caplog.at_level("WARNING", logger="tui_trader.engine"):
        h = await make_engine(symbols=["AAAUSDT"]).start()
        try:
            await h.step(klines(T0, [101.0]), klines(T0 + MIN, [103.0]), klines(T0 + 2 * MIN, [106.0]))
            assert not h.engine.recent_signals
        finally:
            await h.stop()
    warned = [r.getMessage() for r in caplog.records if "only 1 symbol" in r.getMessage()]
    assert warned and "AAAUSDT" in warned[0]
    with caplog.at_level("WARNING", logger="tui_trader.engine"):
        caplog.clear()
        h = await make_engine().start()
        await h.stop()
    assert not [r for r in caplog.records if "only" in r.getMessage() and "symbol" in r.getMessage()]
