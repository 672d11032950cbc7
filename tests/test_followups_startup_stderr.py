"""The engine's "start-up did not finish" notice: after a start-up error it goes to the log file
only (the runner's "error:" line says why; tests/test_headless.py), but on stderr when the start-up
was cancelled (no error line follows then)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tui_trader.config import Config
from tui_trader.runtime import build_engine

NOTICE = "start-up did not finish"


async def test_a_cancelled_start_up_still_says_it_did_not_finish_on_stderr(tmp_path: Path, caplog) -> None:
    """A signal during a long start-up cancels it; the run then ends with its summary, no error
    line: the notice is the only word that the stored state was left as it was."""
    cfg = Config.model_validate({"monitoring": {"log_file": "off"}})
    engine = build_engine(cfg, db_path=str(tmp_path / "c.db"), session_kind="run")
    started = asyncio.Event()
    real_start = engine.feed.start

    async def slow_feed_start() -> None:
        started.set()
        await asyncio.sleep(30)
        await real_start()

    engine.feed.start = slow_feed_start
    task = asyncio.create_task(engine.start_up())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    caplog.set_level(logging.WARNING, "tui_trader.engine")
    await asyncio.wait_for(engine.stop(), 20)
    (notice,) = [r for r in caplog.records if r.getMessage().startswith(NOTICE)]
    assert getattr(notice, "stderr", True) is True
