"""The handling of a failing read of the engine must not fail itself: an error whose message
raises (a broken ``__str__``) raised again from the refresh timer's handler, and an exception
out of a timer's callback ends the whole console."""

from __future__ import annotations

import dataclasses

from test_ui_snapshot_failures import _banner, _console, _failing
from ui_support import notifications

from tui_trader.events import EmergencyStop, RiskAlert
from tui_trader.models import Source
from tui_trader.ui.screens.modals import ConfirmScreen


class _Unprintable(RuntimeError):
    def __str__(self) -> str:
        raise ValueError("no text")


def _raise_unprintable(*_a, **_k):
    raise _Unprintable()


async def test_a_snapshot_error_whose_message_raises_is_still_handled(tmp_path):
    async with _console(tmp_path) as (app, pilot, handler):
        app.engine.snapshot = _raise_unprintable
        for _ in range(3):
            app.refresh_from_engine()  # raised from here: from the timer, it ended the console
        await pilot.pause()
        assert app.is_running
        shown, text = _banner(app)
        assert shown and "STALE" in text and "_Unprintable" in text
        assert [r.exc_info[0] for r in handler.snapshot_lines() if r.exc_info] == [_Unprintable]


async def test_a_chart_error_whose_message_raises_is_still_handled(tmp_path):
    async with _console(tmp_path) as (app, pilot, handler):
        app.engine.equity_curve = _raise_unprintable
        app.refresh_charts()
        await pilot.pause()
        assert app.is_running
        assert [r.exc_info[0] for r in handler.records if "equity" in r.getMessage() and r.exc_info] == [
            _Unprintable
        ]


async def test_chart_data_the_chart_cannot_draw_does_not_end_the_console(tmp_path):
    """A history whose times and prices differ in length (read mid-update): the price chart's
    draw raised out of the chart timer's callback, which ends the console."""
    async with _console(tmp_path) as (app, pilot, handler):
        good = app.engine.symbol_history

        def torn(symbol):
            h = good(symbol)
            return dataclasses.replace(h, ts_ms=h.ts_ms[:-3])

        app.engine.symbol_history = torn
        for _ in range(3):
            app.refresh_charts()
        await pilot.pause()
        assert app.is_running
        redraw = [r for r in handler.records if "chart redraw" in r.getMessage()]
        assert len([r for r in redraw if r.exc_info]) == 1

        app.engine.symbol_history = good
        app.refresh_charts()
        await pilot.pause()
        assert any(
            "works again" in r.getMessage() for r in handler.records if "chart redraw" in r.getMessage()
        )


async def test_the_stale_banner_keeps_an_emergency_stop_in_view(tmp_path):
    """The DISPLAY STALE banner replaced the EMERGENCY STOP one: the stop went out of view while
    the snapshot failed, and nothing on the banner said trading was stopped."""
    async with _console(tmp_path) as (app, pilot, _handler):
        res = await app.engine.submit(EmergencyStop(source=Source.UI, reason="exchange outage"))
        assert res.ok
        app.refresh_from_engine()
        await pilot.pause()
        assert "EMERGENCY STOP: exchange outage" in _banner(app)[1]

        good = app.engine.snapshot
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        app.refresh_from_engine()
        await pilot.pause()
        shown, text = _banner(app)
        assert shown and "EMERGENCY STOP: exchange outage" in text
        assert "DISPLAY STALE" in text and "book view broken" in text

        app.engine.snapshot = good
        app.refresh_from_engine()
        await pilot.pause()
        shown, text = _banner(app)
        assert "EMERGENCY STOP: exchange outage" in text and "STALE" not in text


async def test_a_snapshot_the_panes_cannot_show_does_not_end_the_console(tmp_path):
    """A snapshot that reads but holds a figure a pane cannot format (the drawdown missing): the
    error escaped the refresh timer's callback, which ends the console."""
    async with _console(tmp_path) as (app, pilot, handler):
        good = app.engine.snapshot

        def odd():
            snap = good()
            return dataclasses.replace(snap, portfolio=dataclasses.replace(snap.portfolio, drawdown_pct=None))

        app.engine.snapshot = odd
        for _ in range(3):
            app.refresh_from_engine()
        await pilot.pause()
        assert app.is_running
        lines = [r for r in handler.records if "display refresh" in r.getMessage()]
        assert [r.exc_info[0] for r in lines if r.exc_info] == [TypeError]

        app.engine.snapshot = good
        app.refresh_from_engine()
        assert any(
            "works again" in r.getMessage() for r in handler.records if "display refresh" in r.getMessage()
        )


async def test_alerts_are_shown_while_the_snapshot_fails(tmp_path):
    """The engine's alerts come by its bus, not in the snapshot, but they were shown only after a
    good snapshot: an automatic emergency stop's alert waited, unseen, for the snapshot to work."""
    async with _console(tmp_path) as (app, pilot, _handler):
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        app.refresh_from_engine()
        app.engine.bus.publish(
            RiskAlert(ts_ms=0, severity="critical", code="drawdown", message="drawdown 25%")
        )
        app.refresh_from_engine()
        await pilot.pause()
        assert any("drawdown 25%" in n for n in notifications(app))


async def test_q_asks_first_while_the_snapshot_fails(tmp_path):
    """With the snapshot failing, q read "no open positions" from the last good snapshot and quit
    unasked, though positions may have been opened since."""
    async with _console(tmp_path) as (app, pilot, _handler):
        assert not app.last_snapshot.positions
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        app.refresh_from_engine()
        await pilot.press("q")
        await pilot.pause()
        assert not app._stopping
        assert isinstance(app.screen, ConfirmScreen) and "stale" in app.screen.title_text.lower()
