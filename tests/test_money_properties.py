"""Money exactness across the paper broker, the book, sizing and the breakers (property tests).

Each property drives the real components together: what the paper broker accepts is booked
by the portfolio, and the two must agree to the last decimal at every step.
"""

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


# ============================================================ daily loss across midnight


def test_a_loss_over_the_period_straddling_midnight_trips_the_daily_breaker():
    # Before: the first mark of a UTC day reset the day's start to the equity AT that mark, so a
    # fall between the last mark before midnight and the first one after counted for neither day:
    # an 18 % loss in the hour ending at 00:00 left the daily PnL at 0 and the breaker silent.
    p = Portfolio(D(10000))
    breakers = RiskBreakers(Config.model_validate({"risk_management": {"max_drawdown_percent": 50}}))
    p.apply_fill(Fill("tt-1", "XUSDT", Side.BUY, D(100), D(90), D(0), "USDT", JAN1 + 23 * HOUR, "t1"))
    p.mark({"XUSDT": 100.0}, ts_ms=JAN1 + 23 * HOUR)
    assert breakers.update(JAN1 + 23 * HOUR, p.equity, p.day_start_equity, p.peak_equity) == []
    p.mark({"XUSDT": 80.0}, ts_ms=JAN1 + MS_PER_DAY)  # 00:00 on Jan 2: the position lost 1800
    assert p.equity == 8200.0
    assert p.day_start_equity == 10000.0 and p.daily_pnl == -1800.0
    trips = breakers.update(JAN1 + MS_PER_DAY, p.equity, p.day_start_equity, p.peak_equity)
    assert [t.code for t in trips] == ["daily_loss"] and trips[0].value_pct == pytest.approx(18.0)


def test_the_day_start_after_a_gap_of_days_or_a_restart_is_the_first_mark():
    # Marks two days apart: the last one is no estimate of the new day's start (the loss is
    # the days' in between), nor is anything after a restart (no mark known yet).
    p = Portfolio(D(1000))
    p.apply_fill(Fill("tt-1", "XUSDT", Side.BUY, D(100), D(5), D(0), "USDT", JAN1, "t1"))
    p.mark({"XUSDT": 100.0}, ts_ms=JAN1)
    p.mark({"XUSDT": 50.0}, ts_ms=JAN1 + 2 * MS_PER_DAY)
    assert p.day_start_equity == 750.0 and p.daily_pnl == 0
    q = Portfolio.from_state(p.to_state() | {"last_mark_ms": None, "marks": {}}, list(p.positions.values()))
    q.mark({"XUSDT": 40.0}, ts_ms=JAN1 + 3 * MS_PER_DAY)
    assert q.day_start_equity == 700.0 and q.daily_pnl == 0
