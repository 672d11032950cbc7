"""The live broker and order manager against the stand-in exchange when an order's answer is
garbled, an order arrives late, or the exchange holds orders the book does not know."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange, SteerableClock
from live_support import T0, Journal, intent, live_engine_config, posts, standin_config

from tui_trader.config import Config
from tui_trader.execution.binance_broker import BinanceBroker
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.client_ids import CLIENT_ORDER_ID_RE
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side

KEY = "k3y-PUBLIC-live-faults"
SECRET = "s3cr3t-PRIVATE-live-faults"
make_cfg = standin_config


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


def _null_commission(body: dict) -> dict:
    body["fills"][0]["commission"] = None
    return body


def _bad_fill_price(body: dict) -> dict:
    body["fills"][1]["price"] = "n/a"
    return body


GARBLED = {
    "a fill's commission null": (_null_commission, 200),
    "a fill's price unreadable": (_bad_fill_price, 200),
    "the answer cut short": (lambda body: json.dumps(body)[:57], 200),
    "the fills left out": (lambda body: {k: v for k, v in body.items() if k != "fills"}, 200),
    "a gateway error whose body is JSON null": (lambda body: None, 502),
    "a gateway error whose body is a JSON string": (lambda body: '"Bad Gateway"', 502),
}


@pytest.mark.parametrize("garble", list(GARBLED))
async def test_an_executed_order_whose_answer_is_garbled_is_looked_up_not_booked_as_rejected(ex, garble):
    """The exchange carried the order out, but its answer cannot be read. Whatever went wrong
    reading it, the order's fate is unknown, not "rejected": the order manager must look it up by
    its client id and book the fills the exchange has, and never send it again."""
    fn, status = GARBLED[garble]
    broker = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await broker.start()
    try:
        journal = Journal()
        om = OrderManager(broker, journal, ex.clock, make_cfg(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
        ex.rewrite_next("POST", "order", fn, status=status)
        order = await asyncio.wait_for(om.execute(intent("tt7-garbled-1")), 20)
    finally:
        await broker.stop()
    assert ex.orders["tt7-garbled-1"].status == "FILLED"  # the exchange did execute it
    assert len(posts(ex)) == 1  # and it was sent once
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert order.executed_qty == Decimal("0.01")
    trades = ex.orders["tt7-garbled-1"].trades
    assert sorted(f.trade_id for f in journal.fills) == sorted(str(t["id"]) for t in trades)
    assert OrderStatus.REJECTED not in journal.states


async def test_the_broker_reports_an_unreadable_answer_to_an_order_as_an_unknown_outcome(ex):
    broker = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await broker.start()
    try:
        ex.rewrite_next("POST", "order", _null_commission)
        with pytest.raises(BrokerError) as ei:
            await broker.submit(
                OrderRequest("tt7-garbled-2", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
            )
        assert ei.value.kind is BrokerErrorKind.TIMEOUT and "outcome unknown" in str(ei.value)
        ex.rewrite_next("POST", "order", lambda body: None, status=502)
        with pytest.raises(BrokerError) as ei:
            await broker.submit(
                OrderRequest("tt7-garbled-3", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
            )
        assert ei.value.kind is BrokerErrorKind.TIMEOUT
        # a read that fails the same way is no order: nothing is unknown, it just failed
        ex.rewrite_next("GET", "account", lambda body: None, status=502)
        with pytest.raises(BrokerError) as ei:
            await broker.balances()
        assert ei.value.kind is not BrokerErrorKind.TIMEOUT or "outcome unknown" not in str(ei.value)
    finally:
        await broker.stop()


async def test_a_restart_inside_the_in_flight_window_does_not_call_an_order_unsent_too_early(ex):
    """The process died with an order's request on its way (the kernel still sends what the dead
    process wrote), and the restart reconciles at once. The exchange does not know the order
    yet, but "not found" proves nothing while that request can still arrive (Binance takes it
    within recvWindow): the reconciliation looks again once the window has passed, and books the
    order that did arrive, instead of calling it "not sent before restart" - which would leave
    bought coins outside the book, with no stop loss watching them."""
    ex.clock.max_sleep_s = None  # the manager's wait must really let the late request land
    cfg = make_cfg(ex, recv_window_ms=3000)  # in flight up to 4 s
    cid = "tt7-late-1"
    ex.delay_next("POST", "order", 0.5)  # the dead process's request, still on its way
    dead = BinanceBroker(cfg, ex.clock, KEY, SECRET)
    await dead.start()
    late = asyncio.create_task(
        dead.submit(OrderRequest(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    )
    broker = BinanceBroker(cfg, ex.clock, KEY, SECRET)
    try:
        await ex.wait_until(lambda: bool(posts(ex)), what="the request on its way")
        await broker.start()
        journal = Journal()
        om = OrderManager(broker, journal, ex.clock, cfg)
        (order,) = await asyncio.wait_for(om.reconcile([intent(cid)]), 20)
        await asyncio.wait_for(late, 5)
    finally:
        await broker.stop()
        await dead.stop()
    assert ex.orders[cid].status == "FILLED"  # the request did arrive
    lookups = [r for r in ex.requests if r.path == "order" and r.method == "GET"]
    assert len(lookups) >= 2  # not found first, found once the window had passed
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert sum((f.quantity for f in journal.fills), Decimal(0)) == Decimal("0.01")
    assert len(posts(ex)) == 1  # and nothing was sent by the restart


def live_cfg(ex: StandinExchange, monkeypatch) -> Config:
    return live_engine_config(ex, monkeypatch, KEY, SECRET)


async def test_an_open_order_the_book_does_not_know_keeps_live_trading_off_until_it_is_gone(
    ex, tmp_path, monkeypatch
) -> None:
    """tui-trader sends only MARKET and IOC orders, so an order resting on the exchange in a
    symbol it trades was not placed by this book (placed by hand, by another bot, or by this
    one on a restored older copy of the database). Trading beside it is a guess - it may fill
    at any moment and move the account under the book - so the start-up fails closed, naming the
    order; once it is gone from the exchange, a start passes."""
    from tui_trader.events import ManualBuy, Start
    from tui_trader.models import EngineState
    from tui_trader.runtime import build_engine

    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    first = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(first.start_up(), 20)
    await asyncio.wait_for(first.stop(), 20)
    ex.add_open_order("ETHUSDT", "tt3-17", "BUY", "0.5", "1000.00")
    ex.add_open_order("XRPUSDT", "web_abc", "SELL", "10", "9.0")  # a symbol this book does not trade
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.PAUSED and e.state_reason == "startup reconciliation failed"
        assert "tt3-17" in e._error and "ETHUSDT" in e._error and "web_abc" not in e._error
        res = await e.submit(Start())
        assert not res.ok and "tt3-17" in res.message and e.state is EngineState.PAUSED
        res = await e.submit(ManualBuy(symbol="SOLUSDT", quote_amount=Decimal(60)))
        assert not res.ok
        ex.orders["tt3-17"].status = "CANCELED"  # the operator cancels it on the exchange
        res = await e.submit(Start())
        assert res.ok, res.message
        assert e.state is EngineState.RUNNING and e._error == ""
    finally:
        await asyncio.wait_for(e.stop(), 20)
    assert not posts(ex)  # nothing was sent meanwhile


async def test_no_key_secret_or_signature_reaches_the_logs_or_the_database(
    ex, tmp_path, monkeypatch, caplog
) -> None:
    """A live session whose orders meet every kind of trouble (a firewall's HTML page, a refused
    key, a gateway error, a clock out of the window, a garbled answer) stores the errors with its
    orders and audit rows and logs them: none of it may hold the API key, the secret, or a
    request's signature (it signs the request; with the key it is replayable within recvWindow)."""
    import logging

    from tui_trader.events import ManualBuy, Start
    from tui_trader.runtime import build_engine

    cfg = live_cfg(ex, monkeypatch)
    db = tmp_path / "live.db"
    caplog.set_level(logging.DEBUG)
    e = build_engine(cfg, db_path=str(db), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert (await e.submit(Start())).ok
        ex.respond_next_html("POST", "order", 403, "<html><body>403 Forbidden</body></html>")
        ex.fail_next(
            "POST", "order", status=401, code=-2015, msg="Invalid API-key, IP, or permissions for action."
        )
        res = await asyncio.wait_for(e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(60))), 30)
        assert not res.ok and "Invalid API-key" in res.message
        ex.rewrite_next("POST", "order", lambda body: None, status=502)
        assert (
            await asyncio.wait_for(e.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(60))), 30)
        ).ok
        ex.rewrite_next("POST", "order", _null_commission)
        ex.clock.jump_to(ex.clock.now_ms() + 3_600_000)  # and -1021 once, then resynchronised
        assert (
            await asyncio.wait_for(e.submit(ManualBuy(symbol="SOLUSDT", quote_amount=Decimal(60))), 30)
        ).ok
    finally:
        await asyncio.wait_for(e.stop(), 20)
    signatures = {r.params["signature"] for r in ex.requests if "signature" in r.params}
    assert len(signatures) >= 6 and any(r.status == 403 for r in ex.requests)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("live.db"))
    assert b"Invalid API-key" in stored and b"ETHUSDT" in stored  # the errors were stored
    for secret in [KEY, SECRET, *signatures]:
        assert secret.encode() not in stored
        assert secret not in caplog.text
    assert "signature=" not in caplog.text and b"signature=" not in stored


