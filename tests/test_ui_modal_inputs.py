"""What the order and threshold dialogs say of bad or unusual input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Input
from ui_support import commands_done, make_app, make_engine, ready, ui_config, until

from tui_trader.ui.screens.modals import ThresholdScreen, parse_decimal


@pytest.mark.parametrize("typed", ["nan", "NaN", "sNaN", "inf", "-Infinity"])
def test_an_amount_that_is_no_finite_number_is_called_so(typed):
    """ "inf" was refused as "must be a positive number", as if for its sign."""
    with pytest.raises(ValueError, match=r"is not a finite number"):
        parse_decimal(typed, "amount")


@pytest.mark.parametrize("typed", ["0", "-0", "-5", "-1e999"])
def test_a_zero_or_negative_amount_must_be_positive(typed):
    with pytest.raises(ValueError, match=r"must be a positive number"):
        parse_decimal(typed, "amount")


def test_a_huge_amount_is_still_a_number():
    assert parse_decimal("1e999", "amount") == Decimal("1e999")  # BuyScreen refuses it above the cash


async def _threshold(app, pilot, typed: str) -> str:
    """Type ``typed`` into the open threshold dialog and press Enter; the error shown ("" if none)."""
    app.screen.query_one("#value", Input).value = typed
    await pilot.press("enter")
    await pilot.pause()
    await commands_done(app)
    return str(app.screen.query_one("#error").render()) if isinstance(app.screen, ThresholdScreen) else ""


async def test_an_unusual_threshold_is_set_only_on_a_second_enter(tmp_path):
    """0.25 typed for 2.5 set at once: the strategy bought nearly every rising symbol at the next
    period. Outside 1-5 (what ``config check`` warns of) a second Enter confirms it."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("t")
        await pilot.pause()
        assert "is not a finite number" in await _threshold(app, pilot, "inf")
        error = await _threshold(app, pilot, "0.25")
        assert "0.25 is outside the usual 1-5" in error and "Enter again" in error
        assert engine.threshold == 2.5
        error = await _threshold(app, pilot, "25")  # not the value warned of: 25 is above the most, 10
        assert "at most 10" in error
        error = await _threshold(app, pilot, "7")  # another unusual value: warned of too
        assert "7 is outside the usual 1-5" in error and engine.threshold == 2.5
        assert await _threshold(app, pilot, "7") == ""  # the second Enter sets it
        assert await until(lambda: engine.threshold == 7.0)  # (the dialog's callback submits after it closed)
        await pilot.press("t")
        await pilot.pause()
        assert await _threshold(app, pilot, "3") == ""  # a usual value: at once
        assert await until(lambda: engine.threshold == 3.0)
        await pilot.press("t")
        await pilot.pause()
        await _threshold(app, pilot, "0.5")
        await pilot.press("escape")  # warned, then cancelled: nothing set
        await pilot.pause()
        await commands_done(app)
        assert engine.threshold == 3.0


async def test_an_edit_after_the_warning_asks_for_the_second_enter_anew(tmp_path):
    """The first Enter's warning was kept for the dialog's life: warned of 0.5, the operator typed
    something else (the warning replaced by another error, or gone from view) and then 0.5 again,
    and one Enter set it with no warning on screen. An edit takes the warning back."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("t")
        await pilot.pause()
        assert "0.5 is outside the usual 1-5" in await _threshold(app, pilot, "0.5")
        assert "not a number" in await _threshold(app, pilot, "x")
        assert "0.5 is outside the usual 1-5" in await _threshold(app, pilot, "0.5")  # warned again
        assert engine.threshold == 2.5 and isinstance(app.screen, ThresholdScreen)
        field = app.screen.query_one("#value", Input)
        await pilot.press("end", "backspace")  # "0.", and the warning of 0.5 goes with the edit
        await pilot.pause()
        assert field.value == "0." and str(app.screen.query_one("#error").render()) == ""
        await pilot.press("5", "enter")  # 0.5 typed back: warned of again, not set
        await pilot.pause()
        await commands_done(app)
        assert isinstance(app.screen, ThresholdScreen) and engine.threshold == 2.5
        assert "0.5 is outside the usual 1-5" in str(app.screen.query_one("#error").render())
        await pilot.press("enter")  # its second Enter
        assert await until(lambda: engine.threshold == 0.5)
