"""The symbol detail screen below 160×45: each chart and table is a tab of the whole width.

In the 2×2 grid of an 80×24 terminal each table had 40×10 cells: an order's price, status and
source, a fill's price and fee, were out of view (the table scrolled sideways), and each chart
was a few cells of plot."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.events import ManualBuy
from tui_trader.ui.format import fmt_exact_price
from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.widgets.charts import SeriesChart
from tui_trader.ui.widgets.table import FastTable


def screen_lines(app) -> list[str]:
    update = app.screen._compositor.render_full_update()
    return ["".join(strip.text for strip in row) for row in update.strips]


def region_text(app, widget) -> list[str]:
    r = widget.region
    return [line[r.x : r.right] for line in screen_lines(app)[r.y : r.bottom]]


async def _detail(app, pilot, engine) -> SymbolDetailScreen:
    await ready(app, pilot)
    app.set_live_refresh(False)
    await engine.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(400)))
    await asyncio.create_task(engine.run())  # its own task: stop() at exit waits for it
    app.refresh_from_engine()
    app.action_detail("BTCUSDT")
    await pilot.pause()
    app.refresh_charts()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, SymbolDetailScreen)
    return screen


async def _show_tab(app, pilot, tab: str) -> None:
    app.screen.query_one("#detail-tabs").active = tab
    await pilot.pause()
    await pilot.pause()


async def test_at_80x24_each_chart_and_table_has_the_whole_screen(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _detail(app, pilot, engine)
        assert screen.compact
        order = engine.symbol_history("BTCUSDT").orders[0]
        fill = engine.symbol_history("BTCUSDT").fills[0]
        for chart_id, tab in (
            ("detail-price", "tab-price"),
            ("detail-rating", "tab-rating"),
            ("detail-z", "tab-z"),
        ):
            await _show_tab(app, pilot, tab)
            chart = screen.query_one(f"#{chart_id}", SeriesChart)
            assert chart.size.width >= 78 and chart.size.height >= 12, (chart_id, chart.size)
            assert chart.draws >= 1
        await _show_tab(app, pilot, "tab-orders")
        orders = screen.query_one("#detail-orders", FastTable)
        lines = region_text(app, orders)
        assert orders.size.width >= 78
        row = next(line for line in lines if "BUY" in line)
        for cell in (fmt_exact_price(order.avg_price), str(order.status), str(order.source)):
            assert cell in row.split(), (cell, row)
        await _show_tab(app, pilot, "tab-fills")
        fills = screen.query_one("#detail-fills", FastTable)
        row = next(line for line in region_text(app, fills) if "BUY" in line)
        assert fmt_exact_price(fill.price) in row.split() and f"{fill.fee.normalize():f} {fill.fee_asset}" in row, (
            row
        )

        # a larger terminal: the grid, every chart and table on screen, filled; and back
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        await pilot.pause()
        assert not screen.compact
        # the table shown stays shown, and the focus is on the tabs (it was nowhere: ← → did nothing)
        assert screen.query_one("#detail-tabs").active == "tab-fills"
        assert app.focused is not None and "detail-tabs" in [a.id for a in app.focused.ancestors]
        assert screen.query_one("#detail-grid")
        assert screen.query_one("#detail-orders", FastTable).row_count == 1
        assert all(screen.query_one(f"#{c}", SeriesChart).draws >= 1 for c in ("detail-price", "detail-z"))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert screen.compact and screen.query_one("#detail-fills", FastTable).row_count == 1
        assert screen.query_one("#detail-tabs").active == "tab-fills"
        await pilot.press("left")
        await pilot.pause()
        assert screen.query_one("#detail-tabs").active == "tab-orders"


async def test_the_arrows_switch_the_detail_tabs_and_escape_goes_back(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _detail(app, pilot, engine)
        tabs = screen.query_one("#detail-tabs")
        assert tabs.active == "tab-price"
        await pilot.press("right")
        await pilot.pause()
        assert tabs.active == "tab-rating"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen


async def test_a_chart_tab_shown_is_shown_again_after_a_larger_terminal_and_back(tmp_path):
    """A tmux pane zoomed and unzoomed (80×24, 200×60, 80×24) showed the signals tab instead of
    the chart the operator was on: the grid has no chart tabs, and its table tab was taken."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _detail(app, pilot, engine)
        await pilot.press("right", "right")  # price, rating, z-score
        await pilot.pause()
        assert screen.query_one("#detail-tabs").active == "tab-z"
        for size in ((200, 60), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
        assert screen.compact and screen.query_one("#detail-tabs").active == "tab-z"
        # a table chosen in the grid is what the tabs show then: by the focus on it, or its tab
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        await pilot.pause()
        await pilot.press("tab")  # into the signals table
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "detail-signals"
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert screen.query_one("#detail-tabs").active == "tab-signals"
        assert app.focused is not None and app.focused.id == "detail-signals"
        await pilot.press("shift+tab")  # back to the tabs
        await pilot.pause()
        await pilot.press("left")  # z-score
        await pilot.pause()
        assert screen.query_one("#detail-tabs").active == "tab-z"
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        await pilot.pause()
        assert screen.query_one("#detail-tabs").active == "tab-signals"
        await pilot.press("right")  # the focus is on the tabs: signals, orders
        await pilot.pause()
        assert screen.query_one("#detail-tabs").active == "tab-orders"
        await pilot.resize_terminal(159, 44)
        await pilot.pause()
        await pilot.pause()
        assert screen.compact and screen.query_one("#detail-tabs").active == "tab-orders"


async def test_a_table_with_the_focus_keeps_it_across_a_layout_switch(tmp_path):
    """The focus went to the tabs: the operator on the orders table (its rows scrolled with ↑ ↓)
    found ↑ ↓ doing nothing and ← → switching tabs after the terminal was resized."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _detail(app, pilot, engine)
        await pilot.press("right", "right", "right", "right")  # price … orders
        await pilot.press("tab")  # into the orders table
        await pilot.pause()
        assert screen.query_one("#detail-tabs").active == "tab-orders"
        assert app.focused is not None and app.focused.id == "detail-orders"
        for size in ((200, 60), (100, 30)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            assert app.focused is not None and app.focused.id == "detail-orders", (size, app.focused)
            assert screen.query_one("#detail-orders", FastTable).row_count == 1
