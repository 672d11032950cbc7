"""The emergency stop from anywhere: `E` is a letter while the filter or a dialog's field has the
focus (it typed an "E" there, and no stop came); Ctrl+E opens the stop's dialog over whatever has
the focus, and once only."""

from __future__ import annotations

from textual.widgets import Input
from ui_support import commands_done, make_app, make_engine, ready, ui_config

from tui_trader.models import EngineState
from tui_trader.ui.screens.modals import BuyScreen, EmergencyStopScreen


async def test_ctrl_e_stops_from_the_filter_and_from_a_dialog(tmp_path) -> None:
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        await pilot.press("slash")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "filter"
        await pilot.press("E")  # a letter here: typed, no stop
        await pilot.pause()
        assert app.focused.value == "E" and not isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("ctrl+e")  # once only: no second dialog over the first
        await pilot.pause()
        assert sum(isinstance(s, EmergencyStopScreen) for s in app.screen_stack) == 1
        await pilot.press("escape")
        await pilot.pause()
        # from a dialog's field: the buy dialog stays under the stop's
        await pilot.press("escape")  # (the filter)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen) and isinstance(app.focused, Input)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        app.screen.query_one("#reason", Input).value = "from the buy dialog"
        await pilot.press("enter")
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED
        assert engine.state_reason == "from the buy dialog"
