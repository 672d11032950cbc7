"""A rating worker that hangs (stopped, swapped out, stuck) must not hang the engine's event loop:
while the engine waits for the worker's next period, an emergency stop and a shutdown are still
handled, and the worker's results are not thrown away in a normal run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest
from test_rating_ahead import _sim_cfg

from tui_trader.events import EmergencyStop, RatingUpdate
from tui_trader.models import EngineState
from tui_trader.runtime import build_engine

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGSTOP") or not Path("/proc/self/stat").exists(),
    reason="hangs the worker with SIGSTOP and reads its state from /proc (Linux)",
)


def _proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


async def _engine_waiting_on_a_hung_worker(tmp_path: Path):
    """A full-speed sim run whose worker is stopped (SIGSTOP) at period 40, once the engine waits
    for it: returns the engine, its run task and the stopped worker's pid."""
    engine = build_engine(_sim_cfg("on"), db_path=str(tmp_path / "h.db"), session_kind="run", autostart=True)
    await engine.start_up()
    assert engine._ahead_proc is not None
    pid = engine._ahead_proc.pid

    def hang_at_40(ev: RatingUpdate) -> None:
        if engine.counters["periods"] == 40 + 12:  # warm-up periods come first
            os.kill(pid, signal.SIGSTOP)

    engine.bus.subscribe(hang_at_40, RatingUpdate)
    task = asyncio.create_task(engine.run())
    # the engine runs on the worker's results sent before it stopped, then waits for the next ones
    # (the first live period may wait a moment for a worker still starting: not that one)
    waiting = 0
    for _ in range(3000):
        await asyncio.sleep(0.01)
        hung = engine.counters["periods"] >= 40 + 12 and getattr(engine, "_ahead_due", False)
        waiting = waiting + 1 if hung else 0
        if waiting >= 20 or task.done():
            break
    assert not task.done()
    assert waiting >= 20, "the engine waits for the stopped worker's next period"
    assert _proc_state(pid) == "T"  # stopped, not exited
    assert engine.state is EngineState.RUNNING
    return engine, task, pid


async def test_an_emergency_stop_is_applied_while_the_rating_worker_hangs(tmp_path: Path) -> None:
    engine, task, pid = await _engine_waiting_on_a_hung_worker(tmp_path)
    try:
        res = await asyncio.wait_for(engine.submit(EmergencyStop(reason="worker hangs")), timeout=30)
        assert res.ok and engine.state is EngineState.EMERGENCY_STOPPED
        # applied while the engine still waits: the worker was not given up on for it
        assert engine._ahead_due and engine.counters["rating_worker_failures"] == 0
    finally:
        os.kill(pid, signal.SIGCONT)
        await asyncio.wait_for(engine.stop(), timeout=30)
        await asyncio.wait_for(task, timeout=30)
    assert engine.state is EngineState.EMERGENCY_STOPPED


async def test_a_shutdown_completes_while_the_rating_worker_hangs(tmp_path: Path) -> None:
    engine, task, pid = await _engine_waiting_on_a_hung_worker(tmp_path)
    periods = engine.counters["periods"]
    try:
        await asyncio.wait_for(engine.stop(), timeout=30)  # what SIGINT / SIGTERM do in a headless run
        await asyncio.wait_for(task, timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    # the period the engine waited for was rated by the engine itself (not lost); the worker is ended,
    # a shutdown counted as no worker failure
    assert engine.counters["periods"] == periods + 1
    assert engine._ahead is None and engine.counters["rating_worker_failures"] == 0
