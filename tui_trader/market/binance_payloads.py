"""Parsers for real Binance spot payloads into columnar batches and filters.

Formats (Binance spot API):

* REST ``GET /api/v3/klines`` (and data.binance.vision CSV rows): 12-field rows
  ``[open_time, open, high, low, close, volume, close_time, quote_volume, trades,
  taker_buy_base, taker_buy_quote, ignore]``; prices/volumes are strings. Times
  are milliseconds, or microseconds (data.binance.vision spot files from 2025):
  a time ``> 1e14`` is taken as microseconds and converted to milliseconds.
* websocket ``<symbol>@kline_<interval>``: ``{"e":"kline","E":..,"s":..,"k":{"t","T","s","i",
  "o","c","h","l","v","n","x","q","V","Q",..}}``, bare or in a combined-stream
  envelope ``{"stream": .., "data": ..}``. ``k.V`` is the taker-buy base volume,
  ``k.x`` the closed flag.
* websocket ``!miniTicker@arr``: a list of ``{"e":"24hrMiniTicker","E","s","c","o","h","l","v","q"}``.
* REST ``GET /api/v3/exchangeInfo``: ``symbols[].filters`` with PRICE_FILTER,
  LOT_SIZE, MARKET_LOT_SIZE and MIN_NOTIONAL (old) or NOTIONAL (current).

Parsers check *format* only (missing fields, integers beyond int64 or times outside
``[0, MAX_TIME)`` -> ``malformed``, wrong JSON types -> ``bad_type``), count what they drop in a
:class:`~tui_trader.market.validation.RejectCounter`, and never raise on bad
data. Value rules (high >= low, ordering, ...) are applied afterwards by
:func:`~tui_trader.market.validation.validate_kline_batch` /
:func:`~tui_trader.market.validation.validate_price_batch`.

Units: times integer ms since the epoch (UTC); prices in quote currency;
``volume``/``taker_buy_base`` in base currency, ``quote_volume`` in quote currency.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

import numpy as np

from tui_trader.clock import interval_to_ms
from tui_trader.market.validation import RejectCounter, kline_batch_from_arrays
from tui_trader.models import KlineBatch, PriceBatch, SymbolFilters

log = logging.getLogger("tui_trader.market")

US_THRESHOLD = 1e14
"""Timestamps above this are microseconds (1e14 ms would be the year 5138)."""
MAX_TIME = 10**16
"""Timestamps at or above this (µs of the year 2286) or below 0 are malformed."""
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# REST kline row columns.
_FLOAT_COLS = [1, 2, 3, 4, 5, 7, 9]  # open high low close volume quote_volume taker_buy_base
_INT_COLS = [0, 6, 8]  # open_time close_time trades
_COL_NAMES = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "trades",
              "taker_buy_base", "taker_buy_quote")
_NUM_TYPES = (str, int, float)


class _RowError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _num(x: Any, what: str) -> float:
    """A JSON number or numeric string -> float; raises _RowError(bad_type|malformed)."""
    if isinstance(x, bool) or not isinstance(x, _NUM_TYPES):
        raise _RowError("bad_type", f"{what}: {type(x).__name__}")
    try:
        return float(x)
    except (ValueError, OverflowError):  # OverflowError: a JSON integer beyond any float
        raise _RowError("malformed", f"{what}: {_short(x)}") from None


def _short(x: Any) -> str:
    """A value for a reject's text, cut to 40 characters (a 400-digit integer too)."""
    if isinstance(x, int) and abs(x) >= 10**40:
        return f"an integer of {len(str(abs(x)))} digits"
    return f"{x!r:.40}"


def _int(x: Any, what: str) -> int:
    """A JSON integer (or integral numeric string/float) -> int; raises _RowError."""
    if isinstance(x, bool) or not isinstance(x, _NUM_TYPES):
        raise _RowError("bad_type", f"{what}: {type(x).__name__}")
    if isinstance(x, int):
        return _in_int64(x, what)
    try:
        f = float(x)
    except ValueError:
        raise _RowError("malformed", f"{what}: {x!r:.40}") from None
    if not math.isfinite(f) or f != int(f):
        raise _RowError("malformed", f"{what}: {x!r:.40}")
    return _in_int64(int(f), what)


def _in_int64(v: int, what: str) -> int:
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise _RowError("malformed", f"{what}: {_short(v)} is out of range")
    return v


