"""The database row while a storage failure holds the engine emergency-stopped (a fill that could
not be committed: a full disk): it read "connected", green, and the overall health healthy. It now
fails with the failure until the operator resets the stop (which stores the state again, so a book
that still cannot be written stays stopped, and failing). A restart on a book stopped so by an
earlier run is no failure of this run's storage: its row stays healthy."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import ManualBuy, ResetEmergency
from tui_trader.models import EngineState


def _database(e) -> tuple[str, str, str]:
    health = e.snapshot().health
    row = {c.name: c for c in health.checks}["database"]
    return health.overall, row.status, row.message


async def test_a_storage_failure_fails_the_database_row_until_the_stop_is_reset(tmp_path: Path) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))
        assert _database(e)[:2] == ("healthy", "healthy")
        real = e.db.apply_order_update

        async def full(*args: object, **kwargs: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        e.db.apply_order_update = full
        assert not (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(100)))).ok
        assert e.state is EngineState.EMERGENCY_STOPPED
        overall, status, message = _database(e)
        assert (overall, status) == ("unhealthy", "unhealthy")
        assert "storage failure: database or disk is full" in message
        e.db.apply_order_update = real  # the disk has room again
        assert (await e.submit(ResetEmergency())).ok
        assert _database(e) == ("healthy", "healthy", "connected")
    finally:
        await h.stop()


async def test_a_restart_on_a_book_stopped_for_storage_keeps_its_database_row_healthy(tmp_path: Path) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))

        async def full(*args: object, **kwargs: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        h.engine.db.apply_order_update = full
        assert not (await h.engine.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(100)))).ok
        assert _database(h.engine)[1] == "unhealthy"
    finally:
        await h.stop()
    h = await make_engine(db_path=db, start_ms=T0 + 3 * MIN).start()
    try:
        e = h.engine
        assert e.state is EngineState.EMERGENCY_STOPPED and e.state_reason.startswith("storage failure: ")
        assert _database(e)[1:] == ("healthy", "connected")
    finally:
        await h.stop()
