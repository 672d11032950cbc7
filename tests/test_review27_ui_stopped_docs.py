"""While stopped (after an emergency reset, or a book left stopped) nothing protects the held
positions: no stop loss and no profit target runs until ``s`` (paused keeps stop losses running).
875ca3d let x and F close without a start, and the reset dialog said so, but neither the dialog nor
the help said that the stop losses stay off: an operator reading "closing needs no start" may
leave the positions to their stop losses."""

from __future__ import annotations

from textual.widgets import Static
from ui_support import commands_done, make_app, make_engine, ready, ui_config

from tui_trader.models import EngineState, Side, Source
from tui_trader.risk.state import TradingStateMachine
from tui_trader.ui.screens.help import KEYS, HelpScreen
from tui_trader.ui.screens.modals import ConfirmScreen


def _text(screen) -> str:
    return " ".join(str(w.render()) for w in screen.query(Static))


def test_a_stopped_engine_runs_no_stop_loss_and_lets_the_operator_sell():
    sm = TradingStateMachine(EngineState.STOPPED)
    assert not sm.allows_stop_loss and not sm.allows_exits and not sm.allows_entries
    assert sm.manual_refusal(Side.SELL) is None
    assert sm.manual_refusal(Side.BUY) is not None


async def test_the_reset_dialog_and_the_help_say_no_stop_loss_runs_while_stopped(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        ok, _ = engine.sm.transition(EngineState.EMERGENCY_STOPPED, Source.UI, "test")
        assert ok
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "no stop loss" in " ".join(_text(app.screen).split())
        await pilot.press("escape")
        await commands_done(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
    rows = {key: text for _group, keys in KEYS for key, text in keys}
    assert "no stop loss" in rows["s"], rows["s"]
    assert "stopped" in rows["x"] and "stopped" in rows["F"]


async def test_a_stopped_book_holding_positions_says_so_in_the_banner(tmp_path):
    """After an emergency reset the book is stopped with its positions, no stop loss running,
    and the screen showed nothing but the status word: the banner now says it until s or until
    nothing is held."""
    from decimal import Decimal

    from tui_trader.events import EmergencyStop, ManualBuy, ResetEmergency, Start

    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        banner = app.main_screen.query_one("#banner")
        assert (await engine.submit(Start(source=Source.UI))).ok
        sym = engine.snapshot().market.symbols[0]
        assert (await engine.submit(ManualBuy(source=Source.UI, symbol=sym, quote_amount=Decimal(100)))).ok
        app.refresh_from_engine()
        await pilot.pause()
        assert not banner.display  # running: the stop losses run
        assert (await engine.submit(EmergencyStop(source=Source.UI, reason="test"))).ok
        assert (await engine.submit(ResetEmergency(source=Source.UI))).ok
        assert engine.state == EngineState.STOPPED and engine.portfolio.positions
        app.refresh_from_engine()
        await pilot.pause()
        assert banner.display and "no stop loss" in str(banner.render()), str(banner.render())
        assert (await engine.submit(Start(source=Source.UI))).ok
        app.refresh_from_engine()
        await pilot.pause()
        assert not banner.display
