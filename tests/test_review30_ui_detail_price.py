"""The symbol detail's "last" was the last rating period's close, not the market's last price:
with the default 5-minute period (or an hour's) it lagged the prices pane, and the position's PnL
on the same line, by up to a period. It is the price of the engine's snapshot now."""

from __future__ import annotations

from ui_support import make_app, make_engine, pause_feed_after, ready, select_symbol, ui_config

from tui_trader.ui.format import fmt_exact_price
from tui_trader.ui.screens.detail import SymbolDetailScreen

SYM = "BTCUSDT"


async def test_the_detail_shows_the_market_price_between_two_periods(tmp_path):
    cfg = ui_config(rating_ms=300_000)  # five 1m klines a period
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=None)
    pause_feed_after(engine, 3)  # three klines into a period
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        await engine.run()
        app.refresh_from_engine()
        snap = engine.snapshot()
        market = float(snap.market.price[snap.market.symbols.index(SYM)])
        period_close = float(engine.symbol_history(SYM).price[-1])
        assert fmt_exact_price(market) != fmt_exact_price(period_close)  # (the case: they differ as shown)
        select_symbol(app, SYM)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen)
        app.refresh_charts()
        await pilot.pause()
        info = str(app.screen.query_one("#detail-info").render())
        assert f"last {fmt_exact_price(market)}" in info, (info, market, period_close)
