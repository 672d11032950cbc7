"""RiskBreakers: daily loss -> reducing, drawdown -> emergency stop; boundaries, once, UTC re-arm."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from engine_helpers import T0, klines, make_engine

from tui_trader.config import Config
from tui_trader.events import ManualBuy
from tui_trader.models import EngineState
from tui_trader.portfolio import Portfolio
from tui_trader.risk.breakers import MS_PER_DAY, RiskBreakers, utc_day

CFG = Config()  # daily loss 10 %, drawdown 15 %
DAY = 19_700  # an arbitrary UTC day number
MIDNIGHT = DAY * MS_PER_DAY  # 00:00:00.000 UTC
NOON = MIDNIGHT + MS_PER_DAY // 2


def test_utc_day():
    assert utc_day(MIDNIGHT) == DAY
    assert utc_day(MIDNIGHT - 1) == DAY - 1
    assert utc_day(MIDNIGHT + MS_PER_DAY - 1) == DAY


def test_daily_loss_trips_at_the_boundary_not_before():
    b = RiskBreakers(CFG)
    # 9 000.01 of 10 000 = 9.9999 % loss: no trip
    assert b.update(NOON, 9_000.01, 10_000, 10_000) == []
    trips = b.update(NOON + 1, 9_000.0, 10_000, 10_000)  # exactly 10 %
    assert len(trips) == 1
    t = trips[0]
    assert (t.code, t.target_state, t.severity) == ("daily_loss", EngineState.REDUCING, "warning")
    assert t.value_pct == pytest.approx(10.0)
    assert t.ts_ms == NOON + 1
    assert t.message == "Daily loss 10.00% reached the limit of 10.00%: only exits until the next UTC day"
    assert b.daily_active(NOON + 1) and not b.daily_rearmed(NOON + 1)


def test_daily_loss_trips_once_per_day_and_rearms_at_utc_midnight():
    b = RiskBreakers(CFG)
    assert len(b.update(NOON, 8_500.5, 10_000, 10_000)) == 1
    # still losing, more even, same day: silent
    assert b.update(NOON + 3_600_000, 8_600, 10_000, 10_000) == []
    assert b.update(MIDNIGHT + MS_PER_DAY - 1, 8_600, 10_000, 10_000) == []  # 23:59:59.999
    # the new UTC day: re-armed; with a fresh day start and no new loss nothing trips
    assert b.daily_rearmed(MIDNIGHT + MS_PER_DAY)
    assert b.update(MIDNIGHT + MS_PER_DAY, 8_600, 8_600, 10_000) == []
    assert not b.daily_active(MIDNIGHT + MS_PER_DAY)
    # a 10 % loss on the new day trips again (peak 9 000 keeps the drawdown at 14 %, below 15 %)
    trips = b.update(MIDNIGHT + MS_PER_DAY + 5, 7_740, 8_600, 9_000)
    assert [t.code for t in trips] == ["daily_loss"]
    assert b.update(MIDNIGHT + MS_PER_DAY + 6, 7_700, 8_600, 9_000) == []


def test_drawdown_trips_at_the_boundary_once():
    b = RiskBreakers(CFG)
    assert b.update(NOON, 8_500.01, 8_500.01, 10_000) == []
    trips = b.update(NOON + 1, 8_500, 8_500.01, 10_000)  # exactly 15 % below the peak
    assert [(t.code, t.target_state, t.severity) for t in trips] == [
        ("drawdown", EngineState.EMERGENCY_STOPPED, "critical")
    ]
    assert trips[0].value_pct == pytest.approx(15.0)
    assert "Drawdown 15.00%" in trips[0].message
    assert b.drawdown_tripped
    assert b.update(NOON + 2, 8_000, 8_500.01, 10_000) == []  # deeper: still once
    assert b.update(NOON + 2 + MS_PER_DAY, 8_000, 8_000, 10_000) == []  # a new day does not re-arm it
    b.rearm_drawdown()
    assert not b.drawdown_tripped
    assert [t.code for t in b.update(NOON + 3 + MS_PER_DAY, 8_000, 8_000, 10_000)] == ["drawdown"]


def test_both_breakers_in_one_update():
    b = RiskBreakers(CFG)
    trips = b.update(NOON, 8_000, 10_000, 10_000)  # 20 % daily loss and 20 % drawdown
    assert [t.code for t in trips] == ["daily_loss", "drawdown"]
    assert b.update(NOON + 1, 7_000, 10_000, 10_000) == []


def test_new_day_daily_loss_with_drawdown_already_tripped():
    b = RiskBreakers(CFG)
    assert [t.code for t in b.update(NOON, 8_000, 10_000, 10_000)] == ["daily_loss", "drawdown"]
    # next day, a further 10 % daily loss: only the daily one (drawdown stays latched)
    assert [t.code for t in b.update(NOON + MS_PER_DAY, 7_200, 8_000, 10_000)] == ["daily_loss"]


def test_unrealised_gains_count():
    # the caller passes equity including unrealised PnL; a gain above the day start is not a loss
    b = RiskBreakers(CFG)
    assert b.update(NOON, 12_000, 10_000, 12_000) == []
    assert b.last_daily_loss_pct == pytest.approx(-20.0)
    assert b.last_drawdown_pct == pytest.approx(0.0)


def test_restored_daily_trip():
    b = RiskBreakers(CFG)
    b.note_daily_trip(NOON)
    assert b.daily_active(NOON + 1)
    assert b.update(NOON + 2, 8_000, 10_000, 8_000) == []  # already tripped today: silent
    assert b.daily_rearmed(NOON + MS_PER_DAY)


@pytest.mark.parametrize(
    ("equity", "day_start", "peak", "match"),
    [
        (math.nan, 10_000, 10_000, "equity must be finite"),
        (9_000, math.inf, 10_000, "day_start_equity must be finite"),
        (9_000, -1, 10_000, "must not be negative"),
        (9_000, 10_000, -1, "must not be negative"),
    ],
)
def test_bad_input_is_a_clear_error(equity, day_start, peak, match):
    with pytest.raises(ValueError, match=match):
        RiskBreakers(CFG).update(NOON, equity, day_start, peak)


def test_configured_limits_are_used():
    cfg = Config.model_validate({"risk_management": {"max_daily_loss_percent": 2.0, "max_drawdown_percent": 3.0}})
    b = RiskBreakers(cfg)
    assert b.update(NOON, 9_801, 10_000, 10_000) == []  # 1.99 %
    assert [t.code for t in b.update(NOON + 1, 9_800, 10_000, 10_000)] == ["daily_loss"]
    assert [t.code for t in b.update(NOON + 2, 9_700, 10_000, 10_000)] == ["drawdown"]


def test_an_empty_account_has_nothing_to_lose_and_trips_nothing():
    # A live book starts from the exchange's free quote balance, which may be 0: no reference to
    # measure a loss from is no loss (it raised, failing every period and manual buy).
    b = RiskBreakers(CFG)
    assert b.update(NOON, 0.0, 0.0, 0.0) == []
    assert (b.last_daily_loss_pct, b.last_drawdown_pct) == (0.0, 0.0)
    assert not b.daily_active(NOON) and not b.drawdown_tripped
    # money that arrives later: the drawdown measures from the new peak at once
    assert b.update(NOON + 1, 1_000.0, 0.0, 1_000.0) == []
    assert [t.code for t in b.update(NOON + 2, 850.0, 0.0, 1_000.0)] == ["drawdown"]


async def test_an_engine_on_an_empty_account_refuses_a_buy_with_a_reason_not_a_failure() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * 60_000, [100.0] * 4, open_=[100.0] * 4))
        e.portfolio = Portfolio(Decimal(0))  # as a new live book on an account with no USDT
        for k in range(3, 6):  # a period closes: its breaker check must not fail
            await h.step(klines(T0 + k * 60_000, [100.0] * 4, open_=[100.0] * 4))
        res = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(10)))
        assert not res.ok and "more than the cash" in res.message, res.message
        assert e.state is EngineState.RUNNING and not e.portfolio.positions
        # the run's summary measures no drawdown from a peak of 0 (it was NaN: 0 / 0)
        assert len(e.equity_curve()[1]) and e.summary()["max_drawdown_pct"] == 0.0
    finally:
        await h.stop()


def test_limits_of_100_percent_trip_only_when_everything_is_lost():
    cfg = Config.model_validate({"risk_management": {"max_daily_loss_percent": 100, "max_drawdown_percent": 100}})
    b = RiskBreakers(cfg)
    assert b.update(NOON, 0.01, 10_000, 10_000) == []  # 99.9999 %
    assert [t.code for t in b.update(NOON + 1, 0.0, 10_000, 10_000)] == ["daily_loss", "drawdown"]
