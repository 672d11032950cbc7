"""Typing in the filter redraws no chart per keystroke: the selection follows at once (b, x, l act
on a shown row), the charts at the chart timer's next tick (at most twice a second). Each key
redrew the symbol chart of the first row it left shown, past the charts' 2 Hz limit."""

from __future__ import annotations

from ui_support import make_app, make_engine, ready, ui_config


async def test_typing_in_the_filter_leaves_the_charts_to_their_timer(tmp_path) -> None:
    cfg = ui_config(chart_refresh_ms=3_600_000)  # the chart timer does not tick during the test
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        assert app.main_screen.is_visible("charts")
        asked: list[str] = []
        history = engine.symbol_history
        engine.symbol_history = lambda sym: (asked.append(sym), history(sym))[1]
        await pilot.press("slash", *"usdt", "backspace", "t", "enter")
        await pilot.pause()
        assert asked == []  # no chart drawn per key
        shown = app.selected_symbol
        assert shown is not None and "USDT" in shown
        app.refresh_charts()  # the chart timer's tick
        assert asked == [shown]  # the charts follow the selection the filter left
