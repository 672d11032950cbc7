"""The live Binance broker against the stand-in exchange (real python-binance client, signed requests)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms
from live_support import live_engine_config

from tui_trader.config import Config
from tui_trader.execution.binance_broker import BinanceBroker
from tui_trader.execution.broker import Broker, BrokerError, BrokerErrorKind
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import Fill, Order, OrderRequest, OrderStatus, OrderType, Side, Source
from tui_trader.portfolio import Portfolio

D = Decimal

KEY = "k3y-PUBLIC-abc123XYZ"
SECRET = "s3cr3t-PRIVATE-987zyx"
T0 = ms("2024-03-01T00:00:30")


def make_cfg(ex: StandinExchange, timeout_s: float = 2.0) -> Config:
    return Config.model_validate(
        {"binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": timeout_s}}
    )


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


@pytest.fixture
async def broker(ex):
    b = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await asyncio.wait_for(b.start(), 5)
    yield b
    await asyncio.wait_for(b.stop(), 5)


def market(cid: str, side: Side, qty: str, symbol: str = "BTCUSDT") -> OrderRequest:
    return OrderRequest(cid, symbol, side, OrderType.MARKET, Decimal(qty))


def last_order_request(ex: StandinExchange):
    return [r for r in ex.requests if r.path == "order" and r.method == "POST"][-1]


async def test_market_buy_sends_full_request_and_parses_fills_as_decimal(ex, broker):
    assert isinstance(broker, Broker)
    res = await broker.submit(market("tt-1", Side.BUY, "0.01"))
    req = last_order_request(ex)
    assert req.params["newClientOrderId"] == "tt-1"
    assert req.params["newOrderRespType"] == "FULL"
    assert req.params["type"] == "MARKET" and req.params["side"] == "BUY" and req.params["quantity"] == "0.01"
    assert "timeInForce" not in req.params and "price" not in req.params
    assert res.status == OrderStatus.FILLED
    assert res.client_order_id == "tt-1" and res.exchange_order_id == str(ex.orders["tt-1"].order_id)
    assert res.executed_qty == Decimal("0.01")
    trades = ex.orders["tt-1"].trades
    assert len(res.fills) == len(trades) == 3
    for f, t in zip(res.fills, trades, strict=True):
        assert isinstance(f.price, Decimal) and isinstance(f.quantity, Decimal) and isinstance(f.fee, Decimal)
        assert f.price == Decimal(t["price"]) and f.quantity == Decimal(t["qty"])
        # A BUY pays commission in the base asset: fee is its quote value at the fill price.
        assert f.fee_asset == "BTC" == t["commissionAsset"]
        assert f.fee == Decimal(t["commission"]) * Decimal(t["price"])
        assert f.trade_id == str(t["id"]) and f.side == Side.BUY and f.symbol == "BTCUSDT"
    assert sum(f.quantity for f in res.fills) == Decimal("0.01")
    assert res.quote_qty == sum(f.price * f.quantity for f in res.fills)


async def test_sell_fee_in_quote_and_limit_ioc_parameters(ex, broker):
    res = await broker.submit(market("tt-2", Side.SELL, "0.002"))
    assert res.status == OrderStatus.FILLED
    for f in res.fills:
        assert f.fee_asset == "USDT" and f.fee == Decimal(
            next(t for t in ex.orders["tt-2"].trades if str(t["id"]) == f.trade_id)["commission"]
        )
    below = (ex.market_price("BTCUSDT") * Decimal("0.9")).quantize(Decimal("0.01"))
    req = OrderRequest("tt-3", "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.00100"), price=below)
    res = await broker.submit(req)
    sent = last_order_request(ex).params
    assert sent["type"] == "LIMIT" and sent["timeInForce"] == "IOC"
    assert Decimal(sent["price"]) == below and "E" not in sent["price"] and sent["quantity"] == "0.001"
    assert res.status == OrderStatus.EXPIRED and res.executed_qty == 0 and res.fills == []


async def test_parses_binance_docs_full_response(ex, broker, shared_data):
    sample = json.loads((shared_data / "binance_payloads/nautilus_trader/new_order_full_response.json").read_text())
    ex.respond_next("POST", "order", sample)
    res = await broker.submit(OrderRequest("6gCrw2kRUAF9CvJDGP16IP", "BTCUSDT", Side.SELL, OrderType.MARKET,
                                           Decimal("10")))
    assert res.status == OrderStatus.FILLED and res.exchange_order_id == "28"
    assert res.executed_qty == Decimal("10.00000000") and res.quote_qty == Decimal("10.00000000")
    assert [f.price for f in res.fills] == [Decimal(p) for p in ("4000", "3999", "3998", "3997", "3995")]
    assert [f.quantity for f in res.fills] == [Decimal(q) for q in ("1", "5", "2", "1", "1")]
    assert [f.fee for f in res.fills] == [Decimal(c) for c in ("4", "19.995", "7.996", "3.997", "3.995")]
    assert {f.fee_asset for f in res.fills} == {"USDT"}
    assert [f.trade_id for f in res.fills] == ["56", "57", "58", "59", "60"]
    assert all(f.ts_ms == 1507725176595 for f in res.fills)


async def test_a_bnbusdt_sell_charged_in_bnb_is_booked_from_the_full_answer(ex, broker):
    # With "pay fees in BNB" on, Binance takes a BNBUSDT sell's commission in BNB, the base asset.
    body = {"symbol": "BNBUSDT", "orderId": 7, "orderListId": -1, "clientOrderId": "tt-bnb", "transactTime": T0,
            "price": "0.00000000", "origQty": "0.50000000", "executedQty": "0.50000000",
            "cummulativeQuoteQty": "310.00000000", "status": "FILLED", "timeInForce": "GTC", "type": "MARKET",
            "side": "SELL", "workingTime": T0, "selfTradePreventionMode": "EXPIRE_MAKER",
            "fills": [{"price": "620.00000000", "qty": "0.30000000", "commission": "0.00030000",
                       "commissionAsset": "BNB", "tradeId": 1},
                      {"price": "619.00000000", "qty": "0.20000000", "commission": "0.00020000",
                       "commissionAsset": "BNB", "tradeId": 2}]}
    ex.respond_next("POST", "order", body)
    res = await broker.submit(market("tt-bnb", Side.SELL, "0.5", symbol="BNBUSDT"))
    assert [(f.fee, f.fee_asset) for f in res.fills] == [(D("0.186"), "BNB"), (D("0.1238"), "BNB")]
    p = Portfolio(D("1000"))
    p.apply_fill(Fill("tt-buy", "BNBUSDT", Side.BUY, D("600"), D("1"), D("0.6"), "USDT", T0 - 1, "b1"))
    realised = [p.apply_fill(f) for f in res.fills]
    # 0.3003 then 0.2002 BNB leave the position (sold + fee); entry 600/BNB, buy fee 0.6/BNB
    assert realised == [D("186") - D("180.18") - D("0.18018"), D("123.8") - D("120.12") - D("0.12012")]
    assert p.positions["BNBUSDT"].quantity == D("0.4995")
    assert p.cash == D("1000") - D("600.6") + D("186") + D("123.8")
    assert p.fees_paid == D("0.6") + D("0.186") + D("0.1238")


@pytest.mark.parametrize(
    ("status", "code", "msg", "retry_after", "kind"),
    [
        (429, -1003, "Too many requests.", 7, BrokerErrorKind.RATE_LIMIT),
        (418, -1003, "Way too many requests; IP banned.", 120, BrokerErrorKind.RATE_LIMIT),
        (400, -1015, "Too many new orders.", None, BrokerErrorKind.RATE_LIMIT),
        (400, -2010, "Account has insufficient balance for requested action.", None,
         BrokerErrorKind.INSUFFICIENT_BALANCE),
        (400, -2010, "Duplicate order sent.", None, BrokerErrorKind.TIMEOUT),  # the id exists: look it up
        (400, -1013, "Filter failure: LOT_SIZE", None, BrokerErrorKind.FILTER_FAILURE),
        (400, -1013, "Filter failure: NOTIONAL", None, BrokerErrorKind.FILTER_FAILURE),
        (400, -1007, "Timeout waiting for response from backend server. Send status unknown.", None,
         BrokerErrorKind.TIMEOUT),
        (503, -1001, "Internal error; unable to process your request.", None, BrokerErrorKind.TIMEOUT),
        (400, -2013, "Order does not exist.", None, BrokerErrorKind.UNKNOWN_ORDER),
        (400, -2011, "Unknown order sent.", None, BrokerErrorKind.UNKNOWN_ORDER),
        (401, -2014, "API-key format invalid.", None, BrokerErrorKind.AUTH),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", None, BrokerErrorKind.AUTH),
        (400, -1022, "Signature for this request is not valid.", None, BrokerErrorKind.AUTH),
        (400, -1121, "Invalid symbol.", None, BrokerErrorKind.REJECTED),
    ],
)
async def test_binance_errors_map_to_broker_error_kinds(ex, broker, status, code, msg, retry_after, kind):
    ex.fail_next("POST", "order", status=status, code=code, msg=msg, retry_after=retry_after)
    with pytest.raises(BrokerError) as ei:
        await broker.submit(market("tt-e", Side.BUY, "0.001"))
    err = ei.value
    assert err.kind == kind
    assert err.code == code
    assert err.retry_after_s == (float(retry_after) if retry_after is not None else None)
    assert err.kind.transient == (kind in (BrokerErrorKind.RATE_LIMIT, BrokerErrorKind.TIMEOUT))
    assert "tt-e" in str(err)
    assert ex.orders == {}  # nothing was booked at the stand-in


async def test_exchange_side_rejections_balance_and_filters(ex, broker):
    with pytest.raises(BrokerError) as ei:
        await broker.submit(market("tt-big", Side.BUY, "5"))  # ~ 300k USDT with 10k on the account
    assert ei.value.kind == BrokerErrorKind.INSUFFICIENT_BALANCE and ei.value.code == -2010
    with pytest.raises(BrokerError) as ei:
        await broker.submit(market("tt-step", Side.BUY, "0.000015"))  # off the 0.00001 step
    assert ei.value.kind == BrokerErrorKind.FILTER_FAILURE and ei.value.code == -1013
    with pytest.raises(BrokerError) as ei:
        await broker.submit(market("tt-tiny", Side.BUY, "0.00002"))  # ~1.2 USDT < NOTIONAL 5
    assert ei.value.kind == BrokerErrorKind.FILTER_FAILURE
    with pytest.raises(BrokerError) as ei:
        await broker.submit(market("bad id with spaces", Side.BUY, "0.001"))
    assert ei.value.kind == BrokerErrorKind.REJECTED
    with pytest.raises(BrokerError):
        await broker.submit(market("tt-neg", Side.BUY, "-1"))
    assert not [r for r in ex.requests if r.params.get("newClientOrderId") in ("bad id with spaces", "tt-neg")]


class _NoJournal:
    async def record_intent(self, order: Order) -> None:
        pass

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        pass


async def test_a_duplicate_client_id_is_looked_up_not_booked_as_rejected(ex, broker):
    # The exchange already holds an open order with this client id (e.g. sent before a crash).
    ex.add_open_order("BTCUSDT", "tt-dup", "BUY", "0.001", "30000.00")
    cfg = Config.model_validate({"order_execution": {"order_timeout_ms": 1500}})
    om = OrderManager(broker, _NoJournal(), ex.clock, cfg, sleep=asyncio.sleep, backoff_base_s=0.05,
                      poll_cap_s=0.2)
    now = ex.clock.now_ms()
    order = Order(client_order_id="tt-dup", symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET,
                  quantity=Decimal("0.001"), price=None, status=OrderStatus.INTENT, source=Source.STRATEGY,
                  reason="test", created_ms=now, updated_ms=now)
    out = await om.execute(order)
    # found at the exchange, still open: polled until the order timeout, then canceled there
    assert out.status == OrderStatus.CANCELED and ex.orders["tt-dup"].status == "CANCELED"
    posts = [r for r in ex.requests if r.path == "order" and r.method == "POST"]
    assert len(posts) == 1 and posts[0].status == 400  # never sent again
    assert any(r.path == "order" and r.method == "GET" and r.params.get("origClientOrderId") == "tt-dup"
               for r in ex.requests)


def test_in_flight_time_is_the_recv_window_plus_a_second(ex):
    cfg = Config.model_validate({"binance": {"rest_url": ex.rest_url, "recv_window_ms": 7000}})
    b = BinanceBroker(cfg, ex.clock, KEY, SECRET)
    assert b.in_flight_ms == 8000
    assert BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET).in_flight_ms == 6000  # default recvWindow 5 s
    with pytest.raises(AttributeError):
        b.in_flight_ms = 1  # type: ignore[misc]
    assert isinstance(b, Broker)


def _order(cid: str, clock: SteerableClock) -> Order:
    now = clock.now_ms()
    return Order(client_order_id=cid, symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET,
                 quantity=Decimal("0.001"), price=None, status=OrderStatus.INTENT, source=Source.STRATEGY,
                 reason="test", created_ms=now, updated_ms=now)


async def test_a_rate_limit_ban_is_honoured_across_orders_without_asking_again(ex, broker):
    ex.fail_next("POST", "order", status=429, code=-1003, retry_after=120)
    om = OrderManager(broker, _NoJournal(), ex.clock, Config(), sleep=asyncio.sleep, backoff_base_s=0.05)
    first = await om.execute(_order("tt-r1", ex.clock))
    assert first.status == OrderStatus.REJECTED  # a 120 s wait is more than the order may take
    n_requests = len(ex.requests)
    second = await om.execute(_order("tt-r2", ex.clock))
    assert second.status == OrderStatus.REJECTED and "rate limited" in (second.error or "")
    for call in (broker.balances(), broker.open_orders(), broker.query("BTCUSDT", "tt-r1"),
                 broker.cancel("BTCUSDT", "tt-r1")):
        with pytest.raises(BrokerError) as ei:
            await call
        assert ei.value.kind == BrokerErrorKind.RATE_LIMIT and 100 < (ei.value.retry_after_s or 0) <= 120
    assert len(ex.requests) == n_requests  # nothing reached the exchange during the ban
    assert [r.params["newClientOrderId"] for r in ex.requests if r.path == "order" and r.method == "POST"] == [
        "tt-r1"
    ]


async def test_the_order_count_limit_holds_back_new_orders_but_not_lookups_or_cancels(ex, broker):
    ex.fail_next("POST", "order", status=429, code=-1015, msg="Too many new orders.", retry_after=120)
    with pytest.raises(BrokerError):
        await broker.submit(market("tt-c1", Side.BUY, "0.001"))
    n = len(ex.requests)
    with pytest.raises(BrokerError) as ei:
        await broker.submit(market("tt-c2", Side.BUY, "0.001"))
    assert ei.value.kind == BrokerErrorKind.RATE_LIMIT and len(ex.requests) == n  # not sent
    await broker.open_orders()  # an emergency stop's cancel_all must still reach the exchange
    await broker.balances()
    assert len(ex.requests) == n + 2


async def test_requests_flow_again_once_the_ban_is_over(ex, broker):
    ex.fail_next("GET", "account", status=418, code=-1003, msg="Way too many requests; IP banned.", retry_after=1)
    with pytest.raises(BrokerError):
        await broker.balances()
    with pytest.raises(BrokerError) as ei:
        await broker.submit(market("tt-b1", Side.BUY, "0.001"))
    assert ei.value.kind == BrokerErrorKind.RATE_LIMIT and "tt-b1" not in ex.orders
    await asyncio.sleep(1.1)
    assert (await broker.submit(market("tt-b1", Side.BUY, "0.001"))).status == OrderStatus.FILLED


async def test_timeout_leaves_outcome_unknown_and_query_finds_the_fills(ex):
    b = BinanceBroker(make_cfg(ex, timeout_s=0.3), ex.clock, KEY, SECRET)
    await b.start()
    try:
        ex.delay_next("POST", "order", 0.8)
        with pytest.raises(BrokerError) as ei:
            await b.submit(market("tt-lost", Side.BUY, "0.01"))
        assert ei.value.kind == BrokerErrorKind.TIMEOUT and ei.value.kind.transient
        await ex.wait_until(lambda: "tt-lost" in ex.orders, 3, "the order to execute after all")
        got = await b.query("BTCUSDT", "tt-lost")
        assert got is not None and got.status == OrderStatus.FILLED
        assert got.executed_qty == Decimal("0.01")
        assert [(f.price, f.quantity, f.trade_id) for f in got.fills] == [
            (Decimal(t["price"]), Decimal(t["qty"]), str(t["id"])) for t in ex.orders["tt-lost"].trades
        ]
        assert await b.query("BTCUSDT", "tt-never-sent") is None
    finally:
        await b.stop()


async def test_a_connection_lost_after_the_order_went_out_is_an_unknown_outcome(ex, broker):
    # the exchange executes the order, then the connection closes before its answer: the order
    # may have gone through, so it is a TIMEOUT (query before any retry), never a NETWORK failure
    ex.drop_next("POST", "order")
    with pytest.raises(BrokerError) as ei:
        await broker.submit(market("tt-drop", Side.BUY, "0.01"))
    assert ei.value.kind == BrokerErrorKind.TIMEOUT and ei.value.kind.transient
    assert "outcome unknown" in str(ei.value)
    assert "tt-drop" in ex.orders  # it did go through
    got = await broker.query("BTCUSDT", "tt-drop")
    assert got is not None and got.status == OrderStatus.FILLED and got.executed_qty == Decimal("0.01")
    assert [r.params.get("newClientOrderId") for r in ex.requests if r.path == "order" and r.method == "POST"] == [
        "tt-drop"]
    # a read whose connection closes unanswered changed nothing: the HTTP client sends it once
    # more by itself (it never does that with an order), and twice lost is a network failure
    ex.drop_next("GET", "account")
    assert (await broker.balances())["USDT"] < Decimal("10000")  # the lost order was paid for
    ex.drop_next("GET", "account", times=2)
    with pytest.raises(BrokerError) as ei:
        await broker.balances()
    assert ei.value.kind == BrokerErrorKind.NETWORK and ei.value.kind.transient
    assert [r.status for r in ex.requests if r.path == "account"] == [0, 200, 0, 0]


async def test_cancel_open_orders_balances_and_filters(ex, broker):
    ex.add_open_order("BTCUSDT", "tt-rest", "BUY", "0.001", "30000.00")
    opened = await broker.open_orders()
    assert [(o.client_order_id, o.status) for o in opened] == [("tt-rest", OrderStatus.NEW)]
    res = await broker.cancel("BTCUSDT", "tt-rest")
    assert res.client_order_id == "tt-rest" and res.status == OrderStatus.CANCELED
    assert await broker.open_orders() == []
    with pytest.raises(BrokerError) as ei:
        await broker.cancel("BTCUSDT", "tt-rest")
    assert ei.value.kind == BrokerErrorKind.UNKNOWN_ORDER and ei.value.code == -2011

    bal = await broker.balances()
    assert bal == {"BTC": Decimal("0.5"), "ETH": Decimal("2"), "USDT": Decimal("10000")}
    assert all(isinstance(v, Decimal) for v in bal.values())

    f = await broker.exchange_filters(["BTCUSDT", "ETHUSDT", "NOPEUSDT"])
    assert set(f) == {"BTCUSDT", "ETHUSDT"}
    assert f["BTCUSDT"].step_size == Decimal("0.00001") and f["BTCUSDT"].tick_size == Decimal("0.01")
    assert f["ETHUSDT"].base_asset == "ETH" and f["ETHUSDT"].quote_asset == "USDT"


async def test_clock_drift_is_resynchronised_and_the_request_retried_once(ex, broker):
    ex.clock.jump_to(ex.clock.now_ms() + 3_600_000)  # the exchange clock moves an hour ahead
    bal = await broker.balances()
    assert bal["USDT"] == Decimal("10000")
    acct = [r.status for r in ex.requests if r.path == "account"]
    assert acct == [400, 200]  # -1021 once, then accepted after the resync


async def test_network_failure_is_network_kind(shared_data):
    async with StandinExchange(SteerableClock(T0), shared_data) as ex:
        b = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
        await b.start()
    # the exchange is gone now; its close of the broker's kept-alive connection reaches the broker
    # on the loop's next turns (Python 3.13 closes it last in the server's shutdown): an order sent
    # on that connection first is "connection lost, outcome unknown" instead (TIMEOUT, its own tests)
    await asyncio.sleep(0.05)
    try:
        with pytest.raises(BrokerError) as ei:
            await b.submit(market("tt-net", Side.BUY, "0.001"))
        assert ei.value.kind == BrokerErrorKind.NETWORK and ei.value.kind.transient
        assert f"cannot connect to 127.0.0.1:{ex.port} (" in str(ei.value)  # where, and the system's reason
    finally:
        await b.stop()


async def test_secrets_never_logged_printed_or_sent(ex, caplog):
    caplog.set_level(logging.DEBUG)
    b = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await b.start()
    errors: list[BrokerError] = []
    try:
        await b.submit(market("tt-s1", Side.BUY, "0.01"))
        await b.query("BTCUSDT", "tt-s1")
        await b.balances()
        for code, status in ((-2015, 401), (-2010, 400), (-1003, 429)):
            ex.fail_next("POST", "order", status=status, code=code, msg="x")
            try:
                await b.submit(market("tt-s2", Side.BUY, "0.01"))
            except BrokerError as e:
                errors.append(e)
    finally:
        await b.stop()
    assert len(errors) == 3
    texts = [caplog.text, repr(b), str(b)] + [str(e) + repr(e) + repr(e.args) for e in errors]
    for t in texts:
        assert KEY not in t and SECRET not in t
    assert all(e.__cause__ is None and e.__suppress_context__ for e in errors)
    for r in ex.requests:  # the secret never travels; the key only in its header
        assert SECRET not in r.raw and SECRET not in json.dumps(r.headers)
        assert KEY not in r.raw
        assert r.headers.get("X-MBX-APIKEY") == KEY
    with pytest.raises(ValueError):
        BinanceBroker(make_cfg(ex), ex.clock, "", SECRET)


WAF_PAGE = "<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1></body></html>"


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("POST", "order", 403, BrokerErrorKind.NETWORK),  # the firewall refused the request, not the order
        ("GET", "account", 403, BrokerErrorKind.NETWORK),
        ("GET", "order", 403, BrokerErrorKind.NETWORK),
        ("POST", "order", 429, BrokerErrorKind.RATE_LIMIT),
        ("POST", "order", 502, BrokerErrorKind.TIMEOUT),
        ("POST", "order", 404, BrokerErrorKind.TIMEOUT),  # not Binance's error: a proxy answered, the order may stand
    ],
)
async def test_a_non_json_error_page_never_puts_the_signed_request_into_the_error(
    ex, broker, caplog, method, path, status, kind
):
    caplog.set_level(logging.DEBUG)
    ex.respond_next_html(method, path, status, WAF_PAGE, retry_after=30 if status == 429 else None)
    calls = {
        ("POST", "order"): lambda: broker.submit(market("tt-waf", Side.BUY, "0.001")),
        ("GET", "account"): broker.balances,
        ("GET", "order"): lambda: broker.query("BTCUSDT", "tt-waf"),
    }
    with pytest.raises(BrokerError) as ei:
        await calls[(method, path)]()
    err = ei.value
    assert ex.requests[-1].path == path and "signature=" in ex.requests[-1].raw  # it was a signed request
    assert err.kind == kind
    assert f"HTTP {status}" in str(err)
    for text in (str(err), repr(err.args), caplog.text):
        assert "signature" not in text and "timestamp" not in text and "?" not in text
        assert "http://" not in text and "bound method" not in text
    if status == 429:
        assert err.retry_after_s == 30.0


def live_cfg(ex: StandinExchange, monkeypatch) -> Config:
    """The live feed and broker on the stand-in, this file's keys in the environment."""
    return live_engine_config(ex, monkeypatch, KEY, SECRET)


