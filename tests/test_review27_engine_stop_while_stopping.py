"""An emergency stop sent while the engine stops (a quit waiting for an order in flight) is stored
at once, as every other emergency stop is: the stop may still wait up to its timeouts, and a kill
meanwhile (a second signal, a closed terminal, the console's own exit timer) must not bring the
book back trading at the next start."""

from __future__ import annotations

import asyncio

from engine_helpers import make_engine, until
from test_engine_commands_concurrency import HeldSubmit, _flat

from tui_trader.events import EmergencyStop, ManualBuy
from tui_trader.models import EngineState


async def test_an_emergency_stop_while_the_engine_stops_is_stored_before_the_close_down(tmp_path) -> None:
    h = await make_engine(db_path=str(tmp_path / "book.db")).start()
    e = h.engine
    await _flat(h, 0, 3)
    held = HeldSubmit(e.broker)
    buy = asyncio.create_task(e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500)))
    await until(lambda: held.sent, "the buy to reach the exchange")
    stop = asyncio.create_task(h.stop())
    try:
        await until(lambda: h.feed.stopped and h.task is not None and h.task.done(), "the stop to begin")
        await e.submit(EmergencyStop(reason="panic while quitting"))
        assert e.state is EngineState.EMERGENCY_STOPPED
        assert not e._closing  # the stop still waits for the order in flight: nothing closed yet
        # what a kill now would leave behind: the stored state is the stop's
        stored = await e.db.load_engine_state()
        assert stored is not None and stored["state"] is EngineState.EMERGENCY_STOPPED, stored
        assert stored["reason"] == "panic while quitting"
    finally:
        held.release()
        await buy
        await stop
