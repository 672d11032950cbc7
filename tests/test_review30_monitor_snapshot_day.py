"""A snapshot's daily figures are the current UTC day's. The book rolls its day over at a mark (a
rating period's close, a trade); a snapshot marks nothing, and between midnight and the first
mark after it (the rest of a rating period that straddles midnight: minutes, or days with weekly
periods) it showed the day before's loss again as today's. It now starts the new day as that
mark will: at the equity of the last mark before midnight."""

from __future__ import annotations

from decimal import Decimal

from engine_helpers import MIN, T0, engine_config, klines, make_engine

from tui_trader.clock import MS_PER_DAY
from tui_trader.events import ManualBuy

# seven-minute periods: one closes at 23:58 and the next at 00:05 (T0 is a midnight)
SEVEN_MIN = 7 * MIN


async def test_the_daily_figures_start_again_at_midnight_before_the_next_mark() -> None:
    assert T0 % SEVEN_MIN == 2 * MIN
    cfg = engine_config(
        data_processing={"rating_calculation_interval_ms": SEVEN_MIN, "kline_retention_days": 0},
        signal_generation={
            "z_score_threshold": 10.0,
            "moving_average_period": 5,
            "confidence_threshold": 0.0,
        },
        risk_management={
            "stop_loss_percent": 50.0,
            "profit_target_percent": 50.0,
            "max_daily_loss_percent": 40.0,
        },
    )
    h = await make_engine(cfg, persist=False, start_ms=T0 - 60 * MIN).start()
    e, pf = h.engine, h.engine.portfolio
    try:
        for k in range(60, 40, -1):
            await h.step(klines(T0 - k * MIN, [100.0] * 4))
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(900)))).ok
        for k in range(40, 1, -1):  # AAA down 10 %: the day's loss
            await h.step(klines(T0 - k * MIN, [90.0, 100.0, 100.0, 100.0]))
        assert e.clock.now_ms() == T0 - MIN
        yesterday = e.snapshot().portfolio
        assert yesterday.daily_pnl < -50 and len(pf.positions) == 1  # (the strategy trades nothing here)
        await h.step(klines(T0 - MIN, [90.0, 100.0, 100.0, 100.0]))  # closes at midnight
        assert pf.last_mark_ms == T0 - 2 * MIN and pf.day == T0 // MS_PER_DAY - 1
        marked = pf.equity  # at the last mark before midnight

        # after midnight, no period closed yet: today is AAA's rise since that mark, not yesterday's loss
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [95.0, 100.0, 100.0, 100.0]))
        book = (pf.day, pf.day_start_equity, pf.last_mark_ms)
        today = e.snapshot().portfolio
        assert (pf.day, pf.day_start_equity, pf.last_mark_ms) == book  # a snapshot reads only
        assert pf.day == T0 // MS_PER_DAY - 1
        assert len(pf.positions) == 1 and today.daily_pnl == today.equity - marked > 0
        assert today.daily_pnl_pct == today.daily_pnl / marked * 100.0

        # the period closes at 00:05: the book's own new day says the same
        for k in range(3, 5):
            await h.step(klines(T0 + k * MIN, [95.0, 100.0, 100.0, 100.0]))
        assert pf.day == T0 // MS_PER_DAY and pf.day_start_equity == marked
        after = e.snapshot().portfolio
        assert after.equity == today.equity and after.daily_pnl == today.daily_pnl
    finally:
        await h.stop()
