"""A burst of Tab (a held key) in the narrow layout: one fill, and the pane last switched to (Pilot)."""

from __future__ import annotations

from textual import events
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.screens.main import PANE_KEYS


async def test_a_burst_of_tab_in_the_narrow_layout_fills_the_panes_once(tmp_path):
    """Holding Tab rebuilt the pane shown at each switch (4-22 ms each on 2,000 symbols)."""
    from test_review27_ui_panes import _count_refreshes

    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        main = app.main_screen
        assert main.compact and main.active == "prices"
        calls = _count_refreshes(app)
        for _ in range(3):  # the key repeats of a held Tab, arriving together
            key = events.Key("tab", "\t")
            key.set_sender(app)
            app._driver.send_message(key)
        await pilot.pause()
        await pilot.pause()
        assert main.active == PANE_KEYS[3]  # the pane of the last Tab; stale switches swung back
        assert app.focused is main.pane(PANE_KEYS[3]).main
        assert calls == {"panes": 1, "charts": 1}
