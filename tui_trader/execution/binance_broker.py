"""The live Binance spot broker (python-binance ``AsyncClient``), implementing :class:`Broker`.

* Orders: MARKET, or LIMIT with ``timeInForce=IOC``; always ``newClientOrderId`` (the
  caller's id, so a lost answer can be resolved by :meth:`BinanceBroker.query`) and
  ``newOrderRespType=FULL``; the fills of the answer become :class:`~tui_trader.models.Fill`
  with :class:`~decimal.Decimal` price, quantity and fee.
* A cancel whose answer says the order traded before it (``executedQty`` > 0) carries no
  fills: its trades are looked up (``myTrades`` by order id) as :meth:`BinanceBroker.query`
  does; only when they cannot be read are none returned (the caller then estimates), logged.
* Fees: ``Fill.fee`` is in the quote asset. Binance charges a BUY's commission in the base
  asset: it is converted at the fill price (``commission * price``) and ``fee_asset`` keeps
  the asset actually charged, so the caller knows the base received is ``quantity -
  commission``. A commission in a third asset (BNB discount) cannot be converted without a
  price: ``fee`` is then that raw amount and ``fee_asset`` says which asset it is.
* Errors become :class:`BrokerError` by code/status: 429/418/-1003/-1015 -> RATE_LIMIT
  (``retry_after_s`` from ``Retry-After``, else from the ban's end in Binance's message, else
  120 s for a 418 IP ban); -2010 "insufficient balance" -> INSUFFICIENT_BALANCE;
  -2010 "Duplicate order sent." (an order with this client id already exists at the exchange)
  -> TIMEOUT, so the caller looks it up instead of booking a rejection (other -2010 rejections
  -> REJECTED); -1013, "Filter failure", -1111 (too much precision) and -1100 (illegal
  characters in a parameter) -> FILTER_FAILURE; -1007 and -1006 ("execution status unknown"),
  -1000 (unknown error), client timeouts, HTTP 408 and 5xx and a connection lost after sending
  -> TIMEOUT (outcome unknown: query before retrying); no
  connection -> NETWORK; an order's answer (or error body) that cannot be read -> TIMEOUT
  too, since the order may stand (a new order's 4xx without Binance's JSON error - an HTML
  page, JSON null, an object without a code - came from a proxy or gateway, which may have put
  it over an order placed or over Binance's 400 "execution status unknown"); -2013/-2011 and -2026 (archived: canceled or expired
  unfilled over 90 days ago) -> UNKNOWN_ORDER (``query`` returns None);
  -2014/-2015/-1022/-1002 and HTTP 401 -> AUTH; HTTP 403 (Binance's firewall refused the
  request) and -1004/-1008 (server busy, try again) -> NETWORK; anything else -> REJECTED. A body that is not Binance's JSON error (an
  HTML page) is reported as "HTTP <status>, unreadable body": python-binance's own text for it
  holds the signed request URL. A -1021 (clock outside recvWindow) resynchronises the time
  offset and retries once: the exchange rejected that request, so nothing was sent twice.
* Rate-limit bans: a RATE_LIMIT answer's ``Retry-After`` is remembered (``banned_until``,
  monotonic); until it has passed every call raises RATE_LIMIT (``retry_after_s`` = the time
  left) without a request, since asking during a ban makes Binance escalate 429 to a 418 IP ban.
  The order-count limit (-1015, too many new orders) holds back new orders only
  (``orders_banned_until``): lookups and cancels - an emergency stop's - still go out.
* Secrets: the key and secret are handed to the client and otherwise kept in a redacting
  wrapper; they never appear in ``repr``/``str``, logs or error messages (errors are built from
  Binance's code and message only, raised ``from None``, and scrubbed of URLs, query strings,
  ``signature=``, a signature or ``X-MBX-APIKEY`` header echoed in any other form, and the key
  and secret themselves; a bad value in an answer is shown only when short, never cut from a
  longer one).

Units: prices in quote per base, quantities in base, times integer ms since the epoch (UTC).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import aiohttp
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException

from tui_trader.clock import Clock
from tui_trader.config import Config
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.client_ids import is_valid_client_order_id
from tui_trader.market.binance import (
    api_error_message,
    ban_wait_s,
    create_client,
    describe_error,
    retry_after_s,
    scrub_request_details,
)
from tui_trader.market.binance_payloads import parse_exchange_info
from tui_trader.models import Fill, OrderRequest, OrderResult, OrderStatus, OrderType, Side, SymbolFilters

log = logging.getLogger("tui_trader.execution.binance")

T = TypeVar("T")

_STATUS = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,  # accepted, not working yet (an order list's pending leg)
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}

_AUTH_CODES = (-2014, -2015, -1022, -1002)
#: Trades per ``myTrades`` request (Binance's most) and the most requests for one order's trades.
TRADES_PAGE = 1000
MAX_TRADE_PAGES = 50
#: Answers Binance documents as "execution status unknown" (-1006 UNEXPECTED_RESP, -1007 TIMEOUT)
#: or that say nothing of the request's fate (-1000 UNKNOWN: "an unknown error occurred while
#: processing the request"): the order may stand, so it is looked up, never booked rejected.
_UNKNOWN_OUTCOME_CODES = (-1000, -1006, -1007)


class _Secret:
    """Holds a credential; prints as ``<redacted>``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


