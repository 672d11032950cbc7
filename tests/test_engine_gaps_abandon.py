"""AbandonOrder's outcome says exactly what happened. Its own act - the order in a symbol the
exchange no longer lists booked abandoned - is done (ok: the console titles it done, not "refused",
and the operator does not try it again); when trading stays off all the same, the message says so
and why ("but trading stays off: ..."), the result's data carries it for a host, and the next step
named is one that works (an emergency stop is reset first)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_helpers import MIN, SYMBOLS, T0, klines, make_engine, store_manual_buy_intent

from tui_trader.clock import ManualClock
from tui_trader.events import AbandonOrder, EmergencyStop, Start
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import EngineState, OrderResult, OrderStatus

S = EngineState
DELISTED, SILENT = "tt1-98", "tt1-99"


class Exchange(PaperBroker):
    """DDDUSDT is no longer listed (-1121 on every lookup); CCCUSDT's lookups time out while
    ``silent`` holds."""

    silent = True

    async def query(self, symbol: str, client_order_id: str) -> OrderResult | None:
        if symbol == "DDDUSDT":
            raise BrokerError(BrokerErrorKind.REJECTED, "Invalid symbol.", code=-1121)
        if symbol == "CCCUSDT" and self.silent:
            raise BrokerError(BrokerErrorKind.TIMEOUT, "no answer")
        return await super().query(symbol, client_order_id)


async def _restarted(tmp_path, intents: dict[str, str]):
    """A book a kill left with stored buy intents (client id -> symbol), restarted on ``Exchange``."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    for cid, sym in intents.items():
        await store_manual_buy_intent(h.engine, sym, cid)
    await h.stop()
    holder: dict = {}
    broker = Exchange(
        h.engine.cfg,
        ManualClock(0),
        lambda s: holder["e"].last_price(s),
        {s: synthetic_filters(s, 100.0) for s in SYMBOLS},
        balances={"USDT": Decimal(10_000)},
    )
    h2 = make_engine(db_path=db, broker=broker, start_ms=T0 + 10 * MIN)
    holder["e"] = h2.engine
    await h2.start()
    return h2, broker


async def test_an_abandon_while_another_order_keeps_trading_off_says_so_and_why(tmp_path) -> None:
    h, broker = await _restarted(tmp_path, {DELISTED: "DDDUSDT", SILENT: "CCCUSDT"})
    e = h.engine
    try:
        assert e.state is S.PAUSED and DELISTED in e._error and SILENT in e._error
        res = await e.submit(AbandonOrder(client_order_id=DELISTED))
        assert res.ok, res.message  # the abandon itself is done
        assert res.message.startswith(f"order {DELISTED} (DDDUSDT) abandoned"), res.message
        assert (
            "; but trading stays off: " in res.message
            and SILENT in res.message.split("but trading stays off")[1]
        )
        assert "start trading with s" not in res.message
        assert res.data["abandoned"] is True and res.data["client_order_id"] == DELISTED
        assert SILENT in res.data["trading_stays_off"]
        assert (await e.db.get_order(DELISTED)).status is OrderStatus.CANCELED
        (row,) = [a for a in await e.db.load_audit(limit=100) if a["action"] == "AbandonOrder"]
        assert (row["ok"], row["source"], row["outcome"]) == (True, "ui", res.message)
        started = await e.submit(Start())  # and so it does
        assert not started.ok and SILENT in started.message and e.state is S.PAUSED
        broker.silent = False  # CCCUSDT answers again: the other order settles
        assert (await e.submit(Start())).ok and e.state is S.RUNNING
    finally:
        await h.stop()


@pytest.mark.parametrize("stopped", [False, True])
async def test_an_abandon_that_clears_the_reconciliation_names_a_next_step_that_works(
    tmp_path, stopped
) -> None:
    h, _ = await _restarted(tmp_path, {DELISTED: "DDDUSDT"})
    e = h.engine
    try:
        if stopped:
            assert (await e.submit(EmergencyStop(reason="look first"))).ok
        res = await e.submit(AbandonOrder(client_order_id=DELISTED))
        assert res.ok and "trading stays off" not in res.message and res.data["trading_stays_off"] == ""
        if stopped:  # a start is refused until the stop is reset: the message says so
            assert "reset the emergency stop" in res.message, res.message
            assert not (await e.submit(Start())).ok
        else:
            assert res.message.endswith("start trading with s"), res.message
            assert (await e.submit(Start())).ok
    finally:
        await h.stop()
