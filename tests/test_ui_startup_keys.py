"""Keys pressed while the engine starts up say that it is starting up, not that it is not running."""

from __future__ import annotations

import asyncio

from ui_support import commands_done, make_app, make_engine, notifications, ui_config


async def test_keys_during_the_start_up_say_it_is_starting(tmp_path) -> None:
    engine = make_engine(tmp_path)
    gate = asyncio.Event()
    check_book_mode = engine._check_book_mode

    async def held_start_up() -> None:  # a long start-up: held until the test lets it go on
        await gate.wait()
        await check_book_mode()

    engine._check_book_mode = held_start_up
    app = make_app(engine, ui_config())
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        assert not app.engine_ready.is_set()
        for key in "bxFltsp":
            app.clear_notifications()
            await pilot.press(key)
            await commands_done(app)
            await pilot.pause()
            shown = notifications(app)
            # b, x, F, l, t said "the engine is not running", as if it had stopped
            assert shown and all("starting up" in n and "not running" not in n for n in shown), (key, shown)
            assert app.screen is app.main_screen, key  # no dialog for a command nothing would apply
        assert [type(cmd).__name__ for cmd, _ in app.command_results] == ["Start", "Pause"]
        gate.set()
        await asyncio.wait_for(app.engine_ready.wait(), 20)
        app.clear_notifications()
        await pilot.press("F")  # started: the key does its work
        await pilot.pause()
        assert notifications(app) == ["Flatten all: no open positions: nothing to flatten"]
