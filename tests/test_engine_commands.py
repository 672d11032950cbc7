"""Engine rules: the state machine driven by commands, the audit log, manual orders and their
risk checks (and overrides), the emergency stop and the two loss breakers."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal

import pytest
from engine_helpers import MIN, T0, engine_config, klines, make_engine, prices, until

from tui_trader.events import (
    AcceptAccount,
    ClosePosition,
    EmergencyStop,
    FlattenAll,
    LockSymbol,
    ManualBuy,
    ManualSell,
    Pause,
    ResetEmergency,
    Resume,
    RiskAlert,
    SetZThreshold,
    Start,
    StateChange,
)
from tui_trader.models import EngineState, OrderStatus, Source

PERIOD = 3 * MIN
DAY = 86_400_000
S = EngineState


async def _one_period(h, t0: int = T0, price: float = 100.0) -> None:
    """A full rating period of flat candles (volatility and liquidity become known)."""
    for k in range(3):
        await h.step(klines(t0 + k * MIN, [price] * 4, open_=[price] * 4))


async def test_state_machine_through_commands_and_every_command_in_the_audit_log() -> None:
    h = await make_engine(autostart=False).start()
    e = h.engine
    seen: list[StateChange] = []
    e.bus.subscribe(seen.append, StateChange)
    try:
        assert e.state is S.STOPPED
        steps = [
            (Pause(), False, S.STOPPED),
            (Resume(), False, S.STOPPED),
            (Start(), True, S.RUNNING),
            (Start(), True, S.RUNNING),  # already running: fine, nothing changes
            (Pause(), True, S.PAUSED),
            (Pause(), False, S.PAUSED),
            (Resume(), True, S.RUNNING),
            (ResetEmergency(), False, S.RUNNING),
            (EmergencyStop(reason="operator test"), True, S.EMERGENCY_STOPPED),
            (Start(), False, S.EMERGENCY_STOPPED),
            (Resume(), False, S.EMERGENCY_STOPPED),
            (ResetEmergency(source=Source.SYSTEM), False, S.EMERGENCY_STOPPED),  # only the operator
            (ResetEmergency(), True, S.STOPPED),
            (Start(), True, S.RUNNING),
        ]
        results = []
        for cmd, ok, state in steps:
            res = await e.submit(cmd)
            results.append(res)
            assert res.ok is ok, (cmd, res.message)
            assert e.state is state, (cmd, res.message)
            assert res.command == type(cmd).__name__
        assert "reset the emergency stop first" in results[9].message
        assert "only the operator" in results[11].message
        assert [(c.old, c.new) for c in seen] == [
            (S.STOPPED, S.RUNNING), (S.RUNNING, S.PAUSED), (S.PAUSED, S.RUNNING),
            (S.RUNNING, S.EMERGENCY_STOPPED), (S.EMERGENCY_STOPPED, S.STOPPED), (S.STOPPED, S.RUNNING)]
        audit = [a for a in await e.db.load_audit(limit=1000) if a["action"] not in ("state", "emergency_stop")]
        assert [(a["action"], a["ok"], a["source"], a["outcome"]) for a in audit] == [
            (type(c).__name__, r.ok, c.source.value, r.message) for (c, _, _), r in zip(steps, results, strict=True)]
        transitions = [a for a in await e.db.load_audit(limit=1000) if a["action"] == "state"]
        assert [(a["args"]["from"], a["args"]["to"]) for a in transitions] == [
            ("stopped", "running"), ("running", "paused"), ("paused", "running"),
            ("emergency_stopped", "stopped"), ("stopped", "running")]
        assert (await e.db.load_engine_state())["state"] is S.RUNNING
    finally:
        await h.stop()


async def test_bad_commands_are_refused_with_a_reason_and_audited() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h)
        bad = [
            (SetZThreshold(value=-1.0), "z threshold must be in (0, 10]"),
            (SetZThreshold(value=math.nan), "z threshold must be in (0, 10]"),
            (SetZThreshold(value=11.0), "z threshold must be in (0, 10]"),
            (LockSymbol(symbol="NOPEUSDT"), "unknown symbol"),
            (ManualBuy(symbol="NOPEUSDT", quote_amount=Decimal(100)), "unknown symbol"),
            (ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(-5)), "quote amount must be positive"),
            (ManualBuy(symbol="AAAUSDT", quote_amount=Decimal("NaN")), "quote amount must be a number"),
            (ManualSell(symbol="AAAUSDT", quantity=Decimal(0)), "quantity must be positive"),
            (ManualSell(symbol="AAAUSDT"), "no position in AAAUSDT"),
            (ClosePosition(symbol="BBBUSDT"), "no position in BBBUSDT"),
            (AcceptAccount(), "only a live book is checked against an exchange account"),
        ]
        for cmd, why in bad:
            res = await e.submit(cmd)
            assert not res.ok and why in res.message, (cmd, res.message)
        assert e.threshold == 1.0 and not e.locked and not e.portfolio.positions
        audit = [a for a in await e.db.load_audit(limit=100) if a["action"] != "state"]  # start-up
        assert len(audit) == len(bad)
        for a, (cmd, why) in zip(audit, bad, strict=True):
            assert a["action"] == type(cmd).__name__ and a["ok"] is False and why in a["outcome"]
        assert audit[0]["args"] == {"value": -1.0}
        assert audit[4]["args"] == {"symbol": "NOPEUSDT", "quote_amount": "100", "override_risk": False}
    finally:
        await h.stop()


async def test_threshold_and_locks_are_applied_and_saved() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        assert (await e.submit(SetZThreshold(value=2.25))).ok
        assert (await e.submit(LockSymbol(symbol="cccusdt", locked=True))).ok
        assert e.threshold == 2.25 and e.locked == {"CCCUSDT"}
        snap = e.snapshot()
        assert snap.leaderboard.threshold == 2.25 and snap.locked == frozenset({"CCCUSDT"})
        saved = await e.db.load_engine_state()
        assert saved["z_threshold"] == 2.25 and saved["locked"] == {"CCCUSDT"}
        assert (await e.submit(LockSymbol(symbol="CCCUSDT", locked=False))).ok
        assert (await e.db.load_engine_state())["locked"] == set()
    finally:
        await h.stop()


async def test_manual_orders_pass_the_risk_checks_unless_overridden() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h)
        # 10 % of equity is the per-position limit: 2 000 USDT is refused ...
        res = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(2000)))
        assert not res.ok and "above 10% of equity" in res.message
        assert not e.portfolio.positions
        # ... unless the operator overrides the risk checks, which the order's reason records
        res = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(2000), override_risk=True))
        assert res.ok, res.message
        pos = e.portfolio.positions["AAAUSDT"]
        assert pos.quantity == Decimal(20)
        order = await e.db.get_order(res.data["client_order_id"])
        # the message gives the fill in plain digits (the stored average price has 12 decimals)
        assert res.message == f"BUY AAAUSDT: 20 @ {order.avg_price.normalize():f} (FILLED)"
        assert res.message == "BUY AAAUSDT: 20 @ 100 (FILLED)" and order.avg_price == Decimal(100)
        assert order.status is OrderStatus.FILLED and order.source is Source.UI
        assert order.reason.startswith("manual buy [risk override: ") and "above 10% of equity" in order.reason
        # a plain manual buy within the limits has no override note
        res = await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=Decimal(500)))
        assert res.ok
        assert (await e.db.get_order(res.data["client_order_id"])).reason == "manual buy"
        # sells: partial, too much, the rest
        res = await e.submit(ManualSell(symbol="AAAUSDT", quantity=Decimal(5)))
        assert res.ok and e.portfolio.positions["AAAUSDT"].quantity == Decimal(15)
        res = await e.submit(ManualSell(symbol="AAAUSDT", quantity=Decimal(50)))
        assert not res.ok and "exceeds the holding" in res.message
        res = await e.submit(ManualSell(symbol="AAAUSDT", quantity=Decimal("14.99999"), override_risk=False))
        assert not res.ok and "dust" in res.message  # would leave 0.00001 AAA worth < 5 USDT behind
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert res.ok and "AAAUSDT" not in e.portfolio.positions
        orders = await e.db.load_orders()
        assert [(o.side.value, o.source.value) for o in orders] == [("BUY", "ui"), ("BUY", "ui"), ("SELL", "ui"),
                                                                   ("SELL", "ui")]
    finally:
        await h.stop()


async def test_flatten_closes_every_position() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h)
        for sym in ("AAAUSDT", "BBBUSDT", "CCCUSDT"):
            assert (await e.submit(ManualBuy(symbol=sym, quote_amount=Decimal(300)))).ok
        res = await e.submit(FlattenAll())
        assert res.ok and res.message == "flattened 3 position(s)"
        assert not e.portfolio.positions
        assert not await e.db.load_positions()
    finally:
        await h.stop()


async def test_manual_orders_follow_the_state() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(300)))).ok
        assert (await e.submit(Pause())).ok  # paused: the operator may still buy and sell
        assert (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=Decimal(300)))).ok
        assert (await e.submit(EmergencyStop())).ok
        for cmd in (ManualBuy(symbol="CCCUSDT", quote_amount=Decimal(300)), ClosePosition(symbol="AAAUSDT"),
                    FlattenAll()):
            res = await e.submit(cmd)
            assert not res.ok and "emergency stop is active" in res.message
        assert set(e.portfolio.positions) == {"AAAUSDT", "BBBUSDT"}
        assert (await e.submit(ResetEmergency())).ok
        res = await e.submit(ManualBuy(symbol="CCCUSDT", quote_amount=Decimal(300)))
        assert not res.ok and "engine is stopped" in res.message
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))  # stopped: the operator's exits still go out
        assert res.ok and set(e.portfolio.positions) == {"BBBUSDT"}
    finally:
        await h.stop()


async def test_emergency_stop_cancels_open_orders_and_optionally_closes_positions() -> None:
    cfg = engine_config(order_execution={"order_timeout_ms": 600_000})
    h = await make_engine(cfg).start()
    e = h.engine
    try:
        await _one_period(h)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(500)))).ok
        e.broker.hold_next(1)  # the next order stays open at the (paper) exchange
        buy = asyncio.create_task(e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=Decimal(500))))
        await until(lambda: any(o.symbol == "BBBUSDT" and o.status is OrderStatus.NEW for o in e.orders.values()),
                    "the held order to be NEW at the exchange")
        res = await e.submit(EmergencyStop(reason="fat finger", close_positions=True))
        assert e.state is S.EMERGENCY_STOPPED
        assert res.ok and res.message == "EMERGENCY STOP: 1 open order(s) cancelled, 1 position(s) closed"
        buy_res = await asyncio.wait_for(buy, 5)
        assert not buy_res.ok and "CANCELED" in buy_res.message
        assert not e.portfolio.positions  # AAA closed, BBB never filled
        orders = {o.symbol + o.side.value: o for o in await e.db.load_orders()}
        assert orders["BBBUSDTBUY"].status is OrderStatus.CANCELED
        assert orders["AAAUSDTSELL"].status is OrderStatus.FILLED
        assert orders["AAAUSDTSELL"].reason.startswith("emergency stop: fat finger")
        audit = {a["action"]: a for a in await e.db.load_audit(limit=100)}
        assert audit["emergency_stop"]["args"] == {"close_positions": True}
        assert audit["EmergencyStop"]["outcome"] == res.message and audit["EmergencyStop"]["source"] == "ui"
        assert (await e.db.load_engine_state())["state"] is S.EMERGENCY_STOPPED
    finally:
        await h.stop()


async def test_emergency_stop_without_closing_keeps_positions() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(500)))).ok
        res = await e.submit(EmergencyStop())
        assert res.ok and res.message == "EMERGENCY STOP: 0 open order(s) cancelled"
        assert "AAAUSDT" in e.portfolio.positions
        # nothing automatic any more: a stop-loss move raises a signal that is not executed
        await h.step(prices(T0 + PERIOD + 5_000, [90.0, 100, 100, 100]))
        assert "AAAUSDT" in e.portfolio.positions
        assert e.recent_signals[0].outcome == "not executed: engine emergency_stopped"
    finally:
        await h.stop()


async def test_daily_loss_breaker_enters_reducing_which_allows_only_exits_until_the_next_utc_day() -> None:
    cfg = engine_config(risk_management={"max_daily_loss_percent": 3.0, "max_drawdown_percent": 50.0,
                                         "stop_loss_percent": 50.0})
    h = await make_engine(cfg).start()
    e = h.engine
    alerts: list[RiskAlert] = []
    e.bus.subscribe(alerts.append, RiskAlert)
    try:
        await _one_period(h)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(5000), override_risk=True))).ok
        assert (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=Decimal(900)))).ok
        await _one_period(h, T0 + PERIOD, 100.0)
        assert e.state is S.RUNNING
        # A drops 10 %: equity falls ~5 % within the day -> reducing at the period's close
        for k in range(3):
            await h.step(klines(T0 + 2 * PERIOD + k * MIN, [90.0, 100, 100, 100], open_=[100.0 if k == 0 else 90.0,
                                                                                        100, 100, 100]))
        assert e.state is S.REDUCING
        assert [a.code for a in alerts if a.code == "daily_loss"] == ["daily_loss"]
        res = await e.submit(ManualBuy(symbol="CCCUSDT", quote_amount=Decimal(100)))
        assert not res.ok and "only exits" in res.message
        res = await e.submit(ClosePosition(symbol="BBBUSDT"))
        assert res.ok, res.message
        transitions = [a for a in await e.db.load_audit(limit=100) if a["action"] == "state"]
        assert (transitions[-1]["source"], transitions[-1]["args"]["to"]) == ("risk", "reducing")
        # the next UTC day re-arms the breaker: back to running at its first period
        await _one_period(h, T0 + DAY, 90.0)
        assert e.state is S.RUNNING
        assert e.state_reason == "new UTC day"
    finally:
        await h.stop()


async def test_drawdown_breaker_emergency_stops_and_a_reset_rearms_it() -> None:
    cfg = engine_config(risk_management={"max_daily_loss_percent": 50.0, "max_drawdown_percent": 8.0,
                                         "stop_loss_percent": 50.0})
    h = await make_engine(cfg).start()
    e = h.engine
    try:
        await _one_period(h)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(6000), override_risk=True))).ok
        for k in range(3):  # A -20 %: equity -12 % from its peak
            await h.step(klines(T0 + PERIOD + k * MIN, [80.0, 100, 100, 100], open_=[100.0, 100, 100, 100]))
        assert e.state is S.EMERGENCY_STOPPED
        assert "Drawdown" in e.state_reason
        assert "AAAUSDT" in e.portfolio.positions  # the breaker does not sell by itself
        saved = await e.db.load_engine_state()
        assert saved["state"] is S.EMERGENCY_STOPPED
        emergency = [a for a in await e.db.load_audit(limit=100) if a["action"] == "emergency_stop"]
        assert emergency and emergency[0]["source"] == "risk"
        # the operator resets: the drawdown counts from here; trading resumes without an immediate re-trip
        assert (await e.submit(ResetEmergency())).ok
        assert (await e.submit(Start())).ok
        await _one_period(h, T0 + 2 * PERIOD, 80.0)
        assert e.state is S.RUNNING
        assert e.snapshot().portfolio.drawdown_pct == pytest.approx(0.0, abs=1e-9)
    finally:
        await h.stop()


def test_trade_log_lines_show_amounts_with_their_significant_digits():
    """The exchange sends amounts with eight decimals and a buy's fee in the base asset can carry
    sixteen: the trades log (and the console's log pane) reads them as people write them."""
    from tui_trader.engine import fill_line
    from tui_trader.models import Fill, Side

    # the live broker books a base-asset commission (0.05322 ADA) quote-valued, at the fill price:
    # the line shows it as charged, in ADA, not its USDT value under the ADA name
    live = Fill("tt1-2", "ADAUSDT", Side.BUY, Decimal("0.84610000"), Decimal("53.22000000"),
                Decimal("0.05322000") * Decimal("0.84610000"), "ADA", 0)
    assert fill_line(live, "manual buy") == "BUY 53.22 ADAUSDT @ 0.8461, fee 0.05322 ADA (manual buy)"
    bnb = Fill("tt1-4", "ADAUSDT", Side.BUY, Decimal("0.8461"), Decimal("53.22"), Decimal("0.00007500"), "BNB", 0)
    assert fill_line(bnb, "signal") == "BUY 53.22 ADAUSDT @ 0.8461, fee 0.000075 BNB (signal)"  # as charged
    paper = Fill("tt1-5", "ADAUSDT", Side.BUY, Decimal("0.8461"), Decimal("53.22"), Decimal("0.04502945"), "USDT", 0)
    assert fill_line(paper, "signal") == "BUY 53.22 ADAUSDT @ 0.8461, fee 0.04502945 USDT (signal)"
    big = Fill("tt1-3", "BTCUSDT", Side.SELL, Decimal("9.4E+4"), Decimal("1.000"), Decimal("0"), "USDT", 0)
    assert fill_line(big, "stop loss") == "SELL 1 BTCUSDT @ 94000, fee 0 USDT (stop loss)"  # no exponent


async def test_the_symbol_detail_lists_signals_oldest_first_like_orders_and_fills() -> None:
    """SymbolHistory is oldest first (the detail screen turns it round, newest on top). Its signals
    came from the engine's recent list, which is newest first, so the detail screen showed a
    symbol's signals oldest on top, the newest out of view - unlike its orders and fills."""
    from tui_trader.models import Signal, SignalType

    h = await make_engine(engine_config()).start()
    e = h.engine
    try:
        for k, sym in enumerate(("AAAUSDT", "BBBUSDT", "AAAUSDT", "AAAUSDT")):
            e.recent_signals.appendleft(Signal(ts_ms=T0 + k * MIN, symbol=sym, type=SignalType.BUY, strength=1.0,
                                               confidence=1.0, z_score=2.0, reason="z", id=k + 1))
        hist = e.symbol_history("AAAUSDT")
        assert [s.id for s in hist.signals] == [1, 3, 4]
    finally:
        await h.stop()
