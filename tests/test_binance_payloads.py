"""Binance payload parsers on real captured payloads (shared data) and on crafted bad input."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.market.binance_payloads import (
    parse_exchange_info,
    parse_kline_event,
    parse_mini_ticker_array,
    parse_rest_klines,
    rest_rows_fast,
    synthetic_filters,
)
from tui_trader.market.validation import RejectCounter, validate_kline_batch

H1 = 3_600_000


@pytest.fixture(scope="module")
def payloads(shared_data: Path) -> Path:
    return shared_data / "binance_payloads"


def _recorder_payload(line: str) -> str:
    """cryptofeed recorder line ``[URL -> ]unix_ts: <payload>`` -> payload text."""
    head, _, payload = line.partition(": ")
    assert head.replace(".", "").split()[-1].isdigit()
    return payload


# ---------------------------------------------------------------- REST klines


def test_rest_klines_real_month(klines_dir: Path) -> None:
    rows = json.loads((klines_dir / "BTCUSDT" / "1h" / "2024-01-01.json").read_text())
    c = RejectCounter()
    b = parse_rest_klines(rows, 3, H1, c)
    assert len(b) == len(rows) == 744 and c.total == 0
    assert b.sym.dtype == np.int32 and set(b.sym.tolist()) == {3}
    assert b.open_time[0] == 1704067200000 and b.close_time[0] == 1704070799999
    assert b.open[0] == 42283.58 and b.high[0] == 42554.57 and b.low[0] == 42261.02 and b.close[0] == 42475.23
    assert b.volume[0] == 1271.68108 and b.quote_volume[0] == 53957248.973789
    assert b.trades[0] == 47134 and b.taker_buy_base[0] == 682.57581
    assert b.closed.all()
    assert np.all(np.diff(b.open_time) == H1)
    assert len(validate_kline_batch(b, 4, np.full(4, -1, dtype=np.int64), c)) == 744 and c.total == 0


def test_rest_klines_nautilus_capture(payloads: Path) -> None:
    rows = json.loads((payloads / "nautilus_trader" / "http_spot_market_klines.json").read_text())
    c = RejectCounter()
    b = parse_rest_klines(rows, 0, 60_000, c)
    assert len(b) == 10 and c.total == 0
    assert b.open_time[0] == 1634943780000 and b.open[0] == 60685.22 and b.trades[0] == 617
    assert b.taker_buy_base[0] == 12.28492


def test_rest_klines_microseconds_converted() -> None:
    row = [1735689600000000, "1.5", "2", "1", "1.8", "10", 1735693199999999, "15", 3, "4", "6", "0"]
    b = parse_rest_klines([row], 0, H1, RejectCounter())
    assert b.open_time.tolist() == [1735689600000] and b.close_time.tolist() == [1735693199999]


def test_rest_klines_bad_rows_counted_good_rows_kept() -> None:
    good = [1704067200000, "1.5", "2", "1", "1.8", "10", 1704070799999, "15", 3, "4", "6", "0"]
    rows = [
        good,
        [1, 2],  # too short
        None,  # not a list
        good[:5] + [True] + good[6:],  # bool volume
        good[:2] + ["abc"] + good[3:],  # unparsable
        good[:8] + [None] + good[9:],  # trades None
        [1704070800000] + good[1:6] + [1704074399999] + good[7:],
    ]
    c = RejectCounter()
    b = parse_rest_klines(rows, 0, H1, c)
    assert b.open_time.tolist() == [1704067200000, 1704070800000]
    assert c.by_reason == {"malformed": 2, "bad_type": 3}


def test_rest_klines_out_of_range_numbers_are_rejected_not_raised() -> None:
    good = [1704067200000, "1.5", "2", "1", "1.8", "10", 1704070799999, "15", 3, "4", "6", "0"]
    rows = [
        good,
        good[:8] + [10**30] + good[9:],  # trades beyond int64
        ["1e19"] + good[1:],  # open time beyond int64
        good[:6] + [1e20] + good[7:],  # close time beyond int64
        [9 * 10**18] + good[1:],  # fits int64, but no plausible time (ms or µs)
        [1704070800000] + good[1:6] + [1704074399999] + good[7:],
    ]
    c = RejectCounter()
    b = parse_rest_klines(rows, 0, H1, c)
    assert b.open_time.tolist() == [1704067200000, 1704070800000]
    assert c.by_reason == {"malformed": 4}


def test_integers_beyond_any_float_are_rejected_not_raised() -> None:
    # a JSON number of 400 digits parses (stdlib json) to an int that float() cannot take:
    # each parser counts it as malformed, names it briefly, and keeps the good rows and items
    huge = 10**400
    good = [1704067200000, "1.5", "2", "1", "1.8", "10", 1704070799999, "15", 3, "4", "6", "0"]
    rows = [good, good[:2] + [huge] + good[3:], [huge] + good[1:], good[:8] + [huge] + good[9:]]
    c = RejectCounter()
    b = parse_rest_klines(rows, 0, H1, c)
    assert b.open_time.tolist() == [1704067200000] and c.by_reason == {"malformed": 3}
    event = {"e": "kline", "s": "BTCUSDT", "k": {"t": 1704067200000, "T": 1704070799999, "s": "BTCUSDT",
                                                 "i": "1h", "o": "1", "c": "1", "h": "1", "l": "1", "v": "1",
                                                 "q": "1", "V": "1", "n": 1, "x": True}}
    assert parse_kline_event(event, {"BTCUSDT": 0}, RejectCounter()) is not None
    for key in ("o", "n", "t"):
        c = RejectCounter()
        bad = copy.deepcopy(event)
        bad["k"][key] = huge
        assert parse_kline_event(bad, {"BTCUSDT": 0}, c) is None
        assert c.by_reason == {"malformed": 1}, key
    item = {"e": "24hrMiniTicker", "E": 1, "s": "BTCUSDT", "c": "2", "o": "1", "h": "3", "l": "1", "v": "1", "q": "1"}
    for key in ("c", "E"):
        c = RejectCounter()
        prices = parse_mini_ticker_array([{**item, key: huge}, {**item, "s": "ETHUSDT"}], {"BTCUSDT": 0, "ETHUSDT": 1}, c)
        assert prices.sym.tolist() == [1] and prices.price.tolist() == [2.0]
        assert c.by_reason == {"malformed": 1}, key


def test_rest_klines_not_a_list_and_in_progress_marking() -> None:
    c = RejectCounter()
    assert len(parse_rest_klines({"code": -1121}, 0, H1, c)) == 0  # type: ignore[arg-type]
    assert c.by_reason == {"bad_type": 1}
    rows = [
        [t, "1", "1", "1", "1", "1", t + H1 - 1, "1", 1, "0.5", "0.5", "0"] for t in (0, H1, 2 * H1)
    ]
    b = parse_rest_klines(rows, 0, H1, c, now_ms=2 * H1 + 5)
    assert b.closed.tolist() == [True, True, False]


# ---------------------------------------------------------------- kline event


def test_kline_event_real_message_wrapped_and_bare(payloads: Path) -> None:
    lines = (payloads / "crypto_msg_parser" / "binance_ws_messages_extracted.jsonl").read_text().splitlines()
    msg = json.loads(lines[1])
    c = RejectCounter()
    b = parse_kline_event(msg, {"BTCUSDT": 4}, c)
    assert b is not None and len(b) == 1 and c.total == 0
    assert b.interval_ms == 60_000 and b.sym.tolist() == [4]
    assert b.open_time[0] == 1653818760000 and b.close_time[0] == 1653818819999
    assert b.open[0] == 29038.46 and b.close[0] == 29038.47 and b.high[0] == 29038.47 and b.low[0] == 29038.46
    assert b.volume[0] == 0.20926 and b.quote_volume[0] == 6076.5891832 and b.taker_buy_base[0] == 0.10436
    assert b.trades[0] == 31 and b.closed.tolist() == [False]
    bare = parse_kline_event(msg["data"], {"BTCUSDT": 4}, c)
    assert bare is not None and bare.open[0] == b.open[0]


def test_kline_events_from_cryptofeed_capture(payloads: Path) -> None:
    text = (payloads / "cryptofeed_sample_data" / "BINANCE.ws.1.0").read_text()
    msgs = [json.loads(_recorder_payload(ln)) for ln in text.splitlines() if "@kline_" in ln and "->" not in ln]
    assert len(msgs) == 2
    idx = {"NKNUSDT": 0, "LRCBTC": 1}
    c = RejectCounter()
    out = [parse_kline_event(m, idx, c) for m in msgs]
    assert all(b is not None for b in out) and c.total == 0
    nkn = next(b for b in out if b is not None and b.sym[0] == 0)
    assert nkn.open[0] == 0.3527 and nkn.volume[0] == 25877.0 and nkn.taker_buy_base[0] == 58.0
    # other streams on the same connection are not kline events: None, not counted
    depth = next(ln for ln in text.splitlines() if "depthUpdate" in ln)
    assert parse_kline_event(json.loads(_recorder_payload(depth)), idx, c) is None and c.total == 0
    # a symbol outside the index is counted
    nkn_msg = next(m for m in msgs if m["data"]["s"] == "NKNUSDT")
    assert parse_kline_event(nkn_msg, {"LRCBTC": 0}, c) is None
    assert c.by_reason == {"unknown_symbol": 1}


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda d: d["k"].__setitem__("o", None), "bad_type"),
        (lambda d: d["k"].__setitem__("c", "nope"), "malformed"),
        (lambda d: d["k"].__setitem__("x", "true"), "bad_type"),
        (lambda d: d["k"].pop("V"), "malformed"),
        (lambda d: d["k"].__setitem__("i", "7q"), "malformed"),
        (lambda d: d.__setitem__("k", [1, 2]), "bad_type"),
        (lambda d: d["k"].__setitem__("t", 1.5), "malformed"),
        (lambda d: d["k"].__setitem__("v", False), "bad_type"),
        # numbers that do not fit int64 (or a plausible time) must be rejected here, not overflow later
        (lambda d: d["k"].__setitem__("n", 10**30), "malformed"),
        (lambda d: d["k"].__setitem__("t", 10**20), "malformed"),
        (lambda d: d["k"].__setitem__("T", 1e20), "malformed"),
        (lambda d: d["k"].__setitem__("t", "1e19"), "malformed"),
        (lambda d: d["k"].__setitem__("t", -1), "malformed"),
    ],
)
def test_kline_event_bad_fields(payloads: Path, mutate, reason: str) -> None:
    lines = (payloads / "crypto_msg_parser" / "binance_ws_messages_extracted.jsonl").read_text().splitlines()
    msg = copy.deepcopy(json.loads(lines[1]))
    mutate(msg["data"])
    c = RejectCounter()
    assert parse_kline_event(msg, {"BTCUSDT": 0}, c) is None
    assert c.by_reason == {reason: 1}


# ---------------------------------------------------------------- miniTicker array


def mini_tickers(payloads: Path, n: int) -> list[dict]:
    """n miniTicker items shaped like the real ticker sample (its mini fields), generated symbols."""
    line = (payloads / "crypto_msg_parser" / "binance_ws_messages_extracted.jsonl").read_text().splitlines()[0]
    real = json.loads(line)["data"][0]
    base = {k: real[k] for k in ("E", "s", "c", "o", "h", "l", "v", "q")}
    out = []
    for i in range(n):
        it = {"e": "24hrMiniTicker", **base}
        it["s"] = f"S{i:04d}USDT"
        it["c"] = f"{1 + i * 0.01:.8f}"
        out.append(it)
    return out


def test_mini_ticker_real_fields(payloads: Path) -> None:
    line = (payloads / "crypto_msg_parser" / "binance_ws_messages_extracted.jsonl").read_text().splitlines()[0]
    msg = json.loads(line)  # {"stream": "!ticker@arr", "data": [ETHBTC ticker]} - carries the mini fields
    c = RejectCounter()
    p = parse_mini_ticker_array(msg, {"ETHBTC": 2}, c)
    assert len(p) == 1 and c.total == 0
    assert p.sym.tolist() == [2] and p.event_time.tolist() == [1653812100450]
    assert p.price[0] == 0.061503 and p.open_24h[0] == 0.061188
    assert p.high_24h[0] == 0.062217 and p.low_24h[0] == 0.060799
    assert p.volume_24h[0] == 116854.4523 and p.quote_volume_24h[0] == 7187.23459814


def test_mini_ticker_array_skips_unknown_symbols_silently(payloads: Path) -> None:
    items = mini_tickers(payloads, 2000)
    idx = {f"S{i:04d}USDT": i // 2 for i in range(0, 2000, 2)}
    c = RejectCounter()
    p = parse_mini_ticker_array(items, idx, c)
    assert len(p) == 1000 and c.total == 0
    assert p.sym.tolist() == list(range(1000))
    assert np.allclose(p.price, 1 + np.arange(0, 2000, 2) * 0.01)
    assert p.sym.dtype == np.int32 and p.event_time.dtype == np.int64


def test_mini_ticker_bad_items_counted(payloads: Path) -> None:
    items = mini_tickers(payloads, 8)
    items[1]["c"] = None  # bad type (would silently be NaN)
    items[2]["v"] = True  # bad type (would silently be 1.0)
    items[3]["h"] = "x1"  # unparsable
    del items[4]["q"]  # missing field
    items[5] = "garbage"  # not an object
    items[6]["s"] = ["list"]  # symbol of a wrong type
    idx = {f"S{i:04d}USDT": i for i in range(8)}
    c = RejectCounter()
    p = parse_mini_ticker_array({"stream": "!miniTicker@arr", "data": items}, idx, c)
    assert p.sym.tolist() == [0, 7]
    assert c.by_reason == {"bad_type": 4, "malformed": 2}
    assert parse_mini_ticker_array("nope", idx, c).sym.size == 0  # type: ignore[arg-type]
    assert c.by_reason["bad_type"] == 5


# ---------------------------------------------------------------- exchangeInfo


def test_exchange_info_cryptofeed_full_response(payloads: Path) -> None:
    line = (payloads / "cryptofeed_sample_data" / "BINANCE.0").open().readline()
    f = parse_exchange_info(json.loads(_recorder_payload(line)))
    assert len(f) == 1695
    btc = f["BTCUSDT"]
    assert (btc.base_asset, btc.quote_asset, btc.status) == ("BTC", "USDT", "TRADING")
    assert btc.tick_size == Decimal("0.01") and btc.step_size == Decimal("0.00001")
    assert btc.min_notional == Decimal("10") and btc.min_qty == Decimal("0.00001")
    assert btc.max_notional == 0  # old MIN_NOTIONAL filter has no maximum
    assert str(btc.tick_size) == "0.01"  # trailing zeros stripped
    assert sum(1 for x in f.values() if x.status == "TRADING") == 1262


def test_exchange_info_current_notional_filter_and_string_ints(payloads: Path) -> None:
    data = json.loads((payloads / "ccxt_static" / "binance_spot_exchangeinfo_symbols_extract.json").read_text())
    f = parse_exchange_info(data)
    assert set(f) == {"BTCUSDT", "ETHUSDT", "ADAUSDT", "LTCUSDT", "XRPUSDT", "DOGEUSDT", "TRXUSDT"}
    btc = f["BTCUSDT"]
    assert btc.tick_size == Decimal("0.01") and btc.step_size == Decimal("0.00001")
    assert btc.min_notional == Decimal(5) and btc.max_notional == Decimal(9_000_000)
    assert btc.max_qty == Decimal(9000) and btc.max_price == Decimal(1_000_000)


def test_exchange_info_fixture_and_notional_precedence(payloads: Path) -> None:
    data = json.loads((payloads / "binance_trading_bot_fixtures" / "binance-exchange-info.json").read_text())
    f = parse_exchange_info(data)
    assert len(f) == 20
    for name, s in f.items():
        assert s.tick_size > 0 and s.step_size > 0 and s.min_notional > 0, name
    # BNBBUSD carries only the new NOTIONAL filter
    assert f["BNBBUSD"].min_notional == Decimal(10) and f["BNBBUSD"].step_size == Decimal("0.01")
    # with both filters present, NOTIONAL wins over the old MIN_NOTIONAL
    raw = copy.deepcopy(next(s for s in data["symbols"] if s["symbol"] == "BTCUSDT"))
    raw["filters"].append({"filterType": "NOTIONAL", "minNotional": "5.00000000", "maxNotional": "100"})
    assert any(x["filterType"] == "MIN_NOTIONAL" for x in raw["filters"])
    both = parse_exchange_info({"symbols": [raw]})["BTCUSDT"]
    assert both.min_notional == Decimal(5) and both.max_notional == Decimal(100)


def test_exchange_info_bad_symbols_skipped_and_no_list_is_an_error() -> None:
    good = {
        "symbol": "AAAUSDT", "baseAsset": "AAA", "quoteAsset": "USDT", "status": "BREAK",
        "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": 1, "minPrice": "0", "maxPrice": "0"},
            {"filterType": "LOT_SIZE", "stepSize": "0.10000000", "minQty": "0.1", "maxQty": 1000},
        ],
    }
    bad = {"symbol": "BBBUSDT", "filters": []}  # no assets
    worse = {**good, "symbol": "CCCUSDT", "filters": [{"filterType": "PRICE_FILTER", "tickSize": None}]}
    f = parse_exchange_info({"symbols": [good, bad, worse, "junk"]})
    assert list(f) == ["AAAUSDT"]
    a = f["AAAUSDT"]
    assert a.tick_size == Decimal(1) and a.step_size == Decimal("0.1") and a.status == "BREAK"
    assert a.min_notional == 0  # no notional filter = no constraint
    with pytest.raises(ValueError, match="symbols"):
        parse_exchange_info({"code": -1000})


# ---------------------------------------------------------------- synthetic filters


@pytest.mark.parametrize(
    "price,tick,step",
    [
        (60_000.0, "0.01", "0.00001"),
        (3_000.0, "0.01", "0.0001"),
        (150.0, "0.01", "0.001"),
        (0.6, "0.00001", "1"),
        (0.15, "0.00001", "1"),
        (0.0001, "1E-8", "1"),
    ],
)
def test_synthetic_filters_scale_with_price(price: float, tick: str, step: str) -> None:
    f = synthetic_filters("XYZUSDT", price)
    assert f.tick_size == Decimal(tick) and f.step_size == Decimal(step)
    assert f.min_notional == Decimal(5) and f.base_asset == "XYZ" and f.quote_asset == "USDT"
    assert f.min_qty == f.step_size and f.max_qty * Decimal(str(price)) > Decimal(1_000_000)
    # a tick is a small fraction of the price
    assert Decimal(tick) / Decimal(str(price)) <= Decimal("0.0001")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_synthetic_filters_reject_bad_price(bad: float) -> None:
    with pytest.raises(ValueError, match="XUSDT"):
        synthetic_filters("XUSDT", bad)


# -- rest_rows_fast: the object-array cast against the column-by-column conversion it replaced --------


def _rest_rows_reference(rows: list) -> tuple[np.ndarray, np.ndarray] | None:
    """The previous implementation of rest_rows_fast (columns by zip, a type check of ten
    columns, numpy conversion of each column list)."""
    if not all(type(r) is list and len(r) == 12 for r in rows):
        return None
    cols = list(zip(*rows, strict=True))
    types: set[type] = set()
    for c in range(10):
        types.update(map(type, cols[c]))
    if not types <= {str, int, float}:
        return None
    try:
        times = np.array([cols[0], cols[6], cols[8]], dtype=np.int64).T
        if float in types:
            f = np.array([cols[0], cols[6], cols[8]], dtype=np.float64).T
            if not np.array_equal(f, times):
                return None
        vals = np.array([cols[c] for c in (1, 2, 3, 4, 5, 7, 9)], dtype=np.float64).T
    except (ValueError, TypeError, OverflowError):
        return None
    return np.ascontiguousarray(times), vals


_CELLS = st.one_of(
    st.integers(-10, 2**53).map(str),
    st.integers(0, 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.decimals(min_value=-(10**12), max_value=10**12, places=8, allow_nan=False).map(str),
    st.sampled_from(["0", "1", "1.0", "0.00000000", "1e5", " 2.5", "nan", "inf", "", "x", "1_000", "0x10"]),
    st.booleans(),
    st.none(),
    st.just([1, 2]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_CELLS, min_size=11, max_size=13), min_size=1, max_size=6), st.integers(0, 3))
def test_rest_rows_fast_matches_the_column_conversion(rows: list, clean_rows: int) -> None:
    base = [1_704_067_200_000, "42283.58", "42554.57", "42261.02", "42475.23", "1271.68108", 1_704_070_799_999,
            "53957248.97", 47134, "682.57", "28957416.81", "0"]
    rows = [list(base) for _ in range(clean_rows)] + rows
    got, want = rest_rows_fast(rows), _rest_rows_reference(rows)
    if want is None:
        # the new path may only refuse more (never accept what the old one refused), and must refuse
        # every row set holding a bool, None or list in a checked column
        assert got is None
        return
    assert got is not None
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1].tobytes() == want[1].tobytes()  # bit for bit


@pytest.mark.parametrize("bad", [True, False, None, [1.0], {"a": 1}])
def test_rest_rows_fast_refuses_non_numbers_in_value_columns(bad: object) -> None:
    row = [1_704_067_200_000, "1", "1", "1", "1", "1", 1_704_070_799_999, "1", 5, "1", "1", "0"]
    for col in (1, 5, 7, 9):
        r = list(row)
        r[col] = bad
        assert rest_rows_fast([list(row), r]) is None
