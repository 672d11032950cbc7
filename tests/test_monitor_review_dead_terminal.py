"""The start-up's progress bar on a terminal that went away (an SSH drop: every write fails with
EIO). Each step of the bar raised, a traceback in the log each time, and the runner's final
``close`` of the bar raised before the engine was stopped: a hang-up during the start-up left the
process hanging at exit for ever, its database open and locked. The bar is display only now."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from pty_support import DroppingTerminal
from rich.console import Console

from tui_trader.config import Config
from tui_trader.headless import _Bar, run_headless


def _dead_console() -> Console:
    return Console(file=DroppingTerminal(gone=True), force_terminal=True)  # type: ignore[arg-type]


def test_the_bar_on_a_dead_terminal_never_raises() -> None:
    bar = _Bar(_dead_console())
    bar.update("rating the history", 1, 10)
    bar.update("rating the history", 2, 10)
    bar.update("loading klines", 0, 0)
    bar.close()
    bar.close()


async def test_a_run_whose_terminal_died_stops_its_engine_and_logs_no_tracebacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    db = tmp_path / "book.db"
    cfg = Config.model_validate(
        {"feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 5}}, "storage": {"path": str(db)}}
    )
    with caplog.at_level(logging.ERROR, logger="tui_trader"):
        summary = await run_headless(cfg, None, _dead_console(), max_klines=50)
    assert summary["stopped_by"] == "data ended" and summary["periods"] > 0
    assert "event handler failed" not in caplog.text
    with sqlite3.connect(str(db)) as con:  # the engine was stopped: its session closed
        assert con.execute("SELECT ended_ms FROM sessions").fetchone()[0] is not None
