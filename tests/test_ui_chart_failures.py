"""The chart tick (at most 2 Hz) when the engine's chart data fails: a symbol's history that raises
was logged with its traceback at every tick, as a failing snapshot was; an equity curve that raised
escaped the timer's callback, which ends the whole console. Both now log one traceback, then a
count per window of ticks, and the recovery once.

The ticks are driven by hand (``refresh_charts``), never by the wall clock.
"""

from __future__ import annotations

import logging

from test_ui_snapshot_failures import _console, _Records
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.app import SNAPSHOT_FAILURE_SUMMARY_S

CHART_MS = 1000
EVERY = int(SNAPSHOT_FAILURE_SUMMARY_S * 1000 / CHART_MS)


def _lines(handler: _Records, word: str) -> list[logging.LogRecord]:
    return [r for r in handler.records if word in r.getMessage()]


def _raise(*_a, **_k):
    raise RuntimeError("chart data broken")


async def test_an_equity_curve_that_raises_does_not_end_the_console(tmp_path):
    async with _console(tmp_path) as (app, pilot, handler):
        app.engine.equity_curve = _raise
        app.refresh_charts()  # raised here: from the timer, it ends the app
        await pilot.pause()
        assert app.is_running
        assert [r.exc_info[0] for r in _lines(handler, "equity") if r.exc_info] == [RuntimeError]


async def test_a_failing_history_logs_one_traceback_then_counts(tmp_path):
    cfg = ui_config(chart_refresh_ms=CHART_MS)
    app = make_app(make_engine(tmp_path, cfg), cfg)
    handler = _Records()
    ui_log = logging.getLogger("tui_trader.ui")
    ui_log.addHandler(handler)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await ready(app, pilot)
            app.set_live_refresh(False)
            handler.records.clear()
            good = app.engine.symbol_history
            app.engine.symbol_history = _raise
            for _ in range(2 * EVERY + 3):
                app.refresh_charts()
            await pilot.pause()
            lines = _lines(handler, "history")
            assert [r.exc_info[0] for r in lines if r.exc_info] == [RuntimeError]
            assert f"for {app.selected_symbol}" in next(r.getMessage() for r in lines if r.exc_info)
            assert [r.getMessage() for r in lines if not r.exc_info] == [
                f"symbol history failed {EVERY} more times: RuntimeError: chart data broken"
            ] * 2
            handler.records.clear()
            app.engine.symbol_history = good
            for _ in range(3):
                app.refresh_charts()
            lines = [r.getMessage() for r in _lines(handler, "history")]
            assert len(lines) == 1 and "works again" in lines[0] and "2 more" in lines[0], lines
    finally:
        ui_log.removeHandler(handler)
