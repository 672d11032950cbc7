"""Stopped (after an emergency reset too): the operator's exits go out, buys and the strategy do not.

A risk console must let the operator get out of a position without starting trading: a start
would let the strategy open new positions at the same moment. In ``stopped`` a manual close,
sell or flatten is sent with the same checks as while paused; a manual buy is refused. Outside
the engine's running phase (before its start-up, during its close-down) every command is
refused, with the reason.
"""

from __future__ import annotations

from decimal import Decimal

from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import (
    ClosePosition,
    EmergencyStop,
    FlattenAll,
    ManualBuy,
    ManualSell,
    ResetEmergency,
)
from tui_trader.models import EngineState, OrderStatus, Side, Source
from tui_trader.risk.state import TradingStateMachine, order_refusal

S = EngineState


async def _one_period(h, t0: int = T0, price: float = 100.0) -> None:
    for k in range(3):
        await h.step(klines(t0 + k * MIN, [price] * 4, open_=[price] * 4))


def test_stopped_permits_the_operators_exits_only() -> None:
    sm = TradingStateMachine(S.STOPPED)
    assert sm.manual_refusal(Side.SELL) is None and sm.allows_manual(is_buy=False)
    assert not sm.allows_manual(is_buy=True)
    assert sm.manual_refusal(Side.BUY) == (
        "engine is stopped: start it first to buy (sells, closes and flatten still go out)"
    )
    # nothing automatic: no strategy entry, exit or stop loss while stopped
    assert not (sm.allows_entries or sm.allows_exits or sm.allows_stop_loss)
    assert (
        order_refusal(S.STOPPED, Side.SELL, Source.RISK, urgent=True) == "engine is stopped: start it first"
    )
    # an emergency stop keeps its rule: no manual exit either (E with "close all" is the way)
    assert "emergency stop is active" in order_refusal(S.EMERGENCY_STOPPED, Side.SELL, Source.UI)


async def test_after_an_emergency_reset_the_operator_closes_without_starting() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h)
        for sym in ("AAAUSDT", "BBBUSDT", "CCCUSDT"):
            assert (await e.submit(ManualBuy(symbol=sym, quote_amount=Decimal(300)))).ok
        assert (await e.submit(EmergencyStop(reason="test"))).ok
        assert (await e.submit(ResetEmergency())).ok
        assert e.state is S.STOPPED
        n_audit = len(await e.db.load_audit(limit=None))

        close = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert close.ok, close.message
        order = await e.db.get_order(close.data["client_order_id"])
        assert order.status is OrderStatus.FILLED and order.side is Side.SELL and order.source is Source.UI
        assert "AAAUSDT" not in e.portfolio.positions

        buy = await e.submit(ManualBuy(symbol="DDDUSDT", quote_amount=Decimal(300)))
        assert not buy.ok and "engine is stopped: start it first to buy" in buy.message
        assert "DDDUSDT" not in e.portfolio.positions

        held = e.portfolio.positions["BBBUSDT"].quantity
        sell = await e.submit(ManualSell(symbol="BBBUSDT", quantity=Decimal(1)))
        assert sell.ok, sell.message
        assert e.portfolio.positions["BBBUSDT"].quantity == held - 1
        # the same risk checks as while paused: more than is held is refused
        too_much = await e.submit(ManualSell(symbol="BBBUSDT", quantity=held * 10))
        assert not too_much.ok and "exceeds the holding" in too_much.message

        flat = await e.submit(FlattenAll())
        assert flat.ok and flat.message == "flattened 2 position(s)"
        assert not e.portfolio.positions and not await e.db.load_positions()
        assert e.state is S.STOPPED  # nothing of this started trading

        audit = (await e.db.load_audit(limit=None))[n_audit:]
        assert [(a["action"], a["source"], a["ok"], a["outcome"]) for a in audit] == [
            ("ClosePosition", "ui", True, close.message),
            ("ManualBuy", "ui", False, buy.message),
            ("ManualSell", "ui", True, sell.message),
            ("ManualSell", "ui", False, too_much.message),
            ("FlattenAll", "ui", True, flat.message),
        ]
        # every order of the run is the operator's: the strategy sent none
        assert {o.source for o in await e.db.load_orders()} == {Source.UI}
    finally:
        await h.stop()


async def test_a_never_started_book_can_close_but_not_buy_and_commands_wait_for_the_engine() -> None:
    h = make_engine(autostart=False)
    e = h.engine
    before = await e.submit(ClosePosition(symbol="AAAUSDT"))  # no broker, no book yet
    assert not before.ok and before.message == "engine is not running (not started)"
    await h.start()
    try:
        assert e.state is S.STOPPED
        await _one_period(h)
        buy = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(300)))
        assert not buy.ok and "start it first to buy" in buy.message
        # the exit is judged by the checks, not refused by the state
        close = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert not close.ok and "no position in AAAUSDT" in close.message
        assert "stopped" not in close.message
    finally:
        await h.stop()
    after = await e.submit(FlattenAll())  # the close-down: the broker is gone
    assert not after.ok and after.message == "engine is not running (stopping)"
