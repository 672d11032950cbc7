"""The command palette's main-screen entries (panes, filter, sort, log level) opened over the
symbol detail or a backtest report: they ran on the main screen underneath, so nothing changed
on screen, and "Filter symbols" took the focus into the hidden filter field."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets import Input
from ui_support import make_app, make_engine, notifications, ready, select_symbol, ui_config, until

from tui_trader.ui.screens.detail import SymbolDetailScreen


def _highlighted(app, text: str) -> bool:
    """Whether the open palette's highlighted hit is the entry labelled ``text`` (lower case)."""
    if not isinstance(app.screen, CommandPalette):
        return False
    hits = app.screen.query_one(CommandList)
    if hits.highlighted is None:
        return False
    prompt = hits.get_option_at_index(hits.highlighted).prompt
    return str(prompt).splitlines()[0].lower() == text  # below the label: its key


async def _palette(app, pilot, text: str) -> None:
    """Run the palette entry labelled ``text``. The palette searches in a worker: a fixed wait for
    its hits let Enter pick nothing on a loaded machine, and an assertion that nothing changed
    then passed for a command never run."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*text)
    assert await until(lambda: _highlighted(app, text)), text
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
        await _palette(app, pilot, "filter symbols")
        assert app.screen is detail
        assert not main.query_one("#filter-bar").display
        assert not isinstance(main.focused, Input)
        said = notifications(app)
        assert any("Filter symbols: on the main screen only" in n for n in said), said
        await _palette(app, pilot, "show pane: health")
        assert main.active == "prices"
        assert any("Show pane: Health: on the main screen only" in n for n in notifications(app))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is main
        await _palette(app, pilot, "show pane: health")  # on the main screen it works
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
        await _palette(app, pilot, "symbol detail of the selection")
        assert [type(s) for s in app.screen_stack].count(SymbolDetailScreen) == 1
        await pilot.press("escape")  # one Esc goes back
        await pilot.pause()
        assert app.screen is app.main_screen
