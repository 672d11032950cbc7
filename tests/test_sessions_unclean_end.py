"""A session whose engine was killed (``kill -9``), crashed or lost its machine kept ``ended_ms``
NULL for good. The next engine on the book (holding its lock) closes it at start-up: ``ended_ms``
the latest time a row stored under its id was committed (at least its start), ``summary_json``
marked unclean, a warning in the log and a ``session_closed_unclean`` row in the audit log (so
``export``'s audit.csv shows it). The new session stays open until its own stop."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import numpy as np
from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.clock import iso_utc
from tui_trader.events import ManualBuy
from tui_trader.recovery import UNCLEAN_SESSION_ACTION
from tui_trader.storage.export import export_book

PERIOD = 3 * MIN


async def _trade(h, periods: int) -> None:
    t0 = h.clock.now_ms()
    t0 -= t0 % PERIOD
    close = np.full(4, 100.0)
    for k in range(periods * 3):
        new = close * np.array([1.004, 0.996, 1.001, 0.999]) * (1 + 0.002 * np.sin(k + np.arange(4)))
        await h.step(klines(t0 + k * MIN, new.tolist(), open_=close.tolist()))
        close = new


def _last_rows_of(con: sqlite3.Connection, sid: int) -> dict[str, int | None]:
    """The latest time of each kind of row stored under session ``sid`` (plain full scans)."""
    one = lambda sql: con.execute(sql, (sid,)).fetchone()[0]  # noqa: E731
    return {
        "ratings": one("SELECT MAX(ts_ms) FROM glicko_ratings WHERE session_id = ?"),
        "equity": one("SELECT MAX(ts_ms) FROM equity_snapshots WHERE session_id = ?"),
        "signals": one("SELECT MAX(ts_ms) FROM trading_signals WHERE session_id = ?"),
        "orders": one("SELECT MAX(updated_ms) FROM orders WHERE session_id = ?"),
        "fills": one("SELECT MAX(f.ts_ms) FROM fills f JOIN orders o USING (client_order_id) WHERE o.session_id = ?"),
    }


def _crash(db: Path, sid: int) -> None:
    """The session row as a killed engine leaves it: never ended, no summary."""
    with sqlite3.connect(db) as con:
        con.execute("UPDATE sessions SET ended_ms = NULL, summary_json = NULL WHERE id = ?", (sid,))


async def test_a_session_left_open_is_closed_at_its_last_committed_time(tmp_path: Path, caplog) -> None:
    db = tmp_path / "book.db"
    h = await make_engine(db_path=str(db)).start()
    await _trade(h, 8)
    free = next(s for s in h.engine.symbols if s not in h.engine.portfolio.positions)
    assert (await h.engine.submit(ManualBuy(symbol=free, quote_amount=Decimal(500)))).ok
    await _trade(h, 2)
    await h.stop()
    _crash(db, 1)
    with sqlite3.connect(db) as con:
        (started,) = con.execute("SELECT started_ms FROM sessions WHERE id = 1").fetchone()
        last = _last_rows_of(con, 1)
    assert all(t is not None for t in last.values()), last  # each kind of row was stored
    expected = max(last.values())
    assert expected > started

    caplog.set_level(logging.WARNING, "tui_trader.engine")
    h2 = await make_engine(db_path=str(db), start_ms=T0 + 86_400_000).start()
    try:
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT id, ended_ms, summary_json FROM sessions ORDER BY id").fetchall()
            audit = con.execute("SELECT source, action, args_json, ok, outcome FROM audit_log WHERE action = ?",
                                (UNCLEAN_SESSION_ACTION,)).fetchall()
        (sid1, ended1, summary1), (sid2, ended2, summary2) = rows
        assert (sid1, ended1) == (1, expected)
        assert json.loads(summary1)["ended"] == "unclean" and json.loads(summary1)["closed_by_session"] == 2
        assert (sid2, ended2, summary2) == (2, None, None)  # the new session is open while it runs
        ((source, action, args, ok, outcome),) = audit
        assert (source, ok) == ("system", 1)
        assert json.loads(args) == {"id": 1, "started_ms": started, "ended_ms": expected}
        assert outcome.startswith("session 1 (run, started ") and "was never closed" in outcome
        assert [r.getMessage() for r in caplog.records if "was never closed" in r.getMessage()] == [outcome]
        # export's sessions.csv says how each ended: the killed one unclean, the running one open
        await asyncio.to_thread(export_book, str(db), str(tmp_path / "running"))
        assert _sessions_csv(tmp_path / "running") == [
            ("1", "run", str(expected), "unclean", True), ("2", "run", "", "open", False)]
    finally:
        await h2.stop()
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT id, ended_ms, summary_json FROM sessions ORDER BY id").fetchall()
    assert rows[0][1] == expected  # its own stop does not touch it again
    assert rows[1][1] is not None and "unclean" not in rows[1][2]  # the clean stop's own summary
    # export's audit.csv names it
    counts = await asyncio.to_thread(export_book, str(db), str(tmp_path / "out"))  # (it runs its own loop)
    assert counts["audit.csv"] >= 1
    assert f",system,{UNCLEAN_SESSION_ACTION}," in (tmp_path / "out" / "audit.csv").read_text()
    assert _sessions_csv(tmp_path / "out") == [
        ("1", "run", str(expected), "unclean", True), ("2", "run", str(rows[1][1]), "clean", True)]


def _sessions_csv(out: Path) -> list[tuple[str, str, str, str, bool]]:
    """(id, kind, ended_ms, ended, whether a summary is given) of each row of ``out``/sessions.csv,
    whose times are checked against each other."""
    with (out / "sessions.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        assert r["started_time"] == iso_utc(int(r["started_ms"]))
        assert r["ended_time"] == ("" if r["ended_ms"] == "" else iso_utc(int(r["ended_ms"])))
        assert r["mode"] == "paper" and (r["summary"] == "" or isinstance(json.loads(r["summary"]), dict))
    return [(r["id"], r["kind"], r["ended_ms"], r["ended"], r["summary"] != "") for r in rows]


async def test_a_session_that_stored_nothing_is_closed_at_its_start(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    h = await make_engine(db_path=str(db)).start()
    await _trade(h, 4)
    await h.stop()
    with sqlite3.connect(db) as con:  # a third session killed before it stored a row of its own
        (last,) = con.execute("SELECT MAX(ts_ms) FROM equity_snapshots").fetchone()
        con.execute("INSERT INTO sessions (started_ms, mode, feed_kind, kind) VALUES (?, 'paper', 'sim', 'tui')",
                    (last + 5 * MIN,))
    h2 = await make_engine(db_path=str(db), start_ms=T0 + 86_400_000).start()
    await h2.stop()
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT id, started_ms, ended_ms, summary_json FROM sessions ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [1, 2, 3] and all(r[2] is not None for r in rows)
    assert rows[1][2] == rows[1][1] == last + 5 * MIN  # nothing of its own stored: its start
    assert json.loads(rows[1][3])["ended"] == "unclean"
    assert "unclean" not in rows[0][3]  # the cleanly stopped one keeps its own summary and end
