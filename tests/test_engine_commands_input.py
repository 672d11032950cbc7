"""A command a host built badly is refused with a reason and an audit row, never an exception
escaping to the host."""

from __future__ import annotations

from decimal import Decimal as D

from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import EmergencyStop, LockSymbol, ManualBuy, ManualSell, Pause, SetZThreshold, Start
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


async def test_a_flag_must_be_a_bool_not_a_string_that_reads_as_true() -> None:
    """bool("false") is True: a host passing the text of a checkbox would override the risk
    checks, lock a symbol or close every position on an emergency stop it did not mean to."""
    h = await make_engine().start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4))
        refused = [
            ManualBuy(symbol="AAAUSDT", quote_amount=5000, override_risk="false"),  # type: ignore[arg-type]
            ManualSell(symbol="AAAUSDT", override_risk=1),  # type: ignore[arg-type]
            LockSymbol(symbol="AAAUSDT", locked="no"),  # type: ignore[arg-type]
            EmergencyStop(close_positions="false"),  # type: ignore[arg-type]
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
        cmds = [ManualBuy(symbol=["AAAUSDT"], quote_amount=D(100)),  # type: ignore[arg-type]
                ManualBuy(symbol="AAAUSDT", quote_amount=object())]  # type: ignore[arg-type]
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
