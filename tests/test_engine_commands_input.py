"""A command a host built badly is refused with a reason and an audit row, never an exception
escaping to the host."""

from __future__ import annotations

from engine_helpers import make_engine

from tui_trader.events import EmergencyStop, Pause, Start
from tui_trader.models import EngineState, Source

S = EngineState


async def test_a_command_source_is_checked_and_a_plain_string_taken_as_its_source() -> None:
    h = await make_engine(autostart=False).start()
    e = h.engine
    try:
        started = await e.submit(Start(source="ui"))  # type: ignore[arg-type] - a host's plain string
        assert started.ok and e.state is S.RUNNING
        refused = [
            (Pause(source="bogus"), "unknown command source 'bogus'"),  # type: ignore[arg-type]
            (Pause(source=None), "unknown command source None"),  # type: ignore[arg-type]
            (EmergencyStop(source=Source.STRATEGY), "the strategy sends no commands"),
        ]
        for cmd, why in refused:
            res = await e.submit(cmd)
            assert not res.ok and why in res.message, (cmd, res.message)
        assert e.state is S.RUNNING  # the strategy never changes the state, not even by a command
        rows = [a for a in await e.db.load_audit(limit=100) if a["action"] in ("Start", "Pause", "EmergencyStop")]
        assert [(a["action"], a["source"], a["ok"]) for a in rows] == [
            ("Start", "ui", True), ("Pause", "bogus", False), ("Pause", "None", False),
            ("EmergencyStop", "strategy", False)]
        assert (await e.db.load_engine_state())["state"] is S.RUNNING
    finally:
        await h.stop()
