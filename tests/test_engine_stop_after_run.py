"""A stop waits for the engine's loop only while ``run()`` is in it: a host that awaited ``run()`` in
a task that went on to other work (a test's own task, a script's main) was waited for, the whole
``STOP_WAIT_S``, as if it were the loop."""

from __future__ import annotations

import asyncio
import time

from ui_support import make_engine, ui_config

from tui_trader.engine import STOP_WAIT_S


async def test_a_stop_after_run_returned_does_not_wait_for_the_task_that_ran_it(tmp_path) -> None:
    engine = make_engine(tmp_path, ui_config(), autostart=True, max_klines=5)
    await engine.run()  # in this task, which now goes on waiting for the stop below
    assert engine.counters["periods"] > 0
    t0 = time.monotonic()
    await asyncio.wait_for(asyncio.create_task(engine.stop()), timeout=STOP_WAIT_S * 2)
    took = time.monotonic() - t0
    assert engine.db is None or engine.db.closed
    assert took < STOP_WAIT_S / 2, f"the stop waited {took:.1f} s for a loop that had ended"