async def test_a_live_engine_loads_the_exchange_filters_and_trades_through_the_broker(
    ex, tmp_path, monkeypatch, caplog
) -> None:
    """The engine hosting the live feed and broker on the stand-in: the exchange's filters are
    loaded over the started client (they were asked before the broker started, which failed with
    'broker not started' and left the feed's filters), and a manual buy reaches the exchange."""
    from tui_trader.events import ManualBuy, Start
    from tui_trader.runtime import build_engine

    cfg = live_cfg(ex, monkeypatch)
    e = build_engine(cfg, db_path=str(tmp_path / "live.db"), session_kind="run", clock=ex.clock)
    assert e.mode == "live"
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(e.start_up(), 20)
    try:
        assert not [r for r in caplog.records if "exchange filters" in r.getMessage()]
        stand_alone = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
        await stand_alone.start()
        try:
            want = await stand_alone.exchange_filters(e.symbols)
        finally:
            await stand_alone.stop()
        assert {s: e.filters[s] for s in e.symbols} == want
        assert (await e.submit(Start())).ok  # live waits for the operator's start
        res = await asyncio.wait_for(e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(200))), 10)
        assert res.ok, res.message
        sent = last_order_request(ex)
        assert sent.params["symbol"] == "ETHUSDT" and sent.params["newClientOrderId"] == res.data["client_order_id"]
        assert "ETHUSDT" in e.portfolio.positions
    finally:
        await asyncio.wait_for(e.stop(), 20)


