"""``run --duration T`` is a wall-clock limit on the whole run, its start-up included: a start-up
(a long kline load, a warm-up) that outlasts T is cut as a signal cuts it - the usual summary,
stopped by "duration reached", the book unreported and unchanged, exit 0."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.headless import BOOK_FIGURES
from tui_trader.market.sim import SimFeed


def test_a_start_up_longer_than_the_duration_ends_at_the_duration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cut: list[bool] = []

    async def slow_start(self: SimFeed) -> None:  # a start-up far longer than the 0.2 s asked for
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cut.append(True)
            raise

    db = tmp_path / "book.db"
    argv = ["run", "--feed", "sim", "--speed", "max", "--duration", "0.2s", "--json", "--db", str(db)]
    assert main([*argv, "--n-symbols", "3", "--duration", "2s"]) == 0  # a book with a session in it
    capsys.readouterr()
    with sqlite3.connect(str(db)) as con:
        sessions = con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    monkeypatch.setattr(SimFeed, "start", slow_start)
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cut == [True]  # cut, not waited for
    assert summary["stopped_by"] == "duration reached" and summary["periods"] == 0
    assert all(summary[k] is None for k in BOOK_FIGURES)  # the start-up did not finish: unreported
    assert summary["db"] == str(db)
    with sqlite3.connect(str(db)) as con:
        # nothing was begun that has no end (the cut came before the session row)
        assert con.execute("SELECT COUNT(*) FROM sessions WHERE ended_ms IS NULL").fetchone()[0] == 0
        assert con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == sessions

    # on a new book the cut start-up had made: kept, its tables and no session (never deleted)
    new = tmp_path / "new.db"
    assert main([*argv[:-1], str(new)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["stopped_by"] == "duration reached" and summary["db"] == str(new)
    with sqlite3.connect(str(new)) as con:
        assert con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
