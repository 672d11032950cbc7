"""A signal during ``run --headless``'s start-up (a long warm-up or kline load): the summary reports no
book figures, instead of the configured starting balance's as if they were the stored book's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from tui_trader.config import Config
from tui_trader.headless import BOOK_FIGURES, print_summary, run_headless
from tui_trader.market.sim import SimFeed


def _cfg(db: Path, balance: float = 10_000.0) -> Config:
    return Config.model_validate(
        {
            "feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 5}},
            "broker": {"starting_balance": balance},
            "storage": {"path": str(db)},
        }
    )


async def _interrupted_run(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A run whose feed start never ends, stopped by SIGTERM (as Ctrl-C or a hang-up would)."""

    async def stalled_start(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the runner's handler turns it into a clean stop
        await asyncio.Event().wait()

    monkeypatch.setattr(SimFeed, "start", stalled_start)
    return await run_headless(cfg, 30.0, Console(stderr=True, quiet=True))


async def test_a_start_up_cut_short_reports_no_book_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "book.db"
    first = await run_headless(_cfg(db), None, Console(stderr=True, quiet=True), max_klines=50)
    assert first["book_resumed"] is False
    with sqlite3.connect(str(db)) as con:
        (cash_before,) = con.execute("SELECT cash FROM account").fetchone()

    # a balance that applies to a new book only: the stored one began at 10,000
    summary = await _interrupted_run(_cfg(db, balance=20_000.0), monkeypatch)
    assert summary["stopped_by"] == "signal" and summary["periods"] == 0
    # the engine held the configured 20,000.00 and no position: it said "final equity 20,000.00,
    # book resumed, +0.000 % since the book began at 20,000.00", none of which was the stored book's
    assert all(summary[k] is None for k in BOOK_FIGURES), {k: summary[k] for k in BOOK_FIGURES}
    json.dumps(summary)  # --json prints them as null
    console = Console(record=True, width=120)
    print_summary(summary, console)
    text = console.export_text()
    assert "not reported: the start-up did not finish (the stored book is unchanged)" in text
    assert "final equity" not in text and "resumed" not in text and "20,000" not in text
    with sqlite3.connect(str(db)) as con:
        assert con.execute("SELECT cash FROM account").fetchone()[0] == cash_before
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_fresh_database_cut_short_is_not_called_a_resumed_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = await _interrupted_run(_cfg(tmp_path / "fresh.db"), monkeypatch)
    assert summary["stopped_by"] == "signal"
    assert summary["book_resumed"] is None and summary["final_equity"] is None
