"""``b`` on a symbol the feed has given no price yet opened a buy dialog "at about —" whose
order the engine could only refuse ("no price yet"), as it did for a symbol the market does not
carry. It says so at once, and no dialog opens."""

from __future__ import annotations

import math

from ui_support import commands_done, make_app, make_engine, notifications, ready, select_symbol, ui_config

from tui_trader.ui.screens.modals import BuyScreen

SYM = "BTCUSDT"


async def test_b_on_a_symbol_with_no_price_yet_opens_no_dialog(tmp_path):
    cfg = ui_config(warmup_periods=0)  # no history: no symbol has a price yet
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        snap = engine.snapshot()
        assert math.isnan(snap.market.price[snap.market.symbols.index(SYM)])  # (the case)
        select_symbol(app, SYM)
        await pilot.press("b")
        await pilot.pause()
        assert not isinstance(app.screen, BuyScreen)
        assert app.screen is app.main_screen
        assert any("Buy refused" in n and "no price yet" in n for n in notifications(app)), notifications(app)
        await commands_done(app)
        assert not app.command_results  # nothing sent


async def test_b_on_a_priced_symbol_still_opens_the_dialog(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        select_symbol(app, SYM)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)
