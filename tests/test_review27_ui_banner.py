"""The banner cuts a long reason to one line (86f041d), saying the log keeps the whole text: an
operator's emergency stop was logged nowhere in its session, so the reason's end was lost until a
restart logged it. A reason the banner cuts is now logged whole, once."""

from __future__ import annotations

from textual.widgets import Input
from ui_support import commands_done, make_app, make_engine, ready, ui_config

from tui_trader.models import EngineState, Source

LONG_REASON = "margin call " + " ".join(f"detail{i}" for i in range(60)) + " THE-END"


def _logged(app, text: str) -> int:
    return sum(text in ln.text for ln in app.log_buffer.since(0))


async def test_a_cut_emergency_stop_reason_is_in_the_log_whole(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("E")
        await pilot.pause()
        app.screen.query_one("#reason", Input).value = LONG_REASON
        await pilot.press("enter")
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED
        app.refresh_from_engine()
        app.refresh_from_engine()  # (each tick: logged once)
        await pilot.pause()
        assert "THE-END" not in str(app.main_screen.query_one("#banner").render())  # cut
        assert _logged(app, LONG_REASON) == 1


async def test_a_cut_reducing_reason_is_logged_once_and_a_short_one_not(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        engine.sm.force(EngineState.REDUCING, Source.RISK, "daily loss  10 %")
        engine.state_reason = "daily loss\n 10 %"  # made one line, but not cut: nothing to log
        app.refresh_from_engine()
        await pilot.pause()
        assert _logged(app, "reason in full") == 0
        engine.state_reason = LONG_REASON
        for _ in range(3):
            app.refresh_from_engine()
        await pilot.pause()
        assert _logged(app, LONG_REASON) == 1
