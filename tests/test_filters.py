"""Exact quantisation to exchange filters, order checks and client order ids."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.execution.client_ids import (
    ClientOrderIds,
    is_valid_client_order_id,
    make_client_order_id,
    sanitize_prefix,
)
from tui_trader.execution.filters import check_order, quantize_price, quantize_qty, round_to_step, to_decimal
from tui_trader.market.binance_payloads import parse_exchange_info
from tui_trader.models import Side, SymbolFilters

D = Decimal
BTC = SymbolFilters(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_size=D("0.01000000"),
    step_size=D("0.00001000"),
    min_qty=D("0.00001000"),
    max_qty=D("9000.00000000"),
    min_notional=D("10.00000000"),
    min_price=D("0.01000000"),
    max_price=D("1000000.00000000"),
    max_notional=D("9000000"),
)

steps = st.sampled_from([D("1"), D("0.1"), D("0.01"), D("0.00001000"), D("0.00000001"), D("10"), D("0.5"), D("0.25")])
amounts = st.decimals(min_value=D("0.00000001"), max_value=D("1000000"), allow_nan=False, allow_infinity=False, places=10)


def filt(tick: Decimal, step: Decimal, **kw: Decimal) -> SymbolFilters:
    return SymbolFilters("XUSDT", "X", "USDT", tick, step, kw.get("min_qty", D(0)), kw.get("max_qty", D(0)),
                         kw.get("min_notional", D(0)))


# -- to_decimal ---------------------------------------------------------------


def test_to_decimal_keeps_float_repr():
    assert to_decimal(42283.58) == D("42283.58")
    assert to_decimal(0.1) == D("0.1")  # not 0.1000000000000000055...
    assert to_decimal("  0.00001000 ") == D("0.00001")
    assert to_decimal(7) == D(7)
    # numpy scalars, as price arrays hand them out
    assert to_decimal(np.float64(42283.58)) == D("42283.58")
    assert to_decimal(np.int64(3)) == D(3)
    with pytest.raises(ValueError):
        to_decimal(np.float64("nan"))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "nan", "Infinity", "abc", "", True, None, D("NaN")])
def test_to_decimal_rejects_non_finite_and_junk(bad):
    with pytest.raises(ValueError):
        to_decimal(bad)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_to_decimal_round_trips_floats(x):
    assert float(to_decimal(x)) == x


# -- quantisation ---------------------------------------------------------------


@given(amounts, steps)
def test_quantize_qty_is_multiple_and_never_above(qty, step):
    q = quantize_qty(qty, filt(D("0.01"), step))
    assert q % step == 0
    assert q <= qty
    assert qty - q < step  # the largest such multiple


@given(amounts, steps)
def test_quantize_price_sides(price, tick):
    f = filt(tick, D("1"))
    down = quantize_price(price, f, Side.BUY)
    up = quantize_price(price, f, Side.SELL)
    mid = quantize_price(price, f)
    for p in (down, up, mid):
        assert p % tick == 0
    assert down <= price <= up
    assert up - down in (D(0), tick)
    assert abs(mid - price) <= tick / 2
    assert mid in (down, up)


def test_quantize_examples_hand_computed():
    assert quantize_qty(D("0.123456789"), BTC) == D("0.12345")
    assert str(quantize_qty(D("1"), BTC)) == "1.00000"  # carries the step's decimals
    assert quantize_price(D("42283.589"), BTC, Side.BUY) == D("42283.58")
    assert quantize_price(D("42283.581"), BTC, Side.SELL) == D("42283.59")
    assert quantize_price(D("42283.585"), BTC) == D("42283.59")  # half-up
    assert quantize_price(D("42283.584"), BTC) == D("42283.58")
    ten = filt(D("10"), D("1E+1"))
    assert str(quantize_qty(D("1234.5"), ten)) == "1230"  # integral, not 1.23E+3
    assert quantize_price(D("1231"), ten, Side.SELL) == D("1240")
    # step 0 = unconstrained
    assert quantize_qty(D("1.23456789123"), filt(D(0), D(0))) == D("1.23456789123")


def test_quantize_rejects_bad_input():
    with pytest.raises(ValueError):
        quantize_qty(D("-1"), BTC)
    with pytest.raises(ValueError):
        quantize_price(D("0"), BTC, Side.BUY)
    with pytest.raises(ValueError):
        quantize_price(math.nan, BTC)
    with pytest.raises(ValueError):
        round_to_step(D("NaN"), D("0.1"), "ROUND_FLOOR")


# -- check_order ---------------------------------------------------------------


def test_check_order_accepts_valid_order():
    assert check_order(D("0.001"), D("42283.58"), BTC) is None


@pytest.mark.parametrize(
    ("qty", "price", "fragment"),
    [
        (D("0.0001"), D("42283.58"), "min_notional"),  # 4.23 USDT < 10
        (D("0.000001"), D("42283.58"), "min_qty"),
        (D("9001"), D("1"), "max_qty"),
        (D("0.000015"), D("42283.58"), "step_size"),
        (D("0.001"), D("42283.585"), "tick_size"),
        (D("0.001"), D("2000000"), "max_price"),
        (D("1000"), D("10000"), "max_notional"),
        (D("0"), D("1"), "positive"),
        (D("1"), D("-1"), "positive"),
    ],
)
def test_check_order_names_the_violation(qty, price, fragment):
    reason = check_order(qty, price, BTC)
    assert reason is not None and fragment in reason


def test_check_order_min_price_is_inclusive():
    f = replace(BTC, min_price=D("100"))
    assert check_order(D("1"), D("99.99"), f) == "PRICE_FILTER: price 99.99 below min_price 100"
    assert check_order(D("1"), D("100"), f) is None


def test_check_order_market_reference_price_skips_price_filter():
    assert check_order(D("0.001"), D("42283.585"), BTC, check_price_range=False) is None
    assert "NOTIONAL" in check_order(D("0.0001"), D("42283.585"), BTC, check_price_range=False)


def test_check_order_symbol_not_trading():
    f = SymbolFilters("X", "X", "USDT", D("0.01"), D("1"), D("1"), D(0), D(0), status="BREAK")
    assert "not trading" in check_order(D("1"), D("1"), f)


@given(amounts, amounts, steps, steps)
@settings(max_examples=150)
def test_quantised_orders_pass_iff_notional_rules_hold(qty, price, step, tick):
    f = SymbolFilters("XUSDT", "X", "USDT", tick, step, step, D(0), D("10"))
    q = quantize_qty(qty, f)
    p = quantize_price(price, f, Side.BUY)
    reason = check_order(q, p, f)
    ok = q >= step and p > 0 and q * p >= D("10")
    assert (reason is None) == ok, reason


# -- real exchange rules ----------------------------------------------------------


def _parse_exchange_info(raw: dict) -> list[SymbolFilters]:
    out = []
    for s in raw["symbols"]:
        by = {f["filterType"]: f for f in s["filters"]}
        notional = by.get("NOTIONAL") or by.get("MIN_NOTIONAL") or {}
        out.append(
            SymbolFilters(
                symbol=s["symbol"],
                base_asset=s["baseAsset"],
                quote_asset=s["quoteAsset"],
                tick_size=D(by["PRICE_FILTER"]["tickSize"]),
                step_size=D(by["LOT_SIZE"]["stepSize"]),
                min_qty=D(by["LOT_SIZE"]["minQty"]),
                max_qty=D(by["LOT_SIZE"]["maxQty"]),
                min_notional=D(notional.get("minNotional", "0")),
                min_price=D(by["PRICE_FILTER"]["minPrice"]),
                max_price=D(by["PRICE_FILTER"]["maxPrice"]),
                status=s["status"],
            )
        )
    return out


def test_real_exchange_info_filters_quantise(shared_data):
    path = shared_data / "binance_payloads" / "binance_trading_bot_fixtures" / "binance-exchange-info.json"
    filters = _parse_exchange_info(json.loads(path.read_text()))
    assert len(filters) >= 10
    btc = next(f for f in filters if f.symbol == "BTCUSDT")
    # 100 USDT of BTC at the 2024-01-01 open: quantised, then accepted by the real rules.
    price = to_decimal(42283.58)
    qty = quantize_qty(D(100) / price, btc)
    assert qty * price <= 100 and check_order(qty, price, btc) is None
    for f in filters:
        ref = f.min_price * 1000 if f.min_price > 0 else D(1)
        p = quantize_price(ref * D("1.2345678"), f, Side.BUY)
        q = quantize_qty(f.min_notional / p * 3 + f.min_qty, f)
        assert q % f.step_size == 0 and p % f.tick_size == 0
        assert check_order(q, p, f) is None, f.symbol


def _real_btc_filters(shared_data) -> SymbolFilters:
    path = shared_data / "binance_payloads" / "ccxt_static" / "binance_spot_exchangeinfo_symbols_extract.json"
    return parse_exchange_info(json.loads(path.read_text()))["BTCUSDT"]


def test_market_orders_meet_market_lot_size_of_the_real_exchange_info(shared_data):
    btc = _real_btc_filters(shared_data)
    # MARKET_LOT_SIZE: minQty 0, maxQty 128.52621715, stepSize 0 (= LOT_SIZE's 0.00001)
    assert (btc.market_min_qty, btc.market_max_qty, btc.market_step_size) == (D(0), D("128.52621715"), D(0))
    assert btc.max_qty == D("9000")
    m = btc.for_market_orders()
    assert (m.min_qty, m.max_qty, m.step_size) == (btc.min_qty, D("128.52621715"), btc.step_size)
    price = D("50000.00")
    big = D("150")  # 7.5M USDT: within LOT_SIZE and NOTIONAL, beyond MARKET_LOT_SIZE
    why = check_order(big, price, btc, check_price_range=False)  # a market order
    assert why is not None and why.startswith("MARKET_LOT_SIZE") and "128.52621715" in why
    assert check_order(big, price, btc, check_price_range=False, market=False) is None
    assert check_order(big, price, btc) is None  # a limit order may be that large
    assert check_order(D("128.52621"), price, btc, check_price_range=False) is None
    assert check_order(D("128.526217"), price, btc, check_price_range=False) is not None  # LOT_SIZE step first


def test_filters_without_market_lot_size_are_unchanged_for_market_orders():
    assert BTC.for_market_orders() is BTC
    assert check_order(D("8000"), D("1000"), BTC, check_price_range=False) is None
    own_step = replace(BTC, market_step_size=D("0.001"), market_min_qty=D("0.01"))
    assert check_order(D("0.00500"), D("60000"), own_step, check_price_range=False) is not None  # below 0.01
    assert check_order(D("0.01001"), D("60000"), own_step, check_price_range=False) is not None  # off 0.001
    assert check_order(D("0.011"), D("60000"), own_step, check_price_range=False) is None


# -- client order ids ---------------------------------------------------------------

ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")


@given(st.text(min_size=1, max_size=80), st.integers(min_value=0, max_value=10**20))
def test_client_id_always_matches_regex(prefix, seq):
    try:
        cid = make_client_order_id(prefix, seq)
    except ValueError:
        assert not re.search(r"[a-zA-Z0-9_]", prefix)  # only prefixes with nothing usable are refused
        return
    assert ID_RE.fullmatch(cid)
    assert cid.endswith(f"-{seq}")
    assert make_client_order_id(prefix, seq) == cid  # deterministic


def test_client_id_examples_and_errors():
    assert make_client_order_id("tt-k3x9", 17) == "tt-k3x9-17"
    assert make_client_order_id("tt session#1", 2) == "tt-session-1-2"
    long = make_client_order_id("x" * 100, 123)
    assert len(long) == 36 and long.endswith("-123")
    assert sanitize_prefix("--ab--") == "ab"
    for bad_prefix in ("", "   ", "###", 5):
        with pytest.raises(ValueError):
            make_client_order_id(bad_prefix, 1)
    for bad_seq in (-1, 1.5, True, "3", 10**40):
        with pytest.raises(ValueError):
            make_client_order_id("tt", bad_seq)
    assert is_valid_client_order_id("tt-1")
    assert not is_valid_client_order_id("tt 1")
    assert not is_valid_client_order_id("a" * 37)
    assert not is_valid_client_order_id(None)


def test_client_id_sequence_resumes():
    ids = ClientOrderIds("tt-sess", start=41)
    assert [ids.next(), ids.next()] == ["tt-sess-42", "tt-sess-43"]
    with pytest.raises(ValueError):
        ClientOrderIds("tt", start=-1)


def test_a_market_order_is_not_held_to_max_notional():
    # Binance spot: NOTIONAL applyMaxToMarket false, applyMinToMarket true
    assert check_order(D("1000"), D("10000"), BTC, check_price_range=False) is None
    assert "max_notional" in check_order(D("1000"), D("10000"), BTC, market=False, check_price_range=False)
    with_lot = replace(BTC, market_max_qty=D("2000"))
    assert check_order(D("1000"), D("10000"), with_lot, check_price_range=False) is None
    assert "min_notional" in check_order(D("0.0001"), D("10000"), with_lot, check_price_range=False)
