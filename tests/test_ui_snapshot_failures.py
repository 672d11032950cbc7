"""A snapshot that fails at every UI tick: its traceback is logged once, its repeats are counted
and summarised (about once a minute of ticks), the console says its display is stale, and the
recovery is logged once. A traceback at every tick (4 a second) filled the log file and pushed
the night's history out through its rotation.

The ticks are driven by hand (``refresh_from_engine``), never by the wall clock.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.app import SNAPSHOT_FAILURE_SUMMARY_S

REFRESH_MS = 1000
#: Ticks of REFRESH_MS between two summary lines.
EVERY = int(SNAPSHOT_FAILURE_SUMMARY_S * 1000 / REFRESH_MS)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def snapshot_lines(self) -> list[logging.LogRecord]:
        return [r for r in self.records if "snapshot" in r.getMessage()]


@asynccontextmanager
async def _console(tmp_path) -> AsyncIterator[tuple[Any, Any, _Records]]:
    cfg = ui_config(refresh_ms=REFRESH_MS)
    app = make_app(make_engine(tmp_path, cfg), cfg)
    handler = _Records()
    ui_log = logging.getLogger("tui_trader.ui")
    ui_log.addHandler(handler)
    old_level = ui_log.level
    ui_log.setLevel(logging.DEBUG)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await ready(app, pilot)
            app.set_live_refresh(False)
            handler.records.clear()
            yield app, pilot, handler
    finally:
        ui_log.removeHandler(handler)
        ui_log.setLevel(old_level)


def _banner(app) -> tuple[bool, str]:
    b = app.main_screen.query_one("#banner")
    return bool(b.display), str(b.render())


def _failing(exc_type: type[Exception], text: str):
    def snapshot():
        raise exc_type(text)

    return snapshot


async def test_a_failing_snapshot_logs_one_traceback_then_a_summary_a_minute(tmp_path):
    async with _console(tmp_path) as (app, pilot, handler):
        good = app.engine.snapshot
        app.engine.snapshot = _failing(RuntimeError, "book view broken")
        for _ in range(3 * EVERY + 5):
            app.refresh_from_engine()
        await pilot.pause()

        lines = handler.snapshot_lines()
        with_traceback = [r for r in lines if r.exc_info]
        assert len(with_traceback) == 1, [r.getMessage() for r in with_traceback[:3]]
        assert with_traceback[0].exc_info[0] is RuntimeError
        summaries = [r.getMessage() for r in lines if not r.exc_info]
        # the first failure is the traceback; 3 * EVERY + 4 repeats: three summaries of EVERY each
        assert summaries == [f"engine snapshot failed {EVERY} more times: RuntimeError: book view broken"] * 3
        assert all(r.levelno >= logging.WARNING for r in lines)

        shown, text = _banner(app)
        assert shown and "stale" in text.lower() and "book view broken" in text

        handler.records.clear()
        app.engine.snapshot = good
        for _ in range(5):
            app.refresh_from_engine()
        await pilot.pause()
        lines = [r.getMessage() for r in handler.snapshot_lines()]
        # once, with the repeats not yet summarised (4) and the whole run (3 * EVERY + 5)
        assert len(lines) == 1, lines
        assert "works again" in lines[0] and f"{3 * EVERY + 5} failed" in lines[0] and "4 more" in lines[0]
        shown, text = _banner(app)
        assert "stale" not in text.lower()


async def test_a_different_error_gets_its_own_traceback(tmp_path):
    async with _console(tmp_path) as (app, pilot, handler):
        app.engine.snapshot = _failing(RuntimeError, "first")
        for _ in range(3):
            app.refresh_from_engine()
        app.engine.snapshot = _failing(KeyError, "BTCUSDT")
        for _ in range(2):
            app.refresh_from_engine()
        await pilot.pause()
        lines = handler.snapshot_lines()
        tracebacks = [r.exc_info[0] for r in lines if r.exc_info]
        assert tracebacks == [RuntimeError, KeyError]
        # the first error's repeats are said before the new one is logged
        plain = [r.getMessage() for r in lines if not r.exc_info]
        assert plain == ["engine snapshot failed 2 more times: RuntimeError: first"]
        shown, text = _banner(app)
        assert shown and "BTCUSDT" in text


async def test_a_snapshot_failing_every_other_tick_writes_a_few_lines_a_minute(tmp_path):
    """Failing now and then (a race) must not flood either: no traceback and recovery line at every
    pair of ticks, but the counts, and every failure counted once; the error over (a window of good
    ticks), its return gets its traceback again."""
    import re

    async with _console(tmp_path) as (app, pilot, handler):
        good = app.engine.snapshot
        bad = _failing(RuntimeError, "flaky")
        windows = 4
        for i in range(windows * EVERY):
            app.engine.snapshot = bad if i % 2 == 0 else good
            app.refresh_from_engine()
        app.engine.snapshot = good
        for _ in range(EVERY + 1):  # a whole window of good ticks: the error is over
            app.refresh_from_engine()
        await pilot.pause()
        lines = handler.snapshot_lines()
        assert [r.exc_info[0] for r in lines if r.exc_info] == [RuntimeError]
        assert len(lines) <= 1 + 2 * (windows + 1), [r.getMessage() for r in lines]
        said = 1  # the traceback's failure
        for r in lines:
            text = r.getMessage()
            said += sum(int(n) for n in re.findall(r"failed (\d+) more times", text))
            said += sum(int(n) for n in re.findall(r"\((\d+) more since the last line\)", text))
        assert said == windows * EVERY // 2  # every failure counted, once
        assert "works again" in lines[-1].getMessage()

        handler.records.clear()
        app.engine.snapshot = bad
        app.refresh_from_engine()
        assert [r.exc_info[0] for r in handler.snapshot_lines() if r.exc_info] == [RuntimeError]
