"""The engine's trading state machine and what each state permits.

States (:class:`~tui_trader.models.EngineState`)::

    stopped ──start──> running <──pause/resume──> paused
       ^                  │  ^                       │
       │   stop           │  │ new UTC day / resume  │ daily-loss breaker
       ├──────────────────┤  │                       v
       │                  └──────> reducing <────────┘
       │                 daily-loss breaker
       │
       └──reset (operator only)── emergency_stopped <── any other state
                                   (operator, drawdown breaker, system)

Legal transitions (anything else is refused with a message saying why):

* ``stopped -> running`` (start), any source but the strategy.
* ``running -> paused``, ``paused -> running`` (pause / resume).
* ``running|paused -> reducing``: only by ``Source.RISK`` (the daily-loss breaker).
* ``stopped -> reducing``: only by ``Source.RISK`` (a start on a day whose daily-loss limit was
  already reached).
* ``reducing -> running``: a new UTC day (``SYSTEM``/``RISK``) or the operator's resume (``UI``).
* ``running|paused|reducing -> stopped`` (stop).
* ``stopped|running|paused|reducing -> emergency_stopped``: operator, risk or system.
* ``emergency_stopped -> stopped``: only the operator's explicit reset (``Source.UI``);
  every other way out (start, resume, ...) is refused with "reset the emergency stop first".
* ``Source.STRATEGY`` never changes the state; a transition to the current state is refused.

What each state permits (:func:`order_refusal`):

============== ================ ================ ================ =====================
state          strategy entries strategy exits   stop-loss exits  manual (operator)
============== ================ ================ ================ =====================
running        yes              yes              yes              buy and sell
paused         no               no               yes              buy and sell
reducing       no               yes              yes              sell only
stopped        no               no               no               sell only (exits)
emergency      no               no               no               none
============== ================ ================ ================ =====================

Stopped is no automatic trading, but the operator may still get out: a manual sell, close or
flatten goes out with the same checks as while paused (exits reduce risk; starting trading only to
close a position would let the strategy open new ones at the same moment). A manual buy needs a
start. Nothing protects a stopped engine's positions: no stop loss or profit target runs until the
operator starts (or starts and pauses, which keeps the stop losses running). The engine applies
commands only between its start-up and its close-down, with its broker connected (before and after,
a command is refused saying so; the console also refuses the order keys once its feed has ended),
so "stopped" here is a stopped engine that is still connected.

"Nothing automatic" in an emergency stop: no order is placed unless the
operator resets and starts again (closing positions on an emergency stop is
the engine's explicit ``close_positions`` action, not a strategy decision).
"""

from __future__ import annotations

from dataclasses import dataclass

from tui_trader.clock import Clock
from tui_trader.models import EngineState, Side, Source

S = EngineState

_OPERATOR_SOURCES = frozenset({Source.UI})
_ANY = frozenset({Source.UI, Source.RISK, Source.SYSTEM})

# (from, to) -> sources allowed to make that move
_LEGAL: dict[tuple[EngineState, EngineState], frozenset[Source]] = {
    (S.STOPPED, S.RUNNING): _ANY,
    (S.RUNNING, S.PAUSED): _ANY,
    (S.PAUSED, S.RUNNING): _ANY,
    (S.RUNNING, S.REDUCING): frozenset({Source.RISK}),
    (S.PAUSED, S.REDUCING): frozenset({Source.RISK}),
    (S.STOPPED, S.REDUCING): frozenset({Source.RISK}),
    (S.REDUCING, S.RUNNING): _ANY,
    (S.RUNNING, S.STOPPED): _ANY,
    (S.PAUSED, S.STOPPED): _ANY,
    (S.REDUCING, S.STOPPED): _ANY,
    (S.STOPPED, S.EMERGENCY_STOPPED): _ANY,
    (S.RUNNING, S.EMERGENCY_STOPPED): _ANY,
    (S.PAUSED, S.EMERGENCY_STOPPED): _ANY,
    (S.REDUCING, S.EMERGENCY_STOPPED): _ANY,
    (S.EMERGENCY_STOPPED, S.STOPPED): _OPERATOR_SOURCES,
}


def order_refusal(state: EngineState, side: Side, source: Source, urgent: bool = False) -> str | None:
    """Why ``state`` refuses an order (``None`` = allowed).

    ``source`` is who wants the order: ``Source.UI`` = a manual operator order,
    anything else = automatic (strategy / risk). ``urgent`` marks a stop-loss
    exit, which still runs while paused.
    """
    side = Side(side)
    manual = source in _OPERATOR_SOURCES
    if state is S.EMERGENCY_STOPPED:
        return "emergency stop is active: no orders until the operator resets it"
    if state is S.STOPPED:
        if not manual:
            return "engine is stopped: start it first"
        if side is Side.BUY:
            return "engine is stopped: start it first to buy (sells, closes and flatten still go out)"
        return None  # the operator's exits: as while paused
    if state is S.RUNNING:
        return None
    if state is S.PAUSED:
        if manual:
            return None
        if side is Side.BUY:
            return "engine is paused: no new strategy entries"
        return None if urgent else "engine is paused: no strategy exits (stop losses still run)"
    if state is S.REDUCING:
        if side is Side.BUY:
            return "reducing after the daily-loss limit: only exits are allowed"
        return None
    raise ValueError(f"unknown engine state {state!r}")  # pragma: no cover - enum is closed


