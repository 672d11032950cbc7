"""An in-process stand-in for Binance spot, for tests (REST + websocket streams on 127.0.0.1).

It serves the real payload formats, built from the real samples in the shared data folder
(``binance_payloads/``, ``binance_spot_klines/``; see its ``SOURCES.md``):

REST (``{rest_url}/api/v3/...``)
    ``ping``, ``time``, ``exchangeInfo`` (symbol objects from the ccxt extract where present —
    current filter set with NOTIONAL — else from the full 2021 capture ``BINANCE.0`` line 1),
    ``klines`` (``symbol``, ``interval``, ``startTime``, ``endTime``, ``limit`` <= 1000, Binance's
    pagination semantics; rows from the real kline files, or generated for intervals/symbols the
    files lack), ``ticker/24hr`` (computed from the klines), and the signed endpoints
    ``POST/GET/DELETE order``, ``openOrders``, ``account``, ``myTrades`` (any signature is accepted,
    but ``X-MBX-APIKEY``, ``timestamp`` and ``signature`` are required and ``timestamp`` must lie in
    ``recvWindow`` of the stand-in's clock). Orders fill against a synthetic book around the
    current kline close and answer with Binance's FULL response shape; errors use Binance's codes
    and bodies (-2010, -1013, -2013, -2011, -1121, -1003 with ``Retry-After`` ...).

Websocket
    ``{stream_url}/ws/<stream>`` and ``{stream_url}/stream?streams=a/b/c`` (combined, envelope
    ``{"stream": name, "data": payload}``) for ``!miniTicker@arr`` and ``<symbol>@kline_<interval>``.
    A heartbeat (every ``tick_s``) sends the in-progress kline of each subscribed kline stream and
    the mini-ticker array, as Binance does every 1-2 s.

Misbehaviour on command: :meth:`StandinExchange.fail_next` (HTTP error / 429 / 418 with
``Retry-After``), :meth:`~StandinExchange.delay_next` (slow answer -> client timeout),
:meth:`~StandinExchange.drop_next` (the request carried out, the connection closed unanswered),
:meth:`~StandinExchange.hold_next` (a request kept until released, before or after it is carried
out: a crash test kills the client meanwhile),
:meth:`~StandinExchange.close_sockets`, :meth:`~StandinExchange.stall` (connections stay open but
go silent), :meth:`~StandinExchange.refuse_ws`, :meth:`~StandinExchange.push_raw` (garbage), and
:meth:`~StandinExchange.push_kline` (closed klines in any chosen order, so a test can leave gaps).

Time comes from a clock object (``now_ms()``); :class:`SteerableClock` runs at wall rate from a
chosen start and can jump forward, so tests can replay 2024 data "live".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from tui_trader.clock import interval_to_ms

TEN_SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "ADAUSDT",
    "DOGEUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "DOTUSDT",
)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
JAN_2024 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def ms(iso: str) -> int:
    """``2024-03-01`` / ``2024-03-01T05:00`` (UTC) -> epoch milliseconds."""
    from datetime import UTC, datetime

    d = datetime.fromisoformat(iso)
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return int(d.timestamp() * 1000)


class SteerableClock:
    """A :class:`~tui_trader.clock.Clock` for tests: wall-rate time from ``start_ms``, can jump forward.

    ``sleep`` really waits (capped by ``max_sleep_s`` so a test never waits long) and records the
    requested durations in ``sleeps``.
    """

    def __init__(self, start_ms: int, max_sleep_s: float | None = None) -> None:
        self._base = int(start_ms)
        self._t0 = time.monotonic()
        self.sleeps: list[float] = []
        self.max_sleep_s = max_sleep_s

    def now_ms(self) -> int:
        return self._base + int((time.monotonic() - self._t0) * 1000)

    def jump_to(self, ts_ms: int) -> None:
        """Move to ``ts_ms`` (never backwards); time keeps running from there."""
        if ts_ms > self.now_ms():
            self._base = int(ts_ms)
            self._t0 = time.monotonic()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(float(seconds))
        s = max(0.0, seconds)
        if self.max_sleep_s is not None:
            s = min(s, self.max_sleep_s)
        await asyncio.sleep(s)


# ---------------------------------------------------------------------------
# Data: klines and exchange info from the real samples
# ---------------------------------------------------------------------------


@dataclass
class KlineSeries:
    """The raw 12-field rows of one symbol and interval, sorted by open time."""

    interval_ms: int
    rows: list[list[Any]]
    open_times: np.ndarray  # int64

    def index_at(self, ts_ms: int) -> int:
        """Index of the row whose [open, close] contains ``ts_ms`` (clamped to the series)."""
        i = int(np.searchsorted(self.open_times, ts_ms, side="right")) - 1
        return min(max(i, 0), len(self.rows) - 1)


@functools.lru_cache(maxsize=64)
def _load_file_series(klines_dir: str, symbol: str, interval: str) -> KlineSeries | None:
    d = Path(klines_dir) / symbol / interval
    if not d.is_dir():
        return None
    rows: list[list[Any]] = []
    for f in sorted(d.glob("*.json")):
        rows.extend(json.loads(f.read_bytes()))
    if not rows:
        return None
    rows.sort(key=lambda r: r[0])
    return KlineSeries(interval_to_ms(interval), rows, np.array([r[0] for r in rows], dtype=np.int64))


def _fmt(x: float) -> str:
    return f"{x:.8f}"


@functools.lru_cache(maxsize=64)
def generate_series(symbol: str, interval: str, start_ms: int, end_ms: int) -> KlineSeries:
    """Deterministic synthetic klines (valid OHLC, taker volume <= volume) for [start, end)."""
    iv = interval_to_ms(interval)
    n = max(1, (end_ms - start_ms) // iv)
    rng = np.random.default_rng(zlib.crc32(f"{symbol}/{interval}".encode()))
    price0 = 10.0 + (zlib.crc32(symbol.encode()) % 5000)
    rets = rng.normal(0.0, 0.004, n)
    close = price0 * np.exp(np.cumsum(rets))
    open_ = np.concatenate([[price0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.002, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    vol = rng.uniform(10.0, 1000.0, n)
    taker = vol * rng.uniform(0.2, 0.8, n)
    trades = rng.integers(10, 5000, n)
    ot = start_ms + np.arange(n, dtype=np.int64) * iv
    rows = [
        [
            int(ot[i]),
            _fmt(open_[i]),
            _fmt(high[i]),
            _fmt(low[i]),
            _fmt(close[i]),
            _fmt(vol[i]),
            int(ot[i] + iv - 1),
            _fmt(vol[i] * close[i]),
            int(trades[i]),
            _fmt(taker[i]),
            _fmt(taker[i] * close[i]),
            "0",
        ]
        for i in range(n)
    ]
    return KlineSeries(iv, rows, ot)


def _intify(obj: Any) -> Any:
    """ccxt stores integer fields as strings; the live API sends integers."""
    int_keys = {
        "baseAssetPrecision",
        "quotePrecision",
        "quoteAssetPrecision",
        "baseCommissionPrecision",
        "quoteCommissionPrecision",
        "limit",
        "maxNumOrders",
        "maxNumAlgoOrders",
        "avgPriceMins",
        "minTrailingAboveDelta",
        "maxTrailingAboveDelta",
        "minTrailingBelowDelta",
        "maxTrailingBelowDelta",
    }
    if isinstance(obj, dict):
        return {
            k: (int(v) if k in int_keys and isinstance(v, str) and v.lstrip("-").isdigit() else _intify(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_intify(v) for v in obj]
    return obj


@functools.lru_cache(maxsize=4)
def _full_capture(payloads_dir: str) -> dict[str, Any]:
    line = (Path(payloads_dir) / "cryptofeed_sample_data" / "BINANCE.0").open().readline()
    return json.loads(line[line.index("{") :])


def load_exchange_info(shared_data: Path, symbols: Iterable[str]) -> dict[str, Any]:
    """A real-format exchangeInfo response holding ``symbols`` (ccxt extract first, else BINANCE.0)."""
    payloads = shared_data / "binance_payloads"
    full = _full_capture(str(payloads))
    ccxt = json.loads((payloads / "ccxt_static" / "binance_spot_exchangeinfo_symbols_extract.json").read_text())
    by_name = {s["symbol"]: s for s in full["symbols"]}
    by_name.update({s["symbol"]: _intify(s) for s in ccxt["symbols"]})
    out = {k: v for k, v in full.items() if k != "symbols"}
    out["symbols"] = [json.loads(json.dumps(by_name[s])) for s in symbols if s in by_name]
    return out


# ---------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    raw: str  # query string + body, as sent
    status: int = 0


@dataclass
class _Fault:
    status: int
    code: int
    msg: str | Callable[[Req], str]  # a callable words the error from the request (an echo of it)
    retry_after: int | str | None  # seconds, or any text (an HTTP-date) sent as it is
    times: int
    delay_s: float = 0.0
    body: Any = None  # a canned success body instead of an error
    drop: bool = False  # handle the request, then close the connection without an answer
    html: str | None = None  # a non-JSON (firewall / proxy) error page instead of Binance's JSON
    rewrite: Callable[[Any], Any] | None = None  # carry the request out, then answer with rewrite(body)
    hold: Hold | None = None  # keep the request (before or after carrying it out) until released


class Hold:
    """A request held by :meth:`StandinExchange.hold_next`: ``arrived`` is set once it is held
    (before it is carried out, or after with ``after``); :meth:`release` lets it go on. A
    request held before being carried out is carried out when released, its timestamp checked
    against ``recvWindow`` then, as Binance does: released too late, it is refused (-1021)."""

    def __init__(self, after: bool) -> None:
        self.after = after
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()
        self.done = asyncio.Event()  # answered (or the answer failed to go out)
        self.params: dict[str, str] = {}

    def release(self) -> None:
        self.released.set()


@dataclass
class WsConn:
    id: int
    path: str
    streams: list[str]
    combined: bool
    ws: web.WebSocketResponse
    stalled: bool = False
    frozen_ms: int | None = None  # the heartbeat repeats what it sent at this time (see freeze)
    closed: bool = False
    sent: int = 0


@dataclass
class _Order:
    symbol: str
    order_id: int
    client_id: str
    side: str
    type: str
    tif: str
    price: Decimal
    orig_qty: Decimal
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    status: str = "NEW"
    time: int = 0
    update: int = 0
    trades: list[dict[str, Any]] = field(default_factory=list)


def _err(status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


def _d(x: Decimal, places: int = 8) -> str:
    return f"{x:.{places}f}"


class StandinExchange:
    """Binance spot stand-in on 127.0.0.1 (ephemeral port), running in the caller's event loop.

    ``symbols`` are served with klines from ``klines_dir`` (real data) or generated
    (``gen_start_ms``..``gen_end_ms``). ``extra_symbols`` appear in exchangeInfo/tickers only.
    """

    def __init__(
        self,
        clock: Any,
        shared_data: Path,
        *,
        symbols: Iterable[str] = TEN_SYMBOLS,
        extra_symbols: Iterable[str] = (),
        ticker_interval: str = "1h",
        tick_s: float = 0.1,
        max_streams: int = 1024,
        gen_start_ms: int = JAN_2024,
        gen_end_ms: int = JAN_2024 + 120 * DAY_MS,
        balances: dict[str, str] | None = None,
        api_key: str | None = None,
    ) -> None:
        self.clock = clock
        self.shared_data = Path(shared_data)
        self.symbols = list(symbols)
        self.extra_symbols = list(extra_symbols)
        self.ticker_interval = ticker_interval
        self.tick_s = tick_s
        self.max_streams = max_streams
        self.gen_range = (gen_start_ms, gen_end_ms)
        self.exchange_info = load_exchange_info(self.shared_data, self.symbols + self.extra_symbols)
        self._info_by_symbol = {s["symbol"]: s for s in self.exchange_info["symbols"]}
        self.required_api_key = api_key
        self.balances: dict[str, Decimal] = {
            k: Decimal(v) for k, v in (balances or {"USDT": "10000", "BTC": "0.5", "ETH": "2"}).items()
        }
        #: balances locked in orders resting outside the book (set by a test; the account lists them)
        self.locked: dict[str, Decimal] = {}
        self.requests: list[Req] = []
        self.connections: list[WsConn] = []
        self.orders: dict[str, _Order] = {}
        self.executed: list[_Order] = []  # every order carried out, in order (a client id sent twice: twice)
        self.used_weight_offset = 0
        self._weight: dict[int, int] = {}
        self._faults: dict[tuple[str, str], list[_Fault]] = {}
        self._refuse_ws = 0
        self.handshakes = 0  # websocket upgrade attempts, refused ones included
        self._next_order_id = 1000
        self._next_trade_id = 5000
        self._runner: web.AppRunner | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.port = 0
        self.paused_heartbeat = False
        self.close_after_messages: int | None = None  # see close_each_connection_after
        self.muted: set[str] = set()  # streams the heartbeat leaves out (a halted symbol's kline stream)

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> StandinExchange:
        for s in self.symbols + self.extra_symbols:  # load now, not inside a heartbeat (cached per process)
            self.series(s, self.ticker_interval)
        app = web.Application()
        app.router.add_route("*", "/api/v3/{name:.+}", self._rest)
        app.router.add_get("/ws/{stream:.+}", self._ws_raw)
        app.router.add_get("/stream", self._ws_combined)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._heartbeat = asyncio.create_task(self._heartbeat_loop())
        return self

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
        for c in list(self.connections):
            if not c.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.ws.close(), 0.5)
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._runner.cleanup(), 2.0)

    async def __aenter__(self) -> StandinExchange:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # -- data ------------------------------------------------------------------

    def series(self, symbol: str, interval: str) -> KlineSeries:
        s = _load_file_series(str(self.shared_data / "binance_spot_klines"), symbol, interval)
        if s is None:
            s = generate_series(symbol, interval, *self.gen_range)
        return s

    def row(self, symbol: str, interval: str, open_time: int) -> list[Any]:
        """The raw REST row of ``symbol`` opening at ``open_time`` (KeyError if absent)."""
        s = self.series(symbol, interval)
        i = int(np.searchsorted(s.open_times, open_time))
        if i >= len(s.rows) or s.rows[i][0] != open_time:
            raise KeyError(f"{symbol} {interval} has no kline at {open_time}")
        return s.rows[i]

    def _ticker(self, symbol: str, now: int) -> dict[str, Any]:
        s = self.series(symbol, self.ticker_interval)
        j = s.index_at(now)
        i = max(0, int(np.searchsorted(s.open_times, now - DAY_MS, side="right")))
        i = min(i, j)
        win = s.rows[i : j + 1]
        o = float(win[0][1])
        c = float(win[-1][4])
        h = max(float(r[2]) for r in win)
        lo = min(float(r[3]) for r in win)
        v = sum(float(r[5]) for r in win)
        q = sum(float(r[7]) for r in win)
        if symbol in self.extra_symbols:  # make extras look attractive so filters must drop them
            q *= 1000.0
        return {"o": o, "c": c, "h": h, "l": lo, "v": v, "q": q, "n": sum(int(r[8]) for r in win)}

    # -- controls ----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        status: int = 429,
        code: int = -1003,
        msg: str | Callable[[Req], str] = "Too many requests; current limit of IP is 6000 requests per minute.",
        retry_after: int | str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` ``METHOD /api/v3/path`` requests with an error. ``msg`` may be a
        function of the request (:class:`Req`): an error that echoes what was sent (its query string,
        its signature, its ``X-MBX-APIKEY`` header), as a proxy or a debugging gateway may."""
        self._faults.setdefault((method.upper(), path), []).append(_Fault(status, code, msg, retry_after, times))

    def delay_next(self, method: str, path: str, seconds: float, times: int = 1) -> None:
        """Delay the next ``times`` answers (a client with a shorter timeout sees a timeout)."""
        self._faults.setdefault((method.upper(), path), []).append(_Fault(0, 0, "", None, times, seconds))

    def drop_next(self, method: str, path: str, times: int = 1) -> None:
        """Carry out the next ``times`` requests (an order is executed), then close the connection
        without answering: the client cannot tell whether they went through."""
        self._faults.setdefault((method.upper(), path), []).append(_Fault(0, 0, "", None, times, drop=True))

    def hold_next(self, method: str, path: str, after: bool = False) -> Hold:
        """Hold the next ``METHOD /api/v3/path`` request until the returned :class:`Hold` is
        released: before carrying it out (a request on its way), or with ``after`` once carried
        out (an order executed whose answer is still on its way). The client may be gone by then."""
        hold = Hold(after)
        self._faults.setdefault((method.upper(), path), []).append(_Fault(0, 0, "", None, 1, hold=hold))
        return hold

    def clear_faults(self) -> None:
        """Forget every pending fail_next / delay_next / respond_next."""
        self._faults.clear()

    def respond_next(self, method: str, path: str, body: Any, status: int = 200) -> None:
        """Answer the next ``METHOD /api/v3/path`` request with ``body`` (e.g. a recorded payload)."""
        self._faults.setdefault((method.upper(), path), []).append(_Fault(status, 0, "", None, 1, body=body))

    def rewrite_next(self, method: str, path: str, fn: Callable[[Any], Any], status: int = 200) -> None:
        """Carry out the next ``METHOD /api/v3/path`` request (an order is executed), then answer
        ``status`` with ``fn(answer)``: a str goes out verbatim as JSON text (e.g. truncated), other
        values JSON-encoded - a garbled or unexpected answer to a request that took effect."""
        self._faults.setdefault((method.upper(), path), []).append(
            _Fault(status, 0, "", None, 1, rewrite=fn)
        )

    def respond_next_html(
        self, method: str, path: str, status: int, html: str, retry_after: int | str | None = None
    ) -> None:
        """Answer the next ``METHOD /api/v3/path`` request with a non-JSON page, as Binance's
        firewall (403) or a proxy in front of it does."""
        self._faults.setdefault((method.upper(), path), []).append(_Fault(status, 0, "", retry_after, 1, html=html))

    def refuse_ws(self, n: int) -> None:
        """Refuse the next ``n`` websocket handshakes (HTTP 503)."""
        self._refuse_ws += n

    def stall(self, conns: Iterable[WsConn] | None = None) -> None:
        """Make connections silent (stay open, send nothing, still answer pings)."""
        for c in self.connections if conns is None else conns:
            c.stalled = True

    def freeze(self, conns: Iterable[WsConn] | None = None, at_ms: int | None = None) -> None:
        """Make connections repeat themselves: the heartbeat goes on sending, but the same messages
        with the same event time, now's or ``at_ms`` (an older one: event times that go back), as an
        upstream that stopped behind a gateway that did not."""
        now = self.clock.now_ms() if at_ms is None else at_ms
        for c in self.connections if conns is None else conns:
            c.frozen_ms = now

    async def close_sockets(self, code: int = 1001) -> int:
        """Close every open websocket from the server side. Returns how many."""
        n = 0
        for c in list(self.connections):
            if not c.closed:
                c.closed = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.ws.close(code=code, message=b"going away"), 1.0)
                n += 1
        return n

    def close_each_connection_after(self, messages: int | None) -> None:
        """Close every connection from the server side once it has been sent ``messages`` messages
        (None: never), new connections included: a server that takes each connection and drops it
        at once - a reconnect storm for a client that starts over after every message."""
        self.close_after_messages = messages

    def open_connections(self) -> list[WsConn]:
        return [c for c in self.connections if not c.closed and not c.ws.closed]

    async def wait_until(self, pred: Callable[[], bool], within_s: float = 5.0, what: str = "condition") -> None:
        """Poll ``pred`` until true; AssertionError after ``within_s`` seconds."""
        deadline = time.monotonic() + within_s
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    async def _send(self, c: WsConn, stream: str, payload: Any) -> bool:
        if c.closed or c.stalled or c.ws.closed:
            return False
        text = payload if isinstance(payload, str) else json.dumps(
            {"stream": stream, "data": payload} if c.combined else payload
        )
        try:
            await c.ws.send_str(text)
        except Exception:
            c.closed = True
            return False
        c.sent += 1
        if self.close_after_messages is not None and c.sent >= self.close_after_messages:
            c.closed = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.ws.close(code=1001, message=b"going away"), 1.0)
        return True

    def kline_event(self, symbol: str, interval: str, open_time: int, closed: bool, event_ms: int | None = None
                    ) -> dict[str, Any]:
        """A ``<symbol>@kline_<interval>`` payload built from the served row."""
        r = self.row(symbol, interval, open_time)
        first = open_time // 1000
        return {
            "e": "kline",
            "E": int(event_ms if event_ms is not None else (r[6] + 1 if closed else self.clock.now_ms())),
            "s": symbol,
            "k": {
                "t": r[0],
                "T": r[6],
                "s": symbol,
                "i": interval,
                "f": first,
                "L": first + int(r[8]) - 1,
                "o": r[1],
                "c": r[4],
                "h": r[2],
                "l": r[3],
                "v": r[5],
                "n": int(r[8]),
                "x": bool(closed),
                "q": r[7],
                "V": r[9],
                "Q": r[10],
                "B": "0",
            },
        }

    def mini_ticker_array(self, now: int | None = None) -> list[dict[str, Any]]:
        now = self.clock.now_ms() if now is None else now
        out = []
        for s in self.symbols + self.extra_symbols:
            t = self._ticker(s, now)
            out.append(
                {
                    "e": "24hrMiniTicker",
                    "E": now,
                    "s": s,
                    "c": _fmt(t["c"]),
                    "o": _fmt(t["o"]),
                    "h": _fmt(t["h"]),
                    "l": _fmt(t["l"]),
                    "v": _fmt(t["v"]),
                    "q": _fmt(t["q"]),
                }
            )
        return out

    async def push_kline(self, symbol: str, interval: str, open_time: int, closed: bool = True) -> int:
        """Send the row at ``open_time`` as a kline event to every subscriber. Returns deliveries."""
        stream = f"{symbol.lower()}@kline_{interval}"
        payload = self.kline_event(symbol, interval, open_time, closed)
        n = 0
        for c in self.open_connections():
            if stream in c.streams and await self._send(c, stream, payload):
                n += 1
        return n

    async def push_klines(self, symbol: str, interval: str, open_times: Iterable[int]) -> int:
        """Push closed klines in the given order (leave open times out to make a gap)."""
        n = 0
        for t in open_times:
            n += await self.push_kline(symbol, interval, t)
        return n

    async def push_raw(self, stream: str, data: Any, envelope: bool = True) -> int:
        """Send ``data`` to subscribers of ``stream``: a str goes out verbatim (e.g. non-JSON), other
        values are JSON-encoded, inside the combined envelope when ``envelope``."""
        n = 0
        for c in self.open_connections():
            if stream not in c.streams or c.stalled:
                continue
            if isinstance(data, str):
                text = data
            elif c.combined and envelope:
                text = json.dumps({"stream": stream, "data": data})
            else:
                text = json.dumps(data)
            if await self._send(c, stream, text):
                n += 1
        return n

    # -- websocket -------------------------------------------------------------------

    async def _ws_raw(self, request: web.Request) -> web.StreamResponse:
        return await self._ws(request, [request.match_info["stream"]], combined=False)

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        return await self._ws(request, streams, combined=True)

    async def _ws(self, request: web.Request, streams: list[str], combined: bool) -> web.StreamResponse:
        self.handshakes += 1
        if self._refuse_ws > 0:
            self._refuse_ws -= 1
            return web.Response(status=503, text="Service Unavailable")
        if len(request.path_qs) > 8004:  # Binance's websocket URL limit
            return web.Response(status=414, text="URI Too Long")
        if not streams or len(streams) > self.max_streams:
            return web.Response(status=400, text=f"bad stream count {len(streams)} (max {self.max_streams})")
        for s in streams:
            if not self._valid_stream(s):
                return web.Response(status=400, text=f"invalid stream {s}")
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        conn = WsConn(len(self.connections), request.path_qs, streams, combined, ws)
        self.connections.append(conn)
        try:
            async for msg in ws:  # clients may send SUBSCRIBE etc.; we ignore them
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            conn.closed = True
        return ws

    def _valid_stream(self, s: str) -> bool:
        if s == "!miniTicker@arr":
            return True
        if "@kline_" in s:
            sym, iv = s.split("@kline_", 1)
            try:
                interval_to_ms(iv)
            except ValueError:
                return False
            return sym.upper() in self.symbols or sym.upper() in self.extra_symbols
        return False

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            if self.paused_heartbeat:
                continue
            conns = [c for c in self.open_connections() if not c.stalled]
            if not conns:
                continue
            live = self.clock.now_ms()
            minis: dict[int, list[dict[str, Any]]] = {}
            for c in conns:
                now = live if c.frozen_ms is None else c.frozen_ms
                for stream in c.streams:
                    if stream in self.muted:
                        continue
                    if stream == "!miniTicker@arr":
                        if now not in minis:
                            minis[now] = self.mini_ticker_array(now)
                        await self._send(c, stream, minis[now])
                    else:
                        sym, iv = stream.split("@kline_", 1)
                        s = self.series(sym.upper(), iv)
                        ot = now - now % s.interval_ms
                        i = int(np.searchsorted(s.open_times, ot))
                        if i < len(s.rows) and s.rows[i][0] == ot:
                            await self._send(c, stream, self.kline_event(sym.upper(), iv, ot, False, now))

    # -- REST ---------------------------------------------------------------------------

    _WEIGHTS = {
        "ping": 1,
        "time": 1,
        "exchangeInfo": 20,
        "klines": 2,
        "ticker/24hr": 80,
        "order": 1,
        "openOrders": 80,
        "account": 20,
        "myTrades": 20,
    }

    def used_weight(self) -> int:
        return self._weight.get(self.clock.now_ms() // 60_000, 0) + self.used_weight_offset

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        body = await request.text() if request.can_read_body else ""
        params: dict[str, str] = dict(request.query)
        if body:
            from urllib.parse import parse_qsl

            params.update(dict(parse_qsl(body, keep_blank_values=True)))
        req = Req(request.method, name, params, dict(request.headers), request.query_string + "&" + body)
        self.requests.append(req)
        minute = self.clock.now_ms() // 60_000
        self._weight[minute] = self._weight.get(minute, 0) + self._WEIGHTS.get(name, 1)
        hdr = {"X-MBX-USED-WEIGHT-1M": str(self.used_weight())}
        faults = self._faults.get((request.method, name))
        drop = False
        rewrite: _Fault | None = None
        hold: Hold | None = None
        if faults:
            f = faults[0]
            f.times -= 1
            if f.times <= 0:
                faults.pop(0)
            if f.drop:
                drop = True
            elif f.hold is not None:
                hold = f.hold
                hold.params = dict(params)
                if not hold.after:
                    hold.arrived.set()
                    await hold.released.wait()
            elif f.rewrite is not None:
                rewrite = f
            elif f.delay_s:
                await asyncio.sleep(f.delay_s)
            elif f.body is not None:
                req.status = f.status
                return web.json_response(f.body, status=f.status, headers=hdr)
            elif f.html is not None:
                if f.retry_after is not None:
                    hdr["Retry-After"] = str(f.retry_after)
                req.status = f.status
                return web.Response(status=f.status, text=f.html, content_type="text/html", headers=hdr)
            else:
                if f.retry_after is not None:
                    hdr["Retry-After"] = str(f.retry_after)
                req.status = f.status
                return _err(f.status, f.code, f.msg(req) if callable(f.msg) else f.msg, hdr)
        try:
            resp = await self._dispatch(request.method, name, params, request.headers)
        except _ApiError as e:
            resp = _err(e.status, e.code, e.msg)
        req.status = resp.status
        if hold is not None:
            if hold.after:
                hold.arrived.set()
                await hold.released.wait()
            hold.done.set()
        if rewrite is not None and rewrite.rewrite is not None:
            assert isinstance(resp, web.Response) and resp.text is not None
            out = rewrite.rewrite(json.loads(resp.text))
            text = out if isinstance(out, str) else json.dumps(out)
            status = rewrite.status if resp.status == 200 else resp.status
            resp = web.Response(status=status, text=text, content_type="application/json")
            req.status = status
        if drop:
            assert request.transport is not None
            request.transport.abort()  # the work is done; the answer never leaves
            req.status = 0
        resp.headers.update(hdr)
        return resp

    async def _dispatch(self, method: str, name: str, p: dict[str, str], headers: Any) -> web.Response:
        now = self.clock.now_ms()
        if name == "ping" and method == "GET":
            return web.json_response({})
        if name == "time" and method == "GET":
            return web.json_response({"serverTime": now})
        if name == "exchangeInfo" and method == "GET":
            info = dict(self.exchange_info, serverTime=now)
            if "symbols" in p or "symbol" in p:
                want = json.loads(p["symbols"]) if "symbols" in p else [p["symbol"]]
                unknown = [s for s in want if s not in self._info_by_symbol]
                if unknown:
                    raise _ApiError(400, -1121, "Invalid symbol.")
                info["symbols"] = [self._info_by_symbol[s] for s in want]
            return web.json_response(info)
        if name == "klines" and method == "GET":
            return web.json_response(self._klines(p, now))
        if name == "ticker/24hr" and method == "GET":
            return web.json_response(self._tickers(p, now))
        if name in ("order", "openOrders", "account", "myTrades"):
            self._check_signed(p, headers, now)
            if name == "order":
                if method == "POST":
                    return web.json_response(self._new_order(p, now))
                if method == "GET":
                    return web.json_response(self._order_json(self._find(p), query=True))
                if method == "DELETE":
                    return web.json_response(self._cancel(p, now))
            if name == "openOrders" and method == "GET":
                return web.json_response(
                    [self._order_json(o, query=True) for o in self.orders.values()
                     if o.status in ("NEW", "PARTIALLY_FILLED") and p.get("symbol", o.symbol) == o.symbol]
                )
            if name == "account" and method == "GET":
                return web.json_response(self._account(now))
            if name == "myTrades" and method == "GET":
                # as Binance: at most ``limit`` (default 500, at most 1000) trades, by id; from
                # ``fromId`` on when given, else the most recent ones
                oid = p.get("orderId")
                limit = int(p.get("limit", "500"))
                if not 1 <= limit <= 1000:
                    raise _ApiError(400, -1130, "Invalid data sent for a parameter.")
                out = sorted(
                    (
                        t
                        for o in self.orders.values()
                        if o.symbol == p.get("symbol") and (oid is None or str(o.order_id) == oid)
                        for t in o.trades
                    ),
                    key=lambda t: t["id"],
                )
                if "fromId" in p:
                    out = [t for t in out if t["id"] >= int(p["fromId"])][:limit]
                else:
                    out = out[-limit:]
                return web.json_response(out)
        raise _ApiError(404, -1000, f"Unknown endpoint {method} /api/v3/{name}")

    def _klines(self, p: dict[str, str], now: int) -> list[list[Any]]:
        sym = p.get("symbol", "")
        if sym not in self.symbols and sym not in self.extra_symbols:
            raise _ApiError(400, -1121, "Invalid symbol.")
        try:
            iv_ms = interval_to_ms(p.get("interval", ""))
        except ValueError:
            raise _ApiError(400, -1120, "Invalid interval.") from None
        del iv_ms
        try:
            limit = int(p.get("limit", "500"))
            start = int(p["startTime"]) if "startTime" in p else None
            end = int(p["endTime"]) if "endTime" in p else None
        except ValueError:
            raise _ApiError(400, -1100, "Illegal characters found in a parameter.") from None
        if not 1 <= limit <= 1000:
            raise _ApiError(400, -1130, "Invalid data sent for a parameter.")
        s = self.series(sym, p["interval"])
        ot = s.open_times
        hi = int(np.searchsorted(ot, now, side="right"))  # nothing opens in the future
        if end is not None:
            hi = min(hi, int(np.searchsorted(ot, end, side="right")))
        if start is not None:
            lo = int(np.searchsorted(ot, start, side="left"))
            return s.rows[lo : min(hi, lo + limit)] if lo < hi else []
        return s.rows[max(0, hi - limit) : hi]

    def _tickers(self, p: dict[str, str], now: int) -> Any:
        names = self.symbols + self.extra_symbols
        if "symbol" in p:
            if p["symbol"] not in names:
                raise _ApiError(400, -1121, "Invalid symbol.")
            names = [p["symbol"]]
        out = []
        for s in names:
            t = self._ticker(s, now)
            out.append(
                {
                    "symbol": s,
                    "priceChange": _fmt(t["c"] - t["o"]),
                    "priceChangePercent": f"{(t['c'] / t['o'] - 1) * 100:.3f}",
                    "weightedAvgPrice": _fmt(t["q"] / t["v"] if t["v"] else t["c"]),
                    "prevClosePrice": _fmt(t["o"]),
                    "lastPrice": _fmt(t["c"]),
                    "lastQty": "0.01000000",
                    "bidPrice": _fmt(t["c"]),
                    "bidQty": "1.00000000",
                    "askPrice": _fmt(t["c"]),
                    "askQty": "1.00000000",
                    "openPrice": _fmt(t["o"]),
                    "highPrice": _fmt(t["h"]),
                    "lowPrice": _fmt(t["l"]),
                    "volume": _fmt(t["v"]),
                    "quoteVolume": _fmt(t["q"]),
                    "openTime": now - DAY_MS,
                    "closeTime": now,
                    "firstId": 1,
                    "lastId": t["n"],
                    "count": t["n"],
                }
            )
        return out[0] if "symbol" in p else out

    # -- signed -------------------------------------------------------------------------------

    def _check_signed(self, p: dict[str, str], headers: Any, now: int) -> None:
        key = headers.get("X-MBX-APIKEY")
        if not key:
            raise _ApiError(401, -2014, "API-key format invalid.")
        if self.required_api_key is not None and key != self.required_api_key:
            raise _ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if "timestamp" not in p:
            raise _ApiError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        sig = p.get("signature", "")
        if len(sig) != 64 or any(ch not in "0123456789abcdef" for ch in sig):
            raise _ApiError(400, -1022, "Signature for this request is not valid.")
        ts = int(p["timestamp"])
        window = int(p.get("recvWindow", "5000"))
        if ts > now + 1000 or now - ts > window:
            raise _ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _filters(self, symbol: str) -> dict[str, dict[str, Any]]:
        return {f["filterType"]: f for f in self._info_by_symbol[symbol]["filters"]}

    def market_price(self, symbol: str) -> Decimal:
        s = self.series(symbol, self.ticker_interval)
        return Decimal(s.rows[s.index_at(self.clock.now_ms())][4])

    def _new_order(self, p: dict[str, str], now: int) -> dict[str, Any]:
        sym = p.get("symbol", "")
        if sym not in self._info_by_symbol:
            raise _ApiError(400, -1121, "Invalid symbol.")
        info = self._info_by_symbol[sym]
        for k in ("side", "type"):
            if k not in p:
                raise _ApiError(400, -1102, f"Mandatory parameter '{k}' was not sent, was empty/null, or malformed.")
        side, typ = p["side"], p["type"]
        if side not in ("BUY", "SELL"):
            raise _ApiError(400, -1117, "Invalid side.")
        if typ not in ("MARKET", "LIMIT"):
            raise _ApiError(400, -1116, "Invalid orderType.")
        if "quantity" not in p:
            raise _ApiError(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        cid = p.get("newClientOrderId") or f"standin{self._next_order_id}"
        if cid in self.orders and self.orders[cid].status in ("NEW", "PARTIALLY_FILLED"):
            raise _ApiError(400, -2010, "Duplicate order sent.")
        qty = Decimal(p["quantity"])
        f = self._filters(sym)
        lot = f.get("LOT_SIZE")
        if lot:
            step, mn, mx = Decimal(lot["stepSize"]), Decimal(lot["minQty"]), Decimal(lot["maxQty"])
            if qty < mn or qty > mx or (step > 0 and (qty - mn) % step != 0):
                raise _ApiError(400, -1013, "Filter failure: LOT_SIZE")
        tif = p.get("timeInForce", "GTC")
        price = Decimal(0)
        if typ == "LIMIT":
            if "price" not in p or "timeInForce" not in p:
                raise _ApiError(400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
            price = Decimal(p["price"])
            pf = f.get("PRICE_FILTER")
            if pf:
                tick = Decimal(pf["tickSize"])
                if price < Decimal(pf["minPrice"]) or (tick > 0 and (price - Decimal(pf["minPrice"])) % tick != 0):
                    raise _ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        mkt = self.market_price(sym)
        ref = price if typ == "LIMIT" else mkt
        notional_f = f.get("NOTIONAL") or f.get("MIN_NOTIONAL")
        if notional_f and qty * ref < Decimal(notional_f["minNotional"]):
            raise _ApiError(400, -1013, f"Filter failure: {notional_f['filterType']}")
        base, quote = info["baseAsset"], info["quoteAsset"]
        tick = Decimal(f["PRICE_FILTER"]["tickSize"]) if "PRICE_FILTER" in f else Decimal("0.00000001")
        step = Decimal(lot["stepSize"]) if lot else Decimal("0.00000001")
        # Synthetic book: 3 levels, 10 ticks apart, sizes 50/30/20 % of the order.
        sign = 1 if side == "BUY" else -1
        levels = [(mkt + sign * 10 * k * tick).quantize(tick) for k in range(3)]
        sizes = [(qty * Decimal(w)).quantize(step, ROUND_DOWN) for w in ("0.5", "0.3")]
        sizes.append(qty - sum(sizes))
        fills = []
        for lvl, sz in zip(levels, sizes, strict=True):
            if sz <= 0:
                continue
            if typ == "LIMIT" and ((side == "BUY" and lvl > price) or (side == "SELL" and lvl < price)):
                break
            fills.append((lvl, sz))
        exec_qty = sum((sz for _, sz in fills), Decimal(0))
        cost = sum((lvl * sz for lvl, sz in fills), Decimal(0))
        if side == "BUY" and self.balances.get(quote, Decimal(0)) < cost:
            raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
        if side == "SELL" and self.balances.get(base, Decimal(0)) < exec_qty:
            raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
        oid = self._next_order_id
        self._next_order_id += 1
        order = _Order(sym, oid, cid, side, typ, tif if typ == "LIMIT" else "GTC", price, qty, time=now, update=now)
        out_fills = []
        for lvl, sz in fills:
            if side == "BUY":
                comm, comm_asset = (sz * Decimal("0.001")).quantize(Decimal("0.00000001")), base
                self.balances[quote] = self.balances.get(quote, Decimal(0)) - lvl * sz
                self.balances[base] = self.balances.get(base, Decimal(0)) + sz - comm
            else:
                comm, comm_asset = (lvl * sz * Decimal("0.001")).quantize(Decimal("0.00000001")), quote
                self.balances[base] = self.balances.get(base, Decimal(0)) - sz
                self.balances[quote] = self.balances.get(quote, Decimal(0)) + lvl * sz - comm
            tid = self._next_trade_id
            self._next_trade_id += 1
            out_fills.append(
                {"price": _d(lvl), "qty": _d(sz), "commission": _d(comm), "commissionAsset": comm_asset, "tradeId": tid}
            )
            order.trades.append(
                {
                    "symbol": sym, "id": tid, "orderId": oid, "orderListId": -1, "price": _d(lvl), "qty": _d(sz),
                    "quoteQty": _d(lvl * sz), "commission": _d(comm), "commissionAsset": comm_asset, "time": now,
                    "isBuyer": side == "BUY", "isMaker": False, "isBestMatch": True,
                }
            )
        order.executed, order.quote = exec_qty, cost
        if exec_qty == qty:
            order.status = "FILLED"
        elif typ == "MARKET" or tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
        else:
            order.status = "PARTIALLY_FILLED" if exec_qty > 0 else "NEW"
        self.orders[cid] = order
        self.executed.append(order)
        resp = self._order_json(order, query=False)
        resp["fills"] = out_fills
        return resp

    def add_open_order(self, symbol: str, client_id: str, side: str, qty: str, price: str) -> None:
        """Put a resting GTC LIMIT order on the book (test set-up for cancel / openOrders)."""
        now = self.clock.now_ms()
        oid = self._next_order_id
        self._next_order_id += 1
        self.orders[client_id] = _Order(
            symbol, oid, client_id, side, "LIMIT", "GTC", Decimal(price), Decimal(qty), time=now, update=now
        )

    def _find(self, p: dict[str, str]) -> _Order:
        cid = p.get("origClientOrderId")
        o = self.orders.get(cid or "")
        if o is None and "orderId" in p:
            o = next((x for x in self.orders.values() if str(x.order_id) == p["orderId"]), None)
        if o is None or o.symbol != p.get("symbol"):
            raise _ApiError(400, -2013, "Order does not exist.")
        return o

    def _cancel(self, p: dict[str, str], now: int) -> dict[str, Any]:
        try:
            o = self._find(p)
        except _ApiError:
            raise _ApiError(400, -2011, "Unknown order sent.") from None
        if o.status not in ("NEW", "PARTIALLY_FILLED"):
            raise _ApiError(400, -2011, "Unknown order sent.")
        o.status = "CANCELED"
        o.update = now
        j = self._order_json(o, query=False)
        j["origClientOrderId"] = o.client_id
        j["clientOrderId"] = p.get("newClientOrderId") or f"cancel{o.order_id}"
        return j

    def _order_json(self, o: _Order, query: bool) -> dict[str, Any]:
        j: dict[str, Any] = {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_id,
            "price": _d(o.price),
            "origQty": _d(o.orig_qty),
            "executedQty": _d(o.executed),
            "cummulativeQuoteQty": _d(o.quote),
            "status": o.status,
            "timeInForce": o.tif,
            "type": o.type,
            "side": o.side,
            "workingTime": o.time,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if query:
            j.update(
                stopPrice="0.00000000", icebergQty="0.00000000", time=o.time, updateTime=o.update,
                isWorking=o.status in ("NEW", "PARTIALLY_FILLED"), origQuoteOrderQty="0.00000000",
            )
        else:
            j["transactTime"] = o.update
            j["origQuoteOrderQty"] = "0.00000000"
        return j

    def _account(self, now: int) -> dict[str, Any]:
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                "seller": "0.00000000"},
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now,
            "accountType": "SPOT",
            "balances": [{"asset": a, "free": _d(self.balances.get(a, Decimal(0))), "locked": _d(self.locked.get(a, Decimal(0)))}
                         for a in sorted(set(self.balances) | set(self.locked))],
            "permissions": ["SPOT"],
            "uid": 354937868,
        }


class _ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg
