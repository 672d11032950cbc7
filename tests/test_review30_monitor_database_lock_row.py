"""The database row of the health checks when another engine has taken the book's lock (its lock
file deleted under this one, and a second engine started on the book): this engine stops trading
for good (an emergency stop its reset does not undo), yet the row read "connected", green, and
the overall health healthy. It now fails, saying why, so the health monitor alerts on it too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import ResetEmergency
from tui_trader.monitor.health import HEALTHY, UNHEALTHY, database_check, overall
from tui_trader.storage.lock import EngineLock, LockLostError


def test_a_lost_lock_fails_the_database_row() -> None:
    row = database_check(
        True, True, {"pending": 0}, lock_lost="book.db is in use by another tui-trader (pid 7)"
    )
    assert row.status == UNHEALTHY and row.critical
    assert "in use by another tui-trader (pid 7)" in row.message
    assert database_check(True, True, {"pending": 0}).status == HEALTHY
    assert database_check(True, True, {"pending": 0}, lock_lost="").status == HEALTHY


async def test_the_engines_database_row_fails_once_its_lock_is_lost(tmp_path: Path) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    other = EngineLock.for_database(db)
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))
        rows = {c.name: c for c in e.snapshot().health.checks}
        assert rows["database"].status == HEALTHY
        os.unlink(db + ".lock")
        other.acquire()  # another engine started on the book meanwhile
        with pytest.raises(LockLostError):
            e._check_db_lock("the engine's hold on its database")  # the health monitor's check
        for _ in range(2):  # an emergency stop's reset does not make the book this engine's again
            health = e.snapshot().health
            rows = {c.name: c for c in health.checks}
            assert rows["database"].status == UNHEALTHY and rows["database"].critical
            assert "in use by another tui-trader" in rows["database"].message
            assert overall(health.checks) == health.overall == UNHEALTHY
            await e.submit(ResetEmergency())
    finally:
        other.release()
        await h.stop()
