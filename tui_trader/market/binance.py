"""Live Binance spot market feed: python-binance REST + supervised websocket streams.

Transport choice
----------------
Both REST and streams go through python-binance: :class:`binance.AsyncClient` for REST
(``API_URL`` overridden from ``cfg.binance.rest_url``) and its
:class:`~binance.ws.reconnecting_websocket.ReconnectingWebsocket` for the combined streams
(URL from ``cfg.binance.stream_url``), so the feed runs against a local stand-in exactly as
against Binance; with no override, ``cfg.binance.testnet`` picks Binance's testnet URLs.

python-binance alone is not enough for a long-running feed: it does not notice a socket that
stays open but goes silent, stops for good after a queue overflow or five failed reconnects,
kills its read loop on one non-JSON frame, and does no rate-limit backoff. So it is wrapped:

* Each connection's python-binance socket is made *single-shot* (``MAX_RECONNECTS = 0``,
  undecodable frames become a marker instead of killing the loop) and owned by a supervisor
  task here that recreates it — with exponential backoff and jitter, started over only after a
  connection that worked for ``stable_after_s`` (60 s) — on an error message in
  the queue (``{"e": "error", ...}``), a closed read loop (overflow, disconnect), a stale
  stream, or the planned reconnect before Binance's 24 h connection limit.
* A watchdog measures silence per stream on the monotonic clock (immune to wall-clock jumps):
  no message with a newer event time (``E``) than the stream's newest for
  ``cfg.feed.stale_after_s`` (messages that repeat or go back in event time are no sign of life)
  marks the stream stale in :meth:`BinanceFeed.health`
  and recreates its connection (a connection whose other streams still flow is recreated with
  a growing back-off, so one halted symbol does not cause churn); the stream's newest event time
  is then forgotten, so one stamped ahead costs one reconnect, not minutes of them.
* After every (re)connect the closed klines missed since the last one seen per symbol are
  fetched from REST (paginated) and emitted, in open-time order, before any live message of
  that connection; duplicates are dropped by open time (and the validation's
  ``last_open_time`` guard would reject any left); a closed kline older than the newest
  emitted one is counted in ``health()["late_dropped"]``. Closed klines off the interval
  grid or closing in the future (the injected clock) are rejected as ``bad_time``.
* REST calls honour ``Retry-After`` (seconds, or an HTTP-date) on 429/418 and back off on network
  errors and 5xx (:class:`RestRetry`, shared with the downloader; while reads wait out a rate
  limit, the others wait until the last such wait is over); an error body that is JSON but no
  object is an unreadable one (:class:`_Client`); a kline page, 24 h ticker list or exchangeInfo
  answer of the wrong shape is asked for again.
* :meth:`BinanceFeed.stop` is bounded: it cancels the supervisors, aborts sockets that do not
  close within a second, and returns within a few seconds whatever the peer does.

Streams: ``!miniTicker@arr`` (all-market prices; ``!ticker@arr`` was retired in 2026) and one
``<symbol>@kline_<interval>`` per monitored symbol, multiplexed and split across connections
at ``max_streams_per_connection`` (Binance allows 1024) or when the combined-stream URL would
pass Binance's ~8000-character limit (about 440 kline streams), whichever comes first.

Events: :class:`~tui_trader.models.PriceBatch` per mini-ticker message; closed klines are
gathered per open time and emitted as one :class:`~tui_trader.models.KlineBatch` when every
symbol has reported or ``close_grace_s`` after the first close (in-progress klines are not
emitted: prices come from the mini-ticker). Every message is parsed and validated
(:mod:`tui_trader.market.binance_payloads`, :mod:`tui_trader.market.validation`); garbage is
rejected, counted and logged (rate-limited), never raised.

Units: times are integer milliseconds since the epoch (UTC) from the injected clock;
durations (``stale_after_s``, back-off, grace) are seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import numpy as np
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException, ReadLoopClosed
from binance.ws.constants import WSListenerState
from binance.ws.reconnecting_websocket import ReconnectingWebsocket
from binance.ws.streams import BinanceSocketManager

from tui_trader.clock import Clock, interval_to_ms, kline_open_ms
from tui_trader.config import Config
from tui_trader.market.binance_payloads import (
    parse_exchange_info,
    parse_kline_event,
    parse_mini_ticker_array,
    parse_rest_klines,
)
from tui_trader.market.feed import FeedError, MarketEvent
from tui_trader.market.validation import (
    FUTURE_SLACK_MS,
    PriceGuard,
    RejectCounter,
    validate_kline_batch,
    validate_price_batch,
)
from tui_trader.models import KlineBatch, PriceBatch, SymbolFilters

log = logging.getLogger("tui_trader.market.binance")

MINI_TICKER_STREAM = "!miniTicker@arr"
STREAM_LIMIT = 1024  # Binance: streams per websocket connection
URL_LIMIT = 8000  # Binance refuses websocket URLs longer than about 8004 characters
KLINE_LIMIT = 1000  # Binance: rows per /api/v3/klines request
CONNECTION_MAX_AGE_S = 23.5 * 3600  # Binance drops connections after 24 h; reconnect before
_UNDECODABLE = "_undecodable"

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Client plumbing shared with the broker and the downloader
# ---------------------------------------------------------------------------


def rest_api_url(cfg: Config) -> str | None:
    """python-binance ``API_URL`` for ``cfg.binance.rest_url`` (``.../api``), or None = library default."""
    base = cfg.binance.rest_url.strip().rstrip("/")
    if not base:
        return None
    return base if base.endswith("/api") else base + "/api"


def stream_base_url(cfg: Config) -> str:
    """Websocket base URL with a trailing slash (``wss://stream.binance.com:9443/``)."""
    base = cfg.binance.stream_url.strip().rstrip("/")
    if not base:
        return BinanceSocketManager.STREAM_TESTNET_URL if cfg.binance.testnet else (
            BinanceSocketManager.STREAM_URL.format("com")
        )
    for suffix in ("/ws", "/stream"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + "/"


class _Client(AsyncClient):
    """python-binance's client whose error answers are always a :class:`BinanceAPIException`.

    python-binance reads an error body with ``json.loads(body).get("code")``: a body that is JSON
    but not an object (``[]``, ``null``, ``"Service Unavailable"`` from a proxy or a gateway) made
    it raise AttributeError instead, which said nothing of the HTTP status: a 503 to an order
    lookup read as a final rejection, and the feed's reads were not retried. Such a body is now
    what an HTML page is: an unreadable body (code 0) with its status. The text of such an error
    names its status only: python-binance's holds the repr of the answer, the signed request's URL
    (timestamp and signature) in it; nor do the ``args`` (``repr``) of any error hold the answer."""

    async def _handle_response(self, response: aiohttp.ClientResponse) -> Any:
        if not str(response.status).startswith("2"):
            text = await response.text()
            try:
                readable = isinstance(json.loads(text), dict)
            except (ValueError, RecursionError):  # (RecursionError: JSON nested past Python's limit)
                readable = False
            exc = BinanceAPIException(response, response.status, text if readable else "")
            if not readable:  # python-binance's text repeats the signed request's URL: never kept
                exc.message = f"Invalid JSON error message from Binance (HTTP {response.status})"
            exc.args = (str(exc),)  # not the answer object, whose repr is the signed URL
            raise exc
        try:
            return await super()._handle_response(response)
        except RecursionError:  # an answer nested past Python's limit: unreadable, as invalid JSON is
            raise BinanceRequestException("Invalid Response: JSON nested too deep") from None


def create_client(cfg: Config, api_key: str | None = None, api_secret: str | None = None) -> AsyncClient:
    """An :class:`AsyncClient` pointed at the configured endpoints (call inside the event loop).

    No request is made (``AsyncClient.create`` would ping the default URL before the override).
    Request timeout ``cfg.binance.request_timeout_s`` seconds, recvWindow ``recv_window_ms``.
    An error answer whose body is JSON but no object is an unreadable body (:class:`_Client`).
    """
    client = _Client(api_key, api_secret, testnet=cfg.binance.testnet)
    url = rest_api_url(cfg)
    if url is not None:
        client.API_URL = url
        client.API_TESTNET_URL = url
    client.REQUEST_TIMEOUT = float(cfg.binance.request_timeout_s)
    client.REQUEST_RECVWINDOW = int(cfg.binance.recv_window_ms)
    return client


def is_rate_limit(exc: BaseException) -> bool:
    """HTTP 429/418 or Binance -1003 (too many requests) / -1015 (too many orders)."""
    return isinstance(exc, BinanceAPIException) and (
        exc.status_code in (429, 418) or exc.code in (-1003, -1015)
    )


#: The longest ``Retry-After`` taken (s): Binance's IP bans last from 2 minutes up to 3 days.
MAX_RETRY_AFTER_S = 3 * 86_400.0


def retry_after_s(exc: BaseException) -> float | None:
    """The ``Retry-After`` header (seconds) of a python-binance API error, if any: at most
    :data:`MAX_RETRY_AFTER_S`; a value that is not a finite number (``inf``, ``nan``, ``1e400``
    from a broken proxy) counts as none. ``inf`` was a ban for the rest of the process."""
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None)
    if headers is None:
        return None
    raw = headers.get("Retry-After")
    try:
        ra = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
    if ra is None or not math.isfinite(ra):
        return None
    return min(max(0.0, ra), MAX_RETRY_AFTER_S)


def _http_date_s(raw: Any) -> float | None:
    """Seconds since the epoch of an HTTP-date, None when ``raw`` is none. Always GMT (RFC 9110):
    ``email.utils`` gives the obsolete asctime form and a ``-0000`` zone no time zone, which
    ``timestamp`` took as the machine's local time (a ban hours off on a machine not on UTC)."""
    if not isinstance(raw, str):
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _retry_after_date_s(exc: BaseException, now_ms: int) -> float | None:
    """The wait (s) a ``Retry-After`` in its HTTP-date form asks for (RFC 9110 allows it; a proxy
    or CDN in front of the exchange may send it): from the answer's own ``Date`` header when it has
    one (both on the server's clock), else from ``now_ms``; at most :data:`MAX_RETRY_AFTER_S`.
    None when there is no such date or it is not in the future."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    until = _http_date_s(headers.get("Retry-After")) if headers is not None else None
    if until is None:
        return None
    ref = _http_date_s(headers.get("Date"))
    wait = until - (now_ms / 1000.0 if ref is None else ref)
    if not math.isfinite(wait) or wait <= 0:
        return None
    return min(wait, MAX_RETRY_AFTER_S)


_BANNED_UNTIL_RE = re.compile(r"\bbanned until (\d{10,16})\b", re.IGNORECASE)
#: The wait (s) after an IP ban (HTTP 418) whose answer says not how long: Binance's shortest ban.
MIN_IP_BAN_S = 120.0


def ban_wait_s(exc: BaseException, now_ms: int) -> float | None:
    """How long (s) a rate-limit answer asks to wait: its ``Retry-After`` (:func:`retry_after_s`)
    or its HTTP-date form (:func:`_retry_after_date_s`); without one (a proxy that drops headers),
    the end of the ban Binance's -1003 message gives
    (``IP banned until 1700000000000``, exchange ms, against ``now_ms``, the exchange's time now);
    else :data:`MIN_IP_BAN_S` for an IP ban (418); else None (a 429 that says not how long).

    An end that reads as past (``now_ms`` ahead of the exchange's clock, or an end not in ms) is no
    end: the answer itself says the ban holds now, so it counts as a ban that says not how long.
    An end beyond Binance's longest ban (:data:`MAX_RETRY_AFTER_S`, 3 days) is held to it, with a
    warning."""
    ra = retry_after_s(exc)
    if ra is not None or not isinstance(exc, BinanceAPIException):
        return ra
    if (until := _retry_after_date_s(exc, now_ms)) is not None:
        return until
    m = _BANNED_UNTIL_RE.search(str(exc.message or ""))
    if m is not None and (wait := (int(m.group(1)) - now_ms) / 1000.0) > 0:
        if wait > MAX_RETRY_AFTER_S:
            log.warning(
                "the exchange's ban ends in %.0f s, beyond Binance's longest ban: waiting %.0f s",
                wait,
                MAX_RETRY_AFTER_S,
            )
        return min(wait, MAX_RETRY_AFTER_S)
    return MIN_IP_BAN_S if exc.status_code == 418 else None


#: Binance's "execution status unknown" answers (-1006 unexpected response, -1007 timeout waiting
#: for the backend), which come with HTTP 400 too: a read is safe to ask again.
_UNKNOWN_OUTCOME_CODES = (-1006, -1007)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, BinanceAPIException):  # 408: Binance's backend timed out (a read: try again)
        return exc.status_code >= 500 or exc.status_code == 408 or exc.code in _UNKNOWN_OUTCOME_CODES
    return isinstance(exc, asyncio.TimeoutError | aiohttp.ClientError | BinanceRequestException | OSError)


def exp_backoff(base_s: float, max_s: float, k: int, rng: random.Random) -> float:
    """``min(max_s, base_s * 2**k)`` seconds with jitter (× 0.5…1). The exponent is capped: after
    ~1024 failed attempts in a row (hours of an outage at 30 s each) ``2**k`` would pass the
    largest float and raise OverflowError, ending the reconnect loop for good."""
    return min(max_s, base_s * 2.0 ** min(k, 64)) * rng.uniform(0.5, 1.0)


class RateLimited(Exception):
    """The exchange banned requests for longer than we are willing to wait (418 / long Retry-After)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RestRetry:
    """Retry policy for idempotent REST reads.

    429/418 (and -1003/-1015): wait ``Retry-After`` seconds (or the back-off when absent) and
    retry. A wait above ``max_retry_after_s`` (an IP ban) is not attempted: the error is raised
    and, until the ban has passed (monotonic time), every call raises :class:`RateLimited`
    without touching the network, so reconnect loops cannot prolong a ban. Timeouts,
    connection errors, 5xx and Binance's -1006/-1007 (execution status unknown, HTTP 400 too):
    exponential back-off ``base_s * 2**k`` (capped at ``max_s``) with jitter. Anything else is
    raised at once. ``sleep`` is injected (the clock's, or a
    recorder in tests). ``now_ms`` (the clock's): an answer without ``Retry-After`` is read for the
    end of its ban (:func:`ban_wait_s`).
    """

    def __init__(
        self,
        sleep: Callable[[float], Awaitable[None]],
        attempts: int = 5,
        base_s: float = 0.5,
        max_s: float = 30.0,
        max_retry_after_s: float = 300.0,
        rng: random.Random | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.sleep = sleep
        self.now_ms = now_ms
        self.attempts = max(1, attempts)
        self.base_s = base_s
        self.max_s = max_s
        self.max_retry_after_s = max_retry_after_s
        self.rng = rng or random.Random()
        self.rate_limited = 0
        self.retries = 0
        self.last_retry_after_s: float | None = None
        self.banned_until = 0.0  # time.monotonic() seconds
        # while calls wait out a rate limit (``_holds`` of them), every other call waits for the
        # last of them: ``_resume`` is set then (see call)
        self._holds = 0
        self._resume: asyncio.Event | None = None

    def backoff(self, k: int) -> float:
        return exp_backoff(self.base_s, self.max_s, k, self.rng)

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn()`` under the policy. While calls wait out a rate limit (a ``Retry-After``), every
        other call waits too, until the last of those waits is over, before it sends: the feed
        reads many symbols at once, and the others went on asking during the wait, each one
        answered 429 again - the repeated violations after which Binance bans the IP (418), for
        longer each time."""
        last: BaseException | None = None
        for k in range(self.attempts):
            while (resume := self._resume) is not None:
                await resume.wait()
            banned = self.banned_until - time.monotonic()
            if banned > 0:
                raise RateLimited(f"{what}: requests banned by the exchange for another {banned:.0f} s", banned)
            try:
                return await fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                last = exc
                if is_rate_limit(exc):
                    self.rate_limited += 1
                    ra = retry_after_s(exc) if self.now_ms is None else ban_wait_s(exc, self.now_ms())
                    self.last_retry_after_s = ra
                    wait = ra if ra is not None else self.backoff(k)
                    if wait > self.max_retry_after_s:
                        self.banned_until = time.monotonic() + wait
                        log.error("%s: rate limited for %.0f s (HTTP %s); not retrying", what, wait, exc.status_code)
                        raise
                    cause, then = f"rate limited (HTTP {exc.status_code})", "waiting"
                elif _transient(exc):
                    wait = self.backoff(k)
                    cause, then = describe_error(exc), "retrying in"
                else:
                    raise
                if k + 1 >= self.attempts:  # no wait and no retry follow: do not promise one
                    log.warning("%s: %s, giving up after %d attempts", what, cause, self.attempts)
                else:
                    log.warning("%s: %s, %s %.1f s", what, cause, then, wait)
                    self.retries += 1
                    if is_rate_limit(exc):
                        await self._hold(wait)
                    else:
                        await self.sleep(wait)
        assert last is not None
        raise last

    async def _hold(self, wait: float) -> None:
        """Wait out a rate limit, holding every other call back until the last such wait under
        way is over (a 429's Retry-After and an IP ban's, answered to two reads at once)."""
        self._holds += 1
        if self._resume is None:
            self._resume = asyncio.Event()
        try:
            await self.sleep(wait)
        finally:
            self._holds -= 1
            if self._holds == 0 and (resume := self._resume) is not None:
                self._resume = None
                resume.set()


_URL_RE = re.compile(r"(?:https?|wss?)://\S*", re.IGNORECASE)
_QUERY_RE = re.compile(r"\?\S*")
_PARAMS_RE = re.compile(r"\b(?:signature|timestamp|recvWindow|apiKey)=\S*", re.IGNORECASE)
# the signature or the key header echoed in any other form (``"signature": "…"``, ``signature:…``,
# ``signature%3D…``, ``X-MBX-APIKEY: …``), and an HMAC-SHA256 in hex wherever it stands
_ECHOED_RE = re.compile(
    r"""\b(signature|x-mbx-apikey|api[-_]?key)\b["']?\s*(?:[:=]|%3D)\s*["']?[^\s"',;&}]+""",
    re.IGNORECASE,
)
_HMAC_HEX_RE = re.compile(r"\b[0-9a-fA-F]{64}\b")


def scrub_request_details(text: str) -> str:
    """``text`` without URLs, query strings or signed parameters (``signature=...``).

    A signed request's URL carries its timestamp and HMAC signature; no error text built from
    an exchange answer may repeat it (error texts are logged and stored with the order). An error
    that echoes the signature or the ``X-MBX-APIKEY`` header in another form (a proxy's or a
    gateway's JSON, a header dump) has the value redacted too.
    """
    text = _URL_RE.sub("<url>", text)
    text = _PARAMS_RE.sub("<redacted>", text)
    text = _ECHOED_RE.sub(r"\1 <redacted>", text)
    text = _HMAC_HEX_RE.sub("<redacted>", text)
    return _QUERY_RE.sub("", text)


def api_error_message(exc: BinanceAPIException) -> str:
    """Binance's error message of ``exc``, or ``""`` when the body was not Binance's JSON.

    python-binance words an unreadable body (an HTML 403/429 from a firewall or proxy) as
    ``"Invalid JSON error message from Binance: <bound method ... url=...>"`` with code 0: that
    text holds the signed request URL, so it is never used.
    """
    msg = str(exc.message or "")
    if exc.code == 0 or msg.startswith("Invalid JSON"):
        return ""
    return scrub_request_details(msg)[:200]


def not_json_answer(exc: BaseException) -> bool:
    """A 2xx answer that is no JSON at all: a page of a proxy or portal in front of the address, or
    another service (aiohttp's refusal of a page's content type, python-binance's "Invalid Response",
    whose text repeats the answer, never echoed)."""
    return isinstance(exc, aiohttp.ContentTypeError) or (
        type(exc) is BinanceRequestException and str(exc.message).startswith("Invalid Response")
    )


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of a failed request (no URLs: they carry signatures);
    the feed, the downloader and the broker word their errors with it."""
    if isinstance(exc, BinanceAPIException):
        msg = api_error_message(exc)
        if not msg:
            return f"HTTP {exc.status_code}, unreadable body"
        return f"HTTP {exc.status_code} code {exc.code}: {msg}"
    if isinstance(exc, RateLimited | ValueError | UnexpectedAnswer):
        return str(exc)
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if not_json_answer(exc):
        return "an answer that is not Binance's JSON (a proxy's or a login page?)"
    if isinstance(exc, aiohttp.ClientConnectorError):  # host and port only, never the request's URL
        os_error = exc.os_error
        why = getattr(os_error, "strerror", None) or str(os_error) or type(os_error).__name__
        return f"{type(exc).__name__}: cannot connect to {exc.host}:{exc.port} ({why})"
    return type(exc).__name__


class UnexpectedAnswer(BinanceRequestException):
    """A 2xx answer of the wrong shape (a JSON object where a list belongs): passing, as
    python-binance's own "Invalid Response" is, so :class:`RestRetry` asks again."""

    def __str__(self) -> str:
        return str(self.message)


async def _listed(what: str, answer: Awaitable[Any]) -> list[Any]:
    """``answer``, refused (:class:`UnexpectedAnswer`, asked again) when it is not a list: a JSON
    object (``{}``, which python-binance makes of an empty body, or a proxy's answer) read as no
    klines or no tickers."""
    rows = await answer
    if not isinstance(rows, list):
        raise UnexpectedAnswer(f"{what}: the exchange's answer is a JSON {type(rows).__name__}, not a list")
    return rows


async def _kline_page(client: Any, symbol: str, params: dict[str, Any]) -> list[Any]:
    """One ``/api/v3/klines`` page, refused when it is not a list (:func:`_listed`): the feed's gap
    fill or history stopped there as if the exchange had no more."""
    return await _listed(f"klines {symbol}", client.get_klines(**params))


async def fetch_klines_range(
    client: AsyncClient,
    retry: RestRetry,
    symbol: str,
    interval: str,
    start_ms: int,
    end_ms: int | None = None,
    limit: int = KLINE_LIMIT,
    on_page: Callable[[list[list[Any]]], None] | None = None,
    after_request: Callable[[], Awaitable[None]] | None = None,
) -> list[list[Any]]:
    """All raw kline rows of ``symbol`` opening in ``[start_ms, end_ms]``, paged by ``limit``.

    Follows Binance's pagination: each page starts after the last open time received; stops
    on a short page or when no progress is made. ``on_page(rows)`` sees every page;
    ``after_request()`` is awaited after every successful request (e.g. a weight check).
    """
    iv = interval_to_ms(interval)
    out: list[list[Any]] = []
    cursor = int(start_ms)
    while end_ms is None or cursor <= end_ms:
        params: dict[str, Any] = {"symbol": symbol, "interval": interval, "startTime": cursor, "limit": limit}
        if end_ms is not None:
            params["endTime"] = int(end_ms)
        rows = await retry.call(f"klines {symbol}", lambda p=params: _kline_page(client, symbol, p))
        if after_request is not None:
            await after_request()
        if not rows:
            break
        out.extend(rows)
        if on_page is not None:  # a page ending in a malformed row too: on_page judges it
            on_page(rows)
        try:
            last_open = int(rows[-1][0])
        except (TypeError, ValueError, IndexError, KeyError):
            break
        if len(rows) < limit or last_open < cursor:
            break
        cursor = last_open + iv
    return out


# ---------------------------------------------------------------------------
# python-binance socket, made single-shot
# ---------------------------------------------------------------------------


class _StreamSocket(ReconnectingWebsocket):
    """python-binance's socket without its own reconnects (the feed supervises) and with
    undecodable frames turned into a marker message instead of ending the read loop."""

    MAX_RECONNECTS = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_task: asyncio.Task[Any] | None = None

    def _handle_message(self, evt: Any) -> Any:
        try:
            return self.json_loads(evt)
        except Exception:  # noqa: BLE001 - any undecodable frame
            return {"e": _UNDECODABLE, "size": len(evt) if hasattr(evt, "__len__") else 0}

    async def _read_loop(self) -> None:
        self.read_task = asyncio.current_task()
        await super()._read_loop()


async def _close_socket(rws: _StreamSocket | None, timeout_s: float = 1.0) -> None:
    """Close a python-binance socket in bounded time, whatever the peer does."""
    if rws is None:
        return
    rws.ws_state = WSListenerState.EXITING
    task = rws.read_task
    if task is not None and not task.done():
        task.cancel()
    ws = rws.ws
    if ws is not None:
        try:
            await asyncio.wait_for(ws.close(), timeout_s)
        except Exception:  # noqa: BLE001 - teardown must not fail
            transport = getattr(ws, "transport", None)
            if transport is not None:
                transport.abort()
    if task is not None and not task.done():
        await asyncio.wait({task}, timeout=timeout_s)
    rws.ws = None


# ---------------------------------------------------------------------------
# The feed
# ---------------------------------------------------------------------------


def plan_connections(
    streams: Sequence[str], max_streams: int = STREAM_LIMIT, max_url_chars: int = URL_LIMIT
) -> list[list[str]]:
    """Split ``streams`` (in order) into connections of at most ``max_streams`` streams whose
    combined-stream URL (``.../stream?streams=a/b/c``) stays under ``max_url_chars``."""
    budget = max_url_chars - 80  # scheme, host, port and "stream?streams="
    out: list[list[str]] = []
    cur: list[str] = []
    length = 0
    for s in streams:
        add = len(s) + (1 if cur else 0)
        if cur and (len(cur) >= max_streams or length + add > budget):
            out.append(cur)
            cur, length, add = [], 0, len(s)
        cur.append(s)
        length += add
    if cur:
        out.append(cur)
    return out


@dataclass
class _Conn:
    idx: int
    streams: list[str]
    kline_syms: dict[str, int]  # stream -> symbol index
    trigger: asyncio.Event = field(default_factory=asyncio.Event)
    state: str = "idle"  # idle | connecting | backfilling | streaming | backoff | stopped
    rws: _StreamSocket | None = None
    task: asyncio.Task[None] | None = None
    reconnects: int = 0
    connected_once: bool = False
    opened_mono: float = 0.0
    reason: str = ""
    last_reason: str = ""
    planned: bool = False
    received: int = 0
    last_rx: dict[str, float] = field(default_factory=dict)  # stream -> monotonic s
    last_rx_ms: dict[str, int] = field(default_factory=dict)  # stream -> clock ms
    # stream -> the newest event time (``E``, exchange ms) seen on it, over every reconnect
    last_event: dict[str, int] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)
    # streams that delivered a new event on this connection (a reconnect makes each look fresh
    # without one: that is no sign of health, and must not start the partial back-off over)
    live: set[str] = field(default_factory=set)
    partial_strikes: int = 0
    last_partial_mono: float = 0.0

    def recreate(self, reason: str, planned: bool = False) -> None:
        if not self.trigger.is_set():
            self.reason = reason
            self.planned = planned
            self.trigger.set()


def _event_time(data: Any) -> int | None:
    """The event time (``E``) of a stream message's payload: a kline event's, or the newest of a
    miniTicker array's first and last items (Binance stamps the whole array at once). None when
    it has none, and the message then counts as a sign of life by its arrival alone."""
    items = [data] if isinstance(data, dict) else [data[0], data[-1]] if isinstance(data, list) and data else []
    times = [e for it in items if isinstance(it, dict) and type(e := it.get("E")) is int]
    return max(times) if times else None


def _sorted_by_time_symbol(b: KlineBatch) -> KlineBatch:
    if len(b) <= 1:
        return b
    return b.take(np.lexsort((b.sym, b.open_time)))


_END = object()


class BinanceFeed:
    """Live market data from Binance spot (implements :class:`~tui_trader.market.feed.MarketFeed`).

    ``symbols`` overrides ``cfg.feed.symbols``; with neither, the universe rule picks the
    top ``cfg.feed.universe.top_n`` by 24 h quote volume among tradable
    ``cfg.feed.universe.quote_asset`` pairs. Tuning knobs (seconds) are constructor
    parameters so tests can shrink them.
    """

    kind = "binance"

    def __init__(
        self,
        cfg: Config,
        clock: Clock,
        *,
        symbols: list[str] | None = None,
        max_streams_per_connection: int = STREAM_LIMIT,
        close_grace_s: float = 1.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_connection_age_s: float = CONNECTION_MAX_AGE_S,
        max_queue_size: int = 10_000,
        max_pending_events: int = 10_000,
        rest_attempts: int = 5,
        backfill_concurrency: int = 8,
        stop_timeout_s: float = 3.0,
        stable_after_s: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 2 <= max_streams_per_connection <= STREAM_LIMIT:
            raise ValueError(f"max_streams_per_connection must be in 2..{STREAM_LIMIT}")
        self.cfg = cfg
        self.clock = clock
        self.interval = cfg.feed.interval
        self.interval_ms = interval_to_ms(self.interval)
        self.stale_after_s = float(cfg.feed.stale_after_s)
        self.max_streams = max_streams_per_connection
        self.close_grace_s = close_grace_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_connection_age_s = max_connection_age_s
        self.max_queue_size = max_queue_size  # python-binance's per-socket message queue
        self.max_pending_events = max_pending_events  # undelivered batches before prices are dropped
        self.backfill_concurrency = max(1, backfill_concurrency)
        self.stop_timeout_s = stop_timeout_s
        # a connection that delivered messages for this long starts its reconnect back-off over; one
        # dropped sooner goes on backing off (a server dropping every connection after a message
        # made a reconnect storm; Binance allows 300 connection attempts per 5 minutes per IP)
        self.stable_after_s = stable_after_s
        self._rng = rng or random.Random()
        self._explicit = [s.strip().upper() for s in (symbols if symbols is not None else cfg.feed.symbols)]
        self._symbols: list[str] = []
        self._sym_index: dict[str, int] = {}
        self._filters: dict[str, SymbolFilters] = {}
        self.counter = RejectCounter()
        self._server_offset_ms: Callable[[], int | None] | None = None  # see use_server_clock
        self._retry = RestRetry(clock.sleep, attempts=rest_attempts, base_s=backoff_base_s, max_s=backoff_max_s,
                                rng=self._rng, now_ms=self._exchange_now_ms)
        self._client: AsyncClient | None = None
        self._stream_url = stream_base_url(cfg)
        self._conns: list[_Conn] = []
        self._watch_task: asyncio.Task[None] | None = None
        self._out: asyncio.Queue[Any] = asyncio.Queue()
        self._last_open = np.empty(0, dtype=np.int64)  # newest emitted closed open time per symbol
        self._guard = PriceGuard(0, cfg.feed.max_price_jump)  # price_jump references, per symbol
        self._ref_open = np.empty(0, dtype=np.int64)  # gap-fill reference before any kline is seen
        self._last_event_ms = np.empty(0, dtype=np.int64)
        self._hist_floor = np.empty(0, dtype=np.int64)  # newest open time history() returned per symbol
        self._pending: dict[int, list[KlineBatch]] = {}
        self._pending_syms: dict[int, set[int]] = {}
        self._pending_since: dict[int, float] = {}
        self._started = False
        self._stopping = False
        self._stopped = False
        self.received = 0
        self.reconnects = 0
        self.planned_reconnects = 0
        self.backfilled = 0
        self.duplicates_dropped = 0
        self.late_dropped = 0  # closed klines older than the newest emitted one (not a copy of it)
        self.prices_dropped = 0
        self._rate_window: list[tuple[float, int]] = []
        self._events_per_s = 0.0
        self._log_last: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"BinanceFeed(symbols={len(self._symbols)}, interval={self.interval}, connections={len(self._conns)})"

    def use_server_clock(self, offset_ms: Callable[[], int | None]) -> None:
        """Read the exchange's clock as this one's plus ``offset_ms()`` (the exchange's minus this
        clock, as the live broker's clock check measures it; None: not measured). The end of an IP
        ban that Binance's message gives (``IP banned until <ms>``) is on the exchange's clock:
        measured against a machine clock that runs ahead, a 10-minute ban read as a short wait, and
        the feed asked again during the ban. Without it (or before a measurement) this clock is used."""
        self._server_offset_ms = offset_ms

    def _exchange_now_ms(self) -> int:
        now = self.clock.now_ms()
        offset = self._server_offset_ms() if self._server_offset_ms is not None else None
        return now + offset if isinstance(offset, int) else now

    # -- protocol ---------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    async def start(self) -> None:
        """Select the universe, read exchange filters, open the stream connections."""
        if self._started:
            return
        self._started = True
        self._client = create_client(self.cfg)
        try:
            await self._retry.call("ping", self._client.ping)
            client = self._client

            async def exchange_info() -> Any:
                info = await client.get_exchange_info()
                if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):  # ({}: an empty body)
                    raise UnexpectedAnswer("exchangeInfo: the exchange's answer holds no symbol list")
                return info

            info = await self._retry.call("exchangeInfo", exchange_info)
            all_filters = parse_exchange_info(info)
            self._symbols = await self._select_symbols(all_filters)
        except BaseException as exc:
            await self._close_client()
            self._stopped = True
            if isinstance(exc, FeedError | asyncio.CancelledError) or not isinstance(exc, Exception):
                raise
            where = rest_api_url(self.cfg) or ("Binance testnet" if self.cfg.binance.testnet else "Binance")
            raise FeedError(f"cannot start the Binance feed ({where}): {describe_error(exc)}") from None
        self._filters = {s: all_filters[s] for s in self._symbols}
        n = len(self._symbols)
        self._sym_index = {s: i for i, s in enumerate(self._symbols)}
        self._last_open = np.full(n, -1, dtype=np.int64)
        self._guard = PriceGuard(n, self.cfg.feed.max_price_jump, names=self._symbols)
        now = self.clock.now_ms()
        # the last closed kline's open, as Binance aligns them (a week's on a Monday, not the epoch's Thursday)
        self._ref_open = np.full(n, kline_open_ms(now, self.interval_ms) - self.interval_ms, dtype=np.int64)
        self._last_event_ms = np.full(n, -1, dtype=np.int64)
        self._hist_floor = np.full(n, -1, dtype=np.int64)
        streams = [MINI_TICKER_STREAM] + [f"{s.lower()}@kline_{self.interval}" for s in self._symbols]
        for chunk in plan_connections(streams, self.max_streams):
            conn = _Conn(
                idx=len(self._conns),
                streams=chunk,
                kline_syms={st: self._sym_index[st.split("@", 1)[0].upper()] for st in chunk if "@kline_" in st},
            )
            self._conns.append(conn)
        for conn in self._conns:
            conn.task = asyncio.create_task(self._supervise(conn), name=f"binance-stream-{conn.idx}")
        self._watch_task = asyncio.create_task(self._watchdog(), name="binance-watchdog")
        log.info("binance feed: %d symbols, %d streams on %d connection(s)", n, len(streams), len(self._conns))

    async def _select_symbols(self, all_filters: dict[str, SymbolFilters]) -> list[str]:
        from tui_trader.market.universe import select_universe

        uni = self.cfg.feed.universe
        quote = uni.quote_asset.strip().upper()
        # a name ending in the quote asset is not quoted in it: BTCAEUR (AEUR) ends in EUR,
        # BTCFDUSD (FDUSD) in USD; the exchange's quoteAsset says which cash a symbol trades for
        other = {s: f.quote_asset for s, f in all_filters.items() if f.quote_asset and f.quote_asset != quote}
        tradable = {s for s, f in all_filters.items() if f.status == "TRADING" and s not in other}
        if self._explicit:
            chosen = select_universe(self._explicit, None, uni.quote_asset, uni.top_n, uni.blacklist)
            unknown = [s for s in chosen if s not in all_filters]
            if unknown:
                raise FeedError(f"unknown symbol(s) on the exchange: {', '.join(unknown)}")
            odd = [f"{s} (quoted in {other[s]})" for s in chosen if s in other]
            if odd:
                raise FeedError(f"symbol(s) not quoted in {quote} on the exchange: {', '.join(odd)}")
            not_trading = [s for s in chosen if s not in tradable]
            if not_trading:
                log.warning("symbols not trading right now (kept; no klines until they trade): %s",
                            ", ".join(not_trading))
        else:
            assert self._client is not None
            client = self._client
            tickers = await self._retry.call("ticker/24hr", lambda: _listed("ticker/24hr", client.get_ticker()))
            chosen = select_universe([], tickers, uni.quote_asset, uni.top_n, uni.blacklist, tradable=tradable)
        if not chosen:
            raise FeedError(f"universe is empty: no tradable {uni.quote_asset} pairs selected")
        return list(chosen)

    async def stop(self) -> None:
        """Stop streaming; returns within about ``stop_timeout_s`` whatever the sockets do. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping = True
        for conn in self._conns:
            conn.recreate("stopping")
        tasks = [c.task for c in self._conns if c.task is not None]
        if self._watch_task is not None:
            tasks.append(self._watch_task)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.stop_timeout_s)
        for conn in self._conns:  # supervisors that did not finish: abort their sockets
            rws, conn.rws = conn.rws, None
            if rws is not None and rws.ws is not None:
                transport = getattr(rws.ws, "transport", None)
                if transport is not None:
                    transport.abort()
            conn.state = "stopped"
        await self._close_client()
        self._out.put_nowait(_END)

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close_connection(), 1.0)

    async def events(self) -> AsyncIterator[MarketEvent]:
        """Price and closed-kline batches until :meth:`stop`."""
        while True:
            item = await self._out.get()
            if item is _END:
                self._out.put_nowait(_END)  # later calls end too
                return
            if isinstance(item, KlineBatch):
                # Klines queued before history() returned them too: deliver each once.
                keep = item.open_time > self._hist_floor[item.sym]
                if not keep.all():
                    self.duplicates_dropped += int(len(item) - np.count_nonzero(keep))
                    item = item.take(keep)
                    if not len(item):
                        continue
            yield item

    async def history(self, symbols: Sequence[str], interval: str, n: int) -> KlineBatch:
        """Up to ``n`` most recent closed klines per symbol from REST (sorted by open_time, symbol).

        Symbols must be in :attr:`symbols`. For the feed's own interval this also marks the
        klines as seen, so live and gap-fill klines continue after them without duplicates.
        """
        if self._client is None:
            raise FeedError("history() needs a started feed")
        iv = interval_to_ms(interval)
        unknown = [s for s in symbols if s not in self._sym_index]
        if unknown:
            raise ValueError(f"history: symbols not in this feed: {', '.join(unknown)}")
        if n <= 0 or not symbols:
            return KlineBatch.empty(iv)
        now = self.clock.now_ms()
        sem = asyncio.Semaphore(self.backfill_concurrency)

        async def one(sym: str) -> KlineBatch:
            async with sem:
                rows = await self._latest_rows(sym, interval, n + 1, now)
            b = parse_rest_klines(rows, self._sym_index[sym], iv, self.counter, now_ms=now)
            b = b.take(b.closed)
            return b.take(np.arange(max(0, len(b) - n), len(b)))

        try:
            parts = await asyncio.gather(*(one(s) for s in symbols))
        except (FeedError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - one clear error type for callers
            raise FeedError(f"history: {describe_error(exc)}") from None
        batch = KlineBatch.concat(parts, iv)
        scratch = np.full(len(self._symbols), -1, dtype=np.int64)
        guard = self._guard if iv == self.interval_ms else None  # the feed's own klines: its references
        batch = validate_kline_batch(batch, len(self._symbols), scratch, self.counter, now_ms=now, guard=guard)
        batch = _sorted_by_time_symbol(batch)
        if iv == self.interval_ms and len(batch):
            np.maximum.at(self._last_open, batch.sym.astype(np.int64), batch.open_time)
            np.maximum.at(self._hist_floor, batch.sym.astype(np.int64), batch.open_time)
        return batch

    async def _latest_rows(self, sym: str, interval: str, n: int, now: int) -> list[list[Any]]:
        """The latest ``n`` rows (newest last) up to ``now``, paging backwards by endTime."""
        assert self._client is not None
        client = self._client
        rows: list[list[Any]] = []
        end = now
        while len(rows) < n:
            limit = min(KLINE_LIMIT, n - len(rows))
            params = {"symbol": sym, "interval": interval, "endTime": end, "limit": limit}
            page = await self._retry.call(f"klines {sym}", lambda p=params: _kline_page(client, sym, p))
            if not page:
                break
            rows = page + rows
            if len(page) < limit:
                break
            try:
                end = int(page[0][0]) - 1
            except (TypeError, ValueError, IndexError, KeyError):
                break
        return rows

    def filters(self) -> dict[str, SymbolFilters]:
        return dict(self._filters)

    def health(self) -> dict[str, Any]:
        mono = time.monotonic()
        streams: dict[str, dict[str, Any]] = {}
        for c in self._conns:
            for s in c.streams:
                streams[s] = {
                    "last_event_ms": c.last_rx_ms.get(s, -1),
                    "stale": s in c.stale,
                    "reconnects": c.reconnects,
                    "connection": c.idx,
                }
        return {
            "connected": bool(self._conns) and all(c.state in ("streaming", "backfilling") for c in self._conns),
            "streams": streams,
            "connections": [
                {
                    "index": c.idx,
                    "state": c.state,
                    "streams": len(c.streams),
                    "reconnects": c.reconnects,
                    "age_s": (mono - c.opened_mono) if c.opened_mono else 0.0,
                    "last_reason": c.last_reason,
                }
                for c in self._conns
            ],
            "last_event_ms": {
                s: int(self._last_event_ms[i]) for i, s in enumerate(self._symbols) if self._last_event_ms[i] >= 0
            },
            "received": self.received,
            "rejected": self.counter.total,
            "rejected_by_reason": self.counter.snapshot(),
            "reconnects": self.reconnects,
            "planned_reconnects": self.planned_reconnects,
            "backfilled": self.backfilled,
            "duplicates_dropped": self.duplicates_dropped,
            "late_dropped": self.late_dropped,
            "prices_dropped": self.prices_dropped,
            "relevels": self._guard.relevels,
            "rate_limited": self._retry.rate_limited,
            "last_retry_after_s": self._retry.last_retry_after_s,
            "events_per_s": self._events_per_s,
        }

    # -- connections ---------------------------------------------------------------

    def _log_limited(self, key: str, level: int, msg: str, *args: Any, every_s: float = 10.0) -> None:
        now = time.monotonic()
        if now - self._log_last.get(key, -1e18) >= every_s:
            self._log_last[key] = now
            log.log(level, msg, *args)

    def _backoff(self, attempt: int) -> float:
        return exp_backoff(self.backoff_base_s, self.backoff_max_s, attempt, self._rng)

    async def _supervise(self, conn: _Conn) -> None:
        attempt = 0
        path = "streams=" + "/".join(conn.streams)
        try:
            while not self._stopping:
                conn.trigger.clear()
                conn.reason = ""
                conn.planned = False
                conn.state = "connecting"
                conn.received = 0
                rws = _StreamSocket(
                    url=self._stream_url,
                    path=path,
                    prefix="stream?",
                    max_queue_size=self.max_queue_size,
                    open_timeout=self.cfg.binance.request_timeout_s,
                    max_size=16 * 2**20,
                )
                conn.rws = rws
                reader: asyncio.Task[None] | None = None
                try:
                    await asyncio.wait_for(rws.connect(), self.cfg.binance.request_timeout_s + 1.0)
                    conn.opened_mono = time.monotonic()
                    if conn.connected_once:
                        conn.reconnects += 1
                        self.reconnects += 1
                    conn.connected_once = True
                    reader = asyncio.create_task(self._read(conn, rws))
                    await conn.trigger.wait()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any connect failure -> back off and retry
                    conn.reason = f"connect failed: {describe_error(exc)}"
                finally:
                    if reader is not None:
                        reader.cancel()
                        await asyncio.wait({reader}, timeout=1.0)
                    conn.rws = None
                    await _close_socket(rws)
                if self._stopping:
                    break
                conn.last_reason = conn.reason or "closed"
                if conn.planned:
                    self.planned_reconnects += 1
                    log.info("stream connection %d: planned reconnect", conn.idx)
                    delay = 0.0
                    attempt = 0
                else:
                    if conn.received > 0 and time.monotonic() - conn.opened_mono >= self.stable_after_s:
                        attempt = 0  # a connection that worked for a while: start the back-off over
                    delay = self._backoff(attempt)
                    attempt += 1
                    self._log_limited(
                        f"conn{conn.idx}", logging.WARNING, "stream connection %d: %s; reconnecting in %.2f s",
                        conn.idx, conn.reason or "closed", delay,
                    )
                conn.state = "backoff"
                await self.clock.sleep(delay)
        finally:
            conn.state = "stopped"

    async def _read(self, conn: _Conn, rws: _StreamSocket) -> None:
        try:
            conn.state = "backfilling"
            try:
                await self._backfill(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a gap we cannot fill: reconnect later and retry
                conn.recreate(f"gap fill failed: {describe_error(exc)}")
                return
            now = time.monotonic()
            for s in conn.streams:
                conn.last_rx[s] = now
            conn.stale.clear()
            conn.live.clear()
            conn.state = "streaming"
            while not conn.trigger.is_set():
                try:
                    msg = await rws.recv()
                except ReadLoopClosed:
                    conn.recreate("read loop closed")
                    return
                self._handle(conn, msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - never let a bad message kill the feed
            log.exception("stream connection %d: reader failed", conn.idx)
            conn.recreate(f"reader failed: {type(exc).__name__}")

    def _handle(self, conn: _Conn, msg: Any) -> None:
        self.received += 1
        if not isinstance(msg, dict):
            self.counter.reject("bad_type", 1, f"websocket message is {type(msg).__name__}")
            return
        e = msg.get("e")
        if e == "error":
            conn.recreate(f"{msg.get('type', 'error')}: {str(msg.get('m', ''))[:120]}")
            return
        if e == _UNDECODABLE:
            self.counter.reject("malformed", 1, "websocket frame is not JSON")
            return
        stream = msg.get("stream")
        data = msg.get("data")
        if not isinstance(stream, str) or stream not in conn.last_rx:
            self.counter.reject("malformed", 1, "websocket message outside the subscribed streams")
            return
        now_ms = self.clock.now_ms()
        if stream == MINI_TICKER_STREAM:
            if not isinstance(data, list | dict):
                self.counter.reject("bad_type", 1, f"miniTicker payload is {type(data).__name__}")
                return
            before = self.counter.total
            prices = parse_mini_ticker_array(data, self._sym_index, self.counter)
            prices = validate_price_batch(prices, len(self._symbols), self.counter, now_ms=now_ms, guard=self._guard)
            if self.counter.total == before or len(prices):
                self._fresh(conn, stream, now_ms, _event_time(data))
            if len(prices):
                self._last_event_ms[prices.sym] = now_ms
                self._emit_prices(prices)
            return
        kb = parse_kline_event(data, self._sym_index, self.counter)
        if kb is None:
            if isinstance(data, dict) and data.get("e") != "kline":  # the parser ignores these silently
                self.counter.reject("malformed", 1, f"not a kline event on {stream}")
            return
        want = conn.kline_syms[stream]
        if int(kb.sym[0]) != want or kb.interval_ms != self.interval_ms:
            self.counter.reject("malformed", 1, f"kline of another symbol/interval on {stream}")
            return
        self._fresh(conn, stream, now_ms, _event_time(data))
        self._last_event_ms[want] = now_ms
        if bool(kb.closed[0]):
            self._add_closed(kb)

    def _fresh(self, conn: _Conn, stream: str, now_ms: int, event_ms: int | None) -> None:
        """A sign of life of ``stream``: a message whose event time is newer than any seen on it.
        One that repeats or goes back in event time is none (an upstream that stopped behind a
        gateway that did not), so the watchdog finds such a stream stale as a silent one. An event
        time beyond the clock's slack (garbled, or a clock far behind) is not kept: it would outrank
        every real one after it; such a message counts by its arrival alone."""
        if event_ms is not None and event_ms <= now_ms + FUTURE_SLACK_MS:
            if event_ms <= conn.last_event.get(stream, -1):
                return
            conn.last_event[stream] = event_ms
        conn.received += 1
        conn.live.add(stream)
        conn.last_rx[stream] = time.monotonic()
        conn.last_rx_ms[stream] = now_ms
        conn.stale.discard(stream)

    def _emit_prices(self, prices: PriceBatch) -> None:
        if self._out.qsize() >= self.max_pending_events:
            self.prices_dropped += len(prices)
            self._log_limited("prices_dropped", logging.WARNING, "consumer is slow: dropping price updates")
            return
        self._out.put_nowait(prices)

    # -- closed klines: grouping, dedupe, gap fill -----------------------------------------

    def _add_closed(self, kb: KlineBatch) -> None:
        """Check values now (bad rows never reach a group), queue for emission by open time."""
        n = len(self._symbols)
        kb = validate_kline_batch(kb, n, np.full(n, -1, dtype=np.int64), self.counter, now_ms=self.clock.now_ms())
        if not len(kb):
            return
        for ot in np.unique(kb.open_time).tolist():
            part = kb.take(kb.open_time == ot) if len(np.unique(kb.open_time)) > 1 else kb
            self._pending.setdefault(ot, []).append(part)
            self._pending_syms.setdefault(ot, set()).update(part.sym.tolist())
            self._pending_since.setdefault(ot, time.monotonic())
            if len(self._pending_syms[ot]) >= n:
                self._flush(upto=ot)

    def _flush(self, upto: int | None = None, older_than_s: float | None = None) -> None:
        """Emit pending groups with open time <= ``upto`` (and every older one first), or the
        groups pending for more than ``older_than_s`` seconds."""
        if not self._pending:
            return
        keys = sorted(self._pending)
        if older_than_s is not None:
            now = time.monotonic()
            due = [k for k in keys if now - self._pending_since[k] >= older_than_s]
            if not due:
                return
            upto = max(due) if upto is None else max(upto, max(due))
        assert upto is not None
        for ot in keys:
            if ot > upto:
                break
            parts = self._pending.pop(ot)
            self._pending_syms.pop(ot, None)
            self._pending_since.pop(ot, None)
            self._emit_klines(KlineBatch.concat(parts, self.interval_ms))

    def _emit_klines(self, batch: KlineBatch) -> None:
        if not len(batch):
            return
        batch = batch.take(np.argsort(batch.sym, kind="stable")) if len(batch) > 1 else batch
        # Dedupe: a kline already emitted (e.g. live copy of a gap-filled one) is dropped and
        # counted; one older than the newest emitted kline is counted apart, and logged.
        last = self._last_open[batch.sym]
        new = batch.open_time > last
        late = int(np.count_nonzero(batch.open_time < last))
        if late:
            self.late_dropped += late
            self._log_limited(
                "late_klines", logging.WARNING, "dropped %d closed kline(s) older than the newest emitted one", late
            )
        if len(batch) > 1:  # the same symbol twice in one group: keep the first
            _, first = np.unique(batch.sym, return_index=True)
            once = np.zeros(len(batch), dtype=bool)
            once[first] = True
            new &= once
        dropped = int(len(batch) - np.count_nonzero(new))
        if dropped:
            self.duplicates_dropped += dropped - late
            batch = batch.take(new)
        batch = validate_kline_batch(
            batch, len(self._symbols), self._last_open, self.counter, now_ms=self.clock.now_ms(), guard=self._guard
        )
        if len(batch):
            self._out.put_nowait(batch)

    async def _backfill(self, conn: _Conn) -> None:
        """Fetch and emit the closed klines this connection's symbols missed."""
        if not conn.kline_syms:
            return
        now = self.clock.now_ms()
        iv = self.interval_ms
        newest_closed = kline_open_ms(now, iv) - iv
        syms = np.fromiter(conn.kline_syms.values(), dtype=np.int64)
        ref = np.maximum(self._last_open[syms], self._ref_open[syms])
        need = syms[ref < newest_closed]
        if need.size == 0:
            return
        assert self._client is not None
        client = self._client
        sem = asyncio.Semaphore(self.backfill_concurrency)
        start = {int(s): int(r) + iv for s, r in zip(syms.tolist(), ref.tolist(), strict=True)}

        async def one(s: int) -> KlineBatch:
            async with sem:
                rows = await fetch_klines_range(client, self._retry, self._symbols[s], self.interval, start[s],
                                                end_ms=now)
            b = parse_rest_klines(rows, s, iv, self.counter, now_ms=now)
            return b.take(b.closed)

        parts = await asyncio.gather(*(one(int(s)) for s in need.tolist()))
        batch = _sorted_by_time_symbol(KlineBatch.concat(parts, iv))
        if not len(batch):
            return
        self.backfilled += len(batch)
        log.info("stream connection %d: gap fill of %d kline(s) for %d symbol(s)", conn.idx, len(batch), need.size)
        self._add_closed(batch)
        self._flush(upto=int(batch.open_time.max()))

    # -- watchdog ---------------------------------------------------------------------------

    async def _watchdog(self) -> None:
        tick = max(0.02, min(0.5, self.stale_after_s / 5, self.close_grace_s / 2))
        while not self._stopping:
            await asyncio.sleep(tick)
            try:
                self._watch_once()
            except Exception:  # noqa: BLE001 - the watchdog must survive anything
                log.exception("binance feed watchdog")

    def _watch_once(self) -> None:
        now = time.monotonic()
        self._flush(older_than_s=self.close_grace_s)
        for c in self._conns:
            if c.state != "streaming" or c.trigger.is_set():
                continue
            if now - c.opened_mono >= self.max_connection_age_s:
                c.recreate("connection age limit", planned=True)
                continue
            stale = {s for s in c.streams if now - c.last_rx.get(s, now) > self.stale_after_s}
            c.stale = stale
            if not stale:
                if len(c.live) == len(c.streams):  # every stream delivered on this connection
                    c.partial_strikes = 0
                continue
            if len(stale) == len(c.streams):
                c.recreate(f"stale: no new event for {self.stale_after_s:g} s")
            elif now - c.last_partial_mono >= self.stale_after_s * 2**c.partial_strikes:
                c.partial_strikes += 1
                c.last_partial_mono = now
                c.recreate(f"stale: {len(stale)} of {len(c.streams)} streams silent")
            else:
                continue
            # a recreated stale stream starts its event times over: a newest one stamped ahead (yet
            # inside the clock's slack) would otherwise outrank every real one until the clock
            # caught up, recreating the connection again and again; a stream that stands still is
            # found stale again after one message
            for s in stale:
                c.last_event.pop(s, None)
        # events per second over the last ~5 s
        self._rate_window.append((now, self.received))
        while len(self._rate_window) > 2 and now - self._rate_window[0][0] > 5.0:
            self._rate_window.pop(0)
        t0, r0 = self._rate_window[0]
        self._events_per_s = (self.received - r0) / (now - t0) if now > t0 else 0.0