async def test_a_live_order_sent_just_before_a_crash_is_booked_on_restart_and_never_resent(
    ex, tmp_path, monkeypatch
) -> None:
    """What ``kill -9`` between sending an order and booking its answer leaves: the intent in the
    database (written before sending) and the order filled at the exchange. The restarted live
    engine asks the exchange by client order id, books the fill, and sends nothing again."""
    from tui_trader.models import Source
    from tui_trader.runtime import build_engine
    from tui_trader.storage.db import Database

    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    first = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(first.start_up(), 20)
    await asyncio.wait_for(first.stop(), 20)  # a book, a session, the account
    cid = "tt9-crash-1"
    async with await Database.open(db) as store:
        now = ex.clock.now_ms()
        intent = Order(cid, "ETHUSDT", Side.BUY, OrderType.MARKET, Decimal("0.1"), None, OrderStatus.INTENT,
                       Source.STRATEGY, "crash test", now, now)
        await store.write_order_intent(intent, None)
    sender = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)  # the process that died sent it
    await sender.start()
    try:
        sent = await sender.submit(market(cid, Side.BUY, "0.1", "ETHUSDT"))
    finally:
        await sender.stop()
    assert sent.status is OrderStatus.FILLED
    posts_before = [r for r in ex.requests if r.path == "order" and r.method == "POST"]

    again = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(again.start_up(), 20)
    try:
        posts = [r for r in ex.requests if r.path == "order" and r.method == "POST"]
        assert posts == posts_before  # looked up by its client order id, not sent again
        assert any(r.path == "order" and r.method == "GET" and r.params.get("origClientOrderId") == cid
                   for r in ex.requests)
        order = await again.db.get_order(cid)
        assert order.status is OrderStatus.FILLED and order.executed_qty == Decimal("0.1")
        assert order.exchange_order_id == str(sent.exchange_order_id)
        fills = [f for f in await again.db.load_fills() if f.client_order_id == cid]
        assert fills and sum((f.quantity for f in fills), Decimal(0)) == Decimal("0.1")
        # the exchange took its commission in ETH: the holding is what the account really has
        trades = ex.orders[cid].trades
        base_fee = sum((Decimal(t["commission"]) for t in trades), Decimal(0))
        assert base_fee > 0 and all(t["commissionAsset"] == "ETH" for t in trades)
        assert again.portfolio.positions["ETHUSDT"].quantity == Decimal("0.1") - base_fee
        assert (await again.db.load_positions())["ETHUSDT"].quantity == Decimal("0.1") - base_fee
        assert not await again.db.load_open_orders()
    finally:
        await asyncio.wait_for(again.stop(), 20)


