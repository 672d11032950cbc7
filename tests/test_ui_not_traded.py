"""A symbol the session's market does not carry: a position restored from a book whose universe
held it (the feed's symbols changed since a restart). The operator selects it, to close it.

Its chart asked the engine for its history at every chart tick and logged the KeyError with its
traceback, twice a second, into the log pane and the log file; the charts pane kept the previous
symbol's chart under it; ``b`` opened a buy dialog "at about —" that the engine could only refuse;
its detail screen was empty, saying nothing."""

from __future__ import annotations

import logging

from ui_support import book_then_smaller_universe, make_app, notifications, ready

from tui_trader.ui.screens.detail import NOT_TRADED, SymbolDetailScreen
from tui_trader.ui.screens.modals import BuyScreen
from tui_trader.ui.widgets.positions import PositionsTable


async def test_a_held_symbol_the_market_no_longer_carries(tmp_path, caplog):
    cfg, engine, held = await book_then_smaller_universe(tmp_path)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        snap = engine.snapshot()
        gone = sorted(held - set(snap.market.symbols))
        assert gone and gone[0] in {p.symbol for p in snap.positions}, (held, snap.market.symbols)
        sym = gone[0]
        await pilot.press("3")
        await pilot.pause()
        app.refresh_from_engine()
        table = app.main_screen.query_one(PositionsTable)
        table.move_to_key(sym)
        await pilot.pause()
        assert app.selected_symbol == sym

        caplog.clear()
        await pilot.press("5")  # the charts pane, for the selected symbol
        await pilot.pause()
        for _ in range(3):
            app.refresh_charts()
            await pilot.pause()
        chart = app.main_screen.query_one("#symbol-chart")
        assert chart.data_key == ("not traded", sym)  # not the chart of the symbol selected before
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text

        await pilot.press("3")
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
        assert not isinstance(app.screen, BuyScreen)
        assert any("Buy refused" in n and NOT_TRADED in n for n in notifications(app)), notifications(app)

        await pilot.press("enter")
        await pilot.pause()
        app.refresh_charts()
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen) and app.screen.symbol == sym
        assert NOT_TRADED in str(app.screen.query_one("#detail-info").render())
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
