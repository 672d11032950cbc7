"""Engine safety rules at the edges: nothing is sent after an emergency stop, an order of unknown
outcome blocks its symbol until a lookup settles it, the breakers judge a period before its
signals and are not used up while paused, a failed reconciliation refuses buys, and a position
no order can sell is written off when closed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np
from engine_helpers import MIN, T0, engine_config, klines, make_engine, prices, until

from tui_trader.clock import ManualClock
from tui_trader.events import (
    ClosePosition,
    EmergencyStop,
    FlattenAll,
    ManualBuy,
    Pause,
    Resume,
    RiskAlert,
    Start,
)
from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import EngineState, Order, OrderStatus, OrderType, Side, SignalType, Source

D = Decimal
S = EngineState


async def _flat(h, k0: int, k1: int, price: float = 100.0) -> None:
    for k in range(k0, k1):
        await h.step(klines(T0 + k * MIN, [price] * 4))


async def test_an_emergency_stop_during_a_retry_wait_stops_the_order_from_being_sent() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _flat(h, 0, 3)
        e.broker.fail_next(BrokerErrorKind.RATE_LIMIT, n=2, retry_after_s=1.0)  # HTTP 429 twice
        buy = asyncio.create_task(e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500)))
        await until(lambda: e.broker.submit_calls > 0, "the first try, answered with the rate limit")
        stop = await e.submit(EmergencyStop(reason="operator panic"))
        res = await buy
        assert stop.ok and e.state is S.EMERGENCY_STOPPED
        assert not res.ok and "CANCELED: not sent: emergency stop" in res.message
        assert e.broker.submit_calls == 1  # the rate-limited try only
        assert e.portfolio.positions == {} and (await e.broker.balances()).get("AAA", D(0)) == 0
        (order,) = [o for o in await e.db.load_orders() if o.symbol == "AAAUSDT"]
        assert order.status is OrderStatus.CANCELED
    finally:
        await h.stop()


async def test_an_order_of_unknown_outcome_blocks_its_symbol_until_a_lookup_settles_it() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _flat(h, 0, 3)
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)  # it bought, the answer was lost
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, n=8, op="query")  # and the lookups fail for a while
        first = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500))
        assert not first.ok and "outcome unknown" in first.message
        assert e.portfolio.positions == {} and (await e.broker.balances())["AAA"] == D("5.000")
        again = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500))
        assert not again.ok and "unknown outcome" in again.message
        assert e.broker.submit_calls == 1  # never bought twice
        other = await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=500))
        assert other.ok  # other symbols trade on
        (broker,) = [c for c in e.snapshot().health.checks if c.name == "broker"]
        assert broker.status == "warning" and "1 order(s) of unknown outcome" in broker.message
        await _flat(h, 3, 6)  # the next period looks it up again: now it answers
        assert e.portfolio.positions["AAAUSDT"].quantity == D("5.000")
        (order,) = [o for o in await e.db.load_orders() if o.symbol == "AAAUSDT"]
        assert order.status is OrderStatus.FILLED
        assert e.order_mgr.unsettled() == {}
        assert e.broker.submit_calls == 2
    finally:
        await h.stop()


async def test_the_breakers_judge_a_period_before_its_signals() -> None:
    cfg = engine_config(risk_management={"max_daily_loss_percent": 3.0, "max_drawdown_percent": 50.0,
                                         "stop_loss_percent": 50.0})
    h = await make_engine(cfg).start()
    e = h.engine
    alerts: list[RiskAlert] = []
    e.bus.subscribe(alerts.append, RiskAlert)
    try:
        step = np.array([1.005, 0.995, 1.0, 1.0])
        close = np.full(4, 100.0)
        for k in range(24):
            if k == 3:
                assert (await e.submit(ManualBuy(symbol="DDDUSDT", quote_amount=5000, override_risk=True))).ok
            new = close * step
            new[2] = 100.0 + (0.2 if k % 2 else -0.2)
            new[3] = 90.0 if k >= 12 else 100.0  # the holding drops 10 %: 5 % of equity, limit 3 %
            await h.step(klines(T0 + k * MIN, new.tolist(), open_=close.tolist()))
            close = new
        (trip,) = [a for a in alerts if a.code == "daily_loss"]
        buys = [s for s in e.recent_signals if s.type is SignalType.BUY]
        assert buys, "the scenario must raise entry signals"
        assert not any(s.executed for s in buys if s.ts_ms >= trip.ts_ms)
        assert set(e.portfolio.positions) <= {"DDDUSDT"} and e.state is S.REDUCING
    finally:
        await h.stop()


async def test_a_daily_loss_trip_while_paused_holds_the_pause_and_is_not_used_up() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _flat(h, 0, 3)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=5000, override_risk=True))).ok
        assert (await e.submit(Pause())).ok
        for k in range(3, 6):
            await h.step(klines(T0 + k * MIN, [75.0, 100.0, 100.0, 100.0]))  # -12.5 % of equity, limit 10 %
        assert e.breakers.daily_active(e.clock.now_ms())
        assert e.state is S.PAUSED  # the operator's hold stays: no strategy exit starts on its own
        refused = await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=500))
        assert not refused.ok and "daily loss limit" in refused.message
        resumed = await e.submit(Resume())  # the limit was not used up unseen while paused
        assert resumed.ok and e.state is S.REDUCING and "daily loss limit" in resumed.message
        pause = await e.submit(Pause())  # says what can be done instead
        assert not pause.ok and "start overrides the daily loss limit" in pause.message
        override = await e.submit(Resume())  # the operator's explicit override, said as such
        assert override.ok and e.state is S.RUNNING and "overridden" in override.message
        assert (await e.submit(Pause())).ok and (await e.submit(Resume())).ok
        assert e.state is S.RUNNING  # the override holds for the rest of the day
        assert (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=500))).ok
        e.sm.force(S.STOPPED, Source.UI, "test: stopped")
        e._daily_override_day = None  # (a new session that day: no override)
        started = await e.submit(Start())
        assert started.ok and e.state is S.REDUCING and "start again to override" in started.message
        again = await e.submit(Start())
        assert again.ok and e.state is S.RUNNING and "overridden" in again.message
    finally:
        await h.stop()


async def test_an_amount_beyond_the_cash_is_refused_in_plain_words() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _flat(h, 0, 3)
        res = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal("1e30"), override_risk=True))
        assert not res.ok and "is more than the cash 10000.00 USDT" in res.message
        assert "failed" not in res.message and e.broker.submit_calls == 0
    finally:
        await h.stop()


async def test_the_console_keeps_an_operators_pause_or_stop_across_a_relaunch(tmp_path) -> None:
    for kind, expect in (("tui", S.PAUSED), ("run", S.RUNNING)):  # a headless run is asked to trade
        keep = kind == "tui"  # the console keeps an operator's hold
        db = str(tmp_path / f"{kind}.db")
        h = await make_engine(db_path=db, keep_held=True).start()
        await _flat(h, 0, 3)
        assert (await h.engine.submit(Pause())).ok
        await h.stop()
        h = await make_engine(db_path=db, keep_held=keep).start()
        try:
            assert h.engine.state is expect, kind
        finally:
            await h.stop()
    h = await make_engine(db_path=db, keep_held=True).start()
    await h.engine.submit(EmergencyStop(reason="test"))
    from tui_trader.events import ResetEmergency

    assert (await h.engine.submit(ResetEmergency())).ok and h.engine.state is S.STOPPED
    await h.stop()
    h = await make_engine(db_path=db, keep_held=True).start()
    try:
        assert h.engine.state is S.STOPPED  # "trading stays stopped until you start it"
    finally:
        await h.stop()


async def test_a_failed_reconciliation_refuses_manual_buys_but_not_sells(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _flat(h, 0, 3)
    assert (await e.submit(ManualBuy(symbol="CCCUSDT", quote_amount=500))).ok
    now = e.clock.now_ms()
    # an intent left by a crash (kill -9 after it was committed)
    await e.db.write_order_intent(Order(client_order_id="tt1-99", symbol="AAAUSDT", side=Side.BUY,
                                        type=OrderType.MARKET, quantity=D("1.000"), price=None,
                                        status=OrderStatus.INTENT, source=Source.UI, reason="x",
                                        created_ms=now, updated_ms=now), e.session_id)
    await h.stop()

    cfg = engine_config()
    holder: dict = {}
    filters = {s: synthetic_filters(s, 100.0) for s in ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")}
    broker = PaperBroker(cfg, ManualClock(0), lambda s: holder["e"].last_price(s), filters,
                         balances={"USDT": e.portfolio.cash, "CCC": D("5.000")})
    broker.fail_next(BrokerErrorKind.TIMEOUT, n=40, op="query")  # the exchange cannot be asked
    h = make_engine(cfg, db_path=db, broker=broker)
    holder["e"] = h.engine
    await h.start()
    e = h.engine
    try:
        assert e.state is S.PAUSED
        await _flat(h, 10, 13)
        buy = await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=500))
        assert not buy.ok and "reconciliation failed" in buy.message
        assert broker.submit_calls == 0
        sell = await e.submit(ClosePosition(symbol="CCCUSDT"))  # reducing risk stays possible
        assert sell.ok and "CCCUSDT" not in e.portfolio.positions
    finally:
        await h.stop()


async def test_a_position_no_order_can_sell_is_written_off_when_closed(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    cfg = engine_config(risk_management={"stop_loss_percent": 50.0})  # the operator closes, not the stop loss
    h = await make_engine(cfg, db_path=db).start()
    e = h.engine
    await _flat(h, 0, 3)
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=6))).ok  # min notional 5
    assert (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=6))).ok
    await h.step(prices(T0 + 3 * MIN + 1000, [80.0, 80.0], symbols=[0, 1]))  # now worth 4.80 each
    realized = e.portfolio.realized_pnl
    cost, cost_b = e.portfolio.positions["AAAUSDT"].cost, e.portfolio.positions["BBBUSDT"].cost
    cash = e.portfolio.cash
    res = await e.submit(ClosePosition(symbol="AAAUSDT"))
    assert res.ok and "written off as dust" in res.message and "minimum notional" in res.message
    assert "AAAUSDT" not in e.portfolio.positions
    assert e.portfolio.cash == cash and e.portfolio.realized_pnl == realized - cost
    flat = await e.submit(FlattenAll())
    assert flat.ok and "BBBUSDT" in flat.message and e.portfolio.positions == {}
    assert e.broker.submit_calls == 2  # the two buys: nothing was sent to sell dust
    await h.stop()
    h = make_engine(cfg, db_path=db)
    await h.start()
    try:
        assert h.engine.portfolio.positions == {}  # committed
        assert h.engine.portfolio.realized_pnl == realized - cost - cost_b
        audit = [a for a in await h.engine.db.load_audit() if a["action"] == "write_off"]
        assert {a["args"]["symbol"] for a in audit} == {"AAAUSDT", "BBBUSDT"}
    finally:
        await h.stop()



async def test_a_write_off_starts_the_cooldown_as_a_sell_would() -> None:
    cfg = engine_config(signal_generation={"signal_cooldown_ms": 10 * MIN}, risk_management={"stop_loss_percent": 50.0})
    h = await make_engine(cfg).start()
    e = h.engine
    try:
        await _flat(h, 0, 3)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=6))).ok
        await h.step(prices(T0 + 3 * MIN + 1000, [80.0], symbols=[0]))  # worth 4.80 < min notional 5
        assert not e.generator.cooling(h.clock.now_ms())[0]
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert res.ok and "written off as dust" in res.message
        # the strategy does not buy the symbol straight back, as after any operator's exit
        assert e.generator.cooling(h.clock.now_ms())[0]
        assert e.generator.cooling(h.clock.now_ms() + 10 * MIN - 1)[0]
    finally:
        await h.stop()


async def test_an_automatic_exit_never_writes_off_a_position_only_its_price_made_unsellable() -> None:
    h = await make_engine().start()  # stop loss 2 %
    e = h.engine
    try:
        await _flat(h, 0, 3)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=6))).ok
        await h.step(prices(T0 + 3 * MIN + 1000, [80.0], symbols=[0]))  # -20 %: worth 4.80 < 5
        (stop,) = [s for s in e.recent_signals if s.symbol == "AAAUSDT" and s.type is SignalType.SELL]
        assert not stop.executed and "dust that cannot be sold" in stop.outcome
        assert "AAAUSDT" in e.portfolio.positions  # the price may come back: kept
        await h.step(prices(T0 + 3 * MIN + 2000, [100.0], symbols=[0]))
        assert (await e.submit(ClosePosition(symbol="AAAUSDT"))).ok
        assert "AAAUSDT" not in e.portfolio.positions and e.broker.submit_calls == 2  # sold, not written off
    finally:
        await h.stop()


async def test_a_reconciliation_tried_again_leaves_this_sessions_unknown_orders_to_their_lookups() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        await _flat(h, 0, 3)
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, n=3, op="query")
        assert not (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=500))).ok  # outcome unknown
        assert await e._reconcile_again() == ""  # e.g. a start after a failed start-up reconciliation
        await _flat(h, 3, 6)  # the period's lookup settles it
        held = (await e.broker.balances())["AAA"]
        assert e.portfolio.positions["AAAUSDT"].quantity == held == D("5.000")  # booked once, not twice
        assert len([f for f in e.fills if f.symbol == "AAAUSDT"]) == 1
    finally:
        await h.stop()


async def test_market_orders_are_sized_to_market_lot_size_where_the_checks_ask_for_it() -> None:
    from dataclasses import replace

    h = await make_engine().start()
    e = h.engine
    try:
        await _flat(h, 0, 3)
        e.filters["AAAUSDT"] = replace(e.filters["AAAUSDT"], market_step_size=D("0.1"))  # coarser than LOT_SIZE
        res = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=523))  # 5.23 by LOT_SIZE's step
        assert res.ok, res.message
        assert e.portfolio.positions["AAAUSDT"].quantity == D("5.2")  # rounded down to the market step
    finally:
        await h.stop()