def _time(x: Any, what: str) -> int:
    """A timestamp (ms, or µs above :data:`US_THRESHOLD`) in ``[0, MAX_TIME)``; raises _RowError."""
    v = _int(x, what)
    if not 0 <= v < MAX_TIME:
        raise _RowError("malformed", f"{what}: time {v:.3g} is out of range")
    return v


def to_ms(t: np.ndarray) -> np.ndarray:
    """int64 timestamps in ms or µs (``> 1e14``) -> ms (µs floored to whole ms)."""
    t = np.asarray(t, dtype=np.int64)
    us = t > US_THRESHOLD
    if us.any():
        t = np.where(us, t // 1000, t)
    return t


# ---------------------------------------------------------------------------
# REST klines
# ---------------------------------------------------------------------------


def rest_rows_fast(rows: list) -> tuple[np.ndarray, np.ndarray] | None:
    """Columnar conversion of clean REST kline rows, or None if anything is irregular.

    Returns ``(times int64 (n,3): open_time, close_time, trades — as sent, not yet
    converted from µs; values float64 (n,7))``. One object array of the rows, a type
    check of the time columns, and one cast of the seven value columns (``float()`` of
    each string, in C).
    """
    if not all(type(r) is list and len(r) == 12 for r in rows):
        return None
    a = np.array(rows, dtype=object)
    if a.shape != (len(rows), 12):  # twelve lists of one length in every row would add a dimension
        return None
    tcols = [a[:, c].tolist() for c in _INT_COLS]
    types: set[type] = set()
    for col in tcols:
        types.update(map(type, col))
    if not types <= {str, int, float}:
        return None
    try:
        times = np.array(tcols, dtype=np.int64).T
        if float in types:  # a float time would be truncated silently
            f = np.array(tcols, dtype=np.float64).T
            if not np.array_equal(f, times):
                return None
        cells = a[:, _FLOAT_COLS]
        vals = cells.astype(np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if ((times[:, :2] < 0) | (times[:, :2] >= MAX_TIME)).any():  # the row-by-row parse rejects them
        return None
    # The cast takes str, int and float and refuses lists and objects, but it turns a JSON
    # true/false/null into 1.0/0.0/NaN: only cells with those values have their type looked at.
    suspect = (vals == 0.0) | (vals == 1.0) | np.isnan(vals)
    if suspect.any() and not set(map(type, cells[suspect].tolist())) <= {str, int, float}:
        return None
    return np.ascontiguousarray(times), vals


def _parse_rest_row(row: Any) -> tuple[list[int], list[float]]:
    if not isinstance(row, list | tuple):
        raise _RowError("bad_type", f"row is {type(row).__name__}, not a list")
    if len(row) < 11:
        raise _RowError("malformed", f"row has {len(row)} fields, expected 12")
    times = [
        (_time if c != 8 else _int)(row[c], f"col {c} ({_COL_NAMES[c]})") for c in _INT_COLS  # 8: trades
    ]
    vals = [_num(row[c], f"col {c} ({_COL_NAMES[c]})") for c in _FLOAT_COLS]
    return times, vals


def parse_rest_klines(
    rows: list, sym: int, interval_ms: int, counter: RejectCounter, now_ms: int | None = None,
    source: str = "REST kline", line_numbers: list[int] | None = None,
) -> KlineBatch:
    """REST ``/api/v3/klines`` rows of ONE symbol (index ``sym``) -> KlineBatch.

    A dropped row is named in the log as ``<source> row <i>`` (1-based), or ``<source> line <n>``
    with ``line_numbers`` (a CSV file's line of each row).

    Malformed rows (not a list, fewer than 11 fields, unparsable numbers, wrong
    types) are dropped and counted; never raises on bad data. All rows are marked
    closed, except — when ``now_ms`` is given — those whose ``close_time >=
    now_ms`` (the candle still in progress). Values are not range-checked here:
    run :func:`~tui_trader.market.validation.validate_kline_batch` on the result.
    """
    if not isinstance(rows, list | tuple):
        counter.reject("bad_type", 1, f"klines payload is {type(rows).__name__}, not a list")
        return KlineBatch.empty(interval_ms)
    n = len(rows)
    if n == 0:
        return KlineBatch.empty(interval_ms)
    fast = rest_rows_fast(rows)
    if fast is not None:
        times, vals = fast
        times = to_ms_cols(times)
    else:
        t_list: list[list[int]] = []
        v_list: list[list[float]] = []
        for i, row in enumerate(rows):
            try:
                t_row, v_row = _parse_rest_row(row)
            except _RowError as e:  # where, so the operator can find the row
                where = f"row {i + 1}" if line_numbers is None else f"line {line_numbers[i]}"
                counter.reject(e.reason, 1, f"{source} {where}: {e.detail}")
                continue
            t_list.append(t_row)
            v_list.append(v_row)
        if not t_list:
            return KlineBatch.empty(interval_ms)
        times = to_ms_cols(np.array(t_list, dtype=np.int64))
        vals = np.array(v_list, dtype=np.float64)
    m = times.shape[0]
    closed: np.ndarray | bool = True
    if now_ms is not None:
        closed = times[:, 1] < int(now_ms)
    return kline_batch_from_arrays(
        interval_ms, np.full(m, sym, dtype=np.int32), times[:, 0], times[:, 1], vals, times[:, 2], closed
    )


def to_ms_cols(times: np.ndarray) -> np.ndarray:
    """Convert columns 0 and 1 (open/close time) of an (n,3) int64 array to ms in place."""
    times[:, 0] = to_ms(times[:, 0])
    times[:, 1] = to_ms(times[:, 1])
    return times


# ---------------------------------------------------------------------------
# websocket kline
# ---------------------------------------------------------------------------


def _unwrap(msg: Any) -> Any:
    if isinstance(msg, dict) and "data" in msg and ("stream" in msg or len(msg) == 1):
        return msg["data"]
    return msg


def parse_kline_event(
    msg: dict, sym_index: Mapping[str, int], counter: RejectCounter
) -> KlineBatch | None:
    """A ``<symbol>@kline_<interval>`` message -> one-row KlineBatch, or None.

    Accepts the bare event or a combined-stream envelope. Returns None (and
    counts) for an unknown symbol, a wrong type or a malformed event; returns None
    without counting for a message that is not a kline event at all (other
    streams share the connection). ``closed`` is ``k.x``; ``taker_buy_base`` is ``k.V``.
    """
    data = _unwrap(msg)
    if not isinstance(data, dict):
        counter.reject("bad_type", 1, f"kline event is {type(data).__name__}")
        return None
    if data.get("e") != "kline":
        return None
    try:
        k = data.get("k")
        if not isinstance(k, dict):
            raise _RowError("bad_type" if k is not None else "malformed", "kline event without 'k' object")
        s = k.get("s", data.get("s"))
        if not isinstance(s, str):
            raise _RowError("bad_type" if s is not None else "malformed", "kline symbol missing")
        i = sym_index.get(s.upper())
        if i is None:
            counter.reject("unknown_symbol", 1, f"kline for {s:.20}")
            return None
        interval = k.get("i")
        if not isinstance(interval, str):
            raise _RowError("bad_type" if interval is not None else "malformed", "kline interval missing")
        try:
            interval_ms = interval_to_ms(interval)
        except ValueError:
            raise _RowError("malformed", f"kline interval {interval!r:.20}") from None
        closed = k.get("x")
        if not isinstance(closed, bool):
            raise _RowError("bad_type" if closed is not None else "malformed", "kline closed flag 'x'")
        keys = ("o", "h", "l", "c", "v", "q", "V")
        missing = [key for key in keys + ("t", "T") if key not in k]
        if missing:
            raise _RowError("malformed", f"kline fields missing: {missing}")
        vals = [_num(k[key], f"k.{key}") for key in keys]
        t = _time(k["t"], "k.t")
        tt = _time(k["T"], "k.T")
        trades = _int(k.get("n", 0), "k.n")
    except _RowError as e:
        counter.reject(e.reason, 1, f"kline event: {e.detail}")
        return None
    times = to_ms_cols(np.array([[t, tt, trades]], dtype=np.int64))
    return kline_batch_from_arrays(
        interval_ms, np.array([i], dtype=np.int32), times[:, 0], times[:, 1],
        np.array([vals], dtype=np.float64), times[:, 2], np.array([closed]),
    )


# ---------------------------------------------------------------------------
# websocket !miniTicker@arr
# ---------------------------------------------------------------------------

_MT_FIELDS = ("E", "c", "o", "h", "l", "v", "q")
_mt_get = itemgetter(*_MT_FIELDS)


def _empty_prices() -> PriceBatch:
    f = np.empty(0, dtype=np.float64)
    return PriceBatch(np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64), f, f, f, f, f, f)


def parse_mini_ticker_array(
    msg: list | dict, sym_index: Mapping[str, int], counter: RejectCounter
) -> PriceBatch:
    """``!miniTicker@arr`` (list, envelope, or a single miniTicker event) -> PriceBatch.

    Symbols not in ``sym_index`` are skipped silently (the array covers the whole
    market); items of the wrong type, without a field, or with unparsable numbers
    are rejected and counted. One Python pass over the items, then vectorised
    number parsing (a 2000-item array parses in a few ms).
    """
    data = _unwrap(msg)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        counter.reject("bad_type", 1, f"miniTicker payload is {type(data).__name__}")
        return _empty_prices()
    syms: list[int] = []
    rows: list[tuple] = []
    get = sym_index.get
    for it in data:
        try:
            i = get(it["s"])
            if i is None:
                continue
            rows.append(_mt_get(it))
        except KeyError:
            counter.reject("malformed", 1, "miniTicker item without a field")
            continue
        except TypeError:
            counter.reject("bad_type", 1, f"miniTicker item of type {type(it).__name__} or bad symbol")
            continue
        syms.append(i)
    if not rows:
        return _empty_prices()
    vals = None
    try:
        vals = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):  # parsed one by one below
        vals = None
    if vals is not None:
        # numpy turns None into NaN and a bool into 0/1 silently: the rows holding such
        # values (rare) are checked for their JSON types, and parsed one by one if wrong.
        sus = np.flatnonzero((np.isnan(vals) | (vals == 0.0) | (vals == 1.0)).any(axis=1))
        if sus.size and any(
            isinstance(x, bool) or not isinstance(x, _NUM_TYPES) for k in sus.tolist() for x in rows[k]
        ):
            vals = None
    if vals is None:
        keep_s: list[int] = []
        keep_v: list[list[float]] = []
        for i, r in zip(syms, rows, strict=True):
            try:
                keep_v.append([_num(x, f"miniTicker.{f}") for f, x in zip(_MT_FIELDS, r, strict=True)])
            except _RowError as e:
                counter.reject(e.reason, 1, e.detail)
                continue
            keep_s.append(i)
        if not keep_s:
            return _empty_prices()
        syms = keep_s
        vals = np.array(keep_v, dtype=np.float64)
    et = vals[:, 0]
    bad_t = ~np.isfinite(et) | (et < 0) | (et >= MAX_TIME)
    if bad_t.any():
        counter.reject("malformed", int(bad_t.sum()), "miniTicker event time")
        vals = vals[~bad_t]
        syms = [s for s, b in zip(syms, bad_t.tolist(), strict=True) if not b]
    return PriceBatch(
        sym=np.asarray(syms, dtype=np.int32),
        event_time=vals[:, 0].astype(np.int64),
        price=np.ascontiguousarray(vals[:, 1]),
        open_24h=np.ascontiguousarray(vals[:, 2]),
        high_24h=np.ascontiguousarray(vals[:, 3]),
        low_24h=np.ascontiguousarray(vals[:, 4]),
        volume_24h=np.ascontiguousarray(vals[:, 5]),
        quote_volume_24h=np.ascontiguousarray(vals[:, 6]),
    )


