"""A stop signal sent twice (an impatient Ctrl-C, or a supervisor's SIGTERM repeated) while the run
is stopping: still one clean stop (the run's figures, the database closed), and the log says
which signal came, and that the second found the run already stopping."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from tui_trader.config import Config
from tui_trader.headless import run_headless
from tui_trader.market.sim import SimFeed


async def test_a_second_sigterm_while_stopping_is_logged_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    async def stalled_start(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.Event().wait()

    monkeypatch.setattr(SimFeed, "start", stalled_start)
    db = tmp_path / "book.db"
    cfg = Config.model_validate(
        {"feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 5}}, "storage": {"path": str(db)}}
    )
    with caplog.at_level(logging.INFO, logger="tui_trader.headless"):
        summary = await run_headless(cfg, 30.0, Console(stderr=True, quiet=True))
    assert summary["stopped_by"] == "signal"
    said = [r.getMessage() for r in caplog.records if r.name == "tui_trader.headless"]
    assert said == ["SIGTERM received: stopping", "SIGTERM received: stopping; already stopping"]
    # stopped once, cleanly: the database was let go, and a run after it opens it and trades
    monkeypatch.undo()
    after = await run_headless(cfg, None, Console(stderr=True, quiet=True), max_klines=50)
    assert after["stopped_by"] == "data ended" and after["periods"] > 0
    with sqlite3.connect(str(db)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
