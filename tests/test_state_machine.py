"""TradingStateMachine: every legal and illegal transition, permissions per state, history."""

from __future__ import annotations

import itertools

import pytest

from tui_trader.clock import ManualClock
from tui_trader.models import EngineState, Side, Source
from tui_trader.risk.state import TradingStateMachine, order_refusal

S = EngineState
OPS = {Source.UI, Source.RISK, Source.SYSTEM}  # everyone but the strategy

# The spec's legal moves, written out independently of the implementation.
LEGAL: dict[tuple[EngineState, EngineState], set[Source]] = {
    (S.STOPPED, S.RUNNING): OPS,
    (S.RUNNING, S.PAUSED): OPS,
    (S.PAUSED, S.RUNNING): OPS,
    (S.RUNNING, S.REDUCING): {Source.RISK},
    (S.PAUSED, S.REDUCING): {Source.RISK},
    (S.STOPPED, S.REDUCING): {Source.RISK},  # a start on a day the daily-loss limit was reached
    (S.REDUCING, S.RUNNING): OPS,  # new UTC day (system/risk) or the operator's resume
    (S.RUNNING, S.STOPPED): OPS,
    (S.PAUSED, S.STOPPED): OPS,
    (S.REDUCING, S.STOPPED): OPS,
    (S.STOPPED, S.EMERGENCY_STOPPED): OPS,
    (S.RUNNING, S.EMERGENCY_STOPPED): OPS,
    (S.PAUSED, S.EMERGENCY_STOPPED): OPS,
    (S.REDUCING, S.EMERGENCY_STOPPED): OPS,
    (S.EMERGENCY_STOPPED, S.STOPPED): {Source.UI},  # explicit operator reset only
}

ALL = list(itertools.product(list(S), list(S), list(Source)))


@pytest.mark.parametrize(("old", "new", "source"), ALL, ids=[f"{a.value}->{b.value}-{c.value}" for a, b, c in ALL])
def test_every_transition(old, new, source):
    clock = ManualClock(1_000)
    sm = TradingStateMachine(old, clock=clock)
    ok, msg = sm.transition(new, source, "because")
    legal = source in LEGAL.get((old, new), set())
    assert ok is legal, msg
    if legal:
        assert sm.state is new
        assert msg == f"{old.value} -> {new.value}: because"
        h = sm.history[-1]
        assert (h.ts_ms, h.old, h.new, h.source, h.reason) == (1_000, old, new, source, "because")
        assert sm.reason == "because"
    else:
        assert sm.state is old  # a refusal changes nothing
        assert sm.history == []
        assert msg  # always says why


@pytest.mark.parametrize("target", [S.RUNNING, S.PAUSED, S.REDUCING])
def test_leaving_emergency_needs_a_reset(target):
    sm = TradingStateMachine(S.EMERGENCY_STOPPED)
    ok, msg = sm.transition(target, Source.UI, "operator start")
    assert not ok
    assert msg == f"cannot go to {target.value}: reset the emergency stop first"


def test_refusal_messages():
    assert TradingStateMachine(S.EMERGENCY_STOPPED).transition(S.STOPPED, Source.RISK, "x") == (
        False, "only the operator can reset the emergency stop")
    assert TradingStateMachine(S.RUNNING).transition(S.RUNNING, Source.UI, "x") == (False, "already running")
    assert TradingStateMachine(S.RUNNING).transition(S.PAUSED, Source.STRATEGY, "x") == (
        False, "the strategy cannot change the engine state")
    assert TradingStateMachine(S.STOPPED).transition(S.PAUSED, Source.UI, "x") == (
        False, "cannot pause while stopped: start first")
    assert TradingStateMachine(S.REDUCING).transition(S.PAUSED, Source.UI, "x")[1].startswith(
        "cannot pause while reducing")
    assert TradingStateMachine(S.RUNNING).transition(S.REDUCING, Source.UI, "x") == (
        False, "reducing is entered only by the daily-loss breaker")
    assert TradingStateMachine(S.STOPPED).transition(S.REDUCING, Source.UI, "x") == (
        False, "reducing is entered only by the daily-loss breaker")
    assert TradingStateMachine(S.RUNNING).transition("bogus", Source.UI, "x")[0] is False


