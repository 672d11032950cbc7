"""``data_processing.kline_retention_days = 0`` keeps no klines: those an earlier run stored go too.

It used to stop storing new klines but never pruned again, so a live book's klines from before the
setting changed stayed for good."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine_helpers import engine_config, make_engine
from test_crash_recovery import PERIOD, _trend


def _stored(db: str) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM klines").fetchone()[0]


async def test_a_retention_of_zero_prunes_the_klines_an_earlier_run_stored(tmp_path: Path) -> None:
    db = str(tmp_path / "k.db")
    h = make_engine(engine_config(data_processing={"kline_retention_days": 1.0}), db_path=db)
    h.feed.kind = "binance"  # the live feed's klines are stored
    await h.start()
    await _trend(h, 4)
    restart_ms = h.clock.now_ms() + PERIOD
    await h.stop()
    assert _stored(db) > 0

    h2 = make_engine(engine_config(data_processing={"kline_retention_days": 0}), db_path=db, autostart=False,
                     start_ms=restart_ms)
    h2.feed.kind = "binance"
    await h2.start()
    try:
        await _trend(h2, 2)  # its first period prunes
        await h2.engine.db.flush()
        assert _stored(db) == 0
    finally:
        await h2.stop()
