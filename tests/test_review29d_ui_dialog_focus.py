"""The dialog's frame scrolls (0f8bb2c) but takes no focus: as a VerticalScroll it was a Tab stop
of its own, with nothing shown focused, after Cancel - and Enter there confirmed the dialog
(the emergency stop, a flatten's question) with no button in sight of the focus."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from textual.app import App

import tui_trader.ui as ui_pkg
from tui_trader.ui.screens.modals import BuyScreen, ConfirmScreen, EmergencyStopScreen
from tui_trader.ui.themes import APP_VARIABLES


class _Host(App):
    CSS_PATH = [Path(ui_pkg.__file__).resolve().parent / "global.tcss"]

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)


@pytest.mark.parametrize("make", [
    lambda: ConfirmScreen("Flatten", "Sell every position?", danger=True),
    lambda: EmergencyStopScreen(3),
    lambda: BuyScreen("BTCUSDT", "60,000.12", Decimal("100"), "USDT", cash=Decimal("50")),
])
async def test_tab_goes_round_the_fields_and_buttons_only(make):
    app = _Host()
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = make()
        app.push_screen(dialog)
        await pilot.pause()
        assert all(w.id is not None for w in dialog.focus_chain), dialog.focus_chain
        for _ in range(len(dialog.focus_chain) + 1):
            await pilot.press("tab")
            assert app.focused is not None and app.focused.id is not None, app.focused

