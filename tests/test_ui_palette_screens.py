"""The command palette's main-screen entries (panes, filter, sort, log level) opened over the
symbol detail or a backtest report: they ran on the main screen underneath, so nothing changed
on screen, and "Filter symbols" took the focus into the hidden filter field."""

from __future__ import annotations

from textual.widgets import Input
from ui_support import make_app, make_engine, notifications, ready, select_symbol, ui_config

from tui_trader.ui.screens.detail import SymbolDetailScreen


async def _palette(pilot, text: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*text)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.pause()


async def test_main_screen_entries_over_the_detail_say_so_and_change_nothing(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        select_symbol(app, "ETHUSDT")
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, SymbolDetailScreen)
        main = app.main_screen
        await _palette(pilot, "filter symbols")
        assert app.screen is detail
        assert not main.query_one("#filter-bar").display
        assert not isinstance(main.focused, Input)
        said = notifications(app)
        assert any("Filter symbols: on the main screen only" in n for n in said), said
        await _palette(pilot, "show pane: health")
        assert main.active == "prices"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is main
        await _palette(pilot, "show pane: health")  # on the main screen it works
        assert main.active == "health"


async def test_the_palette_detail_entry_on_the_detail_screen_opens_no_second_one(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        select_symbol(app, "ETHUSDT")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen)
        await _palette(pilot, "symbol detail of the selection")
        assert [type(s) for s in app.screen_stack].count(SymbolDetailScreen) == 1
        await pilot.press("escape")  # one Esc goes back
        await pilot.pause()
        assert app.screen is app.main_screen
