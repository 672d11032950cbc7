"""A book from before unclean sessions were closed holds sessions a ``kill -9`` left open with
later sessions after them. A later session updates the killed one's rows that keep its id (its
stored orders: a reconciliation books them ``CANCELED`` or their fills at its own time), so the
"latest time stored under its id" fell inside a later session: the killed session was closed
after the next one had started, when its lock shows it was dead by then. Its rows are counted only
up to the start of the session after it (its orders by their creation too); its start stays the
floor."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tui_trader.clock import ManualClock
from tui_trader.storage.db import Database


def _book(path: Path) -> None:
    con = sqlite3.connect(path)
    with con:
        # session 1, killed (never closed): its last equity sample at 1,000, an order made at 1,200
        con.execute("INSERT INTO sessions (id, started_ms, mode, feed_kind, kind) VALUES (1, 0, 'paper', 'sim', 'run')")
        con.execute("INSERT INTO equity_snapshots (session_id, ts_ms, equity, cash, positions_value, drawdown_pct) "
                    "VALUES (1, 1000, 1, '1', 0, 0)")
        # session 2 (2,000 - 9,000, stopped cleanly) reconciled that order at 2,500 and booked its
        # fill (the exchange's trade time, 2,400): both rows keep session 1's id
        con.execute("INSERT INTO sessions (id, started_ms, ended_ms, mode, feed_kind, kind, summary_json) "
                    "VALUES (2, 2000, 9000, 'paper', 'sim', 'run', '{}')")
        con.execute("INSERT INTO orders (client_order_id, symbol, side, type, quantity, status, created_ms, updated_ms, "
                    "source, session_id) VALUES ('tt-1', 'BTCUSDT', 'BUY', 'MARKET', '1', 'FILLED', 1200, 2500, "
                    "'strategy', 1)")
        con.execute("INSERT INTO fills (client_order_id, symbol, side, price, quantity, fee, ts_ms, trade_id) "
                    "VALUES ('tt-1', 'BTCUSDT', 'BUY', '1', '1', '0', 2400, '7')")
        # session 3, killed too, after session 2: nothing stored after it but the new session
        con.execute("INSERT INTO sessions (id, started_ms, mode, feed_kind, kind) VALUES (3, 10000, 'paper', 'sim', 'run')")
        con.execute("INSERT INTO equity_snapshots (session_id, ts_ms, equity, cash, positions_value, drawdown_pct) "
                    "VALUES (3, 10500, 1, '1', 0, 0)")
        con.execute("INSERT INTO sessions (id, started_ms, mode, feed_kind, kind) VALUES (4, 20000, 'paper', 'sim', 'run')")
    con.close()


async def test_a_killed_session_is_closed_before_the_next_session_started(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    db = await Database.open(str(path), clock=ManualClock(0))
    await db.close()
    _book(path)
    db = await Database.open(str(path), clock=ManualClock(20000))
    try:
        closed = await db.end_unclean_sessions(4)
    finally:
        await db.close()
    # its own last row (the order it made at 1,200), not session 2's update at 2,500 nor its fill at 2,400
    assert closed == [
        {"id": 1, "kind": "run", "started_ms": 0, "ended_ms": 1200},
        {"id": 3, "kind": "run", "started_ms": 10000, "ended_ms": 10500},
    ]
    with sqlite3.connect(path) as con:
        spans = con.execute("SELECT started_ms, ended_ms FROM sessions ORDER BY id").fetchall()
    assert spans[:3] == [(0, 1200), (2000, 9000), (10000, 10500)]
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans[:3], spans[1:], strict=True))  # no overlaps
