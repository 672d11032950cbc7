"""Engine rules: rating periods (boundaries, inputs, late and missing klines) and the
real-time exit checks between periods. Driven by a hand-made feed (tests/engine_helpers.py)."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from engine_helpers import MIN, T0, engine_config, klines, make_engine, prices

from tui_trader.events import EmergencyStop, LockSymbol, ManualBuy, ResetEmergency
from tui_trader.models import EngineState, KlineBatch
from tui_trader.rating.performance import performance_score
from tui_trader.rating.periods import period_ms_for

PERIOD = 3 * MIN  # engine_config: 150 000 ms rounded up to whole 1m klines


def test_period_is_the_configured_interval_rounded_up_to_whole_klines() -> None:
    cfg = engine_config(data_processing={"rating_calculation_interval_ms": 150_000})
    assert period_ms_for(cfg, MIN) == 3 * MIN
    for rating_ms, interval, expected in [(60_000, MIN, MIN), (60_001, MIN, 2 * MIN), (300_000, MIN, 5 * MIN),
                                          (300_000, 3_600_000, 3_600_000), (7_200_000, 3_600_000, 7_200_000)]:
        c = engine_config(data_processing={"rating_calculation_interval_ms": rating_ms})
        assert period_ms_for(c, interval) == expected


def _sample_std(closes: list[float]) -> float:
    r = np.diff(np.asarray(closes)) / np.asarray(closes[:-1])
    return float(np.std(r, ddof=1)) if r.size >= 2 else float("nan")


async def test_a_period_closes_on_its_last_kline_and_rates_the_klines_closed_in_it() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        # period [T0, T0+3m): A rises, B falls, C flat, D trades only in the middle kline
        await h.step(klines(T0, [100, 100, 100], open_=[100, 100, 100], symbols=[0, 1, 2],
                            taker_share=[0.6, 0.4, 0.5]))
        await h.step(klines(T0 + MIN, [101, 99, 100, 50], open_=[100, 100, 100, 50],
                            taker_share=[0.6, 0.4, 0.5, 0.7]))
        assert e.counters["periods"] == 0  # not before its end
        await h.step(klines(T0 + 2 * MIN, [102, 98, 100], open_=[101, 99, 100], symbols=[0, 1, 2],
                            taker_share=[0.6, 0.4, 0.5]))
        assert e.counters["periods"] == 1
        snap = e.snapshot()
        assert snap.leaderboard.period == 1
        # the inputs: first open -> last close, summed volumes, volatility of the last closes
        closes = {0: [100, 101, 102], 1: [100, 99, 98], 2: [100, 100, 100]}
        for i, (op, cl, share) in {0: (100, 102, 0.6), 1: (100, 98, 0.4), 2: (100, 100, 0.5)}.items():
            sigma = _sample_std(closes[i])
            want = performance_score(np.array([(cl - op) / op * 100]), np.array([share]),
                                     np.array([0.0 if math.isnan(sigma) else sigma]))[0]
            assert snap.leaderboard.score[i] == pytest.approx(want, rel=1e-12)
        # D played: one kline, open 50 -> close 50; it has fewer than 3 closes so sigma counts as 0
        want_d = performance_score(np.array([0.0]), np.array([0.7]), np.array([0.0]))[0]
        assert snap.leaderboard.score[3] == pytest.approx(want_d, rel=1e-12)
        # the winner gains, the loser drops
        assert snap.leaderboard.rating[0] > 1500 > snap.leaderboard.rating[1]
        # stored with the period's end as its time
        await e.db.flush()
        ts, hist = await e.db.load_rating_history(e.symbols, 10)
        assert ts.tolist() == [T0 + PERIOD]
        np.testing.assert_allclose(hist[0], snap.leaderboard.rating)
    finally:
        await h.stop()


async def test_a_period_of_complete_batches_opens_at_its_first_kline() -> None:
    # every symbol in every kline (the common, whole-array path): the period's price change runs
    # from the first kline's open to the last one's close, not from the last kline's open
    h = await make_engine().start()
    e = h.engine
    try:
        closes = {0: [101, 102, 103], 1: [99, 98, 97], 2: [100, 100, 100], 3: [100, 100, 100]}
        opens = [[100, 100, 100, 100], [101, 99, 100, 100], [102, 98, 100, 100]]
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [closes[i][k] for i in range(4)], open_=opens[k],
                                taker_share=[0.6, 0.4, 0.5, 0.5]))
        assert e.counters["periods"] == 1
        score = e.snapshot().leaderboard.score
        for i, share in enumerate([0.6, 0.4, 0.5, 0.5]):
            dp = (closes[i][-1] - 100) / 100 * 100
            want = performance_score(np.array([dp]), np.array([share]), np.array([_sample_std(closes[i])]))[0]
            assert score[i] == pytest.approx(want, rel=1e-12)
    finally:
        await h.stop()


async def test_a_symbols_last_row_of_an_open_time_wins() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        # a corrected kline: A twice at the same open time, the later row is the one kept
        await h.step(klines(T0, [100.0, 100.0, 105.0], symbols=[0, 1, 0]))
        assert e.last_price("AAAUSDT") == 105.0 and e.last_price("BBBUSDT") == 100.0
    finally:
        await h.stop()


async def test_a_missing_period_leaves_the_gap_count_when_it_leaves_the_window() -> None:
    h = await make_engine().start()  # z window (moving_average_period) of 5 periods
    e = h.engine
    try:
        def period(p: int, syms: list[int]) -> list:
            return [klines(T0 + p * PERIOD + k * MIN, [100.0 + p] * len(syms), symbols=syms) for k in range(3)]

        await h.step(*period(0, [0, 1, 2, 3]))
        await h.step(*period(1, [0, 1, 2]))  # D has no data in period 1
        await h.step(*period(2, [0, 1, 2, 3]))
        assert e.counters["periods"] == 3 and int(e.gaps[3]) == 1
        for p in range(3, 6):
            await h.step(*period(p, [0, 1, 2, 3]))
        assert int(e.gaps[3]) == 1  # periods 1..5 in the window: the gap is still in it
        await h.step(*period(6, [0, 1, 2, 3]))
        assert e.counters["periods"] == 7 and int(e.gaps[3]) == 0  # periods 2..6: it has left
    finally:
        await h.stop()


async def test_next_period_klines_close_an_unfinished_period_and_idle_symbols_do_not_play() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await h.step(klines(T0, [100, 100, 100, 100]), klines(T0 + MIN, [101, 99, 100, 100]),
                     klines(T0 + 2 * MIN, [102, 98, 100, 100]))
        assert e.counters["periods"] == 1
        before = e.snapshot().leaderboard
        # second period: its last kline never comes; D has no data at all in it
        await h.step(klines(T0 + PERIOD, [103, 97, 100], symbols=[0, 1, 2]),
                     klines(T0 + PERIOD + MIN, [104, 96, 100], symbols=[0, 1, 2]))
        assert e.counters["periods"] == 1
        await h.step(klines(T0 + 2 * PERIOD, [105, 95, 100, 100]))  # a kline of the third period
        assert e.counters["periods"] == 2
        after = e.snapshot().leaderboard
        assert math.isnan(after.score[3])  # D did not play
        assert after.rating[3] == before.rating[3]  # so its rating is unchanged
        assert after.rd[3] > before.rd[3]  # but its uncertainty grows
        assert int(e.zs.count[3]) == 1 and int(e.zs.count[0]) == 2  # only players enter the z window
        assert int(e.gaps[3]) == 1 and int(e.gaps[0]) == 0  # a period without data in the window
        await e.db.flush()
        ts, _ = await e.db.load_rating_history(e.symbols, 10)
        assert ts.tolist() == [T0 + PERIOD, T0 + 2 * PERIOD]
    finally:
        await h.stop()


async def test_late_klines_of_a_rated_period_update_prices_but_not_ratings() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await h.step(klines(T0, [100, 100, 100], symbols=[0, 1, 2]),
                     klines(T0 + MIN, [101, 99, 100], symbols=[0, 1, 2]),
                     klines(T0 + 2 * MIN, [102, 98, 100], symbols=[0, 1, 2]))
        assert e.counters["periods"] == 1
        board = e.snapshot().leaderboard
        await h.step(klines(T0 + 2 * MIN, [80.0], symbols=[3]))  # D's kline of the rated period, late
        assert e.counters["late_klines"] == 1
        assert e.counters["periods"] == 1
        np.testing.assert_array_equal(e.snapshot().leaderboard.rating, board.rating)
        assert e.last_price("DDDUSDT") == 80.0
    finally:
        await h.stop()


async def test_a_batch_spanning_several_periods_is_rated_period_by_period() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        times = [T0 + k * MIN for k in range(7)]  # two full periods and one kline of the third
        rows = [klines(t, [100 + k, 100 - k, 100, 100]) for k, t in enumerate(times)]
        cols = {f: np.concatenate([getattr(b, f) for b in rows]) for f in
                ("sym", "open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
                 "trades", "taker_buy_base", "closed")}
        await h.step(KlineBatch(interval_ms=MIN, **cols))
        assert e.counters["periods"] == 2
        await e.db.flush()
        ts, _ = await e.db.load_rating_history(e.symbols, 10)
        assert ts.tolist() == [T0 + PERIOD, T0 + 2 * PERIOD]
        assert e.counters["klines"] == 28
    finally:
        await h.stop()


async def test_an_unfinished_period_is_not_rated_at_stop() -> None:
    h = await make_engine().start()
    e = h.engine
    await h.step(klines(T0, [100, 100, 100, 100]), klines(T0 + MIN, [101, 99, 100, 100]))
    await h.stop()
    assert e.counters["periods"] == 0


# ---------------------------------------------------------------- exits between periods


async def _holding(h, symbol: str = "AAAUSDT", amount: str = "1000") -> None:
    """One full period of flat prices at 100 (so volatility and liquidity are known), then a manual buy."""
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0, 100.0, 100.0, 100.0], open_=[100.0] * 4))
    res = await h.engine.submit(ManualBuy(symbol=symbol, quote_amount=Decimal(amount)))
    assert res.ok, res.message
    assert symbol in h.engine.portfolio.positions


async def test_a_period_closing_exactly_at_the_stop_sells_at_the_period() -> None:
    # the kline that closes a period is judged by the period's rules only (no real-time check
    # runs on it): the engine's quick "nothing can fire" test must not skip a stop loss there
    h = await make_engine().start()  # stop loss 2 %; z is 0 until 5 periods are in the window
    e = h.engine
    try:
        await _holding(h)
        assert e.portfolio.positions["AAAUSDT"].avg_entry == 100
        await h.step(klines(T0 + PERIOD, [100.0] * 4), klines(T0 + PERIOD + MIN, [100.0] * 4))
        assert "AAAUSDT" in e.portfolio.positions
        await h.step(klines(T0 + PERIOD + 2 * MIN, [98.0, 100.0, 100.0, 100.0], open_=[100.0] * 4))  # -2 %
        assert e.counters["periods"] == 2 and float(e.z[0]) == 0.0
        assert "AAAUSDT" not in e.portfolio.positions
        sig = e.recent_signals[0]
        assert (sig.symbol, sig.kind, sig.executed) == ("AAAUSDT", "stop_loss", True)
        assert [f.price for f in e.fills if f.side.value == "SELL"] == [Decimal("98")]
    finally:
        await h.stop()


async def test_a_price_update_below_the_stop_closes_the_position_without_waiting_for_the_period() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _holding(h)
        periods = e.counters["periods"]
        await h.step(prices(T0 + PERIOD + 10_000, [99.0, 100, 100, 100]))  # -1 %: inside the band
        assert "AAAUSDT" in e.portfolio.positions
        await h.step(prices(T0 + PERIOD + 20_000, [97.9, 100, 100, 100]))  # -2.1 %: stop loss
        assert "AAAUSDT" not in e.portfolio.positions
        assert e.counters["periods"] == periods  # no period closed in between
        sig = e.recent_signals[0]
        assert (sig.symbol, sig.kind, sig.executed) == ("AAAUSDT", "stop_loss", True)
        sell = [f for f in e.fills if f.side.value == "SELL"]
        assert len(sell) == 1 and sell[0].price == Decimal("97.9") and sell[0].ts_ms == T0 + PERIOD + 20_000
        await e.db.flush()
        stored = await e.db.load_signals()
        assert [(s.kind, s.executed) for s in stored] == [("stop_loss", True)]
        assert stored[0].outcome.startswith("executed: SELL")
    finally:
        await h.stop()


async def test_exit_checks_are_thinned_to_the_price_update_interval_without_losing_a_symbol() -> None:
    # a feed streaming faster than data_processing.price_update_interval_ms is checked once per
    # interval; a symbol updated in between is checked at its latest price with the next check
    h = await make_engine(engine_config(data_processing={"price_update_interval_ms": 1000})).start()
    e = h.engine
    try:
        await _holding(h)
        t = T0 + PERIOD + 10_000
        await h.step(prices(t, [99.0, 100, 100, 100]))  # checked: inside the band
        await h.step(prices(t + 300, [97.0], symbols=[0]))  # -3 %, 300 ms later: not checked yet
        assert "AAAUSDT" in e.portfolio.positions
        await h.step(prices(t + 600, [100.5], symbols=[1]))  # still within the interval
        assert "AAAUSDT" in e.portfolio.positions
        await h.step(prices(t + 1000, [100.2], symbols=[2]))  # due: AAA is checked at 97.0
        assert "AAAUSDT" not in e.portfolio.positions
        sell = [f for f in e.fills if f.side.value == "SELL"]
        assert len(sell) == 1 and sell[0].price == Decimal("97")
        assert e.recent_signals[0].kind == "stop_loss"
    finally:
        await h.stop()


async def test_a_closed_kline_above_the_target_takes_the_profit_between_periods() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _holding(h, "BBBUSDT")
        # first kline of the next period (does not close it) closes BBB 4.5 % up
        await h.step(klines(T0 + PERIOD, [100, 104.5, 100, 100], open_=[100.0] * 4))
        assert e.counters["periods"] == 1
        assert "BBBUSDT" not in e.portfolio.positions
        sig = e.recent_signals[0]
        assert (sig.symbol, sig.kind, sig.type.value, sig.executed) == ("BBBUSDT", "profit_target", "SELL", True)
        assert e.portfolio.realized_pnl > 0
    finally:
        await h.stop()


async def test_a_lock_blocks_the_profit_target_but_not_the_stop_loss() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _holding(h)
        res = await e.submit(LockSymbol(symbol="AAAUSDT", locked=True))
        assert res.ok
        n0 = e.counters["signals"]
        for k in range(5):  # +5 %: the target holds, but the symbol is locked
            await h.step(prices(T0 + PERIOD + 1000 * (k + 1), [105.0, 100, 100, 100]))
        assert "AAAUSDT" in e.portfolio.positions
        assert e.counters["signals"] == n0  # locked: no profit-target signal at all
        await h.step(prices(T0 + PERIOD + 10_000, [97.0, 100, 100, 100]))  # the stop loss ignores the lock
        assert "AAAUSDT" not in e.portfolio.positions
        assert e.recent_signals[0].kind == "stop_loss"
    finally:
        await h.stop()


async def test_a_refused_exit_is_stored_once_per_cooldown_not_on_every_tick() -> None:
    cfg = engine_config(signal_generation={"signal_cooldown_ms": 60_000})
    h = await make_engine(cfg).start()
    e = h.engine
    try:
        await _holding(h)
        assert (await e.submit(EmergencyStop())).ok
        assert (await e.submit(ResetEmergency())).ok
        assert e.state is EngineState.STOPPED  # stopped: not even a stop loss may trade
        t = T0 + PERIOD
        for k in range(10):  # ten ticks below the stop within 10 s
            await h.step(prices(t + 1000 * (k + 1), [97.0, 100, 100, 100]))
        refused = [s for s in e.recent_signals if s.kind == "stop_loss"]
        assert len(refused) == 1 and not refused[0].executed
        assert refused[0].outcome == "not executed: engine stopped"
        await h.step(prices(t + 61_500, [97.0, 100, 100, 100]))  # after the cooldown: raised again
        assert len([s for s in e.recent_signals if s.kind == "stop_loss"]) == 2
        assert "AAAUSDT" in e.portfolio.positions
        await e.db.flush()
        stored = [s for s in await e.db.load_signals() if s.kind == "stop_loss"]
        assert [s.outcome for s in stored] == ["not executed: engine stopped"] * 2
    finally:
        await h.stop()


async def test_the_fast_volatility_equals_the_cache_figure() -> None:
    """Complete batches feed a ring of closes; the volatility from it must be the cache's, exactly."""
    cfg = engine_config(rating={"volatility_window": 5})
    h = await make_engine(cfg).start()
    e = h.engine
    try:
        rng = np.random.default_rng(3)
        close = np.full(4, 100.0)
        for k in range(9):
            close = close * (1 + rng.normal(0, 0.01, 4))
            await h.step(klines(T0 + k * MIN, close.tolist()))
            assert e._vfull == k + 1
            np.testing.assert_array_equal(e._volatility(), e.cache.return_volatility(5))
        await h.step(klines(T0 + 9 * MIN, [101.0, 99.0], symbols=[0, 2]))  # an incomplete batch
        assert e._vfull == 0
        np.testing.assert_array_equal(e._volatility(), e.cache.return_volatility(5))
    finally:
        await h.stop()


