"""The console after an emergency reset: x and F close positions without a start, b is refused,
and the strategy sends nothing while the market keeps moving (Pilot, real engine on the sim)."""

from __future__ import annotations

import asyncio

from textual.widgets import Input
from ui_support import (
    commands_done,
    make_app,
    make_engine,
    notifications,
    pause_feed_after,
    ready,
    select_symbol,
    ui_config,
)

from tui_trader.models import EngineState, SignalType, Source
from tui_trader.ui.screens.modals import BuyScreen, ConfirmScreen, EmergencyStopScreen, SellScreen

HELD = ("BTCUSDT", "ETHUSDT")


async def _press_buy(app, pilot, sym: str) -> None:
    select_symbol(app, sym)
    await pilot.press("b")
    await pilot.pause()
    assert isinstance(app.screen, BuyScreen)
    app.screen.query_one("#amount", Input).value = "300"
    await pilot.press("enter")
    await commands_done(app)


async def test_after_a_reset_x_and_f_close_positions_while_the_strategy_stays_off(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=None)
    pause_feed_after(engine, 30)  # a market that keeps moving, the feed still connected
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        for sym in HELD:
            await _press_buy(app, pilot, sym)
        assert set(engine.portfolio.positions) == set(HELD)
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("enter")  # positions kept
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await commands_done(app)
        assert engine.state == EngineState.STOPPED

        # the market moves on while stopped: the strategy signals, and sends nothing
        await asyncio.create_task(engine.run())  # (its own task, as the console runs it)
        app.refresh_from_engine()
        await pilot.pause()
        outcomes = [s.outcome for s in engine.recent_signals if s.type is SignalType.BUY]
        assert "not executed: engine stopped" in outcomes, outcomes
        assert not any(o.startswith("executed") for o in outcomes), outcomes
        assert engine.state == EngineState.STOPPED

        # x: the sell dialog, blank quantity = the whole position; no start pressed
        select_symbol(app, HELD[0])
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, SellScreen)
        await pilot.press("enter")
        await commands_done(app)
        assert HELD[0] not in engine.portfolio.positions, notifications(app)

        # b: still refused while stopped
        await _press_buy(app, pilot, "BNBUSDT")
        assert "BNBUSDT" not in engine.portfolio.positions
        assert any("start it first to buy" in n for n in notifications(app)), notifications(app)

        # F: flatten the rest
        await pilot.press("F")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await commands_done(app)
        assert engine.portfolio.positions == {}
        assert any("flattened 1 position(s)" in n for n in notifications(app)), notifications(app)

        assert engine.state == EngineState.STOPPED  # nothing of this started trading
        orders = [o for o in engine.orders.values()]
        assert orders and {o.source for o in orders} == {Source.UI}
