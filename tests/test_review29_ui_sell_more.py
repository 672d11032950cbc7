"""The sell dialog took a quantity above the position and closed: the engine refused it
("exceeds the holding") in a toast, the figure typed gone with the dialog. As the buy dialog
refuses an amount above the cash, it keeps the dialog open and says the position's size."""

from __future__ import annotations

from textual.widgets import Input
from ui_support import commands_done, make_app, make_engine, ready, select_symbol, ui_config

from tui_trader.ui.screens.modals import BuyScreen, SellScreen

SYM = "BTCUSDT"


async def test_a_quantity_above_the_position_keeps_the_dialog_open(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        select_symbol(app, SYM)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)
        await pilot.press("enter")
        await commands_done(app)
        held = engine.portfolio.positions[SYM].quantity
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, SellScreen)
        app.screen.query_one("#qty", Input).value = str(held * 10)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SellScreen)  # open, to correct it
        error = str(app.screen.query_one("#error").render())
        assert "more than the position" in error and "blank" in error, error
        app.screen.query_one("#qty", Input).value = str(held)  # the whole of it: allowed
        await pilot.press("enter")
        await commands_done(app)
        assert SYM not in engine.portfolio.positions