# ---------------------------------------------------------------------------
# exchangeInfo
# ---------------------------------------------------------------------------


#: The range of a non-zero exchangeInfo filter value (ticks and steps down to 1e-18 keep the exact
#: quantisation of :mod:`tui_trader.execution.filters` within its 60 digits).
_FILTER_MIN = Decimal("1e-18")
_FILTER_MAX = Decimal("1e18")


def _dec(x: Any) -> Decimal:
    """A JSON string/int filter value -> Decimal without trailing zeros ("0.01000000" -> 0.01)."""
    if isinstance(x, bool) or not isinstance(x, str | int | float):
        raise InvalidOperation(f"not a number: {x!r:.30}")
    d = Decimal(str(x))
    if not d.is_finite():
        raise InvalidOperation(f"not finite: {x!r:.30}")
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize()


def parse_exchange_info(payload: dict) -> dict[str, SymbolFilters]:
    """``/api/v3/exchangeInfo`` (or its ``symbols`` list) -> {symbol: SymbolFilters}.

    Reads PRICE_FILTER (tickSize, minPrice, maxPrice), LOT_SIZE (stepSize, minQty,
    maxQty), MARKET_LOT_SIZE (the same three, for MARKET orders: ``market_*``; a stepSize
    of 0 means LOT_SIZE's) and NOTIONAL (minNotional, maxNotional) or, in older payloads,
    MIN_NOTIONAL (minNotional); NOTIONAL wins when both are present. Values may be
    strings or integers. A filter that is absent leaves its fields at 0 (= no
    constraint). A symbol object that cannot be read is skipped with a warning.
    Raises ValueError if the payload holds no symbol list at all.
    """
    if isinstance(payload, dict):
        symbols = payload.get("symbols")
    else:
        symbols = payload
    if not isinstance(symbols, list):
        raise ValueError("exchangeInfo payload has no 'symbols' list")
    out: dict[str, SymbolFilters] = {}
    for s in symbols:
        try:
            f = _symbol_filters(s)
        except (KeyError, TypeError, InvalidOperation, AttributeError) as e:
            name = s.get("symbol", "?") if isinstance(s, dict) else "?"
            log.warning("exchangeInfo: skipping symbol %s: %s", name, e)
            continue
        out[f.symbol] = f
    return out


