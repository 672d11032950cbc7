"""The state machine across a restart: what the operator's commands and the breakers left
stored is what the next session starts from."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from engine_helpers import MIN, SYMBOLS, T0, engine_config, klines, make_engine

from tui_trader.clock import ManualClock
from tui_trader.events import ManualBuy, Start
from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import EngineState, Order, OrderStatus, OrderType, Side, Source

S = EngineState


async def test_a_daily_loss_limit_reached_today_holds_after_a_restart_whose_reconciliation_failed(
    tmp_path,
) -> None:
    """Reducing after the daily-loss limit, then a crash; the restart (same UTC day) cannot ask
    the exchange about an order and stays paused. Once it can, a start must go back to reducing,
    even though the prices have come back above the limit meanwhile: the limit was reached today."""
    db = str(tmp_path / "book.db")
    cfg = engine_config(risk_management={"stop_loss_percent": 50.0})  # the holding is kept
    h = await make_engine(cfg, db_path=db).start()
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=5000, override_risk=True))).ok
    for k in range(3, 6):
        await h.step(klines(T0 + k * MIN, [75.0, 100.0, 100.0, 100.0]))  # -12.5 % of equity, limit 10 %
    assert e.state is S.REDUCING
    now = e.clock.now_ms()
    await e.db.write_order_intent(
        Order(
            client_order_id="tt1-99",
            symbol="BBBUSDT",
            side=Side.BUY,
            type=OrderType.MARKET,
            quantity=D("1.000"),
            price=None,
            status=OrderStatus.INTENT,
            source=Source.UI,
            reason="manual buy",
            created_ms=now,
            updated_ms=now,
        ),
        e.session_id,
    )  # then a kill -9
    cash, held = e.portfolio.cash, e.portfolio.positions["AAAUSDT"].quantity
    await h.stop()

    holder: dict[str, Any] = {}
    filters = {s: synthetic_filters(s, 100.0) for s in SYMBOLS}
    broker = PaperBroker(
        cfg,
        ManualClock(0),
        lambda s: holder["e"].last_price(s),
        filters,
        balances={"USDT": cash, "AAA": held},
    )
    broker.fail_next(BrokerErrorKind.TIMEOUT, n=40, op="query")  # at start-up it cannot be asked
    h = make_engine(cfg, db_path=db, broker=broker, start_ms=T0 + 10 * MIN)
    holder["e"] = h.engine
    await h.start()
    e = h.engine
    try:
        assert e.state is S.PAUSED and e._reconcile_problem
        broker._faults["query"].clear()  # the exchange answers again
        for k in range(12, 15):
            await h.step(klines(T0 + k * MIN, [95.0, 100.0, 100.0, 100.0]))  # -2.5 %: below the limit now
        assert e.breakers.last_daily_loss_pct < cfg.risk_management.max_daily_loss_percent
        started = await e.submit(Start())
        assert started.ok and e.state is S.REDUCING, started.message
        assert "daily loss limit" in started.message and "start again to override" in started.message
        buy = await e.submit(ManualBuy(symbol="CCCUSDT", quote_amount=100))
        assert not buy.ok and "only exits" in buy.message
    finally:
        await h.stop()
