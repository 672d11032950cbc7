"""The daily-loss breaker over a UTC midnight: a loss realised by a sell between the last mark
before midnight and the first mark after it counts for the new day, as an unrealised one does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tui_trader.clock import MS_PER_DAY
from tui_trader.config import Config
from tui_trader.models import Fill, Side
from tui_trader.portfolio import Portfolio
from tui_trader.risk.breakers import RiskBreakers

D = Decimal
JAN1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000


@pytest.mark.parametrize("sold_at", [JAN1 + 23 * HOUR + HOUR // 2, JAN1 + MS_PER_DAY + HOUR // 2])
def test_a_loss_sold_between_the_marks_around_midnight_trips_the_daily_breaker(sold_at):
    # Marks at 23:00 (X at 100) and at 01:00 the next day; the stop loss sells X at 80 in between
    # (before or after midnight). The new day started from the equity "at the last mark's prices
    # with the book as it is now" - the sale's cash, i.e. after the loss - so the 1,800 lost
    # counted for neither day and the breaker stayed silent, where the same fall unsold trips it.
    cfg = Config.model_validate({"risk_management": {"max_daily_loss_percent": 5, "max_drawdown_percent": 50}})
    p, breakers = Portfolio(D(10_000)), RiskBreakers(cfg)
    p.apply_fill(Fill("tt-1", "XUSDT", Side.BUY, D(100), D(90), D(0), "USDT", JAN1 + 22 * HOUR, "t1"))
    p.mark({"XUSDT": 100.0}, ts_ms=JAN1 + 23 * HOUR)
    assert breakers.update(JAN1 + 23 * HOUR, p.equity, p.day_start_equity, p.peak_equity) == []
    p.apply_fill(Fill("tt-2", "XUSDT", Side.SELL, D(80), D(90), D(0), "USDT", sold_at, "t2"))
    t = JAN1 + MS_PER_DAY + HOUR
    p.mark({}, ts_ms=t)
    assert p.equity == 8200.0
    assert p.day_start_equity == 10_000.0 and p.daily_pnl == -1800.0
    trips = breakers.update(t, p.equity, p.day_start_equity, p.peak_equity)
    assert [tr.code for tr in trips] == ["daily_loss"] and trips[0].value_pct == pytest.approx(18.0)


def test_a_buy_between_the_marks_around_midnight_moves_the_new_day_by_its_fee_only():
    p = Portfolio(D(10_000))
    p.mark({}, ts_ms=JAN1 + 23 * HOUR)
    p.apply_fill(Fill("tt-1", "XUSDT", Side.BUY, D(100), D(10), D(1), "USDT", JAN1 + 23 * HOUR + 1, "t1"))
    p.mark({"XUSDT": 100.0}, ts_ms=JAN1 + MS_PER_DAY)
    assert p.day_start_equity == 10_000.0 and p.daily_pnl == -1.0


async def test_money_moved_outside_tui_trader_is_no_loss_of_the_next_day(shared_data, tmp_path, monkeypatch):
    # The new day starts from the equity at the last mark; money withdrawn between that mark and
    # midnight (found by the account reconciliation) must move that reference with the others
    # (peak, day start), or the withdrawal reads as the next day's loss and trips the breaker.
    import asyncio

    from exchange_standin import StandinExchange, SteerableClock
    from test_binance_broker import KEY, T0, live_cfg

    from tui_trader.runtime import build_engine

    ex = await StandinExchange(SteerableClock(T0), shared_data, api_key=KEY).start()
    try:
        ex.balances = {"USDT": D(1000)}
        cfg, db = live_cfg(ex, monkeypatch), str(tmp_path / "live.db")
        first = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
        await asyncio.wait_for(first.start_up(), 20)  # the book begins with the account's 1000
        await asyncio.wait_for(first.stop(), 20)
        e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
        await asyncio.wait_for(e.start_up(), 20)
        try:
            pf = e.portfolio
            day_end = (T0 // MS_PER_DAY + 1) * MS_PER_DAY - HOUR
            pf.mark({}, ts_ms=day_end)
            assert pf.equity == 1000.0
            ex.balances["USDT"] = D(600)  # 400 withdrawn by hand
            assert await e._sync_live_account() == ""
            assert pf.cash == 600 and pf.day_start_equity == pytest.approx(600.0)
            pf.mark({}, ts_ms=day_end + 2 * HOUR)  # the next day's first mark
            assert pf.day_start_equity == pytest.approx(600.0) and pf.daily_pnl == pytest.approx(0.0)
        finally:
            await asyncio.wait_for(e.stop(), 20)
    finally:
        await ex.stop()


async def test_a_stop_loss_sold_just_after_midnight_counts_for_the_new_days_loss_in_the_engine():
    # The engine marks at each rating period; a stop loss sells on a price between two. Here the
    # last period before midnight marks AAA at 100, the stop loss sells it at 00:00:30 at 80 (a
    # 3.8 % loss of the equity), and the first period of the new day found a day start already
    # holding that loss: the daily-loss breaker (3 %) stayed silent and the engine kept running.
    from engine_helpers import MIN, engine_config, klines, make_engine, prices

    from tui_trader.events import ManualBuy
    from tui_trader.models import EngineState

    t0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z
    cfg = engine_config(risk_management={"max_daily_loss_percent": 3.0, "stop_loss_percent": 10.0,
                                         "max_position_percent": 20.0})
    h = make_engine(cfg, start_ms=t0 - 20 * MIN)
    await h.start()
    e = h.engine
    try:
        for k in range(19):  # klines up to 23:59
            if k == 9:
                assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=D(1900)))).ok
            await h.step(klines(t0 - 20 * MIN + k * MIN, [100.0] * 4, open_=[100.0] * 4))
        assert e.portfolio.last_mark_ms < t0 and e.portfolio.equity == pytest.approx(9998.1)
        await h.step(prices(t0 + 30_000, [80.0], symbols=[0]))  # the stop loss sells at 80
        assert "AAAUSDT" not in e.portfolio.positions
        for k in range(19, 24):  # the new day's first period
            await h.step(klines(t0 - 20 * MIN + k * MIN, [80.0, 100, 100, 100], open_=[80.0, 100, 100, 100]))
        assert e.portfolio.day == t0 // MS_PER_DAY
        assert e.portfolio.day_start_equity == pytest.approx(9998.1)
        assert e.state is EngineState.REDUCING
    finally:
        await h.stop()
