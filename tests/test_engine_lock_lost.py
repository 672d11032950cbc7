"""The book's ``<db>.lock`` deleted under a running engine (a clean-up script): the engine locks
the file there again before its next order; if a second engine has started on the book meanwhile,
the first stops trading (emergency stop) and sends nothing more."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import ManualBuy
from tui_trader.models import EngineState
from tui_trader.storage.lock import EngineLock


async def _ready(tmp_path: Path):
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    return h, db


async def test_a_deleted_lock_file_is_locked_again_before_the_next_order(tmp_path: Path) -> None:
    h, db = await _ready(tmp_path)
    e = h.engine
    try:
        lock = db + ".lock"
        os.unlink(lock)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(100)))).ok
        assert os.path.exists(lock)  # noqa: ASYNC240 - locked again: a second engine is refused
        other = EngineLock.for_database(db)
        with pytest.raises(Exception, match="in use"):
            other.acquire()
    finally:
        await h.stop()


async def test_a_second_engine_on_the_book_stops_the_first_from_trading(tmp_path: Path) -> None:
    h, db = await _ready(tmp_path)
    e = h.engine
    other = EngineLock.for_database(db)
    try:
        os.unlink(db + ".lock")
        other.acquire()  # another engine started on the book meanwhile
        res = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(100)))
        assert not res.ok
        assert e.state is EngineState.EMERGENCY_STOPPED and "in use by another tui-trader" in e.state_reason
        assert not e.portfolio.positions and not e.fills  # nothing sent
        assert not [o for o in e.orders.values() if o.symbol == "AAAUSDT"]
    finally:
        other.release()
        await h.stop()
