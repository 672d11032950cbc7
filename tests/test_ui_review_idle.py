"""The console's idle work: a UI tick writes only what changed (no layout of the whole screen,
no rebuilt table), so an operator's console does not burn a core while the market is quiet.

Each test counts the work a tick asks of Textual (layouts, repaints, cell writes), not its time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rich.text import Text
from textual.app import App
from textual.widget import Widget
from textual.widgets.data_table import ColumnKey, RowKey
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.format import fmt_clock
from tui_trader.ui.widgets.health import HealthRow, HealthTable
from tui_trader.ui.widgets.status_bar import StatusBar
from tui_trader.ui.widgets.table import FastTable


def _spy_layouts(app, monkeypatch) -> list[str]:
    """Record every widget that asks for a layout (which re-renders every widget of the screen)."""
    asked: list[str] = []
    original = Widget.refresh

    def refresh(self, *regions, repaint=True, layout=False, recompose=False):
        if layout:
            asked.append(f"{type(self).__name__}#{self.id}")
        return original(self, *regions, repaint=repaint, layout=layout, recompose=recompose)

    monkeypatch.setattr(Widget, "refresh", refresh)
    return asked


@asynccontextmanager
async def _console_ticked_by_hand(tmp_path) -> AsyncIterator[tuple[Any, Any]]:
    """A started console (app, pilot) whose live refresh is off: the test drives each tick."""
    cfg = ui_config()
    app = make_app(make_engine(tmp_path, cfg), cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        yield app, pilot


async def test_a_tick_with_a_new_clock_lays_nothing_out(tmp_path, monkeypatch):
    async with _console_ticked_by_hand(tmp_path) as (app, pilot):
        bar = app.main_screen.query_one(StatusBar)
        snap = app.engine.snapshot()
        asked = _spy_layouts(app, monkeypatch)
        for i in range(1, 4):  # the engine's clock moves on: the status bar's text changes
            later = dataclasses.replace(snap, ts_ms=snap.ts_ms + i * 60_000)
            app.engine.snapshot = lambda later=later: later
            app.refresh_from_engine()
            await pilot.pause()
            assert fmt_clock(later.ts_ms, with_date=True) in bar._last[0]  # the bar shows the new clock
        assert asked == [], f"a tick asked for a layout: {asked}"


async def test_the_banner_is_written_only_when_it_changes(tmp_path):
    async with _console_ticked_by_hand(tmp_path) as (app, pilot):
        main = app.main_screen
        main.show_banner("Engine stopped", "warning")
        banner = main.query_one("#banner")
        assert banner.display and "Engine stopped" in str(banner.render())
        writes: list[str] = []
        original = banner.update
        banner.update = lambda text="", **kw: (writes.append(str(text)), original(text, **kw))[1]
        for _ in range(3):
            main.show_banner("Engine stopped", "warning")
        assert writes == []
        main.show_banner("", "info")
        main.show_banner("", "info")
        assert writes == [""] and not banner.display


async def test_health_changing_one_figure_writes_that_cell_only(tmp_path):
    async with _console_ticked_by_hand(tmp_path) as (app, pilot):
        table = app.main_screen.query_one(HealthTable)
        rows = [
            HealthRow("overall", "healthy", "running"),
            HealthRow("events/s", "info", "190.9"),
            HealthRow("memory", "healthy", "100 MB"),
        ]
        table.apply(rows)
        await pilot.pause()
        table.move_cursor(row=2)
        cleared: list[int] = []
        original_clear = table.clear
        table.clear = lambda *a, **kw: (cleared.append(1), original_clear(*a, **kw))[1]
        written = table.apply([rows[0], HealthRow("events/s", "info", "184.8"), rows[2]])
        await pilot.pause()
        assert cleared == [] and written == 2  # that row's state and detail
        assert str(table.get_cell_at((1, 2))) == "184.8"
        assert str(table.get_cell_at((2, 2))) == "100 MB" and table.cursor_row == 2
        # a status change re-colours its row; a new set of checks rebuilds the table
        table.apply(
            [rows[0], HealthRow("events/s", "info", "184.8"), HealthRow("memory", "warning", "900 MB")]
        )
        assert "warn" in str(table.get_cell_at((2, 1))) and str(table.get_cell_at((2, 2))) == "900 MB"
        table.apply(rows[:2])
        assert cleared == [1] and table.row_count == 2


class _TableHost(App):
    def __init__(self, table: FastTable) -> None:
        super().__init__()
        self.table = table

    def compose(self):
        yield self.table


def _line(table: FastTable, y: int) -> str:
    return table.render_line(y).text


async def test_write_cells_renders_again_only_the_cells_that_changed():
    table = FastTable([("k", "K", 6), ("v", "V", 8)], id="t")
    async with _TableHost(table).run_test(size=(40, 8)) as pilot:
        for k in ("x", "y"):
            table.add_row(k, Text("1.0", justify="right"), key=k)
        await pilot.pause()
        assert "1.0" in _line(table, 1) and "1.0" in _line(table, 2)
        cache = table._cell_render_cache
        cached = list(cache.keys())
        kept = [k for k in cached if k[:2] == (RowKey("y"), ColumnKey("v"))]
        assert kept  # row y's value cell has been rendered

        # the same value again: nothing is stored, nothing repainted
        refreshed: list[int] = []
        original = table.refresh_row
        table.refresh_row = lambda i: (refreshed.append(i), original(i))[1]
        table.write_cells([("x", "v", Text("1.0", justify="right"))])
        assert refreshed == [] and all(k in cache for k in kept)

        table.write_cells([("x", "v", Text("2.5", justify="right"))])
        await pilot.pause()
        assert refreshed == [0]
        assert all(k in cache for k in kept)  # row y's rendering is kept
        assert "2.5" in _line(table, 1) and "1.0" in _line(table, 2)  # and row x shows its new value

        # the same text in a new colour (a theme change) is a change
        table.write_cells([("y", "v", Text("1.0", style="red", justify="right"))])
        await pilot.pause()
        assert table.get_cell("y", "v").style == "red"
        shown = [seg for seg in table.render_line(2) if "1.0" in seg.text]
        assert shown and shown[0].style.color.name == "red"  # drawn anew, not the cached white


async def test_cache_keys_of_another_shape_clear_every_rendering():
    """The partial forgetting reads Textual 8's cache keys (row key, column key, ...). A Textual
    whose keys look otherwise must not keep a stale cell on screen: then everything is forgotten."""
    table = FastTable([("k", "K", 6), ("v", "V", 8)], id="t")
    async with _TableHost(table).run_test(size=(40, 8)) as pilot:
        table.add_row("x", Text("1.0"), key="x")
        await pilot.pause()
        assert "1.0" in _line(table, 1)
        cache = table._cell_render_cache
        cache.clear()
        cache[("another", "shape")] = []  # as if another Textual keyed its cells otherwise
        table.write_cells([("x", "v", Text("2.5"))])
        assert len(cache) == 0  # all forgotten, not only the cells this version's keys name
        await pilot.pause()
        assert "2.5" in _line(table, 1)
