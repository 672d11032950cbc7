"""Review of the live Binance broker against the stand-in exchange: orders with more trades
than one ``myTrades`` page, and malformed items in the open-orders and account answers."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from exchange_standin import StandinExchange
from live_support import T0, Journal, standin_and_broker_fixtures, standin_config

from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import Order, OrderRequest, OrderStatus, OrderType, Side, Source

KEY = "k3y-PUBLIC-review27"
SECRET = "s3cr3t-PRIVATE-review27"
make_cfg = standin_config


ex, broker = standin_and_broker_fixtures(KEY, SECRET)


def _split_into_trades(ex: StandinExchange, cid: str, n: int, first_id: int) -> list[dict[str, Any]]:
    """Make the stand-in's order ``cid`` one that executed in ``n`` trades (its executed quantity
    split), with trade ids from ``first_id`` on, as a large order would on Binance."""
    o = ex.orders[cid]
    t0 = o.trades[0]
    part = (o.executed / n).quantize(Decimal("1e-12"), rounding="ROUND_DOWN")
    qtys = [part] * (n - 1) + [o.executed - part * (n - 1)]
    trades = [
        dict(t0, id=first_id + i, qty=str(q), quoteQty=str(q * Decimal(t0["price"])), commission="0")
        for i, q in enumerate(qtys)
    ]
    o.trades = trades
    return trades


async def test_an_order_with_more_trades_than_one_page_is_settled(ex, broker):
    """myTrades lists at most 1,000 trades per request, the most recent ones: an order that
    executed in 1,500 trades read as 1,000 trades for its whole quantity, so every lookup found
    trades missing and failed (TIMEOUT) for ever - the order could never be settled."""
    await broker.submit(OrderRequest("tt27r-big", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.015")))
    # another order of the symbol traded in between: its trades are not this one's
    await broker.submit(OrderRequest("tt27r-other", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    trades = _split_into_trades(ex, "tt27r-big", 1500, first_id=10_000)
    for i, t in enumerate(ex.orders["tt27r-other"].trades):
        t["id"] = 10_000 + 1500 + i
    res = await broker.query("BTCUSDT", "tt27r-big")
    assert res is not None and res.status is OrderStatus.FILLED
    assert [f.trade_id for f in res.fills] == [str(t["id"]) for t in trades]
    assert sum((f.quantity for f in res.fills), Decimal(0)) == ex.orders["tt27r-big"].executed
    pages = [r for r in ex.requests if r.path == "myTrades"]
    assert all(int(r.params["limit"]) <= 1000 for r in pages)
    assert all(r.params["orderId"] == str(ex.orders["tt27r-big"].order_id) for r in pages)


async def test_an_order_with_fewer_trades_than_a_page_takes_one_request(ex, broker):
    """The everyday case is unchanged: one myTrades request."""
    await broker.submit(OrderRequest("tt27r-small", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    _split_into_trades(ex, "tt27r-small", 999, first_id=500)
    res = await broker.query("BTCUSDT", "tt27r-small")
    assert res is not None and len(res.fills) == 999
    assert len([r for r in ex.requests if r.path == "myTrades"]) == 1


def _with_item(key: str | None, item: Any, at: int = 1) -> Any:
    """A rewrite of an answer whose list (``body[key]``, or the body itself) gets ``item`` at ``at``."""

    def fn(body: Any) -> Any:
        items = body if key is None else body[key]
        items.insert(at, item)
        return body

    return fn


MALFORMED_BALANCES = {
    "a balance that is a string": ("BTC", "item 2"),
    "a balance without an asset": ({"free": "1.0", "locked": "0"}, "without an asset (item 2)"),
    "a balance whose asset is a number": ({"asset": 7, "free": "1.0", "locked": "0"}, "without an asset (item 2)"),
    "a balance that is null": (None, "malformed balance (item 2)"),
}


@pytest.mark.parametrize("case", list(MALFORMED_BALANCES))
async def test_a_malformed_balance_is_a_broker_error_naming_it(ex, broker, case):
    """A malformed item of the account's balances raised a bare KeyError or AttributeError: the
    live start then said only "cannot read the exchange account: 'asset'"."""
    item, says = MALFORMED_BALANCES[case]
    ex.rewrite_next("GET", "account", _with_item("balances", item))
    with pytest.raises(BrokerError) as info:
        await broker.balances()
    assert info.value.kind is BrokerErrorKind.NETWORK
    assert "account: the exchange's answer holds a" in str(info.value) and says in str(info.value)
    assert (await broker.balances())["USDT"] > 0  # the next, well-formed answer is read


@pytest.mark.parametrize("method", ["open_orders", "resting_orders"])
@pytest.mark.parametrize("item", ["an order", None, ["NEW"]], ids=["string", "null", "list"])
async def test_a_malformed_open_order_is_a_broker_error_naming_it(ex, broker, method, item):
    """An open-orders answer with an item that is no object raised a bare AttributeError."""
    ex.add_open_order("BTCUSDT", "tt27r-open-1", "BUY", "0.01", "10000")
    ex.add_open_order("BTCUSDT", "tt27r-open-2", "BUY", "0.01", "10000")
    ex.rewrite_next("GET", "openOrders", _with_item(None, item))
    call = broker.open_orders() if method == "open_orders" else broker.resting_orders(["BTCUSDT"])
    with pytest.raises(BrokerError) as info:
        await call
    assert info.value.kind is BrokerErrorKind.NETWORK
    assert "open orders: the exchange's answer holds a malformed order (item 2)" in str(info.value)
    again = await (broker.open_orders() if method == "open_orders" else broker.resting_orders(["BTCUSDT"]))
    assert len(again) == 2


def banned_until_msg(until_ms: int) -> str:
    return (
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )


async def test_an_ip_ban_whose_end_reads_as_past_still_holds_requests_back(ex, broker):
    """A 418 says this IP is banned now; an end that reads as past (this machine's clock ahead of
    the exchange's, or a ban end in seconds) gave a wait of 0 s: no ban was kept and the next
    request went out at once, into the ban. Binance's shortest ban is waited instead."""
    until = ex.clock.now_ms() - 60_000
    ex.fail_next("POST", "order", status=418, code=-1003, msg=banned_until_msg(until))
    with pytest.raises(BrokerError) as ei:
        await broker.submit(OrderRequest("tt27r-ban-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert ei.value.kind is BrokerErrorKind.RATE_LIMIT and ei.value.retry_after_s == 120.0
    before = len(ex.requests)
    with pytest.raises(BrokerError) as again:
        await broker.query("BTCUSDT", "tt27r-ban-1")
    assert again.value.kind is BrokerErrorKind.RATE_LIMIT and len(ex.requests) == before  # not asked


async def test_a_ban_end_beyond_binances_longest_ban_is_capped_and_logged(ex, broker, caplog):
    """A garbled ban end years ahead is held to Binance's longest ban (3 days), and the log says
    the end given was not believed."""
    until = ex.clock.now_ms() + 400 * 86_400_000
    ex.fail_next("GET", "account", status=418, code=-1003, msg=banned_until_msg(until))
    with caplog.at_level("WARNING"), pytest.raises(BrokerError) as ei:
        await broker.balances()
    assert ei.value.kind is BrokerErrorKind.RATE_LIMIT and ei.value.retry_after_s == 3 * 86_400.0
    assert any("beyond Binance's longest ban" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("header", [True, False], ids=["Retry-After", "ban end in the message"])
async def test_a_ban_answered_to_the_clock_check_holds_other_requests_back(ex, broker, header):
    """The health monitor's clock check (the time request) kept no ban it was answered with: the
    next order, lookup or cancel went out at once, into the IP ban, which Binance lengthens."""
    until = ex.clock.now_ms() + 600_000
    ex.fail_next(
        "GET", "time", status=418, code=-1003, msg=banned_until_msg(until), retry_after=600 if header else None
    )
    with pytest.raises(BrokerError) as ei:
        await broker.measure_clock()
    assert ei.value.kind is BrokerErrorKind.RATE_LIMIT
    # (the ban's end is on the exchange's clock, read through the broker's estimate of it - good
    # to half a round trip: a millisecond over 600 s is that estimate, seen in a loaded CI run)
    assert ei.value.retry_after_s is not None and 590 <= ei.value.retry_after_s <= 601
    before = len(ex.requests)
    with pytest.raises(BrokerError) as again:
        await broker.balances()
    assert again.value.kind is BrokerErrorKind.RATE_LIMIT and len(ex.requests) == before  # not asked


def _garbled(key: str, value: Any) -> Any:
    def fn(body: Any) -> Any:
        (body[0] if isinstance(body, list) else body)[key] = value
        return body

    return fn


GARBLED = {
    "a trade price that is no number": ("myTrades", _garbled("price", "n/a")),
    "a commission that is no number": ("myTrades", _garbled("commission", "1e")),
    "a trade quantity that is infinite": ("myTrades", _garbled("qty", "Infinity")),
    "an executed quantity that is no number": ("order", _garbled("executedQty", "lots")),
}


@pytest.mark.parametrize("case", list(GARBLED))
async def test_an_unreadable_lookup_answer_is_looked_up_again_not_a_rejection(ex, broker, case):
    """The answer to an order's submission was lost, so the order is looked up; the lookup's
    answer came back garbled once. That was a REJECTED from the lookup: the
    order manager gave up at once, leaving an order the exchange filled with its outcome unknown.
    An unreadable lookup answer is passing: looked up again, the order is settled."""
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, make_cfg(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.drop_next("POST", "order")  # the exchange takes the order; its answer never leaves
    path, garble = GARBLED[case]
    ex.rewrite_next("GET", path, garble)
    order = Order(
        "tt27r-garbled", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None, OrderStatus.INTENT,
        Source.UI, "test", T0, T0,
    )
    order = await asyncio.wait_for(om.execute(order), 20)
    assert ex.orders["tt27r-garbled"].status == "FILLED"
    assert len([r for r in ex.requests if r.path == "order" and r.method == "POST"]) == 1
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert sorted(f.trade_id for f in journal.fills) == sorted(str(t["id"]) for t in ex.orders["tt27r-garbled"].trades)
