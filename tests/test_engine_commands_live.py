"""Engine commands on a live book (the stand-in exchange, real signed requests)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engine_helpers import until
from exchange_standin import StandinExchange, SteerableClock
from live_support import live_book_of_sol_and_eth
from test_binance_broker import KEY, T0, live_cfg

from tui_trader.events import AcceptAccount, ClosePosition
from tui_trader.models import EngineState, OrderStatus, Side
from tui_trader.recovery import EXTERNAL_SELL_REASON
from tui_trader.runtime import build_engine


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


async def test_accepting_the_account_waits_for_a_sell_in_flight(ex, tmp_path, monkeypatch) -> None:
    """The account holds less SOL than the book (sold by hand on the exchange); meanwhile the
    operator closes ETH, and accepts the account while that sell's answer is on its way. The
    account already shows the ETH sold: taken as it was, the book was cut by that sale as if made
    outside tui-trader, and the close's own answer then failed ("only 0 held"). Accepting waits
    for the sell: ETH is booked as the sale it was, only SOL is cut."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    book_sol, step = await live_book_of_sol_and_eth(ex, cfg, db)
    left = (book_sol / 2).quantize(step)
    ex.balances["SOL"] = left  # half of it sold by hand on the exchange

    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.PAUSED and "SOLUSDT: the book holds" in e._error
        real_submit, answer, filled = e.broker.submit, asyncio.Event(), []

        async def slow_answer(req: Any) -> Any:
            res = await real_submit(req)  # the exchange fills it...
            filled.append(req.client_order_id)
            await answer.wait()  # ...but its answer is slow to come back
            return res

        e.broker.submit = slow_answer
        close = asyncio.create_task(e.submit(ClosePosition(symbol="ETHUSDT")))
        await until(lambda: filled, "the ETH sell to fill at the exchange")
        accept = asyncio.create_task(e.submit(AcceptAccount()))
        # it either waits for the sell (its turn at the trade lock) or, as before, goes ahead
        await until(lambda: accept.done() or bool(e._trade_lock._waiters), "the accept to wait or be done")
        answer.set()
        closed, accepted = await close, await accept
        assert closed.ok and closed.message.startswith("SELL ETHUSDT: "), closed.message
        assert accepted.ok and "SOLUSDT" in accepted.message and "ETHUSDT" not in accepted.message
        assert e.portfolio.positions["SOLUSDT"].quantity == left
        orders = await e.db.load_orders(limit=50)
        external = [o for o in orders if o.reason == EXTERNAL_SELL_REASON]
        assert [o.symbol for o in external] == ["SOLUSDT"]
        (sell,) = [o for o in orders if o.symbol == "ETHUSDT" and o.side is Side.SELL]
        assert sell.status is OrderStatus.FILLED and sell.reason == "manual close"
    finally:
        await asyncio.wait_for(e.stop(), 20)
