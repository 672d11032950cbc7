"""Fresh-eyes review of the live Binance connectors against the stand-in exchange: error answers
whose body is JSON but not an object, and a ``Retry-After`` in its HTTP-date form."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from exchange_standin import StandinExchange
from live_support import T0, Journal, standin_and_broker_fixtures, standin_config

from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.order_manager import OrderManager
from tui_trader.market.binance import RateLimited, RestRetry, create_client
from tui_trader.models import Order, OrderRequest, OrderStatus, OrderType, Side, Source

KEY = "k3y-PUBLIC-reviewlive"
SECRET = "s3cr3t-PRIVATE-reviewlive"


ex, broker = standin_and_broker_fixtures(KEY, SECRET)


@pytest.mark.parametrize(
    "body", ["[]", '["x"]', "null", '"Service Unavailable"', "5", pytest.param("[" * 100_000, id="nested-100000")]
)
async def test_a_5xx_whose_body_is_json_but_no_object_is_a_passing_failure(ex, broker, body):
    """python-binance builds its error from ``json.loads(body).get(...)``: a 502/503 whose body is
    JSON but not an object (a list, a string, null - a proxy's answer) raised AttributeError out
    of python-binance, which the broker booked as a final REJECTED lookup (the order manager then
    gave up on an order that may stand) and the feed's retry policy did not retry."""
    ex.respond_next_html("GET", "order", 503, body)
    with pytest.raises(BrokerError) as ei:
        await broker.query("BTCUSDT", "tt-review-1")
    assert ei.value.kind.transient, ei.value
    assert "HTTP 503" in str(ei.value)


async def test_a_5xx_with_a_list_body_is_retried_by_the_feed_policy(ex):
    cfg = standin_config(ex)
    client = create_client(cfg)
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    try:
        ex.respond_next_html("GET", "exchangeInfo", 502, "[]")
        retry = RestRetry(sleep, attempts=3, rng=random.Random(1))
        info = await retry.call("exchangeInfo", client.get_exchange_info)
    finally:
        await client.close_connection()
    assert isinstance(info, dict) and info.get("symbols")
    assert len(sleeps) == 1


def _http_date(in_s: float) -> str:
    """A ``Retry-After`` in its HTTP-date form, ``in_s`` seconds after the wall clock's now (the
    stand-in's answers carry aiohttp's ``Date`` header, on the wall clock too)."""
    return email.utils.formatdate(time.time() + in_s, usegmt=True)


async def test_a_429_whose_retry_after_is_an_http_date_is_honoured_by_the_broker(ex, broker):
    """RFC 9110 allows ``Retry-After: <HTTP-date>`` (a proxy or CDN in front of the exchange sends
    it): read as a number it was no wait at all, so no ban was kept and the next request went out
    at once - asking during a ban makes Binance escalate a 429 to an IP ban (418)."""
    ex.fail_next("GET", "order", status=429, code=-1003, retry_after=_http_date(600))
    with pytest.raises(BrokerError) as ei:
        await broker.query("BTCUSDT", "tt-review-2")
    assert ei.value.kind is BrokerErrorKind.RATE_LIMIT
    assert ei.value.retry_after_s is not None and 590 <= ei.value.retry_after_s <= 601
    assert broker.ban_remaining_s() > 590
    sent = len(ex.requests)
    with pytest.raises(BrokerError) as ei2:
        await broker.query("BTCUSDT", "tt-review-2")
    assert ei2.value.kind is BrokerErrorKind.RATE_LIMIT
    assert len(ex.requests) == sent  # nothing went out during the ban


async def test_a_418_whose_retry_after_is_an_http_date_bans_the_feed_reads(ex):
    client = create_client(standin_config(ex))
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    retry = RestRetry(sleep, attempts=3, rng=random.Random(1), now_ms=ex.clock.now_ms)
    try:
        ex.fail_next("GET", "exchangeInfo", status=418, code=-1003, msg="Way too many requests.",
                     retry_after=_http_date(900))
        with pytest.raises(Exception):  # noqa: B017 - the 418 itself, not retried
            await retry.call("exchangeInfo", client.get_exchange_info)
        assert retry.last_retry_after_s is not None and 890 <= retry.last_retry_after_s <= 901
        assert sleeps == []
        n = len(ex.requests)
        with pytest.raises(RateLimited):
            await retry.call("exchangeInfo", client.get_exchange_info)
        assert len(ex.requests) == n
    finally:
        await client.close_connection()


async def test_a_retry_after_date_in_the_past_is_no_wait_taken_from_it(ex, broker):
    """A date already past says nothing of how long: a 418 then waits Binance's shortest ban."""
    ex.fail_next("GET", "order", status=418, code=-1003, msg="Way too many requests.", retry_after=_http_date(-60))
    with pytest.raises(BrokerError) as ei:
        await broker.query("BTCUSDT", "tt-review-3")
    assert ei.value.retry_after_s == 120.0


async def test_an_order_whose_lookup_meets_a_503_with_a_null_body_is_still_settled(ex, broker):
    """The order manager's view of the same: the order went out, its answer was lost, and the
    first lookup met a 503 whose body was JSON ``null``. That lookup read as a final rejection, so
    the order manager gave up on an order the exchange had filled. Now it looks again."""
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, standin_config(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.drop_next("POST", "order")
    ex.respond_next_html("GET", "order", 503, "null")
    order = Order("tt-review-null", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None,
                  OrderStatus.INTENT, Source.UI, "test", T0, T0)
    order = await asyncio.wait_for(om.execute(order), 20)
    assert ex.orders["tt-review-null"].status == "FILLED"
    assert len([r for r in ex.requests if r.path == "order" and r.method == "POST"]) == 1
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert sorted(f.trade_id for f in journal.fills) == sorted(str(t["id"]) for t in ex.orders["tt-review-null"].trades)


def _bnb_fills(body: dict) -> dict:
    """The FULL answer's fills each split in two, the commission charged in BNB (the fee discount)."""
    fills = []
    for f in body["fills"]:
        half = Decimal(f["qty"]) / 2
        fills += [dict(f, qty=str(half)), dict(f, qty=str(Decimal(f["qty"]) - half))]
    body["fills"] = [
        dict(f, commission=str(Decimal("0.0000123") * (i + 1)), commissionAsset="BNB", tradeId=900 + i)
        for i, f in enumerate(fills)
    ]
    return body


async def test_fills_with_a_commission_in_bnb_keep_its_asset_and_stay_out_of_the_quote_fees(ex, broker):
    """Several fills whose commission is charged in BNB (neither base nor quote): each keeps the
    raw BNB amount and names BNB, nothing of it is taken as USDT; the order's quote fees are 0."""
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, standin_config(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.rewrite_next("POST", "order", _bnb_fills)
    order = Order("tt-review-bnb", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None,
                  OrderStatus.INTENT, Source.UI, "test", T0, T0)
    order = await asyncio.wait_for(om.execute(order), 20)
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    n = len(journal.fills)
    assert n >= 2
    assert [(f.trade_id, f.fee, f.fee_asset) for f in journal.fills] == [
        (str(900 + i), Decimal("0.0000123") * (i + 1), "BNB") for i in range(n)
    ]
    assert sum((f.quantity for f in journal.fills), Decimal(0)) == Decimal("0.01")
    assert order.fees == 0


async def test_an_ioc_order_that_expired_unfilled_has_no_fills(ex, broker):
    """``EXPIRED`` with ``executedQty "0.00000000"`` (a LIMIT IOC that found nothing at its price)."""
    def expired(body: dict) -> dict:
        return dict(body, status="EXPIRED", executedQty="0.00000000", cummulativeQuoteQty="0.00000000", fills=[])

    ex.rewrite_next("POST", "order", expired)
    res = await broker.submit(OrderRequest("tt-review-ioc", "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.01"),
                                           Decimal("50000")))
    assert res.status is OrderStatus.EXPIRED and res.fills == [] and res.executed_qty == 0
    assert res.reason == "expired unfilled"


def _kline_reads(ex: StandinExchange, client: Any) -> tuple[Callable[[str], Any], Callable[[], int]]:
    """A one-kline read of a symbol (for :meth:`RestRetry.call`), and how many went out."""

    def klines(sym: str) -> Any:
        return lambda: client.get_klines(symbol=sym, interval="1h", limit=1)

    def sent() -> int:
        return len([r for r in ex.requests if r.path == "klines"])

    return klines, sent


async def test_while_one_read_waits_out_a_429_the_others_wait_with_it(ex):
    """The feed reads many symbols' klines at once (gap fill, history). One answered 429 waited its
    ``Retry-After``, but the others went on sending meanwhile - each answered 429 again, the repeated
    violations after which Binance bans the IP (418). Now they wait with it, then all succeed."""
    client = create_client(standin_config(ex))
    sleeps: list[float] = []
    gate = asyncio.Event()

    async def sleep(s: float) -> None:
        sleeps.append(s)
        await gate.wait()

    retry = RestRetry(sleep, attempts=3, rng=random.Random(1), now_ms=ex.clock.now_ms)

    klines, sent = _kline_reads(ex, client)

    try:
        ex.fail_next("GET", "klines", status=429, code=-1003, retry_after=5)
        first = asyncio.create_task(retry.call("klines BTCUSDT", klines("BTCUSDT")))
        await ex.wait_until(lambda: sleeps == [5.0], 5, "the first read waiting out its 429")
        n = sent()
        second = asyncio.create_task(retry.call("klines ETHUSDT", klines("ETHUSDT")))
        # time enough for the second read to go out and come back (it did, at once, before)
        await asyncio.wait({second}, timeout=1.0)
        assert sent() == n and not second.done()
        gate.set()
        a, b = await asyncio.wait_for(asyncio.gather(first, second), 10)
        assert isinstance(a, list) and isinstance(b, list) and a and b
        assert sent() == n + 2
    finally:
        gate.set()
        await client.close_connection()



async def test_answers_that_are_a_json_list_are_passing_failures_never_rejections(ex, broker):
    """A 2xx answer that is a JSON list where Binance sends an object: the new order may stand
    (TIMEOUT: looked up), a lookup or the account read fails for now (NETWORK), nothing raises
    a bare TypeError and nothing is booked rejected."""
    ex.rewrite_next("POST", "order", lambda body: [body])
    with pytest.raises(BrokerError) as ei:
        await broker.submit(OrderRequest("tt-review-list", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert ei.value.kind is BrokerErrorKind.TIMEOUT
    assert "tt-review-list" in ex.orders  # it did go through: the lookup finds it
    ex.rewrite_next("GET", "order", lambda body: [body])
    with pytest.raises(BrokerError) as ei:
        await broker.query("BTCUSDT", "tt-review-list")
    assert ei.value.kind is BrokerErrorKind.NETWORK
    res = await broker.query("BTCUSDT", "tt-review-list")
    assert res is not None and res.status is OrderStatus.FILLED
    ex.rewrite_next("GET", "account", lambda body: [body])
    with pytest.raises(BrokerError) as ei:
        await broker.balances()
    assert ei.value.kind is BrokerErrorKind.NETWORK


@pytest.mark.parametrize("body", ["<html><body>Forbidden</body></html>", "null", '{"code": -2015, "msg": "Invalid"}'])
async def test_an_error_answer_leaves_the_signed_url_out_of_the_exception_text(ex, body):
    """python-binance words an unreadable error body with the repr of a bound method of the answer,
    which holds the signed request's URL (timestamp, signature): whoever printed the exception
    printed the signature; and every such error's ``args`` (its ``repr``) held the answer object,
    whose repr is the signed URL. The broker and the feed never print them; they hold no URL now."""
    from binance.exceptions import BinanceAPIException

    client = create_client(standin_config(ex), KEY, SECRET)
    try:
        ex.respond_next_html("GET", "account", 403, body)
        with pytest.raises(BinanceAPIException) as ei:
            await client.get_account()
    finally:
        await client.close_connection()
    assert "signature=" in ex.requests[-1].raw  # it was a signed request
    text = f"{ei.value} {ei.value.message} {ei.value!r}"
    assert "signature" not in text and "http://" not in text and "bound method" not in text, text
    assert ei.value.status_code == 403 and ei.value.code == (-2015 if body.startswith("{") else 0)


async def test_an_answer_nested_past_the_recursion_limit_is_unreadable_not_a_rejection(ex, broker):
    """A 2xx answer nested past Python's recursion limit raised RecursionError out of python-binance:
    a lookup's final rejection (and for a new order, an 'unexpected' error). It is now an
    unreadable answer: a lookup fails for now (NETWORK), a new order's fate is unknown (TIMEOUT)."""
    ex.rewrite_next("POST", "order", lambda body: "[" * 100_000)
    with pytest.raises(BrokerError) as ei:
        await broker.submit(OrderRequest("tt-review-deep", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert ei.value.kind is BrokerErrorKind.TIMEOUT and "unreadable answer" in str(ei.value), ei.value
    ex.rewrite_next("GET", "order", lambda body: "[" * 100_000)
    with pytest.raises(BrokerError) as ei:
        await broker.query("BTCUSDT", "tt-review-deep")
    assert ei.value.kind is BrokerErrorKind.NETWORK, ei.value
    res = await broker.query("BTCUSDT", "tt-review-deep")  # it did go through
    assert res is not None and res.status is OrderStatus.FILLED


async def test_reads_wait_for_the_longest_rate_limit_wait_under_way(ex):
    """Two reads in flight together, answered 429 (Retry-After 5 s) and 418 (an IP ban, 60 s): the
    first to be answered held the others for its own wait only; the second waited unheld, so once
    the 5 s were over every read went out again during the 60 s ban - what makes Binance ban the
    IP for longer. Every read now waits until no rate-limit wait is under way."""
    client = create_client(standin_config(ex))
    sleeps: list[float] = []
    gates = {5.0: asyncio.Event(), 60.0: asyncio.Event()}

    async def sleep(s: float) -> None:
        sleeps.append(s)
        await gates[s].wait()

    retry = RestRetry(sleep, attempts=3, rng=random.Random(1), now_ms=ex.clock.now_ms)

    klines, sent = _kline_reads(ex, client)

    try:
        ex.fail_next("GET", "klines", status=429, code=-1003, retry_after=5)
        ex.fail_next("GET", "klines", status=418, code=-1003, retry_after=60)
        reads = [asyncio.create_task(retry.call(f"klines {s}", klines(s))) for s in ("BTCUSDT", "ETHUSDT")]
        await ex.wait_until(lambda: sorted(sleeps) == [5.0, 60.0], 5, "both reads waiting")
        gates[5.0].set()
        reads.append(asyncio.create_task(retry.call("klines SOLUSDT", klines("SOLUSDT"))))
        # time enough for the reads to go out and come back (they did, at once, before)
        await asyncio.wait({reads[0], reads[2]}, timeout=0.5)
        assert sent() == 2 and not any(r.done() for r in reads)
        gates[60.0].set()
        done = await asyncio.wait_for(asyncio.gather(*reads), 10)
        assert all(isinstance(rows, list) and rows for rows in done)
        assert sent() == 5
    finally:
        for g in gates.values():
            g.set()
        await client.close_connection()


# -- a new order's 4xx whose body is not Binance's error
#
# A new order answered with a 4xx whose body is not Binance's error (an HTML page, JSON ``null``,
# an object without a ``code``): something in front of the exchange answered, not the exchange.
#
# Binance words every refusal of its own as ``{"code": ..., "msg": ...}``; a body without one came
# from a proxy, a CDN or a gateway, which may have put its own page over the exchange's answer (an
# order placed, or Binance's HTTP 400 "execution status unknown", -1006/-1007). Booked REJECTED,
# an order the exchange had filled was lost from the book; as TIMEOUT it is looked up by client id
# before anything is sent again, and sent again (same id) only once the exchange does not know it
# and the first request can no longer arrive: never twice, nothing lost.

PAGE = "<html><head><title>400 Bad Request</title></head><body>cloudfront</body></html>"


def _order(cid: str) -> Order:
    return Order(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), None, OrderStatus.INTENT, Source.UI,
                 "test", T0, T0)


def _posts(ex: StandinExchange) -> int:
    return len([r for r in ex.requests if r.path == "order" and r.method == "POST"])


@pytest.mark.parametrize("status", [400, 404, 409, 451])
@pytest.mark.parametrize("body", [PAGE, "null", '{"error": "upstream"}'])
async def test_a_new_orders_4xx_without_binances_error_is_an_unknown_outcome(ex, broker, status, body):
    ex.respond_next_html("POST", "order", status, body)
    with pytest.raises(BrokerError) as ei:
        await broker.submit(OrderRequest("tt-r4xx-1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert ei.value.kind is BrokerErrorKind.TIMEOUT, ei.value
    assert f"HTTP {status}" in str(ei.value) and "outcome unknown" in str(ei.value), ei.value


async def test_binances_own_4xx_refusal_is_still_a_rejection(ex, broker):
    ex.fail_next("POST", "order", status=400, code=-1102, msg="Mandatory parameter 'quantity' was not sent.")
    with pytest.raises(BrokerError) as ei:
        await broker.submit(OrderRequest("tt-r4xx-2", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01")))
    assert ei.value.kind is BrokerErrorKind.REJECTED, ei.value


@pytest.mark.parametrize("body", [PAGE, "null"])
async def test_an_order_placed_behind_a_garbled_4xx_is_booked_filled_not_lost(ex, broker, body):
    # the exchange carries the order out; a gateway answers 400 with its own page
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, standin_config(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.rewrite_next("POST", "order", lambda _answer: body, status=400)
    order = await asyncio.wait_for(om.execute(_order("tt-r4xx-3")), 20)
    assert ex.orders["tt-r4xx-3"].status == "FILLED"
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert _posts(ex) == 1  # looked up, never sent again
    assert sorted(f.trade_id for f in journal.fills) == sorted(str(t["id"]) for t in ex.orders["tt-r4xx-3"].trades)


async def test_an_order_refused_behind_a_4xx_page_is_sent_again_once_the_exchange_does_not_know_it(ex, broker):
    # refused in front of the exchange: looked up, unknown there, sent again with the same id after
    # the first request can no longer arrive - one order at the exchange
    journal = Journal()
    om = OrderManager(broker, journal, ex.clock, standin_config(ex), backoff_base_s=0.01, backoff_cap_s=0.05)
    ex.respond_next_html("POST", "order", 404, PAGE)
    order = await asyncio.wait_for(om.execute(_order("tt-r4xx-4")), 30)
    assert order.status is OrderStatus.FILLED, (order.status, order.error)
    assert _posts(ex) == 2 and list(ex.orders) == ["tt-r4xx-4"]
    lookups = [r for r in ex.requests if r.path == "order" and r.method == "GET"]
    assert lookups, "sent again without a lookup"
