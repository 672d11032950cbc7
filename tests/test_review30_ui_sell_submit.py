"""The sell dialog checked the quantity against the position as it was when the dialog opened.
Left open while a stop loss sold the position, a fill added to it or a sell cut it, it used that
stale limit: a quantity the position now holds was refused, one it no longer holds went to the
engine, and a position gone was "sold" all the same. The check now reads the engine's snapshot
at submit time; a position gone is said so in the dialog and nothing is sent."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input
from ui_support import commands_done, make_app, make_engine, ready, select_symbol, ui_config

from tui_trader.events import ClosePosition, ManualBuy, ManualSell
from tui_trader.models import Source
from tui_trader.ui.screens.modals import SellScreen

SYM = "BTCUSDT"


async def _holding_with_sell_open(app, engine, pilot) -> Decimal:
    """A position in SYM bought with b, and the sell dialog open on it: its quantity."""
    await ready(app, pilot)
    select_symbol(app, SYM)
    await pilot.press("b", "enter")
    await commands_done(app)
    held = engine.snapshot().positions[0].quantity
    await pilot.press("x")
    await pilot.pause()
    assert isinstance(app.screen, SellScreen)
    return held


def _error(app) -> str:
    return str(app.screen.query_one("#error").render())


async def test_a_fill_that_adds_to_the_position_raises_the_limit(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        held = await _holding_with_sell_open(app, engine, pilot)
        # a fill that adds to it (override: one position per symbol otherwise)
        res = await engine.submit(
            ManualBuy(source=Source.SYSTEM, symbol=SYM, quote_amount=Decimal(500), override_risk=True)
        )
        assert res.ok, res.message
        now = next(p.quantity for p in engine.snapshot().positions if p.symbol == SYM)
        assert now > held
        wanted = held + (now - held) / 2  # above the position at opening, within the one now
        app.screen.query_one("#qty", Input).value = f"{wanted:f}"
        await pilot.press("enter")
        await commands_done(app)
        assert not isinstance(app.screen, SellScreen), _error(app)
        cmd, result = app.command_results[-1]
        assert isinstance(cmd, ManualSell) and cmd.quantity == wanted
        assert result.ok, result.message


async def test_a_sell_that_cuts_the_position_lowers_the_limit(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        held = await _holding_with_sell_open(app, engine, pilot)
        res = await engine.submit(ManualSell(source=Source.SYSTEM, symbol=SYM, quantity=held / 2))
        assert res.ok, res.message
        now = next(p.quantity for p in engine.snapshot().positions if p.symbol == SYM)
        sent = len(app.command_results)
        app.screen.query_one("#qty", Input).value = f"{held:f}"  # the position at opening
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SellScreen)  # open, to correct it
        assert f"more than the position {now.normalize():f}" in _error(app)
        # the dialog's text says the position now too
        assert f"Position: {now.normalize():f}" in str(app.screen.query_one("#position").render())
        assert len(app.command_results) == sent


async def test_a_position_gone_is_said_and_nothing_is_sent(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await _holding_with_sell_open(app, engine, pilot)
        res = await engine.submit(ClosePosition(source=Source.RISK, symbol=SYM))  # as a stop loss would
        assert res.ok, res.message
        assert not engine.snapshot().positions
        sent = len(app.command_results)
        for qty in ("0.001", ""):  # a quantity, and blank (the whole position)
            app.screen.query_one("#qty", Input).value = qty
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, SellScreen)
            assert "no open position any more" in _error(app), _error(app)
        await commands_done(app)
        assert len(app.command_results) == sent
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SellScreen)


async def test_a_failing_snapshot_leaves_the_check_to_the_engine(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        held = await _holding_with_sell_open(app, engine, pilot)

        def broken():
            raise RuntimeError("snapshot broke")

        engine.snapshot = broken
        app.screen.query_one("#qty", Input).value = f"{held * 10:f}"
        await pilot.press("enter")
        await commands_done(app)
        assert not isinstance(app.screen, SellScreen)
        cmd, result = app.command_results[-1]
        assert isinstance(cmd, ManualSell) and cmd.quantity == held * 10
        assert not result.ok and "exceeds the holding" in result.message
        del engine.snapshot
