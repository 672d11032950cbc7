"""The footer's p once the engine has stopped while paused: no Resume the key refuses (Pilot)."""

from __future__ import annotations

import asyncio

from textual.widgets._footer import FooterKey
from ui_support import commands_done, make_app, make_engine, notifications, ready, ui_config, until

from tui_trader.models import EngineState
from tui_trader.ui.widgets.footer import KeyFooter


def _pause_label(screen) -> str:
    keys = [k for k in screen.query_one(KeyFooter).query(FooterKey) if k.action == "app.pause"]
    assert len(keys) == 1
    return keys[0].description


async def test_the_footer_does_not_offer_resume_once_the_engine_stopped_while_paused(tmp_path):
    """Paused, then the feed ended: the footer read "p Resume", a key then refused with "the engine
    has stopped", until the engine's own stop was done (a live broker's can take a while)."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=3)  # a market that ends
    feed_gate, stop_gate = asyncio.Event(), asyncio.Event()
    events_of, stop = engine.feed.events, engine.stop

    async def held_feed():  # the feed waits until the engine is paused
        await feed_gate.wait()
        async for ev in events_of():
            yield ev

    async def held_stop() -> None:  # a slow stop (orders cancelled on the exchange, ...)
        await stop_gate.wait()
        await stop()

    engine.feed.events, engine.stop = held_feed, held_stop
    app = make_app(engine, cfg, run_engine=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        await pilot.press("p")
        await commands_done(app)
        app.refresh_from_engine()
        await pilot.pause()
        assert engine.state == EngineState.PAUSED and _pause_label(app.main_screen) == "Resume"
        feed_gate.set()
        assert await until(lambda: app.engine_finished, 20)
        app.refresh_from_engine()
        await pilot.pause()
        assert engine.state == EngineState.PAUSED  # the engine's stop has not run yet
        await pilot.press("p")
        await pilot.pause()
        assert any("the engine has stopped" in n for n in notifications(app))
        assert _pause_label(app.main_screen) == "Pause"  # no Resume the key refuses
        stop_gate.set()
        assert await until(lambda: engine.db is None)
