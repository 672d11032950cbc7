"""A symbol's detail was not refreshed while a dialog was open over it (b, x, E, the palette):
the chart timer asked whether the screen on top was the detail, and a dialog is not, so its
info line (the position, its PnL), tables and charts stood still around the dialog - the sell
dialog's position next to a detail that still showed none. The main screen's panes go on
refreshing under a dialog; so does the detail."""

from __future__ import annotations

from decimal import Decimal

from ui_support import make_app, make_engine, ready, select_symbol, ui_config

from tui_trader.events import ManualBuy
from tui_trader.models import Source
from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.screens.modals import BuyScreen

SYM = "BTCUSDT"


async def test_the_detail_under_a_dialog_shows_a_new_position(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        select_symbol(app, SYM)
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, SymbolDetailScreen)
        app.refresh_charts()
        await pilot.pause()
        assert "●" not in str(detail.query_one("#detail-info").render())  # no position yet
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)
        res = await engine.submit(ManualBuy(source=Source.UI, symbol=SYM, quote_amount=Decimal(300)))
        assert res.ok, res.message
        app.refresh_from_engine()
        app.refresh_charts()
        await pilot.pause()
        info = str(detail.query_one("#detail-info").render())
        assert "●" in info, info  # the position, shown around the dialog
        assert detail.query_one("#detail-fills").row_count == 1
