"""An emergency-stopped engine raises no breaker alert again: one alert per trip."""

from __future__ import annotations

from engine_helpers import MIN, T0, drawdown_cfg, drawdown_tripped, klines, make_engine

from tui_trader.events import ResetEmergency, RiskAlert, Start
from tui_trader.models import EngineState

S = EngineState


async def test_a_restart_of_an_emergency_stopped_book_raises_no_breaker_alert_again(tmp_path) -> None:
    """The drawdown breaker stopped the book (one critical alert). The book is opened again and
    the prices fall further, past the daily-loss limit too: the stop is already in effect, so
    neither breaker alerts again nor runs the emergency stop a second time."""
    db = str(tmp_path / "book.db")
    h = await drawdown_tripped(db)
    await h.stop()

    h = make_engine(drawdown_cfg(), db_path=db, start_ms=T0 + 20 * MIN)
    alerts: list[RiskAlert] = []
    h.engine.bus.subscribe(alerts.append, RiskAlert)
    await h.start()
    e = h.engine
    try:
        assert e.state is S.EMERGENCY_STOPPED
        stops_before = [r for r in await e.db.load_audit(None) if r["action"] == "emergency_stop"]
        for k in range(20, 26):  # -40 % of equity and more
            await h.step(klines(T0 + k * MIN, [20.0 - k * 0.1, 100.0, 100.0, 100.0]))
        assert e.breakers.last_daily_loss_pct >= drawdown_cfg().risk_management.max_daily_loss_percent
        assert e.breakers.drawdown_tripped and e.breakers.daily_active(e.clock.now_ms())
        assert alerts == []
        stops = [r for r in await e.db.load_audit(None) if r["action"] == "emergency_stop"]
        assert len(stops) == len(stops_before)
        assert e.state is S.EMERGENCY_STOPPED
        # the trip still counts: reset and start that day go to reducing, not running
        assert (await e.submit(ResetEmergency())).ok
        started = await e.submit(Start())
        assert started.ok and e.state is S.REDUCING, started.message
    finally:
        await h.stop()