async def test_one_symbols_staleness_is_the_all_symbol_figure() -> None:
    """The risk context of one order reads one symbol's staleness; it must be the vector's value."""
    h = await make_engine(engine_config()).start()
    e = h.engine
    try:
        for k in range(4):
            await h.step(klines(T0 + k * MIN, [100.0, 101.0, 102.0, 103.0]))
        await h.step(klines(T0 + 4 * MIN, [100.0], symbols=[1]))  # only B moves on
        for ts in (e.clock.now_ms(), e.clock.now_ms() + 7 * MIN + 13, T0 - MIN):
            whole = e._staleness(ts)
            assert [e._staleness_of(ts, i) for i in range(4)] == whole.tolist()
        e.last_kline_ms[3] = -1  # never seen
        assert e._staleness_of(T0, 3) == float("inf") == e._staleness(T0)[3]
    finally:
        await h.stop()


async def test_the_last_of_several_updates_of_a_symbol_in_one_batch_decides_the_exit() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _holding(h)
        t = T0 + PERIOD + 1_000
        await h.step(prices(t, [97.0, 99.5], symbols=[0, 0]))  # -3 % then back to -0.5 %: no stop
        assert "AAAUSDT" in e.portfolio.positions
        await h.step(prices(t + 1_000, [99.5, 97.0], symbols=[0, 0]))  # ends at -3 %: stop loss
        assert "AAAUSDT" not in e.portfolio.positions
        assert e.fills[-1].price == Decimal("97")
    finally:
        await h.stop()
