"""Weeks of uptime: what the database's files keep on disk stays bounded.

Counts and sizes, never timings: the WAL's frames after a long prune, and the
WAL file's size after a burst of writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tui_trader.storage import Database
from tui_trader.storage import db as db_module

SYMS = [f"S{i:03d}USDT" for i in range(40)]


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _rated(db: Database, periods: int) -> None:
    """``periods`` rating periods of 40 symbols, committed and checkpointed, with the WAL restarted."""
    ones = np.ones(len(SYMS))
    for p in range(periods):
        await db.queue_ratings(None, p, p * 1000, SYMS, np.full(len(SYMS), 1500.0 + p), ones, ones)
        if p % 50 == 49:
            await db.flush()
    await db.flush()
    await db.checkpoint()
    await db.kv_set("restart", "1")  # the first commit after a complete checkpoint restarts the WAL
    await db.checkpoint()


async def _wal_frames_after_prune(path: Path, chunk_rows: int) -> tuple[int, int]:
    db = await Database.open(path, start_writer=False)
    try:
        await _rated(db, 500)  # 20,000 rows
        deleted = await db.prune_ratings(400 * 1000, chunk_rows=chunk_rows)
        _busy, frames, _done = await db.checkpoint()  # frames: what the WAL holds since it last restarted
        return deleted, frames
    finally:
        await db.close()


async def test_a_long_prune_keeps_about_one_chunk_in_the_wal(tmp_path: Path):
    # One statement: the WAL holds every page the delete touched (the reference).
    deleted_once, frames_once = await _wal_frames_after_prune(tmp_path / "one.db", chunk_rows=10**9)
    # Twenty chunks of 800 rows: a checkpoint between two chunks lets the next one restart the WAL,
    # so it holds about the last chunk's pages, not the whole delete's (a month of a large universe's
    # rating rows would otherwise leave a WAL of hundreds of MB behind).
    deleted, frames = await _wal_frames_after_prune(tmp_path / "chunks.db", chunk_rows=800)
    assert deleted == deleted_once == 400 * len(SYMS)
    assert frames_once > 40
    assert frames < frames_once / 4


async def test_the_wal_file_is_cut_back_after_a_burst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    limit = 256 * 1024
    monkeypatch.setattr(db_module, "WAL_SIZE_LIMIT", limit)
    db = await Database.open(tmp_path / "burst.db", start_writer=False)
    try:
        assert await db.pragma("journal_size_limit") == limit
        # no checkpoint of its own (10,000 rows start one, in the background): on a loaded machine it
        # could finish inside the burst, the next piece restarting the WAL at the limit already
        db.checkpoint_rows = 10**9
        ones = np.ones(len(SYMS))
        for p in range(300):  # 12,000 rows without a checkpoint: a WAL of megabytes
            await db.queue_ratings(None, p, p * 1000, SYMS, np.full(len(SYMS), 1500.0), ones, ones)
        await db.flush()
        burst = _wal_bytes(Path(db.path))
        assert burst > 4 * limit
        await db.checkpoint()
        await db.kv_set("after", "1")  # restarts the WAL: the file is cut back to the limit
        assert _wal_bytes(Path(db.path)) <= limit
        assert await db.kv_get("after") == "1"
    finally:
        await db.close()
    assert _wal_bytes(tmp_path / "burst.db") == 0  # closing removes it, as before
