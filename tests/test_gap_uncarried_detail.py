"""The symbol detail of a held symbol the session's market does not carry: it said "not in this
session's market" and showed nothing else - no orders, no fills - although the book stores them
(the buy, its price: the price a paper close books it at). Now the tables show the stored orders
and fills (read through the engine's ``uncarried_history``), the info line the holding."""

from __future__ import annotations

import logging

from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.screens.detail import NOT_TRADED, SymbolDetailScreen
from tui_trader.ui.widgets.table import FastTable


async def test_the_detail_of_an_uncarried_held_symbol_shows_its_orders_and_fills(tmp_path, caplog):
    cfg = ui_config()
    first = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    await first.start_up()
    await first.run()
    await first.stop()
    held = {p.symbol for p in first.snapshot().positions}

    cfg = ui_config(n_symbols=5)  # the same book, a smaller universe
    engine = make_engine(tmp_path, cfg, max_klines=30)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        snap = engine.snapshot()
        gone = sorted(held - set(snap.market.symbols))
        assert gone, (held, snap.market.symbols)
        sym = gone[0]
        orders = [o for o in engine.orders.values() if o.symbol == sym]
        fills = [f for f in engine.fills if f.symbol == sym]
        assert orders and fills
        caplog.clear()
        app.action_detail(sym)
        for _ in range(3):
            await pilot.pause()
            app.refresh_charts()
        screen = app.screen
        assert isinstance(screen, SymbolDetailScreen) and screen.symbol == sym
        info = str(screen.query_one("#detail-info").render())
        assert NOT_TRADED in info and "●" in info, info  # the holding
        assert screen.query_one("#detail-orders", FastTable).row_count == len(orders)
        assert screen.query_one("#detail-fills", FastTable).row_count == len(fills)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
