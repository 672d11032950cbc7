"""A rating worker that is slow, not hung: the engine waits for it several times (in short steps,
the event loop turning), and operator commands are applied while it waits - and the run's every
figure is the same as the engine rating alone: no wait loses, repeats or misplaces a period."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
import test_rating_ahead
from engine_helpers import until
from test_rating_ahead import _assert_same, _run, _sim_cfg

from tui_trader.events import RatingUpdate, SetZThreshold

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGSTOP"), reason="pauses the worker with SIGSTOP (POSIX)"
)


async def test_a_slow_worker_and_commands_while_waiting_change_no_figure(tmp_path: Path, monkeypatch) -> None:
    build = test_rating_ahead.build_engine
    seen: dict[str, int] = {"waits": 0, "commands": 0}

    def slowed(cfg, **kw):
        engine = build(cfg, **kw)
        pauses: list[asyncio.Task] = []

        async def pause_until_waited(pid: int) -> None:
            """The worker stopped until the engine waits for it; a command meanwhile; then on."""
            try:
                await until(lambda: engine._ahead_due, "the engine to wait for the stopped worker", 60)
                seen["waits"] += 1
                # the configured threshold again: applied (and audited) mid-wait, it changes no trade
                res = await engine.submit(SetZThreshold(value=cfg.signal_generation.z_score_threshold))
                seen["commands"] += res.ok
                assert engine._ahead_due  # still waiting: the command came between close and rating
            finally:
                os.kill(pid, signal.SIGCONT)

        def at_period(ev: RatingUpdate) -> None:
            ahead = engine._ahead
            if ahead is not None and engine.counters["periods"] in (40, 90, 140):
                os.kill(ahead.pid, signal.SIGSTOP)
                pauses.append(asyncio.ensure_future(pause_until_waited(ahead.pid)))

        engine.bus.subscribe(at_period, RatingUpdate)
        return engine

    monkeypatch.setattr(test_rating_ahead, "build_engine", slowed)
    ahead = await _run(_sim_cfg("on"), tmp_path / "on.db", max_klines=400)
    monkeypatch.setattr(test_rating_ahead, "build_engine", build)
    alone = await _run(_sim_cfg("off"), tmp_path / "off.db", max_klines=400)
    assert ahead["worker"] and seen == {"waits": 3, "commands": 3}
    assert len(alone["fills"]) >= 20
    _assert_same(ahead, alone)