async def test_a_live_order_the_exchange_cannot_be_asked_about_keeps_trading_off_until_it_can(
    ex, tmp_path, monkeypatch
) -> None:
    """An order sent just before a crash, and an exchange that does not answer about it at the
    restart: its outcome is unknown, so the start-up reconciliation fails closed (paused, the
    order named) instead of trading beside it. An operator start asks again; once the exchange
    answers, the fill is booked and trading starts. Nothing is sent twice."""
    from tui_trader.events import Start
    from tui_trader.models import EngineState, Source
    from tui_trader.runtime import build_engine
    from tui_trader.storage.db import Database

    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    first = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(first.start_up(), 20)
    await asyncio.wait_for(first.stop(), 20)
    cid = "tt9-crash-2"
    async with await Database.open(db) as store:
        now = ex.clock.now_ms()
        await store.write_order_intent(Order(cid, "ETHUSDT", Side.BUY, OrderType.MARKET, Decimal("0.1"), None,
                                             OrderStatus.INTENT, Source.STRATEGY, "crash test", now, now), None)
    sender = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    await sender.start()
    try:
        await sender.submit(market(cid, Side.BUY, "0.1", "ETHUSDT"))
    finally:
        await sender.stop()
    posts = len([r for r in ex.requests if r.path == "order" and r.method == "POST"])

    ex.fail_next("GET", "order", status=503, code=-1001, msg="Internal error", times=1000)
    again = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(again.start_up(), 20)
    try:
        assert again.state is EngineState.PAUSED and again.state_reason == "startup reconciliation failed"
        assert again._error.startswith(f"reconciliation failed: order {cid} (ETHUSDT) not settled (INTENT): could not query")
        assert "ETHUSDT" not in again.portfolio.positions  # not booked on a guess
        res = await again.submit(Start())
        assert not res.ok and cid in res.message and again.state is EngineState.PAUSED
        ex.clear_faults()
        res = await again.submit(Start())
        assert res.ok, res.message
        assert again.state is EngineState.RUNNING and again._error == ""
        order = await again.db.get_order(cid)
        assert order.status is OrderStatus.FILLED and order.executed_qty == Decimal("0.1")
        assert "ETHUSDT" in again.portfolio.positions and not await again.db.load_open_orders()
        assert len([r for r in ex.requests if r.path == "order" and r.method == "POST"]) == posts
    finally:
        await asyncio.wait_for(again.stop(), 20)


