"""The footer's p follows the state: "p Resume" while paused (the key then resumes), "p Pause"
otherwise; the command palette's pause / resume entry works in either state (Pilot)."""

from __future__ import annotations

from textual.widgets._footer import FooterKey
from ui_support import commands_done, make_app, make_engine, ready, select_symbol, ui_config

from tui_trader.models import EngineState
from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.widgets.footer import KeyFooter


def pause_label(screen) -> str:
    keys = [k for k in screen.query_one(KeyFooter).query(FooterKey) if k.action == "app.pause"]
    assert len(keys) == 1
    return keys[0].description


async def _palette(pilot, app, text: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*text)
    await pilot.pause(0.3)  # the palette's search runs in a worker
    await pilot.press("enter")
    await pilot.pause()
    await commands_done(app)
    await pilot.pause()


async def test_the_footer_says_resume_while_paused_and_the_palette_still_pauses_and_resumes(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        main = app.main_screen
        assert engine.state == EngineState.STOPPED and pause_label(main) == "Pause"
        await pilot.press("s")
        await commands_done(app)
        await pilot.pause()
        assert engine.state == EngineState.RUNNING and pause_label(main) == "Pause"
        await pilot.press("p")
        await commands_done(app)
        await pilot.pause()
        assert engine.state == EngineState.PAUSED
        assert pause_label(main) == "Resume"
        assert "p Resume" in " ".join(str(k.render()) for k in main.query_one(KeyFooter).query(FooterKey))

        # the symbol detail's footer too, and back on the main screen
        select_symbol(app, "BTCUSDT")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen)
        assert pause_label(app.screen) == "Resume"
        await pilot.press("escape")
        await pilot.pause()

        # the palette's entry is the same action: it resumes while paused, pauses while running
        await _palette(pilot, app, "Pause / resume")
        assert engine.state == EngineState.RUNNING
        assert pause_label(main) == "Pause"
        await _palette(pilot, app, "Pause / resume")
        assert engine.state == EngineState.PAUSED
        assert pause_label(main) == "Resume"
        await pilot.press("p")  # the key resumes, as its label says
        await commands_done(app)
        await pilot.pause()
        assert engine.state == EngineState.RUNNING and pause_label(main) == "Pause"
