"""``/`` with a pane maximised: the filter field took the focus but had no place on screen (a
maximised view kept only the footer and the top bar), so every key after it - x, q, b, E - was
typed into a field no one could see, and a filter kept was not seen either."""

from __future__ import annotations

from textual.widgets import Input
from ui_support import commands_done, make_app, make_engine, ready, ui_config

from tui_trader.ui.widgets.table import FastTable


async def test_the_filter_opened_over_a_maximised_pane_is_on_screen(tmp_path) -> None:
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, max_klines=None)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        screen = app.main_screen
        field = screen.query_one("#filter", Input)
        # the prices maximised: they stay so, and the filter shows above them
        await pilot.press("1", "m")
        await commands_done(app)
        assert screen.maximized is not None
        await pilot.press("slash", "b", "t", "c")
        await pilot.pause()
        assert screen.maximized is not None and app.focused is field and field.value == "btc"
        assert field.region.height > 0 and field.region.width > 0, field.region
        shown = screen.query_one("#prices", FastTable)
        assert shown.row_count < len(engine.snapshot().market.symbols)  # filtered, in sight
        await pilot.press("enter")  # the filter kept: its bar stays in sight over the maximised pane
        await pilot.pause()
        assert app.focused is shown and field.region.height > 0
        await pilot.press("escape", "escape")  # restore, then clear
        await pilot.pause()
        # positions maximised: the filter is the prices' and the leaderboard's, so the view is
        # restored (Enter on the filter then shows the prices, as from any other pane)
        await pilot.press("3", "m")
        await commands_done(app)
        assert screen.maximized is not None
        await pilot.press("slash")
        await pilot.pause()
        assert screen.maximized is None and app.focused is field and field.region.height > 0
        await pilot.press("e", "t", "h", "enter")
        await pilot.pause()
        assert app.focused is screen.query_one("#prices", FastTable) and app.focused.region.height > 0