def _symbol_filters(s: dict) -> SymbolFilters:
    zero = Decimal(0)
    by_type = {f["filterType"]: f for f in s.get("filters", []) if isinstance(f, dict) and "filterType" in f}
    pf = by_type.get("PRICE_FILTER", {})
    lot = by_type.get("LOT_SIZE", {})
    market_lot = by_type.get("MARKET_LOT_SIZE", {})
    notional = by_type.get("NOTIONAL") or by_type.get("MIN_NOTIONAL") or {}

    def get(d: dict, key: str) -> Decimal:
        if key not in d:
            return zero
        v = _dec(d[key])
        # a step of 1E-400 made every order's quantisation raise InvalidOperation (60 digits);
        # a negative one meant "no constraint" where Binance has one
        if v < 0 or (v and not _FILTER_MIN <= v <= _FILTER_MAX):
            raise InvalidOperation(f"{key} {_short(d[key])} is negative or outside [1e-18, 1e18]")
        return v

    symbol = s["symbol"]
    if not isinstance(symbol, str) or not symbol:
        raise TypeError("symbol name is not a string")
    return SymbolFilters(
        symbol=symbol,
        base_asset=str(s["baseAsset"]),
        quote_asset=str(s["quoteAsset"]),
        tick_size=get(pf, "tickSize"),
        step_size=get(lot, "stepSize"),
        min_qty=get(lot, "minQty"),
        max_qty=get(lot, "maxQty"),
        min_notional=get(notional, "minNotional"),
        min_price=get(pf, "minPrice"),
        max_price=get(pf, "maxPrice"),
        max_notional=get(notional, "maxNotional"),
        status=str(s.get("status", "TRADING")),
        market_min_qty=get(market_lot, "minQty"),
        market_max_qty=get(market_lot, "maxQty"),
        market_step_size=get(market_lot, "stepSize"),
    )