async def test_a_live_engine_takes_its_cash_from_the_account_and_closes_positions_without_dust(
    ex, tmp_path, monkeypatch, caplog
) -> None:
    """Live, the exchange account is the truth: cash is its free USDT, not the paper
    ``starting_balance``; a close leaves no unsellable remainder in the book (the buy's fee was
    taken in ETH, so 0.1 ETH bought is 0.0999 held and only 0.0999 - 0.0009 can be sold); and a
    book holding more than the account fails the restart closed."""
    from tui_trader.events import ClosePosition, ManualBuy, Start
    from tui_trader.models import EngineState
    from tui_trader.runtime import build_engine

    ex.balances = {"USDT": Decimal("1234.5"), "BNB": Decimal("3")}
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.portfolio.cash == Decimal("1234.5") and e.portfolio.starting_cash == Decimal("1234.5")
        assert (await e.db.load_account())["starting_balance"] == Decimal("1234.5")
        assert (await e.submit(Start())).ok
        res = await e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(60)))
        assert res.ok, res.message
        held = e.portfolio.positions["ETHUSDT"].quantity
        f = e.filters["ETHUSDT"]
        assert held % f.step_size != 0  # the commission was taken in ETH
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tui_trader"):
            res = await e.submit(ClosePosition(symbol="ETHUSDT"))
        assert res.ok, res.message
        said = [r.getMessage() for r in caplog.records if r.name in ("tui_trader.trades", "tui_trader.engine")]
        sells = [i for i, m in enumerate(said) if m.startswith("SELL ") and " ETHUSDT @ " in m]
        off = [i for i, m in enumerate(said) if "left after the sell cannot be sold" in m]
        assert sells and len(off) == 1 and off[0] > sells[-1], said  # told after the sell it follows
        amounts = [said[i].split()[1] for i in sells]  # "SELL <qty> ETHUSDT @ ..."
        assert amounts == [f"{Decimal(q).normalize():f}" for q in amounts], said  # no trailing zeros
        assert "ETHUSDT" not in e.portfolio.positions  # the remainder is off the book ...
        assert "ETHUSDT" not in await e.db.load_positions()
        dust = ex.balances["ETH"]
        assert Decimal(0) < dust < f.step_size  # ... and still in the account
        assert e.portfolio.cash == ex.balances["USDT"]  # the book and the account agree
    finally:
        await asyncio.wait_for(e.stop(), 20)

    # the account moved outside tui-trader: a restart takes the exchange's cash ...
    before = sqlite3.connect(db).execute("SELECT peak_equity, day_start_equity FROM account").fetchone()
    ex.balances["USDT"] += Decimal(100)
    e2 = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e2.start_up(), 20)
    try:
        # ... and a deposit is no trading gain: the loss breakers' references move with it
        assert e2.portfolio.peak_equity == pytest.approx(float(before[0]) + 100)
        assert e2.portfolio.day_start_equity == pytest.approx(float(before[1]) + 100)
        stored = await e2.db.load_account()
        assert float(stored["peak_equity"]) == pytest.approx(float(before[0]) + 100)
        # the last session was trading: live, the restart waits for the operator (paused: stop losses run)
        assert e2.state is EngineState.PAUSED and e2.state_reason == "live restart: start trading with s"
        assert e2.portfolio.cash == ex.balances["USDT"]
        assert (await e2.db.load_account())["cash"] == ex.balances["USDT"]
        assert (await e2.submit(Start())).ok
        assert (await e2.submit(ManualBuy(symbol="SOLUSDT", quote_amount=Decimal(60)))).ok
    finally:
        await asyncio.wait_for(e2.stop(), 20)
    # ... and a book holding more than the account does not trade
    ex.balances["SOL"] = Decimal(0)
    e3 = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e3.start_up(), 20)
    try:
        assert e3.state is not EngineState.RUNNING
        assert e3.state is EngineState.PAUSED and e3.state_reason == "startup reconciliation failed"
        assert e3._error.startswith("account reconciliation failed: SOLUSDT: the book holds")
        res = await e3.submit(Start())  # still short of SOL: refused, with the mismatch
        assert not res.ok and "SOLUSDT: the book holds" in res.message and e3.state is EngineState.PAUSED
    finally:
        await asyncio.wait_for(e3.stop(), 20)


