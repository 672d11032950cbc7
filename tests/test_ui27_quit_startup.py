"""Quitting while the engine starts up asks first: its positions are not known yet (Pilot)."""

from __future__ import annotations

import asyncio

from ui_support import make_app, make_engine, ui_config

from tui_trader.ui.screens.modals import ConfirmScreen


async def test_quitting_during_the_start_up_asks_first_with_q_and_ctrl_q(tmp_path):
    """Ctrl+Q (and q) quit at once while the engine recovered its book: no snapshot yet, so no
    position was counted, though the stored book may hold some."""
    engine = make_engine(tmp_path)
    gate = asyncio.Event()
    check_book_mode = engine._check_book_mode

    async def held_start_up() -> None:  # a long start-up: held until the test lets it go on
        await gate.wait()
        await check_book_mode()

    engine._check_book_mode = held_start_up
    app = make_app(engine, ui_config())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.engine_ready.is_set()
        for key in ("ctrl+q", "q"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen), key
            assert "positions not known yet" in app.screen.message, app.screen.message
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is app.main_screen and app.is_running, key
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause(0.2)
    assert app.return_code == 0
