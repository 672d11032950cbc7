"""A dialog taller than the screen was cut at its bottom, buttons first: at 80x24 the emergency
stop's dialog with the stale-snapshot note (when the engine's snapshot fails - when a stop is
most likely) had its STOP TRADING button half under the border, and a buy dialog with that note
and an error line lost its buttons altogether, with no way to reach them. The dialog scrolls:
what has the focus is brought into view."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from textual.app import App

import tui_trader.ui as ui_pkg
from tui_trader.ui.screens.modals import BuyScreen, EmergencyStopScreen
from tui_trader.ui.themes import APP_VARIABLES

STALE = ("STALE: the engine's snapshot fails (RuntimeError: database is locked by another process); the "
         "figures here are the last good snapshot's, of 3m12s ago")


class _Host(App):
    CSS_PATH = [Path(ui_pkg.__file__).resolve().parent / "global.tcss"]

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)


def _inside(widget, box) -> bool:
    r, b = widget.region, box.region
    return r.height > 0 and b.y < r.y and r.bottom <= b.bottom - 1  # within the border


@pytest.mark.parametrize("make", [
    lambda: EmergencyStopScreen(3),
    lambda: BuyScreen("BTCUSDT", "60,000.12", Decimal("100"), "USDT", cash=Decimal("50")),
])
async def test_a_tall_dialog_brings_its_buttons_into_view(make):
    app = _Host()
    app.animation_level = "none"  # (the scroll to the focus is then at once)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = make()
        dialog.stale_note = STALE
        app.push_screen(dialog)
        await pilot.pause()
        dialog.error("amount: 100 is more than the cash 50.00 USDT, and a second line of this error to wrap")
        await pilot.pause()
        box = dialog.query_one(".dialog")
        for button in ("#confirm", "#cancel"):
            dialog.query_one(button).focus()
            await pilot.pause()
            assert _inside(dialog.query_one(button), box), (button, dialog.query_one(button).region, box.region)
