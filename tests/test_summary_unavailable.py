"""The end-of-run summary never keeps a session from being saved: a figure it cannot read (a
feed whose ``health()`` raises, or answers a count that is no number) is None - "unavailable" in
the table, null in ``--json`` - and the rest of the summary, the session's end and the book are
stored as always. Stopping failed with "could not save the session", and a headless run's
summary raised out of its clean-up before the engine was stopped."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import sqlite3
from pathlib import Path

import pytest
from engine_helpers import MIN, T0, klines, make_engine
from rich.console import Console

from tui_trader.config import Config
from tui_trader.headless import print_summary, run_headless


def _sessions(db: str) -> list[tuple[int | None, dict | None]]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT ended_ms, summary_json FROM sessions ORDER BY id").fetchall()
    finally:
        con.close()
    return [(ended, None if text is None else json.loads(text)) for ended, text in rows]


def _raise() -> dict:
    raise RuntimeError("feed health unreadable")


@pytest.mark.parametrize(
    "health",
    [_raise, lambda: {"connected": True, "rejected": "lots"}, lambda: {"rejected": math.inf}, lambda: None],
    ids=["raises", "text", "infinite", "none"],
)
async def test_a_feed_health_that_fails_leaves_the_summary_figure_unavailable_and_the_session_saved(
    tmp_path, caplog, health
) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4, open_=[100.0] * 4))
    e.feed.health = health
    summary = e.summary()
    assert summary["rejected_messages"] is None
    assert summary["final_equity"] == pytest.approx(float(e.portfolio.cash)) and summary["periods"] == 1
    with caplog.at_level(logging.WARNING, logger="tui_trader"):
        await h.stop()
    assert "could not save the session" not in caplog.text, caplog.text
    assert "rejected messages unavailable" in caplog.text, caplog.text
    ((ended, saved),) = _sessions(db)
    assert ended is not None and saved["rejected_messages"] is None and saved["periods"] == 1


def test_the_table_shows_a_figure_that_could_not_be_read_as_unavailable() -> None:
    s = {
        "feed": "sim", "wall_time_s": 1.0, "symbols": 4, "klines_per_symbol": 3.0, "events_per_s": 12.0,
        "rejected_messages": None, "final_equity": None, "return_pct": None, "max_drawdown_pct": None,
        "cash": "10000", "open_positions": 0, "state": "running",
    }  # fmt: skip
    out = io.StringIO()
    print_summary(s, Console(file=out, width=120))
    lines = out.getvalue().splitlines()
    for label in ("rejected messages", "final equity", "return", "max drawdown"):
        (line,) = [ln for ln in lines if f" {label} " in ln]
        assert "unavailable" in line, line
    assert "not reported" not in out.getvalue()  # the start-up finished: only these figures are missing


async def test_a_headless_run_whose_feed_health_raises_still_stops_and_saves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trader.engine import TradingEngine
    from tui_trader.market.sim import SimFeed

    monkeypatch.setattr(TradingEngine, "run", lambda self: asyncio.sleep(0))  # the data ends at once
    monkeypatch.setattr(SimFeed, "health", lambda self: _raise())
    db = tmp_path / "book.db"
    cfg = Config.model_validate(
        {"feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 5}}, "storage": {"path": str(db)}}
    )
    summary = await run_headless(cfg, 5.0, Console(stderr=True, quiet=True))
    assert summary["rejected_messages"] is None and summary["rejected_by_reason"] == {}
    assert summary["final_equity"] == cfg.broker.starting_balance and summary["feed_counts"] == {}
    ((ended, saved),) = _sessions(str(db))
    assert ended is not None and saved["rejected_messages"] is None
