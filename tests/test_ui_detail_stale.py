"""A snapshot that fails while the symbol detail is shown: the DISPLAY STALE banner is the main
screen's, out of view, and the detail's status bar went on showing the last good figures as if
current. Every screen's bar now says STALE until a snapshot works again, and the recovery seen
on the detail leaves no stale banner behind on the main screen."""

from __future__ import annotations

from test_ui_snapshot_failures import _banner, _console, _failing

from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.widgets.status_bar import StatusBar


def _bar(screen) -> str:
    return str(screen.query_one(StatusBar).render())


async def test_the_detail_bar_says_stale_while_the_snapshot_fails(tmp_path):
    async with _console(tmp_path) as (app, pilot, _handler):
        app.action_detail(app.selected_symbol)
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, SymbolDetailScreen)
        app.refresh_from_engine()
        await pilot.pause()
        assert "STALE" not in _bar(detail)

        good = app.engine.snapshot
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        app.refresh_from_engine()
        await pilot.pause()
        assert _bar(detail).lstrip().startswith("STALE")
        assert "PAPER" in _bar(detail)  # the last good figures, still shown

        app.engine.snapshot = good
        app.refresh_from_engine()
        await pilot.pause()
        assert "STALE" not in _bar(detail)

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen
        assert "STALE" not in _banner(app)[1]
        assert "STALE" not in _bar(app.main_screen)
