"""An emergency stop for a storage failure (a lost lock on the book, a commit that failed) is
published as a :class:`StateChange`, as every other emergency stop is: the console toasts and
rings the bell for one, and hosts learn of state changes from the bus. It was only set: the
console stayed silent (only a log line) while the engine stopped trading, and a lock lost at a
health check was announced nowhere at all."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import ManualBuy, StateChange
from tui_trader.models import EngineState, Source
from tui_trader.storage.lock import EngineLock, LockLostError


async def _ready(tmp_path: Path):
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    return h, db


async def test_an_emergency_stop_for_a_lost_lock_is_published(tmp_path: Path) -> None:
    h, db = await _ready(tmp_path)
    e = h.engine
    changes: list[StateChange] = []
    e.bus.subscribe(changes.append, StateChange)
    other = EngineLock.for_database(db)
    try:
        os.unlink(db + ".lock")
        other.acquire()  # another engine started on the book meanwhile
        res = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(100)))
        assert not res.ok and e.state is EngineState.EMERGENCY_STOPPED
        assert [(c.old, c.new, c.source) for c in changes] == [
            (EngineState.RUNNING, EngineState.EMERGENCY_STOPPED, Source.SYSTEM)
        ]
        assert changes[0].reason == e.state_reason and changes[0].reason.startswith("storage failure: ")
        assert e.snapshot().state is EngineState.EMERGENCY_STOPPED
    finally:
        other.release()
        await h.stop()


async def test_the_health_checks_lock_check_publishes_it_once(tmp_path: Path) -> None:
    """The health monitor's check of the lock (what a quiet engine meets first): one StateChange,
    and none again for the checks after it (the stop is said once)."""
    h, db = await _ready(tmp_path)
    e = h.engine
    changes: list[StateChange] = []
    e.bus.subscribe(changes.append, StateChange)
    other = EngineLock.for_database(db)
    try:
        os.unlink(db + ".lock")
        other.acquire()
        for _ in range(2):
            with pytest.raises(LockLostError):
                e._check_db_lock("the engine's hold on its database")
        assert [c.new for c in changes] == [EngineState.EMERGENCY_STOPPED]
        assert (
            "the engine's hold" not in changes[0].reason
            and "in use by another tui-trader" in changes[0].reason
        )
    finally:
        other.release()
        await h.stop()
