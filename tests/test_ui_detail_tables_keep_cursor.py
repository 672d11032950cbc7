"""The symbol detail's signals, orders and fills tables were cleared and refilled at every rating
period (their refill key held the charts' data): an operator reading a symbol's orders further
down was taken back to the top every period. They are refilled when their rows change, and keep
the cursor and scroll then."""

from __future__ import annotations

import dataclasses

import numpy as np
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.widgets.table import FastTable


async def test_a_new_period_leaves_the_detail_tables_and_a_new_order_keeps_their_cursor(tmp_path) -> None:
    cfg = ui_config(n_symbols=6)
    first = make_engine(tmp_path, cfg, autostart=True, max_klines=1500)  # a book with orders
    await first.start_up()
    await first.run()
    await first.stop()
    engine = make_engine(tmp_path, cfg, max_klines=None)
    app = make_app(engine, cfg)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(app, pilot)
        h = max((engine.symbol_history(s) for s in engine.snapshot().market.symbols), key=lambda h: len(h.orders))
        assert len(h.orders) >= 4, [len(engine.symbol_history(s).orders) for s in engine.snapshot().market.symbols]
        app.action_detail(h.symbol)
        await pilot.pause()
        app.refresh_charts()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SymbolDetailScreen)
        orders = screen.query_one("#detail-orders", FastTable)
        assert orders.row_count == len(h.orders)
        orders.move_cursor(row=3)
        later = int(h.ts_ms[-1]) + 60_000
        # a new rating period: the charts gain a point, the tables' rows are the same
        h2 = dataclasses.replace(
            h, ts_ms=np.append(h.ts_ms, later), price=np.append(h.price, h.price[-1] * 1.01),
            rating=np.append(h.rating, h.rating[-1]), z=np.append(h.z, h.z[-1]),
            moving_average=np.append(h.moving_average, h.moving_average[-1]),
        )
        screen.show(h2, now_ms=later)
        await pilot.pause()
        assert orders.cursor_row == 3 and orders.row_count == len(h.orders)
        # a new order: the table is refilled, its cursor stays where the operator put it
        h3 = dataclasses.replace(h2, orders=[*h2.orders, dataclasses.replace(h2.orders[-1], client_order_id="x-new")])
        screen.show(h3, now_ms=later)  # (checked at once: the app's own refresh shows the engine's history)
        assert orders.row_count == len(h.orders) + 1 and orders.cursor_row == 3
