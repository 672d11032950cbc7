"""A start-up cut short after its session was opened but before the book was loaded (a signal, a
failing recovery) stored a summary of the configured starting balance as if it were the book's:
``"book_resumed": true`` and ``cash`` 10,000 on a book holding other figures, or on a brand-new
book. The printed summary said "not reported"; the stored one now leaves those figures null."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from engine_helpers import make_engine

from tui_trader.snapshots import BOOK_FIGURES


def _stored(db: str) -> list[dict]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT summary_json FROM sessions ORDER BY id").fetchall()
    finally:
        con.close()
    return [json.loads(text) for (text,) in rows]


@pytest.mark.parametrize("cut", [asyncio.CancelledError, RuntimeError], ids=["signal", "error"])
async def test_a_start_up_cut_before_the_book_loaded_stores_no_book_figures(tmp_path, monkeypatch, cut) -> None:
    db = str(tmp_path / "book.db")
    h = make_engine(db_path=db, autostart=False)

    async def recover() -> None:
        raise cut("cut during recovery")

    monkeypatch.setattr(h.engine, "_recover", recover)
    with pytest.raises(cut):
        await h.engine.start_up()
    assert all(h.engine.summary()[k] is None for k in BOOK_FIGURES)
    await h.engine.stop()
    (saved,) = _stored(db)
    assert {k: saved[k] for k in BOOK_FIGURES} == dict.fromkeys(BOOK_FIGURES)
    assert saved["periods"] == 0 and saved["state"] == "stopped"


async def test_a_started_book_keeps_its_figures_in_the_summary(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    summary = h.engine.summary()
    assert summary["cash"] == str(h.engine.portfolio.cash) and summary["book_resumed"] is False
    await h.stop()
    (saved,) = _stored(db)
    assert saved["cash"] == summary["cash"] and saved["starting_balance"] == summary["starting_balance"]
