"""The keys of a symbol's detail (b, x, l) acted on the app's selected symbol, which the main
screen's tables kept changing under the detail: their focused table still had the focus, so a
row removed from the positions pane (a stop loss sold the symbol shown) moved its cursor onto
another position, and x on the detail of one symbol opened the sell of another (l locked
another). The detail's keys act on its own symbol."""

from __future__ import annotations

from decimal import Decimal

from ui_support import commands_done, make_app, make_engine, notifications, ready, ui_config

from tui_trader.events import ClosePosition, ManualBuy
from tui_trader.models import Source
from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.screens.modals import SellScreen
from tui_trader.ui.widgets.positions import PositionsTable


async def test_the_detail_keys_act_on_its_symbol_when_the_rows_under_it_move(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        held = engine.snapshot().market.symbols[:3]
        for sym in held:
            res = await engine.submit(ManualBuy(source=Source.UI, symbol=sym, quote_amount=Decimal(300)))
            assert res.ok, res.message
        await pilot.press("3")  # the positions pane
        await pilot.pause()
        app.refresh_from_engine()
        await pilot.pause()
        table = app.main_screen.query_one(PositionsTable)
        shown = held[-1]  # the last row: its removal moves the cursor up, onto another
        table.move_to_key(shown)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen) and app.screen.symbol == shown
        # a stop loss sells it: its row goes, and the cursor of the table under the detail moves
        # onto another position
        res = await engine.submit(ClosePosition(source=Source.RISK, symbol=shown))
        assert res.ok, res.message
        app.refresh_from_engine()
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, SellScreen), app.screen.symbol  # no other symbol's sell
        assert any(f"no open position in {shown}" in n for n in notifications(app)), notifications(app)
        await pilot.press("l")
        await commands_done(app)
        cmd, result = app.command_results[-1]
        assert cmd.symbol == shown and result.ok, (cmd, result)
        assert shown in engine.snapshot().locked
