"""An order key whose read of the engine's snapshot fails: its dialog opened on the last good
snapshot's figures (a buy's price, a position, the threshold) without a word, and the operator
could act on stale prices. The dialog now says its figures are the last good snapshot's, and of
when; with no good snapshot at all the key opens nothing and says why."""

from __future__ import annotations

from test_ui_snapshot_failures import _console, _failing
from ui_support import notifications

from tui_trader.ui.format import fmt_when
from tui_trader.ui.screens.modals import BuyScreen, EmergencyStopScreen, ThresholdScreen


def _stale_line(app) -> str:
    found = app.screen.query("#stale")
    return str(found.first().render()) if found else ""


async def test_a_buy_on_a_failing_snapshot_says_its_price_is_stale(tmp_path):
    async with _console(tmp_path) as (app, pilot, _handler):
        last = app.last_snapshot
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        app.main_screen.query_one("#prices").focus()
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)
        line = _stale_line(app)
        assert "STALE" in line and "book view broken" in line
        assert fmt_when(last.ts_ms, app._engine_time_ms()) in line


async def test_a_dialog_on_a_good_snapshot_has_no_stale_line(tmp_path):
    async with _console(tmp_path) as (app, pilot, _handler):
        good = app.engine.snapshot
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ThresholdScreen) and _stale_line(app)
        await pilot.press("escape")
        app.engine.snapshot = good  # works again: the next dialog is not marked stale
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ThresholdScreen)
        assert _stale_line(app) == ""


async def test_no_good_snapshot_at_all_opens_no_dialog(tmp_path):
    async with _console(tmp_path) as (app, pilot, _handler):
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        app.last_snapshot = None
        await pilot.press("t")
        await pilot.pause()
        assert not isinstance(app.screen, ThresholdScreen)
        assert any("snapshot fails" in n and "book view broken" in n for n in notifications(app))


async def test_the_emergency_dialog_says_its_position_count_is_stale(tmp_path):
    async with _console(tmp_path) as (app, pilot, _handler):
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        app.refresh_from_engine()
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        assert "STALE" in _stale_line(app) and "positions" in _stale_line(app)
