"""An emergency stop sent while the engine stops (a quit waiting up to 10 s for an order in
flight) was refused ("engine is not running (stopping)"): the book closed as it was, and a paper
console started again trading. The stop now takes effect at once - nothing more is sent - and is
stored at once, so the next start comes back emergency-stopped, even after a kill."""

from __future__ import annotations

import asyncio

from engine_helpers import make_engine, until
from test_engine_commands_concurrency import HeldSubmit, _flat

from tui_trader.events import EmergencyStop, ManualBuy
from tui_trader.models import EngineState


async def test_an_emergency_stop_while_the_engine_stops_is_applied_and_stored(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _flat(h, 0, 3)
    held = HeldSubmit(e.broker)
    buy = asyncio.create_task(e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500)))
    await until(lambda: held.sent, "the buy to reach the exchange")
    stop = asyncio.create_task(h.stop())
    await until(lambda: h.feed.stopped and h.task is not None and h.task.done(), "the stop to begin")
    res = await e.submit(EmergencyStop(reason="panic while quitting"))
    assert e.state is EngineState.EMERGENCY_STOPPED and e.state_reason == "panic while quitting"
    # an order was in flight: not canceled now (the engine is closing), which the answer says
    assert not res.ok and "EMERGENCY STOP" in res.message and "in flight" in res.message, res.message
    # stored at once, before the close-down, which still waits for the order in flight: a kill
    # now (a second signal, a closed terminal, the console's exit timer) must not bring the book
    # back trading at the next start
    assert not e._closing
    stored = await e.db.load_engine_state()
    assert stored is not None and stored["state"] is EngineState.EMERGENCY_STOPPED, stored
    assert stored["reason"] == "panic while quitting"
    held.release()
    assert (await buy).ok  # the order already sent is booked
    await stop
    h2 = await make_engine(db_path=db).start()
    try:
        assert h2.engine.state is EngineState.EMERGENCY_STOPPED
        assert h2.engine.state_reason == "panic while quitting"
        rows = [a for a in await h2.engine.db.load_audit(limit=100) if a["action"] == "EmergencyStop"]
        assert [r["args"]["reason"] for r in rows] == ["panic while quitting"]
    finally:
        await h2.stop()
