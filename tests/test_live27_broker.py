"""The live broker against the stand-in exchange: answers whose outcome Binance documents as
unknown, order statuses beyond the everyday ones, and fills charged in several assets."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from live_support import T0, Journal, intent, posts, standin_and_broker_fixtures, standin_config

from tui_trader.execution.binance_broker import BinanceBroker
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.order_manager import OrderManager
from tui_trader.models import OrderRequest, OrderStatus, OrderType, Side
from tui_trader.portfolio import Portfolio

KEY = "k3y-PUBLIC-live27"
SECRET = "s3cr3t-PRIVATE-live27"
make_cfg = standin_config


ex, broker = standin_and_broker_fixtures(KEY, SECRET)


def _error(code: int, msg: str) -> Any:
    return lambda body: {"code": code, "msg": msg}


# Binance documents these answers as "execution status unknown": the order may have gone through.
UNKNOWN_OUTCOME = {
    "-1006 UNEXPECTED_RESP": (
        _error(-1006, "An unexpected response was received from the message bus. Execution status unknown."),
        400,
    ),
    "-1000 UNKNOWN": (_error(-1000, "An unknown error occurred while processing the request."), 400),
    "HTTP 408 from the backend, an HTML page": (
        lambda body: "<html><body><h1>408 Request Timeout</h1></body></html>",
        408,
    ),
    "HTTP 408 from the backend, Binance's JSON": (
        _error(-1001, "Internal error; unable to process your request. Please try again."),
        408,
    ),
}


@pytest.mark.parametrize("answer", list(UNKNOWN_OUTCOME))
async def test_an_order_whose_outcome_binance_calls_unknown_is_looked_up_not_booked_rejected(
    ex, broker, answer
):
    """The exchange carried the order out but answered with an error whose outcome Binance
    documents as unknown: the order manager must look the order up by its client id and book its
    fills - a REJECTED booking left a position the book never knew of."""
    fn, status = UNKNOWN_OUTCOME[answer]
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, make_cfg(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.rewrite_next("POST", "order", fn, status=status)
    order = await asyncio.wait_for(om.execute(intent("tt27-unknown-1")), 20)
    assert ex.orders["tt27-unknown-1"].status == "FILLED"  # the exchange executed it
    assert len(posts(ex)) == 1  # once
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert sorted(f.trade_id for f in journal.fills) == sorted(
        str(t["id"]) for t in ex.orders["tt27-unknown-1"].trades
    )
    assert OrderStatus.REJECTED not in journal.states


@pytest.mark.parametrize("answer", list(UNKNOWN_OUTCOME))
async def test_the_broker_words_an_unknown_outcome_as_a_timeout(ex, broker, answer):
    fn, status = UNKNOWN_OUTCOME[answer]
    ex.rewrite_next("POST", "order", fn, status=status)
    with pytest.raises(BrokerError) as ei:
        await broker.submit(
            OrderRequest("tt27-unknown-2", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
        )
    assert ei.value.kind is BrokerErrorKind.TIMEOUT
    assert "tt27-unknown-2" in str(ei.value) and "<html" not in str(ei.value)


def banned_until_msg(until_ms: int) -> str:
    return (
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )


async def test_an_ip_ban_without_retry_after_is_taken_from_binances_message(ex, broker):
    """A proxy that drops the Retry-After header left the broker with no ban length: the next
    request went out at once, into the ban, which Binance lengthens for an IP that keeps asking."""
    until = ex.clock.now_ms() + 600_000
    ex.fail_next("POST", "order", status=418, code=-1003, msg=banned_until_msg(until))
    with pytest.raises(BrokerError) as ei:
        await broker.submit(
            OrderRequest("tt27-ban-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
        )
    assert ei.value.kind is BrokerErrorKind.RATE_LIMIT
    # 600 s less the time the answer took, give or take the clock offset measured at start (half
    # a round trip of its own: seconds on a loaded machine); far from Binance's shortest ban, 120 s
    assert ei.value.retry_after_s is not None and 570 <= ei.value.retry_after_s <= 630
    before = len(ex.requests)
    with pytest.raises(BrokerError) as again:
        await broker.query("BTCUSDT", "tt27-ban-1")
    assert again.value.kind is BrokerErrorKind.RATE_LIMIT and len(ex.requests) == before  # not asked


async def test_an_ip_ban_page_without_retry_after_still_holds_requests_back(ex, broker):
    ex.respond_next_html("POST", "order", 418, "<html><body>banned</body></html>")
    with pytest.raises(BrokerError) as ei:
        await broker.submit(
            OrderRequest("tt27-ban-2", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
        )
    assert (
        ei.value.kind is BrokerErrorKind.RATE_LIMIT and ei.value.retry_after_s == 120.0
    )  # Binance's shortest
    before = len(ex.requests)
    with pytest.raises(BrokerError):
        await broker.open_orders()
    assert len(ex.requests) == before


async def test_a_rate_limit_without_retry_after_or_ban_time_sets_no_ban(ex, broker):
    ex.fail_next("POST", "order", status=429, code=-1003, msg="Too many requests queued.")
    with pytest.raises(BrokerError) as ei:
        await broker.submit(
            OrderRequest("tt27-ban-3", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
        )
    assert ei.value.kind is BrokerErrorKind.RATE_LIMIT and ei.value.retry_after_s is None
    assert await broker.query("BTCUSDT", "tt27-ban-3") is None  # asked: no ban held it back


def _answer(status: str, executed: str, fills: list[dict[str, Any]]) -> dict[str, Any]:
    quote = sum((Decimal(f["price"]) * Decimal(f["qty"]) for f in fills), Decimal(0))
    return {
        "symbol": "BTCUSDT",
        "orderId": 77,
        "orderListId": -1,
        "clientOrderId": "tt27-st-1",
        "transactTime": T0,
        "price": "0.00000000",
        "origQty": "0.01000000",
        "executedQty": executed,
        "cummulativeQuoteQty": f"{quote:.8f}",
        "status": status,
        "timeInForce": "GTC",
        "type": "MARKET",
        "side": "BUY",
        "workingTime": T0,
        "selfTradePreventionMode": "EXPIRE_TAKER",
        "fills": fills,
    }


FILL_A = {
    "price": "61000.00000000",
    "qty": "0.00400000",
    "commission": "0.00000400",
    "commissionAsset": "BTC",
    "tradeId": 11,
}


async def test_an_order_expired_by_self_trade_prevention_says_so_and_keeps_its_fills(ex, broker):
    """EXPIRED_IN_MATCH: Binance's self-trade prevention expired the order (the account had an
    order on the other side). It was reported as an "IOC remainder expired" - of a MARKET order."""
    ex.respond_next("POST", "order", _answer("EXPIRED_IN_MATCH", "0.00400000", [FILL_A]))
    res = await broker.submit(
        OrderRequest("tt27-st-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
    )
    assert res.status is OrderStatus.EXPIRED and res.executed_qty == Decimal("0.004")
    assert [(f.price, f.quantity, f.fee, f.fee_asset) for f in res.fills] == [
        (Decimal("61000"), Decimal("0.004"), Decimal("0.00000400") * Decimal("61000"), "BTC")
    ]
    assert "self-trade prevention" in res.reason


async def test_a_pending_new_order_is_open_not_of_an_unknown_status(ex, broker):
    ex.respond_next("POST", "order", _answer("PENDING_NEW", "0.00000000", []))
    res = await broker.submit(
        OrderRequest("tt27-st-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
    )
    assert res.status is OrderStatus.NEW and not res.status.is_final
    assert res.reason == ""


async def test_an_order_filled_at_several_prices_with_bnb_and_base_commissions_is_booked_exactly(ex, broker):
    """With "pay fees in BNB" on, Binance charges BNB until the BNB runs out, then the base asset:
    one order can hold both. Each fill keeps its own asset; the book takes exactly the coins the
    account received and the quote it paid."""
    fills = [
        {
            "price": "61000.00000000",
            "qty": "0.00600000",
            "commission": "0.00054000",
            "commissionAsset": "BNB",
            "tradeId": 21,
        },
        {
            "price": "61000.01000000",
            "qty": "0.00300000",
            "commission": "0.00000300",
            "commissionAsset": "BTC",
            "tradeId": 22,
        },
        {
            "price": "61000.02000000",
            "qty": "0.00100000",
            "commission": "0.00000100",
            "commissionAsset": "BTC",
            "tradeId": 23,
        },
    ]
    ex.respond_next("POST", "order", _answer("FILLED", "0.01000000", fills))
    res = await broker.submit(
        OrderRequest("tt27-st-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"))
    )
    assert [(f.fee, f.fee_asset) for f in res.fills] == [
        (Decimal("0.00054"), "BNB"),
        (Decimal("0.00000300") * Decimal("61000.01"), "BTC"),
        (Decimal("0.00000100") * Decimal("61000.02"), "BTC"),
    ]
    p = Portfolio(Decimal("1000"))
    for f in res.fills:
        p.apply_fill(f)
    paid = (
        Decimal("61000") * Decimal("0.006")
        + Decimal("61000.01") * Decimal("0.003")
        + Decimal("61000.02") * Decimal("0.001")
    )
    assert p.cash == Decimal("1000") - paid  # the quote the account paid, to the last digit
    assert p.positions["BTCUSDT"].quantity == Decimal("0.01") - Decimal("0.000004")  # the BTC it received
    assert p.other_fees == {"BNB": Decimal("0.00054")}
    assert p.fees_paid == Decimal("0.00000300") * Decimal("61000.01") + Decimal("0.00000100") * Decimal(
        "61000.02"
    )
    assert res.quote_qty == paid


@pytest.mark.parametrize("body", [{}, {"serverTime": "soon"}, [1]], ids=["empty", "not a time", "a list"])
async def test_a_server_time_answer_without_a_time_is_a_broker_error(ex, body):
    """The time request at start (and every 10 minutes) read ``res["serverTime"]`` bare: an
    answer without one ended the start with a KeyError (or a TypeError) naming nothing."""
    broker = BinanceBroker(make_cfg(ex), ex.clock, KEY, SECRET)
    ex.respond_next("GET", "time", body)
    with pytest.raises(BrokerError) as ei:
        await asyncio.wait_for(broker.start(), 5)
    assert ei.value.kind is BrokerErrorKind.NETWORK and "server time" in str(ei.value)
    await broker.stop()


async def test_an_order_archived_by_binance_is_one_it_no_longer_holds(ex, broker):
    """-2026: "Order was canceled or expired with no executed qty over 90 days ago and has been
    archived." Looked up after a long stop, such an order made every lookup fail for ever; it
    executed nothing, so it is an order the exchange no longer holds (canceled, unfilled)."""
    ex.fail_next(
        "GET",
        "order",
        status=400,
        code=-2026,
        msg="Order was canceled or expired with no executed qty over 90 days ago and has been archived.",
    )
    assert await broker.query("BTCUSDT", "tt27-old-1") is None


@pytest.mark.parametrize(
    ("code", "msg"),
    [
        (-1008, "Server is currently overloaded with other requests. Please try again in a few minutes."),
        (-1004, "Server is busy, please wait and try again"),
    ],
)
async def test_a_busy_exchange_is_a_passing_failure_not_a_rejection(ex, broker, code, msg):
    """Binance asks to try again later: an order refused so was booked REJECTED (the trade lost),
    and a lookup so refused at a restart failed the reconciliation at once instead of retrying."""
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, make_cfg(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.fail_next("POST", "order", status=400, code=code, msg=msg)
    order = await asyncio.wait_for(om.execute(intent("tt27-busy-1")), 20)
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert len(ex.executed) == 1  # carried out once, after the lookup found nothing


@pytest.mark.parametrize("body", [{}, [], "ok"], ids=["empty object", "a list", "a string"])
async def test_a_lookup_answered_without_an_order_is_no_open_order(ex, broker, body):
    """A proxy's 200 with an empty body reaches the broker as ``{}``: the lookup reported it as an
    order of unknown status, NEW - an order the exchange has, for the order manager, which then
    waited for it and never sent the order it was looking for. Any answer without an order in it
    is a failed lookup, tried again."""
    ex.add_open_order("BTCUSDT", "tt27-q-1", "BUY", "0.01", "30000")
    ex.respond_next("GET", "order", body)
    with pytest.raises(BrokerError) as ei:
        await broker.query("BTCUSDT", "tt27-q-1")
    assert ei.value.kind.transient and "tt27-q-1" in str(ei.value)
    ex.rewrite_next("DELETE", "order", lambda answer: json.dumps(body))  # carried out, answered so
    with pytest.raises(BrokerError) as ei:
        await broker.cancel("BTCUSDT", "tt27-q-1")
    assert ei.value.kind is BrokerErrorKind.TIMEOUT  # the cancel may have gone through: look it up
    res = await broker.query("BTCUSDT", "tt27-q-1")  # a real answer reads as before
    assert res is not None and res.status is OrderStatus.CANCELED


async def test_a_lookup_never_books_the_trades_of_other_orders(ex, broker):
    """An order's trades are asked for by its orderId; python-binance drops a parameter that is
    None, so an answer without an orderId asked for every trade of the symbol - the fills of other
    orders booked as this one's."""
    for cid in ("tt27-other-1", "tt27-other-2"):
        await broker.submit(OrderRequest(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    await broker.submit(OrderRequest("tt27-mine", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    answer = ex._order_json(ex.orders["tt27-mine"], query=True)
    del answer["orderId"]
    ex.respond_next("GET", "order", answer)
    with pytest.raises(BrokerError) as ei:
        await broker.query("BTCUSDT", "tt27-mine")
    assert ei.value.kind.transient
    # and trades listed for another order are never taken as this one's
    mine = ex.orders["tt27-mine"]
    ex.respond_next("GET", "myTrades", ex.orders["tt27-other-1"].trades + mine.trades)
    res = await broker.query("BTCUSDT", "tt27-mine")
    assert res is not None and sorted(f.trade_id for f in res.fills) == sorted(
        str(t["id"]) for t in mine.trades
    )
