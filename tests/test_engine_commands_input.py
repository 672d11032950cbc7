"""A command a host built badly is refused with a reason and an audit row, never an exception
escaping to the host."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import (
    ClosePosition,
    Command,
    EmergencyStop,
    FlattenAll,
    LockSymbol,
    ManualBuy,
    ManualSell,
    Pause,
    ResetEmergency,
    Resume,
    SetZThreshold,
    Start,
)
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
        rows = [
            a for a in await e.db.load_audit(limit=100) if a["action"] in ("Start", "Pause", "EmergencyStop")
        ]
        assert [(a["action"], a["source"], a["ok"]) for a in rows] == [
            ("Start", "ui", True),
            ("Pause", "bogus", False),
            ("Pause", "None", False),
            ("EmergencyStop", "strategy", False),
        ]
        assert (await e.db.load_engine_state())["state"] is S.RUNNING
    finally:
        await h.stop()


async def test_a_flag_must_be_a_bool_not_a_string_that_reads_as_true() -> None:
    """bool("false") is True: a host passing the text of a checkbox would override the risk
    checks or lock a symbol it did not mean to. (An emergency stop is the exception: it is never
    refused for how a flag is spelt - it stops, closing nothing on a guess; see
    tests/test_engine_followups_audit.py.)"""
    h = await make_engine().start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))
        refused = [
            ManualBuy(symbol="AAAUSDT", quote_amount=5000, override_risk="false"),  # type: ignore[arg-type]
            ManualSell(symbol="AAAUSDT", override_risk=1),  # type: ignore[arg-type]
            LockSymbol(symbol="AAAUSDT", locked="no"),  # type: ignore[arg-type]
            SetZThreshold(value=True),  # type: ignore[arg-type]
        ]
        for cmd in refused:
            res = await e.submit(cmd)
            assert not res.ok and "must be" in res.message, (cmd, res.message)
        assert e.state is S.RUNNING and not e.locked and not e.portfolio.positions and e.threshold == 1.0
        assert e.broker.submit_calls == 0
        rows = [a for a in await e.db.load_audit(limit=100) if a["action"] != "state"]
        assert [(a["action"], a["ok"]) for a in rows] == [(type(c).__name__, False) for c in refused]
        assert rows[0]["outcome"] == "override_risk must be true or false, got 'false'"
        # the same commands with real flags do what they say
        assert not (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=5000))).ok  # above 10 % of equity
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=5000, override_risk=True))).ok
        assert (await e.submit(LockSymbol(symbol="AAAUSDT", locked=False))).ok and not e.locked
    finally:
        await h.stop()


async def test_a_command_with_an_argument_json_cannot_hold_is_refused_and_still_audited() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        cmds = [
            ManualBuy(symbol=["AAAUSDT"], quote_amount=D(100)),  # type: ignore[arg-type]
            ManualBuy(symbol="AAAUSDT", quote_amount=object()),
        ]  # type: ignore[arg-type]
        for cmd in cmds:
            res = await e.submit(cmd)
            assert not res.ok
        rows = [a for a in await e.db.load_audit(limit=100) if a["action"] == "ManualBuy"]
        assert [(a["ok"], a["args"]["symbol"]) for a in rows] == [(False, "['AAAUSDT']"), (False, "AAAUSDT")]
        assert "unknown symbol ['AAAUSDT']" in rows[0]["outcome"]
        assert rows[1]["args"]["quote_amount"].startswith("<object object at ")
        assert "quote amount must be a number" in rows[1]["outcome"]
    finally:
        await h.stop()


# what each command does in each state: (ok, the state after it); the table of tui_trader/risk/state.py
_MATRIX: dict[str, dict[str, tuple[bool, EngineState]]] = {
    "stopped": {
        "Start": (True, S.RUNNING),
        "Pause": (False, S.STOPPED),
        "Resume": (False, S.STOPPED),
        "ResetEmergency": (False, S.STOPPED),
        "ManualBuy": (False, S.STOPPED),
        "ClosePosition": (True, S.STOPPED),  # the operator's exits need no start
        "FlattenAll": (True, S.STOPPED),
    },
    "running": {
        "Start": (True, S.RUNNING),
        "Pause": (True, S.PAUSED),
        "Resume": (False, S.RUNNING),
        "ResetEmergency": (False, S.RUNNING),
        "ManualBuy": (True, S.RUNNING),
        "ClosePosition": (True, S.RUNNING),
        "FlattenAll": (True, S.RUNNING),
    },
    "paused": {
        "Start": (True, S.RUNNING),
        "Pause": (False, S.PAUSED),
        "Resume": (True, S.RUNNING),
        "ResetEmergency": (False, S.PAUSED),
        "ManualBuy": (True, S.PAUSED),
        "ClosePosition": (True, S.PAUSED),
        "FlattenAll": (True, S.PAUSED),
    },
    "reducing": {
        "Start": (True, S.RUNNING),
        "Pause": (False, S.REDUCING),
        "Resume": (True, S.RUNNING),
        "ResetEmergency": (False, S.REDUCING),
        "ManualBuy": (False, S.REDUCING),
        "ClosePosition": (True, S.REDUCING),
        "FlattenAll": (True, S.REDUCING),
    },
    "emergency_stopped": {
        "Start": (False, S.EMERGENCY_STOPPED),
        "Pause": (False, S.EMERGENCY_STOPPED),
        "Resume": (False, S.EMERGENCY_STOPPED),
        "ResetEmergency": (True, S.STOPPED),
        "ManualBuy": (False, S.EMERGENCY_STOPPED),
        "ClosePosition": (False, S.EMERGENCY_STOPPED),
        "FlattenAll": (False, S.EMERGENCY_STOPPED),
    },
}


@pytest.mark.parametrize("state", list(S), ids=[s.value for s in S])
async def test_every_command_in_every_state_is_answered_audited_and_moves_the_state_as_the_table_says(
    state,
) -> None:
    def commands() -> list[Command]:
        return [
            Start(),
            Pause(),
            Resume(),
            ResetEmergency(),
            ManualBuy(symbol="AAAUSDT", quote_amount=D(100)),
            ClosePosition(symbol="BBBUSDT"),
            FlattenAll(),
            LockSymbol(symbol="CCCUSDT"),
            SetZThreshold(value=2.0),
            EmergencyStop(),
        ]

    for i in range(len(commands())):
        cmd = commands()[i]  # each on an engine of its own, holding BBBUSDT, put into ``state``
        name = type(cmd).__name__
        h = await make_engine().start()
        e = h.engine
        try:
            for k in range(3):
                await h.step(klines(T0 + k * MIN, [100.0] * 4))
            assert (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=D(500)))).ok
            e.sm.force(state, Source.SYSTEM, "test")
            if state is S.REDUCING:
                e.breakers.note_daily_trip(e.clock.now_ms())  # as the daily-loss breaker leaves it
            before = len(await e.db.load_audit(limit=None))
            sent = e.broker.submit_calls
            res = await e.submit(cmd)
            rows = [a for a in (await e.db.load_audit(limit=None))[before:] if a["action"] == name]
            assert len(rows) == 1 and rows[0]["ok"] is res.ok and rows[0]["outcome"] == res.message
            assert res.message, name
            if name in ("LockSymbol", "SetZThreshold"):  # settings: in every state, no state change
                assert res.ok and e.state is state
            elif name == "EmergencyStop":
                assert res.ok and e.state is S.EMERGENCY_STOPPED
            else:
                assert (res.ok, e.state) == _MATRIX[state.value][name], (name, res.message)
            if not res.ok:
                assert e.broker.submit_calls == sent, (name, res.message)  # a refusal sends nothing
            if e.state is not state:  # a change of state is stored with it
                assert (await e.db.load_engine_state())["state"] is e.state
        finally:
            await h.stop()