def test_a_whole_session_and_its_history():
    clock = ManualClock(0)
    sm = TradingStateMachine(clock=clock)
    assert sm.state is S.STOPPED
    steps = [
        (S.RUNNING, Source.UI, "operator start"),
        (S.PAUSED, Source.UI, "operator pause"),
        (S.RUNNING, Source.UI, "operator resume"),
        (S.REDUCING, Source.RISK, "daily loss 10%"),
        (S.RUNNING, Source.SYSTEM, "new UTC day"),
        (S.EMERGENCY_STOPPED, Source.RISK, "drawdown 15%"),
    ]
    for k, (target, source, reason) in enumerate(steps):
        clock.advance_to(k * 10)
        assert sm.transition(target, source, reason)[0]
    assert not sm.transition(S.RUNNING, Source.UI, "start")[0]
    clock.advance_to(100)
    assert sm.reset(Source.UI, "operator reset") == (True, "emergency_stopped -> stopped: operator reset")
    assert sm.reset() == (False, "no emergency stop to reset (state is stopped)")
    assert [(h.ts_ms, h.new) for h in sm.history] == [
        (0, S.RUNNING), (10, S.PAUSED), (20, S.RUNNING), (30, S.REDUCING), (40, S.RUNNING),
        (50, S.EMERGENCY_STOPPED), (100, S.STOPPED),
    ]


def test_force_restores_without_checks_but_records():
    sm = TradingStateMachine()
    sm.force(S.EMERGENCY_STOPPED)
    assert sm.state is S.EMERGENCY_STOPPED
    assert (sm.history[-1].old, sm.history[-1].source, sm.history[-1].reason) == (S.STOPPED, Source.SYSTEM,
                                                                                   "restored")
    assert sm.history[-1].ts_ms is None  # no clock given


# ---------------------------------------------------------------- permissions

PERMS = {
    #                  entries exits  stop-loss manual buy  manual sell
    S.RUNNING:        (True,   True,  True,     True,       True),
    S.PAUSED:         (False,  False, True,     True,       True),
    S.REDUCING:       (False,  True,  True,     False,      True),
    S.STOPPED:        (False,  False, False,    False,      True),
    S.EMERGENCY_STOPPED: (False, False, False,  False,      False),
}


@pytest.mark.parametrize("state", list(S))
def test_permissions_per_state(state):
    sm = TradingStateMachine(state)
    entries, exits, stop_loss, m_buy, m_sell = PERMS[state]
    assert sm.allows_entries is entries
    assert sm.allows_exits is exits
    assert sm.allows_stop_loss is stop_loss
    assert sm.allows_manual(is_buy=True) is m_buy
    assert sm.allows_manual(is_buy=False) is m_sell
    assert (sm.manual_refusal(Side.BUY) is None) is m_buy
    assert (sm.manual_refusal(Side.SELL) is None) is m_sell


def test_order_refusal_reasons():
    assert order_refusal(S.PAUSED, Side.BUY, Source.STRATEGY) == "engine is paused: no new strategy entries"
    assert order_refusal(S.PAUSED, Side.SELL, Source.STRATEGY) == (
        "engine is paused: no strategy exits (stop losses still run)")
    assert order_refusal(S.PAUSED, Side.SELL, Source.STRATEGY, urgent=True) is None
    assert order_refusal(S.REDUCING, Side.BUY, Source.UI) == (
        "reducing after the daily-loss limit: only exits are allowed")
    assert order_refusal(S.STOPPED, Side.SELL, Source.STRATEGY) == "engine is stopped: start it first"
    assert order_refusal(S.EMERGENCY_STOPPED, Side.SELL, Source.RISK, urgent=True) == (
        "emergency stop is active: no orders until the operator resets it")
    assert order_refusal(S.RUNNING, "BUY", Source.STRATEGY) is None
