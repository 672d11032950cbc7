"""Operator workflows done end to end in the running console, as over SSH: the keys only, then
what the engine did, what the panes and dialogs show and what the audit log holds.

The engine is the real TradingEngine on a seeded sim feed with a database in ``tmp_path``; the
app starts it up but does not run the feed (``run_engine=False``), so only the keys change it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Checkbox, Input
from ui_support import commands_done, make_app, make_engine, ready, ui_config

from tui_trader.models import EngineState
from tui_trader.ui.screens.modals import BuyScreen, EmergencyStopScreen, TickBox
from tui_trader.ui.widgets.prices import PricesTable

LIQUID = "BTCUSDT"


@pytest.fixture
def cfg():
    return ui_config()


def _select(app, sym: str) -> None:
    table = app.main_screen.query_one(PricesTable)
    table.focus()
    table.move_to_key(sym)
    app.selected_symbol = sym


async def _audit(engine, action: str) -> list[dict]:
    return [row for row in await engine.db.load_audit(None) if row["action"] == action]


async def test_enter_on_a_ticked_box_confirms_the_emergency_stop_with_the_box_ticked(tmp_path, cfg):
    """The dialog says Enter confirms. Ticking "Also close all positions" with Space and pressing
    Enter used to untick it (Textual's Enter toggles a checkbox) and leave the dialog open: the
    stop the operator then confirmed left every position open."""
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        _select(app, LIQUID)
        await pilot.press("b", "enter")
        await commands_done(app)
        assert LIQUID in engine.portfolio.positions
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("tab")  # from the reason to the box
        assert isinstance(app.focused, TickBox) and app.focused.id == "close"
        await pilot.press("space")
        assert app.screen.query_one("#close", Checkbox).value is True
        await pilot.press("enter")
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED
        assert engine.portfolio.positions == {}
        (row,) = await _audit(engine, "EmergencyStop")
        assert row["source"] == "ui" and row["args"]["close_positions"] is True


async def test_enter_on_the_ticked_override_box_buys_with_the_override(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        _select(app, LIQUID)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)
        app.screen.query_one("#amount", Input).value = "800"  # above the 5 % limit: only with the override
        await pilot.press("tab", "space", "enter")
        await commands_done(app)
        pos = engine.portfolio.positions[LIQUID]
        assert pos.quantity * pos.avg_entry > Decimal(700)
        (row,) = await _audit(engine, "ManualBuy")
        assert row["source"] == "ui" and row["ok"] and row["args"]["override_risk"] is True
