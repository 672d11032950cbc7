"""A stored order in a symbol the exchange no longer lists (Binance -1121 "Invalid symbol" on
every lookup) can never be reconciled: live trading stayed off for good. The reconciliation
names the order and the reason, and only the operator's AbandonOrder - after the exchange said
so once more - books it as abandoned (no fill) and writes a position in that symbol off."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange, SteerableClock
from test_binance_broker import KEY, T0, live_cfg

from tui_trader.events import AbandonOrder, ManualBuy, Start
from tui_trader.models import EngineState, Order, OrderStatus, OrderType, Side, Source
from tui_trader.runtime import build_engine

INVALID = {"status": 400, "code": -1121, "msg": "Invalid symbol."}


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


async def _book_with_a_stored_sol_sell(ex, cfg, db: str) -> tuple[str, Decimal]:
    """A live book holding SOL, and a SOL sell whose intent a crash left stored, never sent."""
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert (await e.submit(Start())).ok
        assert (await e.submit(ManualBuy(symbol="SOLUSDT", quote_amount=Decimal(60)))).ok
        held = e.portfolio.positions["SOLUSDT"].quantity
        now = e.clock.now_ms()
        cid = e._next_client_id()
        order = Order(
            client_order_id=cid,
            symbol="SOLUSDT",
            side=Side.SELL,
            type=OrderType.MARKET,
            quantity=held,
            price=None,
            status=OrderStatus.INTENT,
            source=Source.UI,
            reason="manual close",
            created_ms=now,
            updated_ms=now,
        )
        await e.db.write_order_intent(order, e.session_id)
    finally:
        await asyncio.wait_for(e.stop(), 20)
    return cid, held


async def test_an_order_in_a_delisted_symbol_is_abandoned_only_by_the_operator(
    ex, tmp_path, monkeypatch
) -> None:
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    cid, held = await _book_with_a_stored_sol_sell(ex, cfg, db)
    ex.fail_next("GET", "order", times=100, **INVALID)  # SOLUSDT delisted: every lookup answers -1121

    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.PAUSED
        assert cid in e._error and "SOLUSDT" in e._error and "no longer lists" in e._error
        assert f"AbandonOrder {cid}" in e._error  # the way out is named
        assert e.snapshot().unlisted_orders == {cid: "SOLUSDT"}  # and given to the console
        again = await e.submit(Start())
        assert not again.ok and cid in again.message  # fails closed, as before
        # never on its own, never from anyone but the operator, never an order it does not name
        system = await e.submit(AbandonOrder(client_order_id=cid, source=Source.SYSTEM))
        assert not system.ok and "only the operator" in system.message
        unknown = await e.submit(AbandonOrder(client_order_id="tt-nope"))
        assert not unknown.ok and "no open order" in unknown.message
        stored = await e.db.get_order(cid)
        assert stored.status is OrderStatus.INTENT and e.portfolio.positions["SOLUSDT"].quantity == held

        res = await e.submit(AbandonOrder(client_order_id=cid))
        assert res.ok, res.message
        assert "abandoned: symbol no longer listed" in res.message and "written off" in res.message
        stored = await e.db.get_order(cid)
        assert stored.status is OrderStatus.CANCELED and stored.error == "abandoned: symbol no longer listed"
        assert stored.executed_qty == 0
        assert not [f for f in await e.db.load_fills(limit=100) if f.client_order_id == cid]  # no fill booked
        assert "SOLUSDT" not in e.portfolio.positions and e.snapshot().unlisted_orders == {}
        assert "SOLUSDT" not in {p.symbol for p in await e.db.load_positions()}
        audit = await e.db.load_audit(limit=100)
        mine = [a for a in audit if a["action"] == "AbandonOrder"]
        assert [(a["ok"], a["source"], a["args"]) for a in mine] == [
            (False, "system", {"client_order_id": cid}),
            (False, "ui", {"client_order_id": "tt-nope"}),
            (True, "ui", {"client_order_id": cid}),
        ]
        (wo,) = [a for a in audit if a["action"] == "write_off"]
        assert wo["args"]["symbol"] == "SOLUSDT" and wo["source"] == "ui"
        ex.clear_faults()
        assert (await e.submit(Start())).ok and e.state is EngineState.RUNNING
        assert not [x for x in ex.executed if x.client_id == cid]  # it was never sent
    finally:
        await asyncio.wait_for(e.stop(), 20)


async def test_abandoning_is_refused_unless_the_exchange_says_the_symbol_is_not_listed(
    ex, tmp_path, monkeypatch
) -> None:
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    cid, held = await _book_with_a_stored_sol_sell(ex, cfg, db)
    # the exchange cannot be asked (bad key), which says nothing about the symbol
    ex.fail_next(
        "GET",
        "order",
        status=401,
        code=-2015,
        msg="Invalid API-key, IP, or permissions for action.",
        times=100,
    )
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.PAUSED and cid in e._error and "AbandonOrder" not in e._error
        assert e.snapshot().unlisted_orders == {}  # not a delisting: nothing offered to abandon
        res = await e.submit(AbandonOrder(client_order_id=cid))
        assert not res.ok and "did not say SOLUSDT is no longer listed" in res.message
        assert (await e.db.get_order(cid)).status is OrderStatus.INTENT
        assert e.portfolio.positions["SOLUSDT"].quantity == held
        ex.clear_faults()  # the exchange answers again, and knows no such order
        res = await e.submit(AbandonOrder(client_order_id=cid))
        assert not res.ok and "SOLUSDT is listed" in res.message
        assert (await e.db.get_order(cid)).status is OrderStatus.INTENT
        assert e.portfolio.positions["SOLUSDT"].quantity == held
    finally:
        await asyncio.wait_for(e.stop(), 20)
