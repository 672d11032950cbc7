"""Cursor keys in an empty table: Textual posts RowHighlighted with no row key when the cursor
moves in a table without rows (Up, PageDown, Ctrl+End), and the app read ``row_key.value``: an
AttributeError took the console down (exit 1, the quit confirmation skipped with positions open,
no stop loss after it). Empty tables are common: no position yet, no signal yet, a filter that
matches nothing, a detail's orders of a symbol never traded."""

from __future__ import annotations

import pytest
from ui_support import commands_done, make_app, make_engine, ready, ui_config

from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.widgets.table import FastTable, row_key_value


async def press_each(app, pilot, keys: tuple[str, ...]) -> None:
    """Each key, a frame between: the console still runs after each."""
    for key in keys:
        await pilot.press(key)
        await pilot.pause()
        assert app.is_running, key


def test_no_row_key_is_no_symbol() -> None:
    assert row_key_value(None) is None


@pytest.mark.parametrize("pane", ["3", "4"])  # positions, signals: both empty before any trade
async def test_cursor_keys_in_an_empty_pane_change_nothing(tmp_path, pane: str) -> None:
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, max_klines=None)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        await pilot.press(pane)
        await commands_done(app)
        table = app.focused
        assert isinstance(table, FastTable) and table.row_count == 0, table
        selected = app.selected_symbol
        await press_each(app, pilot, ("up", "pagedown", "ctrl+end", "down", "pageup", "home", "end", "enter"))
        assert app.focused is table and app.selected_symbol == selected
        assert app.screen is app.main_screen  # (Enter on no row opens no detail)


async def test_cursor_keys_in_a_filtered_out_table_and_an_empty_detail_table(tmp_path) -> None:
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, max_klines=None)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        await pilot.press("1", "slash", "z", "z", "z", "enter")  # a filter matching no symbol
        await commands_done(app)
        await pilot.pause()
        table = app.main_screen.query_one("#prices", FastTable)
        assert table.row_count == 0
        table.focus()
        await press_each(app, pilot, ("up", "pagedown", "ctrl+end"))
        # a symbol never traded: its detail's orders and fills tables are empty
        app.action_detail(engine.snapshot().market.symbols[0])
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SymbolDetailScreen)
        orders = screen.query_one("#detail-orders", FastTable)
        assert orders.row_count == 0
        orders.focus()
        await press_each(app, pilot, ("up", "pagedown", "ctrl+end"))
        assert app.screen is screen