@dataclass(frozen=True, slots=True)
class Transition:
    ts_ms: int | None  # clock time when made (None without a clock)
    old: EngineState
    new: EngineState
    source: Source
    reason: str


class TradingStateMachine:
    """Holds the engine state; every change goes through :meth:`transition`.

    ``clock`` (optional) stamps the :attr:`history` entries (ms since epoch).
    """

    def __init__(self, initial: EngineState = S.STOPPED, clock: Clock | None = None) -> None:
        self._state = EngineState(initial)
        self._clock = clock
        self.reason = "initial state"
        self.history: list[Transition] = []

    @property
    def state(self) -> EngineState:
        return self._state

    # ------------------------------------------------------------ transitions

    @staticmethod
    def check(current: EngineState, target: EngineState, source: Source) -> str | None:
        """Why ``current -> target`` by ``source`` is illegal (``None`` = legal)."""
        target, source = EngineState(target), Source(source)
        if source is Source.STRATEGY:
            return "the strategy cannot change the engine state"
        if target is current:
            return f"already {current.value}"
        if current is S.EMERGENCY_STOPPED:
            if target is S.STOPPED:
                if source in _OPERATOR_SOURCES:
                    return None
                return "only the operator can reset the emergency stop"
            return f"cannot go to {target.value}: reset the emergency stop first"
        allowed = _LEGAL.get((current, target))
        if allowed is None:
            if target is S.PAUSED:
                return f"cannot pause while {current.value}" + (
                    ": start first" if current is S.STOPPED else ": stop or emergency-stop instead"
                )
            if target is S.REDUCING:  # pragma: no cover - every state but emergency (refused above) may
                return f"cannot enter reducing from {current.value}"
            return f"illegal transition {current.value} -> {target.value}"  # pragma: no cover - table is full
        if source not in allowed:
            if target is S.REDUCING:
                return "reducing is entered only by the daily-loss breaker"
            return f"{source.value} may not move {current.value} -> {target.value}"  # pragma: no cover
        return None

    def transition(self, target: EngineState, source: Source, reason: str) -> tuple[bool, str]:
        """Try to move to ``target``. Returns ``(ok, message)``; a refusal leaves the state unchanged."""
        try:
            target, source = EngineState(target), Source(source)
        except ValueError as exc:
            return False, str(exc)
        old = self._state
        refusal = self.check(old, target, source)
        if refusal is not None:
            return False, refusal
        self._state = target
        self.reason = reason
        ts = self._clock.now_ms() if self._clock is not None else None
        self.history.append(Transition(ts, old, target, source, reason))
        return True, f"{old.value} -> {target.value}: {reason}"

    def force(self, target: EngineState, source: Source = Source.SYSTEM, reason: str = "restored") -> None:
        """Set the state without the legality check (restoring the persisted state at
        start-up, or the engine's own fail-safe moves to ``paused`` / ``emergency_stopped``).
        Recorded in :attr:`history` like any transition."""
        target, source = EngineState(target), Source(source)
        old = self._state
        self._state = target
        self.reason = reason
        ts = self._clock.now_ms() if self._clock is not None else None
        self.history.append(Transition(ts, old, target, source, reason))

    def reset(self, source: Source = Source.UI, reason: str = "operator reset") -> tuple[bool, str]:
        """The explicit way out of an emergency stop (to ``stopped``)."""
        if self._state is not S.EMERGENCY_STOPPED:
            return False, f"no emergency stop to reset (state is {self._state.value})"
        return self.transition(S.STOPPED, source, reason)

    # ------------------------------------------------------------ permissions

    @property
    def allows_entries(self) -> bool:
        """Strategy entries (new positions): running only."""
        return order_refusal(self._state, Side.BUY, Source.STRATEGY) is None

    @property
    def allows_exits(self) -> bool:
        """Strategy exits (z reversal, profit target): running and reducing."""
        return order_refusal(self._state, Side.SELL, Source.STRATEGY) is None

    @property
    def allows_stop_loss(self) -> bool:
        """Stop-loss exits: running, paused and reducing."""
        return order_refusal(self._state, Side.SELL, Source.STRATEGY, urgent=True) is None

    def manual_refusal(self, side: Side) -> str | None:
        """Why an operator order on ``side`` is refused now (``None`` = allowed)."""
        return order_refusal(self._state, side, Source.UI)

    def allows_manual(self, is_buy: bool) -> bool:
        """Operator orders: running/paused (buy and sell), reducing and stopped (sell only)."""
        return self.manual_refusal(Side.BUY if is_buy else Side.SELL) is None