# ---------------------------------------------------------------------------
# synthetic filters (sim / replay)
# ---------------------------------------------------------------------------


def synthetic_filters(symbol: str, price: float, quote_asset: str = "USDT") -> SymbolFilters:
    """Realistic Binance-like filters for a symbol trading near ``price`` (quote units).

    tick = 10^(floor(log10 price) - 4), at most 0.01 and at least 1e-8 (BTC ~60000 ->
    0.01, DOGE ~0.1 -> 0.00001); step = 10^(-floor(log10 price) - 1), at most 1 and at
    least 1e-8 (BTC -> 0.00001, ETH ~3000 -> 0.0001, XRP ~0.5 -> 1); min_qty = step;
    max_qty about 9e8 / price quote-worth; minNotional 5, maxNotional 9,000,000;
    no max price. Raises ValueError for a non-finite or non-positive price.
    """
    p = float(price)
    if not math.isfinite(p) or p <= 0:
        raise ValueError(f"synthetic_filters: price for {symbol} must be positive and finite, got {price!r}")
    e = math.floor(math.log10(p))
    tick_exp = min(-2, max(-8, e - 4))
    step_exp = min(0, max(-8, -e - 1))
    tick = Decimal(1).scaleb(tick_exp)
    step = Decimal(1).scaleb(step_exp)
    max_qty = Decimal(9 * 10 ** max(0, 8 - e - 1))
    quote = quote_asset.upper()
    base = symbol[: -len(quote)] if symbol.endswith(quote) and len(symbol) > len(quote) else symbol
    return SymbolFilters(
        symbol=symbol,
        base_asset=base,
        quote_asset=quote,
        tick_size=tick,
        step_size=step,
        min_qty=step,
        max_qty=max_qty,
        min_notional=Decimal(5),
        min_price=tick,
        max_price=Decimal(0),
        max_notional=Decimal(9_000_000),
    )
