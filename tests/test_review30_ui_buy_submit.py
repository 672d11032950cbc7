"""The buy dialog checked the amount against the cash as it was when the dialog opened, as the
sell dialog did the quantity: left open while a stop loss sold a position, it refused an amount
the freed cash now covers, and it let through one a buy meanwhile had left no cash for. The
check reads the engine's snapshot at submit time."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Checkbox, Input
from ui_support import commands_done, make_app, make_engine, ready, select_symbol, ui_config

from tui_trader.events import ClosePosition, ManualBuy
from tui_trader.models import Source
from tui_trader.ui.format import fmt_cash
from tui_trader.ui.screens.modals import BuyScreen

BIG, OTHER, SYM = "BTCUSDT", "ETHUSDT", "BNBUSDT"


async def _low_cash_with_buy_open(app, engine, pilot) -> Decimal:
    """Most of the cash in BIG, and the buy dialog open on SYM: the cash it opened with."""
    await ready(app, pilot)
    app.set_live_refresh(False)
    res = await engine.submit(
        ManualBuy(source=Source.UI, symbol=BIG, quote_amount=Decimal(9000), override_risk=True)
    )
    assert res.ok, res.message
    select_symbol(app, SYM)
    await pilot.press("b")
    await pilot.pause()
    assert isinstance(app.screen, BuyScreen)
    return app.screen.cash


def _error(app) -> str:
    return str(app.screen.query_one("#error").render())


async def test_cash_freed_while_the_dialog_is_open_counts(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        cash = await _low_cash_with_buy_open(app, engine, pilot)
        assert cash < 1500
        res = await engine.submit(ClosePosition(source=Source.RISK, symbol=BIG))  # as a stop loss would
        assert res.ok, res.message
        app.screen.query_one("#amount", Input).value = "2000"
        app.screen.query_one("#override", Checkbox).value = True
        await pilot.press("enter")
        await commands_done(app)
        assert not isinstance(app.screen, BuyScreen), _error(app)
        cmd, result = app.command_results[-1]
        assert isinstance(cmd, ManualBuy) and cmd.quote_amount == Decimal(2000)
        assert result.ok, result.message


async def test_cash_spent_while_the_dialog_is_open_is_checked(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        cash = await _low_cash_with_buy_open(app, engine, pilot)
        res = await engine.submit(
            ManualBuy(source=Source.UI, symbol=OTHER, quote_amount=cash - 100, override_risk=True)
        )
        assert res.ok, res.message
        now = engine.snapshot().portfolio.cash
        assert now < 200
        sent = len(app.command_results)
        app.screen.query_one("#amount", Input).value = "500"  # within the cash it opened with
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)  # open, to correct it
        assert f"more than the cash {fmt_cash(now)} " in _error(app), _error(app)
        assert f"Cash {fmt_cash(now)} " in str(app.screen.query_one("#buy-text").render())
        assert len(app.command_results) == sent