async def test_money_withdrawn_outside_tui_trader_does_not_trip_the_loss_breakers(ex, tmp_path, monkeypatch) -> None:
    """Half the account's USDT withdrawn between two live sessions: the book takes the account's
    cash, and the daily-loss and drawdown references move with the withdrawal, so the first
    breaker check does not take it for a 50 % loss (an emergency stop)."""
    from tui_trader.events import RiskAlert, Start
    from tui_trader.models import EngineState
    from tui_trader.runtime import build_engine

    ex.balances = {"USDT": Decimal("3000")}
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    await asyncio.wait_for(e.stop(), 20)
    ex.balances["USDT"] = Decimal("1500")
    e2 = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e2.start_up(), 20)
    alerts: list[RiskAlert] = []
    e2.bus.subscribe(alerts.append, RiskAlert)
    try:
        assert e2.portfolio.cash == Decimal("1500")
        assert e2.portfolio.peak_equity == pytest.approx(1500) and e2.portfolio.day_start_equity == pytest.approx(1500)
        assert (await e2.submit(Start())).ok
        await e2._check_breakers(ex.clock.now_ms(), e2._equity_now())
        assert not alerts and e2.state is EngineState.RUNNING
    finally:
        await asyncio.wait_for(e2.stop(), 20)


async def test_the_operator_can_accept_an_account_that_holds_less_than_the_book(ex, tmp_path, monkeypatch) -> None:
    """Part of a position was sold outside tui-trader: the restart finds the account holding less
    SOL than the book and keeps trading off (above). If the account is right, AcceptAccount cuts
    the book to it with an external sell (an order never sent, booked with its fill, no fee), so
    positions stay the replay of the stored fills; then trading may start. Nothing is sent."""
    from tui_trader.events import AcceptAccount, ManualBuy, Start
    from tui_trader.models import EngineState, Source
    from tui_trader.portfolio.portfolio import Portfolio
    from tui_trader.recovery import EXTERNAL_SELL_REASON
    from tui_trader.runtime import build_engine

    ex.balances = {"USDT": Decimal("3000")}
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert (await e.submit(Start())).ok
        for sym in ("SOLUSDT", "ETHUSDT"):
            res = await e.submit(ManualBuy(symbol=sym, quote_amount=Decimal(60)))
            assert res.ok, res.message
        res = await e.submit(AcceptAccount())  # nothing to accept while the two agree
        assert not res.ok and res.message.startswith("nothing to accept")
        book_sol = e.portfolio.positions["SOLUSDT"].quantity
        book_eth = e.portfolio.positions["ETHUSDT"].quantity
        step = e.filters["SOLUSDT"].step_size
    finally:
        await asyncio.wait_for(e.stop(), 20)
    left = (book_sol / 2).quantize(step)  # half of it sold by hand on the exchange
    ex.balances["SOL"] = left
    posts = len([r for r in ex.requests if r.path == "order" and r.method == "POST"])

    e2 = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e2.start_up(), 20)
    try:
        assert e2.state is EngineState.PAUSED and "SOLUSDT: the book holds" in e2._error
        res = await e2.submit(Start())
        assert not res.ok and "accept it (A in the console)" in res.message
        res = await e2.submit(AcceptAccount(source=Source.UI))
        assert res.ok, res.message
        assert f"SOLUSDT {book_sol.normalize():f} -> {left.normalize():f}" in res.message
        assert e2.portfolio.positions["SOLUSDT"].quantity == left
        assert e2.portfolio.positions["ETHUSDT"].quantity == book_eth  # held in full: untouched
        assert e2._error == "" and e2.state is EngineState.PAUSED  # trading waits for the operator
        assert e2.portfolio.cash == ex.balances["USDT"]
        assert (await e2.submit(Start())).ok and e2.state is EngineState.RUNNING
        external = [o for o in await e2.db.load_orders(limit=50) if o.reason == EXTERNAL_SELL_REASON]
        assert len(external) == 1
        o = external[0]
        assert (o.symbol, o.side, o.status, o.executed_qty) == ("SOLUSDT", Side.SELL, OrderStatus.FILLED,
                                                               book_sol - left)
        fills = await e2.db.load_fills()
        mine = [f for f in fills if f.client_order_id == o.client_order_id]
        assert len(mine) == 1 and mine[0].fee == 0 and mine[0].quantity == book_sol - left
        stored = await e2.db.load_positions()
        assert stored["SOLUSDT"].quantity == left
        replayed = Portfolio.replay_fills(Decimal(10**6), sorted(fills, key=lambda f: f.ts_ms))
        assert {s: p.quantity for s, p in replayed.positions.items()} == {s: p.quantity for s, p in stored.items()}
    finally:
        await asyncio.wait_for(e2.stop(), 20)
    assert len([r for r in ex.requests if r.path == "order" and r.method == "POST"]) == posts  # none sent
    audit = sqlite3.connect(db).execute(
        "SELECT ok, outcome FROM audit_log WHERE action = 'AcceptAccount'").fetchall()
    assert audit and audit[-1][0] == 1 and "book cut to the account" in audit[-1][1]


