"""A daily-loss trip while paused or stopped is remembered across a restart the same UTC day."""

from __future__ import annotations

from typing import Any

from engine_helpers import MIN, T0, engine_config, klines, make_engine

from tui_trader.events import ManualBuy, Pause, Resume
from tui_trader.models import EngineState

S = EngineState


async def trip_while_paused(tmp_path) -> tuple[str, Any]:
    """A book (its path) whose engine tripped the daily-loss breaker while paused, then stopped;
    and the config it ran with."""
    db = str(tmp_path / "book.db")
    cfg = engine_config(risk_management={"stop_loss_percent": 50.0})  # the holding is kept
    h = await make_engine(cfg, db_path=db).start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=5000, override_risk=True))).ok
        assert (await e.submit(Pause())).ok
        for k in range(3, 6):
            await h.step(klines(T0 + k * MIN, [75.0, 100.0, 100.0, 100.0]))  # -12.5 %, limit 10 %
        assert e.state is S.PAUSED and e.breakers.daily_active(e.clock.now_ms())
    finally:
        await h.stop()
    return db, cfg


async def test_a_daily_loss_trip_while_paused_holds_after_a_restart_the_same_day(tmp_path) -> None:
    """Paused, the day's loss reaches the limit (the pause holds); the book is closed and opened
    again that day with the loss back below the limit. A resume must still enter reducing, as it
    would have without the restart (README: a resume or start that day enters reducing)."""
    db, cfg = await trip_while_paused(tmp_path)

    h = make_engine(cfg, db_path=db, autostart=False, start_ms=T0 + 10 * MIN)
    await h.start()
    e = h.engine
    try:
        assert e.state is S.PAUSED
        for k in range(12, 15):
            await h.step(klines(T0 + k * MIN, [95.0, 100.0, 100.0, 100.0]))  # -2.5 %: below the limit
        assert e.breakers.last_daily_loss_pct < cfg.risk_management.max_daily_loss_percent
        buy = await e.submit(ManualBuy(symbol="CCCUSDT", quote_amount=100))
        assert not buy.ok and "daily loss limit" in buy.message
        resumed = await e.submit(Resume())
        assert resumed.ok and e.state is S.REDUCING, resumed.message
        assert "daily loss limit" in resumed.message
    finally:
        await h.stop()


async def test_a_headless_restart_after_a_trip_while_paused_starts_reducing(tmp_path) -> None:
    """The same, restarted by a run that starts trading on its own (autostart): the start-up's
    start enters reducing, as an operator's start would, not running."""
    db, cfg = await trip_while_paused(tmp_path)

    h = make_engine(cfg, db_path=db, autostart=True, start_ms=T0 + 10 * MIN)
    await h.start()
    e = h.engine
    try:
        assert e.state is S.REDUCING, e.state_reason
        for k in range(12, 15):
            await h.step(klines(T0 + k * MIN, [95.0, 100.0, 100.0, 100.0]))  # below the limit again
        assert e.state is S.REDUCING  # until the next UTC day
        buy = await e.submit(ManualBuy(symbol="CCCUSDT", quote_amount=100))
        assert not buy.ok and "only exits" in buy.message
    finally:
        await h.stop()
