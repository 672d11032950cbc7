"""The buy dialog said the cash to two decimals, rounded: with 99.999 USDT in the book, 100 typed
was refused as "more than the cash 100.00 USDT", a refusal that contradicts itself, and the
dialog's "Cash 100.00" offered more than there was. The cash now reads as the engine holds it."""

from __future__ import annotations

from decimal import Decimal

from textual.app import App
from textual.widgets import Input

from tui_trader.events import ManualBuy
from tui_trader.ui.format import fmt_cash
from tui_trader.ui.screens.modals import BuyScreen


def test_cash_is_shown_as_held_never_rounded_up():
    assert fmt_cash(Decimal("99.999")) == "99.999"
    assert fmt_cash(Decimal("99.995")) == "99.995"
    assert fmt_cash(Decimal("10000")) == "10,000.00"
    assert fmt_cash(Decimal("10000.5")) == "10,000.50"
    assert fmt_cash(Decimal("9102.12515853")) == "9,102.12515853"
    # past 8 decimals (a Decimal division's digits) rounded down: never more than is there
    assert fmt_cash(Decimal("1.123456789999")) == "1.12345678"
    assert fmt_cash(Decimal("0")) == "0.00"
    assert fmt_cash(None) == "—"


class _Host(App):
    def __init__(self, cash: Decimal) -> None:
        super().__init__()
        self.cash = cash
        self.results: list = []

    def on_mount(self) -> None:
        self.push_screen(BuyScreen("BTCUSDT", "60,000.00", Decimal("50"), "USDT", cash=self.cash,
                                   cash_now=lambda: self.cash), callback=self.results.append)


async def test_the_buy_dialog_refuses_with_the_cash_as_held():
    app = _Host(Decimal("99.999"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, BuyScreen)
        assert "Cash 99.999 USDT." in str(dialog.query_one("#buy-text").render())
        dialog.query_one("#amount", Input).value = "100"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # open, to correct it
        assert str(dialog.query_one("#error").render()) == "amount: 100 is more than the cash 99.999 USDT"
        dialog.query_one("#amount", Input).value = "99.999"  # all of it: allowed
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is not dialog
        [cmd] = app.results
        assert isinstance(cmd, ManualBuy) and cmd.quote_amount == Decimal("99.999")
