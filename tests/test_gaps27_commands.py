"""Commands with arguments no operator dialog sends, from a host: refused with a clear message or
taken as meant, never a "failed" command with a traceback, nor a state reason that is no text."""

from __future__ import annotations

from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import EmergencyStop, FlattenAll, ResetEmergency, SetZThreshold
from tui_trader.models import EngineState


async def test_a_z_threshold_too_large_for_a_float_is_refused_as_out_of_range() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        before = e.threshold
        res = await e.submit(SetZThreshold(value=10**400))
        assert not res.ok and res.message.startswith("z threshold must be in (0, 10]"), res.message
        assert e.threshold == before
    finally:
        await h.stop()


async def test_a_reason_that_is_none_blank_or_no_text_is_stored_as_text() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))
        cases = [
            (EmergencyStop(reason=None), EngineState.EMERGENCY_STOPPED, "operator emergency stop"),  # type: ignore[arg-type]
            (ResetEmergency(reason=None), EngineState.STOPPED, "operator reset"),  # type: ignore[arg-type]
            (EmergencyStop(reason=404), EngineState.EMERGENCY_STOPPED, "404"),  # type: ignore[arg-type]
            (ResetEmergency(reason="   "), EngineState.STOPPED, "operator reset"),
        ]
        for cmd, state, reason in cases:
            res = await e.submit(cmd)
            assert res.ok, res.message
            assert e.state is state and e.state_reason == reason
            stored = await e.db.load_engine_state()
            assert stored["state"] is state and stored["reason"] == reason
        res = await e.submit(FlattenAll(reason=None))  # type: ignore[arg-type]
        # stopped: the operator's exits need no start (none is open here); audited with its reason as text
        assert res.ok and res.message == "flattened 0 position(s)"
        audit = [
            a for a in await e.db.load_audit(limit=100) if a["action"] in ("ResetEmergency", "FlattenAll")
        ]
        assert [a["args"]["reason"] for a in audit] == [
            "operator reset",
            "operator reset",
            "operator flatten",
        ]
    finally:
        await h.stop()