async def test_an_order_whose_trades_are_not_listed_yet_is_booked_from_its_trades_not_a_guess(ex):
    """Binance serves an order's lookup and its trade list from a database that can lag behind
    the matching engine: the order says 0.01 executed while ``myTrades`` lists none yet. A fill
    made up from the order's average price would guess the commission in USDT, where Binance
    took it in BTC: the book would hold more BTC than the account, and every sell of the whole
    position - a stop loss too - would fail for insufficient balance. The order is looked up
    again until its trades are listed, and booked from them."""
    broker = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await broker.start()
    try:
        journal = Journal()
        om = OrderManager(broker, journal, ex.clock, make_cfg(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
        om.in_flight_ms = 0
        ex.drop_next("POST", "order")  # executed, the answer lost
        ex.respond_next("GET", "myTrades", [])  # the first trade list lags behind
        order = await asyncio.wait_for(om.execute(intent("tt7-lag-1")), 20)
    finally:
        await broker.stop()
    trades = ex.orders["tt7-lag-1"].trades
    assert order.status is OrderStatus.FILLED and len(posts(ex)) == 1
    assert sorted(f.trade_id for f in journal.fills) == sorted(str(t["id"]) for t in trades)
    assert {f.fee_asset for f in journal.fills} == {"BTC"}
    commission = sum((Decimal(t["commission"]) for t in trades), Decimal(0))
    booked_commission = sum((f.fee / f.price for f in journal.fills), Decimal(0))
    assert booked_commission == commission


async def test_a_new_book_on_the_same_account_never_takes_an_old_books_order_for_its_own(
    ex, tmp_path, monkeypatch
) -> None:
    """Client order ids are looked up at the exchange after a lost answer, and Binance keeps an
    account's orders for good. A new book (another --db) on the same account must not reuse the
    ids of an earlier book: its first order's lookup would find the old book's order of the same
    id and book its old fills as this order's - and the new order would never be sent."""
    from tui_trader.events import ManualBuy, Start
    from tui_trader.runtime import build_engine

    cfg = live_cfg(ex, monkeypatch)
    old = build_engine(cfg, db_path=str(tmp_path / "old.db"), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(old.start_up(), 20)
    try:
        assert (await old.submit(Start())).ok
        first = await asyncio.wait_for(old.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(60))), 30)
        assert first.ok, first.message
    finally:
        await asyncio.wait_for(old.stop(), 20)
    old_cid = first.data["client_order_id"]
    old_exchange_id = str(ex.orders[old_cid].order_id)
    new = build_engine(cfg, db_path=str(tmp_path / "new.db"), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(new.start_up(), 20)
    try:
        assert (await new.submit(Start())).ok
        ex.fail_next(
            "POST", "order", status=503, code=-1001, msg="Internal error; unable to process your request."
        )
        res = await asyncio.wait_for(new.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(120))), 30)
        cid = res.data.get("client_order_id") if res.data else None
        assert cid != old_cid
        assert res.ok, res.message
        order = await new.db.get_order(cid)
        assert order.status is OrderStatus.FILLED and ex.orders[cid].status == "FILLED"
        assert order.exchange_order_id == str(ex.orders[cid].order_id) != old_exchange_id  # its own order
        assert CLIENT_ORDER_ID_RE.fullmatch(cid)
    finally:
        await asyncio.wait_for(new.stop(), 20)
    again = build_engine(cfg, db_path=str(tmp_path / "new.db"), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(again.start_up(), 20)
    try:  # the book keeps its tag: ids stay its own across restarts
        assert again._client_id_tag[:6] == new._client_id_tag[:6] != old._client_id_tag[:6]
        assert again._next_client_id().startswith(f"tt{new._client_id_tag[:6]}")
    finally:
        await asyncio.wait_for(again.stop(), 20)


@pytest.mark.parametrize(
    ("code", "msg"),
    [
        (-1111, "Parameter 'quantity' has too much precision."),
        (
            -1100,
            "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ),
    ],
)
async def test_precision_rejections_are_order_faults_that_leave_the_breaker_closed(ex, code, msg):
    """A quantity or price Binance cannot take (too many decimals, -1111; malformed, -1100) is a
    fault of that order, as a filter failure (-1013) is: the exchange answered it coherently. Such
    rejections in a row must not open the circuit breaker, which would refuse every order after
    them - the stop losses of other symbols too - for its cool-off."""
    cfg = Config.model_validate(
        {
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
            "risk_management": {"circuit_breaker_failures": 2},
        }
    )
    broker = BinanceBroker(cfg, ex.clock, KEY, SECRET)
    await broker.start()
    try:
        om = OrderManager(broker, Journal(), ex.clock, cfg, backoff_base_s=0.01, backoff_cap_s=0.05)
        ex.fail_next("POST", "order", status=400, code=code, msg=msg, times=3)
        for i in range(3):
            bad = await asyncio.wait_for(om.execute(intent(f"tt7-prec-{i}")), 20)
            assert bad.status is OrderStatus.REJECTED and str(code) in bad.error
        assert om.breaker.state == "closed"
        stop_loss = await asyncio.wait_for(om.execute(intent("tt7-prec-ok")), 20)
        assert stop_loss.status is OrderStatus.FILLED
    finally:
        await broker.stop()
    assert len(posts(ex)) == 4  # each sent once: a final rejection is not retried


@pytest.mark.parametrize("body", ["", "{}", '{"balances": null}', "[]"])
async def test_an_account_answer_without_balances_is_no_empty_account(
    ex, tmp_path, monkeypatch, body
) -> None:
    """An empty or balance-less answer to the account request (python-binance returns ``{}``
    for an empty body) is not an account holding nothing: taken as one, a restart booked all the
    cash as withdrawn and moved the loss breakers' references down with it. It keeps trading off,
    saying the account could not be read, and leaves the stored book as it was."""
    from tui_trader.models import EngineState
    from tui_trader.runtime import build_engine

    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    first = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(first.start_up(), 20)
    await asyncio.wait_for(first.stop(), 20)
    cash = ex.balances["USDT"]
    ex.rewrite_next("GET", "account", lambda _answer: body)
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.PAUSED and e.state_reason == "startup reconciliation failed"
        assert "cannot read the exchange account" in e._error
        assert e.portfolio.cash == cash and (await e.db.load_account())["cash"] == cash
    finally:
        await asyncio.wait_for(e.stop(), 20)


@pytest.mark.parametrize("body", ["", "{}"])
async def test_an_empty_answer_is_no_empty_list_of_open_orders(ex, body):
    """The start-up's check for orders the book did not place must not pass on an answer that
    lists nothing because it is empty (python-binance gives ``{}`` for an empty body)."""
    broker = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await broker.start()
    try:
        ex.add_open_order("ETHUSDT", "web_1", "BUY", "0.5", "1000.00")
        for call in (lambda: broker.resting_orders(["ETHUSDT"]), broker.open_orders):
            ex.rewrite_next("GET", "openOrders", lambda _answer: body)
            with pytest.raises(BrokerError) as ei:
                await call()
            assert ei.value.kind is BrokerErrorKind.NETWORK and "open orders" in str(ei.value)
        assert [cid for cid, _ in await broker.resting_orders(["ETHUSDT"])] == ["web_1"]
        await broker.submit(
            OrderRequest("tt7-empty-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
        )
        ex.rewrite_next("GET", "myTrades", lambda _answer: body)  # an order's trades: no list either
        with pytest.raises(BrokerError) as ei:
            await broker.query("BTCUSDT", "tt7-empty-1")
        assert ei.value.kind is BrokerErrorKind.NETWORK and "trades of tt7-empty-1" in str(ei.value)
        assert (await broker.query("BTCUSDT", "tt7-empty-1")).executed_qty == Decimal("0.01")
    finally:
        await broker.stop()


async def test_an_order_resent_after_a_clock_resync_is_not_sent_again_while_that_resend_may_arrive(ex):
    """A -1021 (request time outside recvWindow: often a slow network, not only a drifting
    clock) makes the broker resynchronise its clock and send the order again. When the server
    time comes back slowly, that second request is signed seconds after the order manager
    started the submission; if it then gets no answer, "not found" proves nothing until
    recvWindow has passed since *it* was signed - measured from the submission's start, the
    manager sent the order a third time while the second was still on its way: bought twice."""
    ex.clock.max_sleep_s = None  # the manager's waits must really pass
    cfg = Config.model_validate(
        {
            "binance": {
                "rest_url": ex.rest_url,
                "stream_url": ex.stream_url,
                "request_timeout_s": 8.0,
                "recv_window_ms": 3000,  # in flight up to 4 s
            },
            "order_execution": {"order_timeout_ms": 3500},
        }
    )
    broker = BinanceBroker(cfg, ex.clock, KEY, SECRET)
    await broker.start()
    btc = ex.balances["BTC"]
    try:
        om = OrderManager(broker, Journal(), ex.clock, cfg, backoff_base_s=1.0, backoff_cap_s=2.0)
        ex.fail_next("POST", "order", 400, -1021, "Timestamp for this request is outside of the recvWindow.")
        ex.delay_next("GET", "time", 3.0)  # the resynchronisation is slow
        ex.delay_next("POST", "order", 2.0)  # and the resent order lands late (still inside its window)
        order = await asyncio.wait_for(om.execute(intent("tt7-resync-1")), 30)
        await asyncio.sleep(2.5)  # every request made has landed by now
    finally:
        await broker.stop()
    executed = [r for r in posts(ex) if r.status == 200]
    assert ex.balances["BTC"] - btc < Decimal("0.015"), "bought twice"
    assert len(executed) == 1
    assert order.status is OrderStatus.FILLED, (order.status, order.error)


async def test_a_book_restored_from_a_backup_never_reuses_the_ids_it_sent_after_the_backup(
    ex, tmp_path, monkeypatch
) -> None:
    """A restored backup numbers its sessions again from where the backup was taken, so the
    sessions after the backup would be numbered again too; their orders are at the exchange, and
    an id used again would find them on a lookup. Ids differ from every session's before."""
    import shutil

    from tui_trader.events import ManualBuy, Start
    from tui_trader.runtime import build_engine

    cfg = live_cfg(ex, monkeypatch)
    db = tmp_path / "live.db"
    first = build_engine(cfg, db_path=str(db), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(first.start_up(), 20)
    await asyncio.wait_for(first.stop(), 20)
    backup = tmp_path / "backup"
    backup.mkdir()
    for p in tmp_path.glob("live.db*"):
        shutil.copy(p, backup / p.name)
    after = build_engine(cfg, db_path=str(db), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(after.start_up(), 20)
    try:
        assert (await after.submit(Start())).ok
        res = await asyncio.wait_for(after.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(60))), 30)
        assert res.ok, res.message
    finally:
        await asyncio.wait_for(after.stop(), 20)
    sent_after_backup = res.data["client_order_id"]
    for p in tmp_path.glob("live.db*"):
        p.unlink()
    for p in backup.iterdir():
        shutil.copy(p, tmp_path / p.name)
    ex.clock.jump_to(ex.clock.now_ms() + 60_000)  # restored a minute later
    restored = build_engine(cfg, db_path=str(db), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(restored.start_up(), 20)
    try:
        assert restored.session_id == after.session_id  # the same session number again ...
        assert restored._next_client_id() != sent_after_backup  # ... but not the same ids
        assert CLIENT_ORDER_ID_RE.fullmatch(restored._next_client_id())
    finally:
        await asyncio.wait_for(restored.stop(), 20)