async def test_a_live_ioc_limit_order_filled_in_part_is_reported_as_the_part_it_bought(
    ex, tmp_path, monkeypatch
) -> None:
    """The stand-in's book has three levels ten ticks apart (50/30/20 %); a LIMIT IOC 0.1 % above
    the price takes the first two and the exchange expires the rest. The operator was told
    'BUY SOLUSDT EXPIRED' (refused) while 80 % had been bought and booked."""
    from tui_trader.events import ManualBuy, Start
    from tui_trader.runtime import build_engine

    cfg = live_cfg(ex, monkeypatch).model_copy(deep=True)
    cfg.order_execution.use_limit_orders = True
    e = build_engine(cfg, db_path=str(tmp_path / "ioc.db"), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    run = asyncio.create_task(e.run())
    try:
        assert (await e.submit(Start())).ok
        for _ in range(100):  # the engine's price follows the exchange's mini-ticker
            if e.last_price("SOLUSDT") == float(ex.market_price("SOLUSDT")):
                break
            await asyncio.sleep(0.05)
        res = await asyncio.wait_for(e.submit(ManualBuy(symbol="SOLUSDT", quote_amount=Decimal(300))), 10)
        order = e.orders[res.data["client_order_id"]]
        assert order.status is OrderStatus.EXPIRED and 0 < order.executed_qty < order.quantity
        assert res.ok, res.message
        assert res.message.startswith(f"BUY SOLUSDT: {order.executed_qty.normalize():f} of "
                                      f"{order.quantity.normalize():f} @ ")
        assert res.message.endswith("(EXPIRED: IOC remainder expired)")
        assert e.portfolio.positions["SOLUSDT"].quantity > 0
    finally:
        await asyncio.wait_for(e.stop(), 20)
        await asyncio.wait_for(run, 10)


async def test_a_live_engine_that_cannot_read_the_account_at_start_does_not_trade(ex, tmp_path, monkeypatch) -> None:
    """Live, the account is the truth about money: when it cannot be read at start-up the
    reconciliation fails closed (paused, with the reason), nothing is sent, and an operator start
    tries it again first: refused while it fails, trading once it passes."""
    from tui_trader.events import EmergencyStop, ResetEmergency, Start
    from tui_trader.models import EngineState
    from tui_trader.runtime import build_engine

    cfg = live_cfg(ex, monkeypatch)
    ex.fail_next("GET", "account", status=503, code=-1001, msg="Internal error; unable to process your request.",
                 times=1000)
    e = build_engine(cfg, db_path=str(tmp_path / "live.db"), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.PAUSED and e.state_reason == "startup reconciliation failed"
        assert e._error.startswith("account reconciliation failed: cannot read the exchange account: ")
        assert "outcome unknown" in e._error or "503" in e._error
        assert not [r for r in ex.requests if r.path == "order"]
        # an operator start tries the reconciliation again: refused while the account is out of reach
        res = await e.submit(Start())
        assert not res.ok and res.message.startswith("cannot start: account reconciliation failed: cannot read")
        assert e.state is EngineState.PAUSED and e._error
        # a start the state machine refuses anyway says so, without asking the exchange again
        assert (await e.submit(EmergencyStop(reason="test"))).ok
        asked = len([r for r in ex.requests if r.path == "account"])
        res = await e.submit(Start())
        assert not res.ok and "reset the emergency stop first" in res.message
        assert len([r for r in ex.requests if r.path == "account"]) == asked
        assert (await e.submit(ResetEmergency(reason="test"))).ok
        # ... and once the exchange answers, it passes and trading starts
        ex.clear_faults()
        res = await e.submit(Start())
        assert res.ok, res.message
        assert e.state is EngineState.RUNNING and e._error == ""
        assert e.portfolio.cash == ex.balances["USDT"]
        await e.db.flush()
        starts = [(a["ok"], a["outcome"][:40]) for a in await e.db.load_audit() if a["action"] == "Start"]
        assert starts == [(False, "cannot start: account reconciliation fai"),
                          (False, "cannot start: cannot go to running: rese"), (True, "trading started")]
    finally:
        await asyncio.wait_for(e.stop(), 20)
