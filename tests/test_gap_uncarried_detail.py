"""The symbol detail of a held symbol the session's market does not carry: it said "not in this
session's market" and showed nothing else - no orders, no fills - although the book stores them
(the buy, its price: the price a paper close books it at). Now the tables show the stored orders
and fills (the engine's ``uncarried_history``, read by the app's chart refresh and handed to the screen, as
``symbol_history`` is: the screen reads no engine), the info line the holding."""

from __future__ import annotations

import dataclasses
import logging

from ui_support import book_then_smaller_universe, make_app, ready

from tui_trader.ui.screens.detail import NOT_TRADED, SymbolDetailScreen
from tui_trader.ui.widgets.table import FastTable


async def test_the_detail_of_an_uncarried_held_symbol_shows_its_orders_and_fills(tmp_path, caplog):
    cfg, engine, held = await book_then_smaller_universe(tmp_path)
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

        # the screen shows the history it is handed (the app reads the engine, not the screen)
        hist = engine.uncarried_history(sym)
        screen.show_not_traded(dataclasses.replace(hist, fills=hist.fills[:1]), now_ms=snap.ts_ms)
        assert screen.query_one("#detail-fills", FastTable).row_count == 1

        # a read that fails: said in the log as a chart's history that fails is (once, with its
        # traceback), not hidden at DEBUG at each tick; the info line still says why there are no charts
        def unreadable(symbol: str) -> None:
            raise RuntimeError(f"stored history of {symbol} unreadable")

        engine.uncarried_history = unreadable
        caplog.clear()
        for _ in range(3):
            app.refresh_charts()
            await pilot.pause()
        said = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(said) == 1 and f"stored history of {sym} unreadable" in caplog.text, caplog.text
        assert NOT_TRADED in str(screen.query_one("#detail-info").render())