def _dec(x: Any, what: str) -> Decimal:
    try:
        d = Decimal(str(x))
    except (InvalidOperation, ValueError):
        raise BrokerError(BrokerErrorKind.REJECTED, f"exchange sent a bad {what}: {_shown(x)}") from None
    if not d.is_finite():
        raise BrokerError(BrokerErrorKind.REJECTED, f"exchange sent a non-finite {what}")
    return d


def _shown(x: Any) -> str:
    """A bad value of an answer, for an error text: whole when short, else only its length. A long
    value is not shown cut short: a cut could not be told from (and scrubbed as) an echoed API
    key, which the broker removes from its errors only whole."""
    text = str(x)
    return repr(text) if len(text) <= 30 else f"{len(text)} characters"


def _ms(x: Any, what: str) -> int:
    """A time (ms) of the exchange's answer. A bad one is a TIMEOUT (the answer is unreadable, the
    order's fate unknown: it is looked up again, as before) that shows the value only when short,
    as :func:`_dec` does: int()'s own error echoed it whole, an echoed API key included."""
    try:
        return int(x)
    except (TypeError, ValueError):
        raise BrokerError(BrokerErrorKind.TIMEOUT, f"exchange sent a bad {what}: {_shown(x)}") from None


def _plain(d: Decimal) -> str:
    """Decimal as plain text, never in exponent form (``1E-5`` -> ``0.00001``)."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


def _listed(resp: Any, what: str) -> list[Any]:
    """``resp`` if it is a JSON list (python-binance answers ``{}`` for an empty body: that is no
    empty list of orders)."""
    if not isinstance(resp, list):
        raise BrokerError(BrokerErrorKind.NETWORK, f"{what}: the exchange's answer is not a list")
    return resp


def _objects(resp: Any, what: str, item: str) -> list[dict[str, Any]]:
    """``resp`` (see :func:`_listed`) if each of its items is a JSON object; else a broker error
    naming the answer and the item (a bare KeyError or AttributeError named neither)."""
    items = _listed(resp, what)
    for i, x in enumerate(items):
        if not isinstance(x, dict):
            raise BrokerError(
                BrokerErrorKind.NETWORK, f"{what}: the exchange's answer holds a malformed {item} (item {i + 1})"
            )
    return items


def _is_order(resp: Any) -> bool:
    """Whether an answer is an order (a JSON object with a status), not ``{}``, a list or text."""
    return isinstance(resp, dict) and isinstance(resp.get("status"), str)


def map_error(exc: BaseException, what: str, sent: bool = False) -> BrokerError:
    """A :class:`BrokerError` for an exception of python-binance / aiohttp (see module doc).

    ``sent``: the request may have reached the exchange (an order submission), so a
    connection lost mid-way is a TIMEOUT (unknown outcome) rather than NETWORK. The text never
    holds a URL, query string or signature (it is logged and stored with the order).
    """
    if isinstance(exc, BrokerError):
        return exc
    err = _map_error(exc, what, sent)
    clean = scrub_request_details(err.args[0] if err.args else "")
    if clean != (err.args[0] if err.args else ""):
        err = BrokerError(err.kind, clean, err.code, err.retry_after_s)
    return err


def _map_error(exc: BaseException, what: str, sent: bool) -> BrokerError:
    what = scrub_request_details(what)
    if isinstance(exc, BinanceAPIException):
        code = exc.code if isinstance(exc.code, int) and exc.code != 0 else None  # 0: not Binance's JSON
        status = exc.status_code
        msg = api_error_message(exc)
        low = msg.lower()
        text = f"{what}: {msg}" if msg else f"{what}: HTTP {status}, unreadable body"
        if status in (429, 418) or code in (-1003, -1015):
            return BrokerError(BrokerErrorKind.RATE_LIMIT, text, code, retry_after_s(exc))
        if code == -2010 and "insufficient" in low:
            return BrokerError(BrokerErrorKind.INSUFFICIENT_BALANCE, text, code)
        if code == -2010 and "duplicate" in low:  # this client id is already an order at the exchange
            return BrokerError(
                BrokerErrorKind.TIMEOUT,
                f"{what}: an order with this client id already exists at the exchange ({msg}); "
                "outcome unknown, look it up by client id",
                code,
            )
        if code in (-1013, -1111, -1100) or "filter failure" in low:
            # the order itself: a filter, too many decimals (-1111) or a malformed number (-1100)
            return BrokerError(BrokerErrorKind.FILTER_FAILURE, text, code)
        if code in _UNKNOWN_OUTCOME_CODES:  # Binance: "execution status unknown"
            return BrokerError(BrokerErrorKind.TIMEOUT, text, code)
        if code in (-2013, -2011, -2026):  # -2026: archived, canceled or expired with nothing executed
            return BrokerError(BrokerErrorKind.UNKNOWN_ORDER, text, code)
        if code in _AUTH_CODES or status == 401:
            return BrokerError(BrokerErrorKind.AUTH, text, code)
        if code in (-1004, -1008):  # "server busy ... try again": the request was refused, not the order
            return BrokerError(BrokerErrorKind.NETWORK, text, code)
        if status == 403:  # Binance's web application firewall: the request was refused, not the order
            return BrokerError(
                BrokerErrorKind.NETWORK, f"{what}: refused by the exchange's firewall (HTTP 403)", code
            )
        if status >= 500 or status == 408:  # 408: the backend did not answer the API in time
            # TIMEOUT either way (a cancel's fate is unknown too: its caller looks the order up); only
            # a new order's text says "outcome unknown" - a failed read leaves nothing unknown
            unknown = ", outcome unknown" if sent else ""
            return BrokerError(BrokerErrorKind.TIMEOUT, f"{what}: exchange error HTTP {status}{unknown}", code)
        if sent and code is None:
            # a 4xx without Binance's error (an HTML page, JSON null, an object without a code): a
            # proxy or gateway answered, maybe over an order placed or Binance's 400 "execution
            # status unknown" - looked up by client id before any send again, never booked rejected
            return BrokerError(BrokerErrorKind.TIMEOUT, f"{text} from in front of the exchange, outcome unknown")
        return BrokerError(BrokerErrorKind.REJECTED, text, code)
    if isinstance(exc, asyncio.TimeoutError):
        return BrokerError(BrokerErrorKind.TIMEOUT, f"{what}: no answer in time, outcome unknown")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return BrokerError(BrokerErrorKind.NETWORK, f"{what}: {describe_error(exc)}")
    if isinstance(exc, BinanceRequestException):
        kind = BrokerErrorKind.TIMEOUT if sent else BrokerErrorKind.NETWORK
        return BrokerError(kind, f"{what}: unreadable answer from the exchange")
    if isinstance(exc, aiohttp.ClientError | OSError):
        if sent:
            return BrokerError(BrokerErrorKind.TIMEOUT, f"{what}: connection lost, outcome unknown")
        return BrokerError(BrokerErrorKind.NETWORK, f"{what}: connection failed ({type(exc).__name__})")
    if sent:  # e.g. an error body python-binance cannot read (JSON null): the order may stand
        return BrokerError(BrokerErrorKind.TIMEOUT, f"{what}: unexpected {type(exc).__name__}, outcome unknown")
    return BrokerError(BrokerErrorKind.REJECTED, f"{what}: unexpected {type(exc).__name__}")


class BinanceBroker:
    """Orders on Binance spot. ``api_key``/``api_secret`` come from the caller (the environment)."""

    name = "binance"

    def __init__(self, cfg: Config, clock: Clock, api_key: str, api_secret: str) -> None:
        if not api_key or not api_secret:
            raise ValueError("BinanceBroker needs an API key and secret (BINANCE_API_KEY / BINANCE_API_SECRET)")
        self.cfg = cfg
        self.clock = clock
        self._key = _Secret(api_key)
        self._secret = _Secret(api_secret)
        self._client: AsyncClient | None = None
        self._assets: dict[str, tuple[str, str]] = {}  # symbol -> (base, quote)
        self.banned_until = 0.0  # time.monotonic() seconds: no request before (the exchange's Retry-After)
        self.orders_banned_until = 0.0  # the same for new orders only (-1015, the order-count limit)
        # at a restart: the longest recvWindow the book's open orders were sent with (set by recovery)
        self.earlier_recv_window_ms = 0
        # the exchange's clock minus this engine's (its clock: the machine's in live trading), at the
        # middle of the last ``time`` request's round trip, and when that was (the engine's clock)
        self.clock_offset_ms: int | None = None
        self.clock_offset_measured_ms: int | None = None

    def __repr__(self) -> str:
        where = self.cfg.binance.rest_url or ("testnet" if self.cfg.binance.testnet else "binance")
        return f"BinanceBroker({where}, started={self._client is not None})"

    __str__ = __repr__

    @property
    def in_flight_ms(self) -> int:
        """How long (ms) a request that got no answer may still reach the exchange: Binance
        refuses signed requests older than ``recvWindow``, plus a second for clock offset."""
        return int(self.cfg.binance.recv_window_ms) + 1000

    @property
    def earlier_in_flight_ms(self) -> int:
        """The same for the requests of an earlier process (the orders a restart reconciles): by
        the recvWindow they were sent with, which a changed configuration may have made longer
        than this one's."""
        return max(int(self.cfg.binance.recv_window_ms), int(self.earlier_recv_window_ms)) + 1000

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Create the client and synchronise the request timestamp with the exchange clock."""
        if self._client is not None:
            return
        self._client = create_client(self.cfg, self._key.get(), self._secret.get())
        try:
            await self._sync_time()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.close_connection(), 2.0)
            except Exception:  # noqa: BLE001 - closing must not fail
                log.debug("binance broker: closing the HTTP session failed")

    async def _sync_time(self) -> None:
        client = self._require()
        sent_ms = self.clock.now_ms()
        try:
            res = await client.get_server_time()
        except Exception as exc:  # noqa: BLE001
            err = self._map(exc, "server time")
            self._remember_ban(err, exc)  # a ban answered to the time request holds every request back
            raise err from None
        server_ms = res.get("serverTime") if isinstance(res, dict) else None
        if type(server_ms) is not int:  # (python-binance answers {} for an empty body)
            raise BrokerError(BrokerErrorKind.NETWORK, "server time: the exchange's answer holds no server time")
        # python-binance stamps requests with time.time() + timestamp_offset.
        client.timestamp_offset = server_ms - int(time.time() * 1000)
        now_ms = self.clock.now_ms()
        self.clock_offset_ms = server_ms - (sent_ms + now_ms) // 2
        self.clock_offset_measured_ms = now_ms

    async def measure_clock(self) -> int:
        """Measure the offset to the exchange's clock again (and stamp requests by it); the engine's
        health monitor does so now and then, so a clock that drifts shows before Binance refuses
        requests as outside ``recvWindow`` (-1021). Returns the offset (ms). Not during a
        rate-limit ban (asking then makes Binance escalate it)."""
        self._require()
        if (banned := self.ban_remaining_s()) > 0:
            raise BrokerError(BrokerErrorKind.RATE_LIMIT, f"server time: not sent, rate limited for {banned:.0f} s",
                              None, banned)
        await self._sync_time()
        assert self.clock_offset_ms is not None
        return self.clock_offset_ms

    def health(self) -> dict[str, Any]:
        """The last measured offset to the exchange's clock (None: not measured yet), when it was
        measured (the engine's clock) and the ``recvWindow`` requests are sent with."""
        return {
            "clock_offset_ms": self.clock_offset_ms,
            "clock_offset_measured_ms": self.clock_offset_measured_ms,
            "recv_window_ms": int(self.cfg.binance.recv_window_ms),
        }

    def _scrub_text(self, text: str) -> str:
        for value in (self._key.get(), self._secret.get()):
            text = text.replace(value, "<redacted>")
        return text

    def _map(self, exc: BaseException, what: str, sent: bool = False) -> BrokerError:
        """:func:`map_error` without this broker's key or secret in the text: an exchange or a proxy
        in front of it may echo the key (``Invalid API-key <key>``) in an error's message, in a form
        no pattern of :func:`scrub_request_details` knows. Scrubbed before the message is cut short,
        so no part of the key is left either."""
        if isinstance(exc, BinanceAPIException) and isinstance(exc.message, str):
            exc.message = self._scrub_text(exc.message)
        return self._scrub(map_error(exc, what, sent))

    def _scrub(self, err: BrokerError) -> BrokerError:
        """``err`` without this broker's key or secret in its text (see :meth:`_map`)."""
        text = err.args[0] if err.args else ""
        clean = self._scrub_text(text)
        return err if clean == text else BrokerError(err.kind, clean, err.code, err.retry_after_s)

    def _require(self) -> AsyncClient:
        if self._client is None:
            raise BrokerError(BrokerErrorKind.NETWORK, "broker not started")
        return self._client

    def ban_remaining_s(self) -> float:
        """Seconds left of the exchange's last rate-limit ban (``Retry-After``), 0 when none."""
        return max(0.0, self.banned_until - time.monotonic())

    def _remember_ban(self, err: BrokerError, exc: BaseException) -> None:
        """Keep the ban a RATE_LIMIT ``err`` (mapped from ``exc``) was answered with, so no request
        goes out before it ends. Without Retry-After (a proxy dropped it) its length comes from
        Binance's message (the ban's end, on the exchange's clock) or is Binance's shortest ban."""
        if err.kind != BrokerErrorKind.RATE_LIMIT:
            return
        if err.retry_after_s is None and isinstance(exc, BinanceAPIException):
            err.retry_after_s = ban_wait_s(exc, self.clock.now_ms() + (self.clock_offset_ms or 0))
        if err.retry_after_s:
            until = time.monotonic() + err.retry_after_s
            if err.code == -1015:  # too many new orders: the account's order count, not the IP
                self.orders_banned_until = max(self.orders_banned_until, until)
            else:
                self.banned_until = max(self.banned_until, until)

    async def _call(self, what: str, fn: Callable[[AsyncClient], Awaitable[T]], sent: bool = False) -> T:
        client = self._require()
        banned = self.ban_remaining_s()
        if sent:  # a new order
            banned = max(banned, self.orders_banned_until - time.monotonic())
        if banned > 0:  # asking again during a ban makes Binance escalate it (429 -> 418 IP ban)
            raise BrokerError(
                BrokerErrorKind.RATE_LIMIT,
                f"{scrub_request_details(what)}: not sent, rate limited by the exchange for another {banned:.0f} s",
                None,
                banned,
            )
        for attempt in range(2):
            try:
                return await fn(client)
            except BinanceAPIException as exc:
                if exc.code == -1021 and attempt == 0:
                    log.warning("%s: request time outside recvWindow; resynchronising the clock", what)
                    await self._sync_time()
                    continue
                err, failure = self._map(exc, what, sent), exc
            except Exception as exc:  # noqa: BLE001 - mapped to a BrokerError kind
                err, failure = self._map(exc, what, sent), exc
            self._remember_ban(err, failure)
            log.warning("binance broker: %s", err)
            raise err from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- orders -------------------------------------------------------------------------

    async def submit(self, req: OrderRequest) -> OrderResult:
        """Send a MARKET or LIMIT IOC order; the FULL answer's fills are parsed."""
        if not is_valid_client_order_id(req.client_order_id):
            raise BrokerError(BrokerErrorKind.REJECTED, f"invalid client order id {req.client_order_id!r}")
        if not isinstance(req.quantity, Decimal) or not req.quantity.is_finite() or req.quantity <= 0:
            raise BrokerError(BrokerErrorKind.REJECTED, f"quantity must be a positive Decimal, got {req.quantity!r}")
        params: dict[str, Any] = {
            "symbol": req.symbol,
            "side": Side(req.side).value,
            "type": OrderType(req.type).value,
            "quantity": _plain(req.quantity),
            "newClientOrderId": req.client_order_id,
            "newOrderRespType": "FULL",
        }
        if req.type == OrderType.LIMIT:
            if req.price is None or not req.price.is_finite() or req.price <= 0:
                raise BrokerError(BrokerErrorKind.REJECTED, "a LIMIT order needs a positive price")
            params["timeInForce"] = "IOC"
            params["price"] = _plain(req.price)
        resp = await self._call(f"submit {req.client_order_id}", lambda c: c.create_order(**params), sent=True)
        await self._ensure_assets([req.symbol])
        try:
            if not isinstance(resp, dict):
                raise TypeError(f"a JSON {type(resp).__name__}, not an object")
            res = self._result(resp, req.client_order_id, req.symbol, Side(req.side), resp.get("fills") or [])
            listed = sum((f.quantity for f in res.fills), Decimal(0))
            if listed < res.executed_qty:  # without its fills the commission and its asset are a guess
                raise BrokerError(
                    BrokerErrorKind.TIMEOUT,
                    f"{_plain(res.executed_qty)} executed, fills for {_plain(listed)} in the answer",
                )
            return res
        except (BrokerError, LookupError, TypeError, ValueError, AttributeError) as exc:
            # the exchange took the order (it answered 2xx) but what it did cannot be read: not a
            # rejection - the order is looked up by its client id before anything else happens
            why = exc.args[0] if isinstance(exc, BrokerError) and exc.args else f"{type(exc).__name__}: {exc}"
            raise self._scrub(BrokerError(
                BrokerErrorKind.TIMEOUT,
                scrub_request_details(
                    f"submit {req.client_order_id}: unreadable answer ({self._scrub_text(str(why))[:80]}), outcome unknown"
                ),
            )) from None

    async def cancel(self, symbol: str, client_order_id: str) -> OrderResult:
        resp = await self._call(
            f"cancel {client_order_id}",
            lambda c: c.cancel_order(symbol=symbol, origClientOrderId=client_order_id),
        )
        if not _is_order(resp):  # the cancel may have gone through: its caller looks the order up
            raise BrokerError(BrokerErrorKind.TIMEOUT, f"cancel {client_order_id}: the exchange's answer holds no order")
        return self._result(resp, client_order_id, symbol, None, await self._cancel_trades(resp, symbol, client_order_id))

    async def _cancel_trades(self, resp: dict[str, Any], symbol: str, client_order_id: str) -> list[dict[str, Any]]:
        """The trades of a canceled order that traded before the cancel (``executedQty`` > 0): a
        cancel's answer lists no fills, and without them the caller books an estimated fill (the
        average price, a guessed fee in the quote asset). Looked up as :meth:`query` does; when
        that fails or lists less than the executed quantity, none (the estimate), logged: the
        cancel itself went through, so it is not failed for it."""
        try:
            executed = _dec(resp.get("executedQty", "0"), "executedQty")
        except BrokerError:
            return []  # (the answer's own parse says so)
        if executed <= 0:
            return []
        order_id = resp.get("orderId")
        why = "the answer holds no order id"
        if isinstance(order_id, int) and not isinstance(order_id, bool):
            try:
                trades = await self._order_trades(symbol, client_order_id, order_id)
                with self._unreadable(f"trades of {client_order_id}"):
                    listed = sum((_dec(t.get("qty", "0"), "trade quantity") for t in trades), Decimal(0))
                    for t in trades:
                        _dec(t["price"], "fill price")
                if listed >= executed:
                    await self._ensure_assets([symbol])
                    return trades
                why = f"trades listed for {_plain(listed)} so far"
            except BrokerError as e:
                why = str(e)
        log.warning(
            "cancel %s: %s executed before the cancel, its trades not read (%s): booked at the average "
            "price with an estimated fee",
            client_order_id,
            _plain(executed),
            why,
        )
        return []

    async def query(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order as the exchange knows it (fills from ``myTrades``), or None if it never saw it.
        Trades listed for less than the executed quantity (``myTrades`` lagging) -> TIMEOUT: the
        caller looks again rather than book fills without their real prices and commissions."""
        try:
            resp = await self._call(
                f"query {client_order_id}",
                lambda c: c.get_order(symbol=symbol, origClientOrderId=client_order_id),
            )
        except BrokerError as e:
            if e.kind == BrokerErrorKind.UNKNOWN_ORDER:
                return None
            raise
        if not _is_order(resp):  # (python-binance answers {} for an empty body): no order is no NEW one
            raise BrokerError(BrokerErrorKind.NETWORK, f"query {client_order_id}: the exchange's answer holds no order")
        with self._unreadable(f"query {client_order_id}"):
            executed = _dec(resp.get("executedQty", "0"), "executedQty")
        trades: list[dict[str, Any]] = []
        if executed > 0:
            order_id = resp.get("orderId")
            if not isinstance(order_id, int) or isinstance(order_id, bool):
                # python-binance drops a None parameter: the request would list every trade of the symbol
                raise BrokerError(BrokerErrorKind.NETWORK, f"query {client_order_id}: the exchange's answer holds no order id")
            trades = await self._order_trades(symbol, client_order_id, order_id)
            with self._unreadable(f"query {client_order_id}"):
                listed = sum((_dec(t.get("qty", "0"), "trade quantity") for t in trades), Decimal(0))
            if listed < executed:
                # myTrades can lag behind the order (Binance serves both from a database that
                # follows the matching engine): a fill made up from the average price would guess
                # the commission and its asset - look again later instead
                raise BrokerError(
                    BrokerErrorKind.TIMEOUT,
                    f"query {client_order_id}: {_plain(executed)} executed, trades listed for "
                    f"{_plain(listed)} so far; looked up again",
                )
        await self._ensure_assets([symbol])
        with self._unreadable(f"query {client_order_id}"):
            return self._result(resp, client_order_id, symbol, None, trades)
        raise AssertionError("unreachable")  # pragma: no cover (mypy: the context may swallow)

    @contextlib.contextmanager
    def _unreadable(self, what: str) -> Iterator[None]:
        """A lookup's answer that cannot be read (a bad number, a trade without its price) is a
        passing failure (NETWORK: the caller looks again), not a rejection: a REJECTED lookup made
        the order manager give an order the exchange holds up as of unknown outcome at once."""
        try:
            yield
        except BrokerError as e:
            if e.kind != BrokerErrorKind.REJECTED:
                raise
            why = e.args[0] if e.args else "?"
            raise self._scrub(BrokerError(BrokerErrorKind.NETWORK, f"{what}: unreadable answer ({why}); looked up again")) from None
        except (LookupError, TypeError, ValueError, AttributeError) as exc:
            raise self._scrub(BrokerError(
                BrokerErrorKind.NETWORK,
                f"{what}: unreadable answer ({type(exc).__name__}); looked up again",
            )) from None

    async def _order_trades(self, symbol: str, client_order_id: str, order_id: int) -> list[dict[str, Any]]:
        """The trades of one order (``myTrades``), only that order's whatever else an answer lists.
        One page holds at most :data:`TRADES_PAGE` trades, the most recent ones: when the first
        is full, the order's trades are read again from the start, a page at a time by trade id
        (``fromId``), so an order with more trades than a page can still be settled."""
        what = f"trades of {client_order_id}"

        async def page(from_id: int | None) -> list[Any]:
            args: dict[str, Any] = {"symbol": symbol, "orderId": order_id, "limit": TRADES_PAGE}
            if from_id is not None:
                args["fromId"] = from_id
            return _listed(await self._call(what, lambda c: c.get_my_trades(**args)), what)

        def mine(rows: list[Any]) -> list[dict[str, Any]]:
            return [t for t in rows if isinstance(t, dict) and t.get("orderId") == order_id]

        rows = await page(None)
        if len(rows) < TRADES_PAGE:
            return mine(rows)
        by_id: dict[int, dict[str, Any]] = {}
        from_id = 0
        for _ in range(MAX_TRADE_PAGES):
            rows = await page(from_id)
            own = [t for t in mine(rows) if type(t.get("id")) is int]
            ids = [t["id"] for t in own]
            by_id.update((t["id"], t) for t in own)
            if len(rows) < TRADES_PAGE or not ids or max(ids) < from_id:
                break
            from_id = max(ids) + 1
        return [by_id[i] for i in sorted(by_id)]

    async def open_orders(self) -> list[OrderResult]:
        resp = _objects(await self._call("open orders", lambda c: c.get_open_orders()), "open orders", "order")
        return [self._result(o, str(o.get("clientOrderId", "")), str(o.get("symbol", "")), None, []) for o in resp]

    async def resting_orders(self, symbols: Sequence[str]) -> list[tuple[str, str]]:
        """The orders open on the exchange in ``symbols``: (client order id, a description
        naming the symbol, side, quantity, price and client id), from one request."""
        want = set(symbols)
        resp = _objects(await self._call("open orders", lambda c: c.get_open_orders()), "open orders", "order")
        out = []
        for o in resp:
            sym = str(o.get("symbol", ""))
            if sym not in want:
                continue
            cid = str(o.get("clientOrderId", ""))
            out.append((cid, f"{sym} {o.get('side', '?')} {o.get('origQty', '?')} @ {o.get('price', '?')} "
                             f"({o.get('type', '?')}, client id {cid})"))
        return out

    async def balances(self) -> dict[str, Decimal]:
        """Free balance per asset (assets with nothing free or locked are left out)."""
        return (await self.account_balances())[0]

    async def account_balances(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """``(free, locked)`` balances per asset (assets with nothing free or locked are left
        out of both): a coin locked in a resting order (placed by hand, in another pair) is still
        the account's, which the start-up reconciliation must not take for sold."""
        resp = await self._call("account", lambda c: c.get_account())
        if not isinstance(resp, dict) or not isinstance(resp.get("balances"), list):
            # (python-binance answers {} for an empty body): no list is no empty account
            raise BrokerError(BrokerErrorKind.NETWORK, "account: the exchange's answer holds no balances")
        out: dict[str, Decimal] = {}
        held: dict[str, Decimal] = {}
        for i, b in enumerate(_objects(resp["balances"], "account", "balance")):
            asset = b.get("asset")
            if not isinstance(asset, str) or not asset:
                raise BrokerError(
                    BrokerErrorKind.NETWORK, f"account: the exchange's answer holds a balance without an asset (item {i + 1})"
                )
            free = _dec(b.get("free", "0"), f"{_shown(asset)} balance")
            locked = _dec(b.get("locked", "0"), f"{_shown(asset)} balance")
            if free != 0 or locked != 0:
                out[asset], held[asset] = free, locked
        return out, held

    async def exchange_filters(self, symbols: Sequence[str]) -> dict[str, SymbolFilters]:
        """Filters of ``symbols`` from exchangeInfo (unknown symbols are left out, with a warning)."""
        info = await self._call("exchangeInfo", lambda c: c.get_exchange_info())
        try:
            all_f = parse_exchange_info(info)
        except ValueError as e:
            raise BrokerError(BrokerErrorKind.REJECTED, f"exchangeInfo: {e}") from None
        for s, f in all_f.items():
            self._assets[s] = (f.base_asset, f.quote_asset)
        want = list(symbols)
        missing = [s for s in want if s not in all_f]
        if missing:
            log.warning("exchange_filters: unknown symbol(s): %s", ", ".join(missing))
        return {s: all_f[s] for s in want if s in all_f}

    async def _ensure_assets(self, symbols: Sequence[str]) -> None:
        if all(s in self._assets for s in symbols):
            return
        with contextlib.suppress(BrokerError):  # else the quote-suffix rule in _split
            await self.exchange_filters(symbols)

    def _split(self, symbol: str) -> tuple[str, str]:
        if symbol in self._assets:
            return self._assets[symbol]
        q = self.cfg.broker.quote_asset.upper()
        return (symbol[: -len(q)], q) if symbol.endswith(q) else (symbol, q)

    # -- parsing --------------------------------------------------------------------------

    def _result(
        self, o: dict[str, Any], client_order_id: str, symbol: str, side: Side | None, fills: list[dict[str, Any]]
    ) -> OrderResult:
        status_txt = str(o.get("status", ""))
        status = _STATUS.get(status_txt)
        reason = ""
        if status is None:
            status = OrderStatus.NEW  # not final: the caller will ask again
            reason = f"unknown exchange status {status_txt!r}"
        elif status_txt == "EXPIRED_IN_MATCH":  # it would have traded against this account's own order
            reason = "expired in match by self-trade prevention"
        elif status == OrderStatus.EXPIRED:
            reason = "IOC remainder expired" if _dec(o.get("executedQty", "0"), "executedQty") > 0 else "expired unfilled"
        if side is None:
            try:
                side = Side(str(o.get("side", "")))
            except ValueError:
                side = Side.BUY
        ts = _ms(o.get("transactTime") or o.get("updateTime") or o.get("time") or self.clock.now_ms(), "order time")
        return OrderResult(
            client_order_id=client_order_id,
            status=status,
            exchange_order_id=str(o.get("orderId", "")),
            executed_qty=_dec(o.get("executedQty", "0"), "executedQty"),
            quote_qty=_dec(o.get("cummulativeQuoteQty", "0"), "cummulativeQuoteQty"),
            fills=[self._fill(f, client_order_id, symbol, side, ts) for f in fills],
            reason=reason,
        )

    def _fill(self, f: dict[str, Any], client_order_id: str, symbol: str, side: Side, ts: int) -> Fill:
        base, quote = self._split(symbol)
        price = _dec(f["price"], "fill price")
        qty = _dec(f["qty"], "fill quantity")
        commission = _dec(f.get("commission", "0"), "commission")
        asset = str(f.get("commissionAsset", quote))
        fee = commission * price if asset == base and asset != quote else commission
        return Fill(
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            price=price,
            quantity=qty,
            fee=fee,
            fee_asset=asset,
            ts_ms=_ms(f.get("time", ts), "fill time"),
            trade_id=str(f.get("tradeId", f.get("id", ""))),
        )
