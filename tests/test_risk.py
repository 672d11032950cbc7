"""Position sizing and pre-trade checks (hand-computed numbers, one failing check at a time)."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.config import Config
from tui_trader.execution.filters import fill_fee, worst_buy_price
from tui_trader.models import EngineState, OrderType, Side, Signal, SignalType, Source, SymbolFilters
from tui_trader.risk.checks import PreTradeChecks, TradeContext
from tui_trader.risk.sizing import position_size, round_down_to_step, volatility_multiplier

CFG = Config()  # max_position_percent 5, max_total_positions 10, liquidity share 1 %, max vol 0.15


def sig(strength: float = 1.0, confidence: float = 1.0) -> Signal:
    return Signal(0, "BTCUSDT", SignalType.BUY, strength, confidence, 2.5, "test")


def filt(step="0.001", min_qty="0.001", max_qty="9000", min_notional="10", max_notional="0", status="TRADING"):
    return SymbolFilters("BTCUSDT", "BTC", "USDT", D("0.01"), D(step), D(min_qty), D(max_qty), D(min_notional),
                         max_notional=D(max_notional), status=status)


# ===================================================================== sizing


def test_volatility_multiplier():
    assert volatility_multiplier(0.02) == 1.0
    assert volatility_multiplier(0.04) == 0.5
    assert volatility_multiplier(0.01) == 1.0  # clipped at 1
    assert volatility_multiplier(1.0) == 0.25  # 0.02 clipped up to 0.25
    assert volatility_multiplier(math.nan) == 0.5
    assert volatility_multiplier(0.0) == 1.0
    with pytest.raises(ValueError, match=">= 0"):
        volatility_multiplier(-0.1)


def test_size_hand_computed():
    # 5 % x strength 1 x confidence 0.8 x vol mult 0.5 = 2 % of 10 000 = 200 quote at 100 -> 2
    q = position_size(sig(1.0, 0.8), D(10_000), D(100), 0.04, CFG, filt())
    assert q == D("2.000")
    # strength 1.5, confidence 0.6, vol 0.02: 5 x 1.5 x 0.6 = 4.5 % -> 450 / 30 = 15
    assert position_size(sig(1.5, 0.6), D(10_000), D(30), 0.02, CFG, filt()) == D(15)


def test_size_capped_at_max_position_percent():
    # 5 % x 2 x 1 x 1 = 10 % -> capped at 5 % = 500 quote, paid at the worst fill (100 + the 0.5 %
    # slippage cap = 100.50) with the 0.1 % fee on top: 500 / (100.5 x 1.001) = 4.9701 -> 4.970
    # (5 units at the last price filled at up to 502.50 + fee: above 5 % of the equity left)
    assert position_size(sig(2.0, 1.0), D(10_000), D(100), 0.01, CFG, filt()) == D("4.970")
    # strength above 2 is treated as 2 (still capped)
    assert position_size(sig(7.0, 1.0), D(10_000), D(100), 0.01, CFG, filt()) == D("4.970")
    # cost at the worst fill: 4.970 x 100.50 = 499.485 + fee 0.49948500 = 499.984485 <= 500
    assert D("4.970") * D("100.50") * D("1.001") <= 500 < D("4.971") * D("100.50") * D("1.001")


def test_a_position_sized_at_the_cap_stays_under_it_after_its_fill():
    # The paper broker's worst fill (the slippage cap) and its fee: the position, valued at its
    # fill price, is at most max_position_percent of the equity the fill leaves.
    for price, step in ((D("2.8001"), "0.1"), (D(100), "0.001"), (D("61234.57"), "0.00001")):
        equity = D(10_000)
        f = filt(step=step, min_qty=step)
        q = position_size(sig(2.0, 1.0), equity, price, 0.01, CFG, f)
        worst = worst_buy_price(price, f, CFG.order_execution.max_slippage_percent, None)
        value = q * worst
        after = equity - fill_fee(value, D("0.001"))  # cash + position at the fill price
        assert q > 0 and value / after <= D("0.05"), (price, q, value / after)


def test_a_limit_entry_at_the_cap_pays_its_limit_price_even_above_the_slippage_cap():
    # A LIMIT IOC buy fills at up to its limit price on the exchange, whatever the paper
    # broker's slippage cap: with a 1 % buffer over a 0.5 % cap the cap is paid at 101.00.
    cfg = Config.model_validate(
        {"order_execution": {"use_limit_orders": True, "limit_order_buffer_percent": 1.0}}
    )
    q = position_size(sig(2.0, 1.0), D(10_000), D(100), 0.01, cfg, filt())
    # 500 / (101.00 x 1.001) = 4.9455 -> 4.945 (at the slippage cap's 100.50 it was 4.970)
    assert q == D("4.945")
    assert q * D("101.00") * D("1.001") <= 500


def test_size_rounds_down_to_step():
    # 5 % x 1 x 0.5 = 2.5 % (under the cap) -> 250 / 3 = 83.333...: step 0.1 -> 83.3 (never 83.4)
    q = position_size(sig(1.0, 0.5), D(10_000), D(3), 0.02, CFG, filt(step="0.1", min_qty="0.1"))
    assert q == D("83.3")
    # integer step
    assert position_size(sig(1.0, 0.5), D(10_000), D(3), 0.02, CFG, filt(step="1", min_qty="1")) == D(83)
    # no filters: rounded down to 1e-8
    assert position_size(sig(1.0, 0.5), D(10_000), D(3), 0.02, CFG, None) == D("83.33333333")
    assert round_down_to_step(D("1.23456"), D("0.01")) == D("1.23")
    assert round_down_to_step(D("1.23456"), D(0)) == D("1.23456")


def test_size_min_notional_and_min_qty_give_zero():
    # 5 % of 150 = 7.5 quote < min notional 10 -> 0
    assert position_size(sig(1, 1), D(150), D(100), 0.02, CFG, filt()) == 0
    # 5 % of 250 = 12.5 quote, at the cap: 12.5 / (100.5 x 1.001) = 0.12425 -> 0.124; min qty 0.2 -> 0
    assert position_size(sig(1, 1), D(250), D(100), 0.02, CFG, filt(min_qty="0.2")) == 0
    # the same with min qty 0.1 is fine
    assert position_size(sig(1, 1), D(250), D(100), 0.02, CFG, filt(min_qty="0.1")) == D("0.124")


def test_size_max_qty_and_max_notional():
    assert position_size(sig(1, 1), D(10_000), D(1), 0.02, CFG, filt(max_qty="100")) == D(100)
    assert position_size(sig(1, 1), D(10_000), D(1), 0.02, CFG, filt(max_notional="250.5")) == D("250.5")


def test_a_limit_entry_at_the_notional_cap_is_sized_at_its_limit_price():
    # A LIMIT buy is held to max_notional at its limit price, which the engine puts the buffer
    # (0.1 %) above the last price: sized at the last price, the capped entry was rejected.
    from tui_trader.execution.filters import check_order, quantize_price

    limit_cfg = Config.model_validate({"order_execution": {"use_limit_orders": True}})
    f = replace(filt(step="0.00001", min_qty="0.00001", min_notional="5"), max_notional=D(9_000_000))
    price = D("60000")
    qty = position_size(sig(1, 1), D(10**9), price, 0.02, limit_cfg, f)
    limit = quantize_price(price * (1 + D("0.1") / 100), f, Side.BUY)  # as the engine sets it
    assert limit == D("60060.00") and qty == D("149.85014")  # floor(9e6 / 60060, 5 decimals)
    assert check_order(qty, limit, f) is None
    assert CHECKS.check_entry(replace(BASE, quantity=qty, price=price, filters=f, equity=D(10**9),
                                      cash=D(10**9), recent_quote_volume=D(10**12))) == []
    # a MARKET entry is cut at the last price
    assert position_size(sig(1, 1), D(10**9), price, 0.02, CFG, f) == D(150)


def test_market_orders_are_sized_and_checked_against_market_lot_size():
    # BTCUSDT's real filters: LOT_SIZE max 9000 but MARKET_LOT_SIZE max 128.52621715 (step 0 = LOT_SIZE's)
    f = replace(filt(step="0.00001", min_qty="0.00001", min_notional="5"), market_max_qty=D("128.52621715"))
    price, held = D("50000"), D("150")
    reasons = CHECKS.check_exit("BTCUSDT", held, price, held, f)
    assert reasons == ["quantity 150 above the maximum 128.52621715 for a market order"]
    assert CHECKS.check_exit("BTCUSDT", D("128.52621"), price, held, f) == []
    limit_cfg = Config.model_validate({"order_execution": {"use_limit_orders": True}})
    assert PreTradeChecks(limit_cfg).check_exit("BTCUSDT", held, price, held, f) == []
    # an entry sized by MARKET order is cut to the market maximum (rounded down to the step)
    assert position_size(sig(1, 1), D(10**9), price, 0.02, CFG, f) == D("128.52621")  # 5 %: 1000 BTC wanted
    # 5 % = 5e7 quote at the cap: a LIMIT buy at most at its limit price 50,050, a MARKET one at
    # up to 50,250 (0.5 % slippage), each with the 0.1 % fee on top
    assert position_size(sig(1, 1), D(10**9), price, 0.02, limit_cfg, f) == D("998.00299")  # 998.002996
    assert position_size(sig(1, 1), D(10**9), price, 0.02, CFG, filt(step="0.00001")) == D("994.03084")


def test_size_no_equity_or_bad_input():
    assert position_size(sig(), D(0), D(100), 0.02, CFG, filt()) == 0
    assert position_size(sig(), D(-5), D(100), 0.02, CFG, filt()) == 0
    assert position_size(sig(1.0, 0.0), D(10_000), D(100), 0.02, CFG, filt()) == 0
    with pytest.raises(ValueError, match="price must be positive"):
        position_size(sig(), D(1000), D(0), 0.02, CFG, filt())
    with pytest.raises(ValueError, match="price must be finite"):
        position_size(sig(), D(1000), D("NaN"), 0.02, CFG, filt())
    with pytest.raises(ValueError, match="strength/confidence"):
        position_size(sig(math.nan, 1.0), D(1000), D(10), 0.02, CFG, filt())
    with pytest.raises(ValueError, match="volatility"):
        position_size(sig(), D(1000), D(10), -1.0, CFG, filt())


@settings(max_examples=300, deadline=None)
@given(
    strength=st.floats(0, 10),
    confidence=st.floats(0, 1),
    volatility=st.one_of(st.floats(0, 2), st.just(math.nan)),
    price=st.decimals(D("0.00000100"), D("100000"), places=8),
    equity=st.decimals(D("1"), D("10000000"), places=2),
    step=st.sampled_from(["0.00000001", "0.001", "0.1", "1", "10"]),
    max_pct=st.floats(0.5, 20),
)
def test_size_never_exceeds_max_position_percent(strength, confidence, volatility, price, equity, step, max_pct):
    cfg = Config.model_validate({"risk_management": {"max_position_percent": max_pct}})
    f = filt(step=step, min_qty="0", max_qty="0", min_notional="0")
    q = position_size(sig(strength, confidence), equity, price, volatility, cfg, f)
    assert q >= 0
    cap = equity * D(repr(max_pct)) / 100
    assert q * price <= cap
    assert q % D(step) == 0
    # at the worst fill, the fee on top, it still costs at most the cap
    worst = worst_buy_price(price, f, cfg.order_execution.max_slippage_percent, None)
    assert q * worst + fill_fee(q * worst, D(repr(cfg.broker.fee_rate))) <= cap
    # rounding down loses less than one step against the uncapped-by-step target (at the cap,
    # paying the fee rounded up to 8 decimals may cost another 1e-8 of quote)
    target_pct = min(max_pct * min(strength, 2) * confidence * volatility_multiplier(volatility), max_pct)
    target_qty = min(equity * D(repr(target_pct)) / 100 / price, cap / (worst * D("1.001")))
    assert target_qty - q < D(step) + D("1e-8") / worst + D("1e-12") * (target_qty + 1)


# ===================================================================== pre-trade checks

BASE = TradeContext(
    symbol="BTCUSDT",
    quantity=D("0.5"),
    price=D(100),  # notional 50
    fee_rate=D("0.001"),
    cash=D(10_000),
    equity=D(10_000),
    open_positions=0,
    holding=False,
    stale_periods=0.5,
    gaps=0,
    volatility=0.02,
    recent_quote_volume=D(1_000_000),  # 1 % = 10 000
    filters=filt(),
)
CHECKS = PreTradeChecks(CFG)


def test_baseline_entry_passes():
    assert CHECKS.check_entry(BASE) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"open_positions": 10}, "max total positions reached: 10 of 10"),
        ({"cash": D("50.04")}, "insufficient cash: need 50.31 (at up to 100.50 a unit with 0.5% slippage, incl. fee"),
        ({"holding": True}, "already holding BTCUSDT: one position per symbol"),
        ({"quantity": D(6)}, "position in BTCUSDT would be 600.00, above 5% of equity (500.00)"),
        ({"position_value": D(460)}, "position in BTCUSDT would be 510.00, above 5% of equity (500.00)"),
        ({"total_position_value": D(4960)}, "diversification: positions would total 5010.00, above 10 x 5% of equity"),
        ({"stale_periods": 3.5}, "market data stale: last kline 3.5 periods old (limit 3)"),
        ({"gaps": 1}, "market data has 1 gap(s) in the recent window (allowed 0)"),
        ({"volatility": 0.2}, "volatility 0.2000 above the limit 0.15"),
        ({"volatility": math.nan}, "volatility unknown"),
        ({"recent_quote_volume": D(4000)}, "illiquid: order value 50.00 above 1% of recent quote volume 4000.00"),
        ({"recent_quote_volume": math.nan}, "liquidity unknown"),
        ({"filters": None}, "exchange filters for BTCUSDT are unknown"),
        ({"filters": filt(status="BREAK")}, "BTCUSDT is not trading (status BREAK)"),
        ({"quantity": D("0.5005")}, "not a multiple of the step size 0.001"),
        ({"filters": filt(min_qty="1", min_notional="1")}, "quantity 0.5 below the minimum 1"),
        ({"filters": filt(max_qty="0.1")}, "quantity 0.5 above the maximum 0.1"),
        ({"price": D(10)}, "order value 5.00 below the minimum notional 10.00"),
        ({"filters": filt(max_notional="40")}, "order value 50.00 above the maximum notional 40.00"),
        ({"state": EngineState.PAUSED}, "engine is paused: no new strategy entries"),
        ({"state": EngineState.REDUCING, "source": Source.UI}, "only exits are allowed"),
        ({"state": EngineState.EMERGENCY_STOPPED, "source": Source.UI}, "emergency stop is active"),
    ],
)
def test_each_entry_check_fails_alone(change, expected):
    reasons = CHECKS.check_entry(replace(BASE, **change))
    assert len(reasons) == 1, reasons
    assert expected in reasons[0]


def test_entry_boundaries_pass_exactly_at_the_limit():
    assert CHECKS.check_entry(replace(BASE, cash=D("50.30025"))) == []  # notional + fee at the worst slippage
    assert CHECKS.check_entry(replace(BASE, quantity=D(5))) == []  # exactly 5 % of equity
    assert CHECKS.check_entry(replace(BASE, total_position_value=D(4950))) == []  # exactly 50 %
    assert CHECKS.check_entry(replace(BASE, stale_periods=3.0)) == []
    assert CHECKS.check_entry(replace(BASE, volatility=0.15)) == []
    assert CHECKS.check_entry(replace(BASE, recent_quote_volume=D(5000))) == []  # 1 % = 50
    assert CHECKS.check_entry(replace(BASE, open_positions=9)) == []
    assert CHECKS.check_entry(replace(BASE, state=EngineState.PAUSED, source=Source.UI)) == []
    assert PreTradeChecks(CFG, max_gaps=2).check_entry(replace(BASE, gaps=2)) == []


def test_an_unknown_data_age_refuses_an_entry():
    # NaN compares false with everything: an unknown age must fail the check, not pass it
    for stale in (math.nan, math.inf):
        reasons = CHECKS.check_entry(replace(BASE, stale_periods=stale))
        assert len(reasons) == 1 and reasons[0].startswith("market data stale"), reasons


def test_all_failures_reported_together_and_bad_quantity():
    reasons = CHECKS.check_entry(replace(BASE, open_positions=12, holding=True, volatility=0.5))
    assert len(reasons) == 3
    assert CHECKS.check_entry(replace(BASE, quantity=D(0))) == ["quantity must be a positive Decimal, got Decimal('0')"]
    assert "price must be a positive Decimal" in CHECKS.check_entry(replace(BASE, price=D(-1)))[0]


EXIT = replace(BASE, holding=True, holding_qty=D(1), quantity=D(1))


def test_baseline_exit_passes():
    assert CHECKS.check_exit(EXIT) == []
    # exits ignore entry-only limits (positions count, cash, market data)
    assert CHECKS.check_exit(replace(EXIT, open_positions=10, cash=D(0), volatility=math.nan, stale_periods=9)) == []
    # a remainder below one step is unavoidable dust and not refused
    assert CHECKS.check_exit(replace(EXIT, holding_qty=D("1.0004"))) == []
    # stop loss while paused
    assert CHECKS.check_exit(replace(EXIT, state=EngineState.PAUSED, urgent=True)) == []
    # the maximum notional limits entries only: a holding worth more than it can still be sold
    assert CHECKS.check_exit(replace(EXIT, filters=filt(max_notional="40"))) == []  # 1 x 100 > 40


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"quantity": D("1.5")}, "quantity 1.5 exceeds the holding 1"),
        ({"holding_qty": D(0), "holding": False}, "no position in BTCUSDT to sell"),
        ({"holding_qty": D("0.05"), "quantity": D("0.05")},
         "order value 5.00 below the minimum notional 10.00: dust that cannot be sold"),
        # the rest valued at the worst fill the 0.5 % slippage cap allows (99.50), as the sell may fill
        ({"quantity": D("0.95")}, "would leave 0.05 BTCUSDT worth 4.98, below the minimum notional 10.00"),
        ({"quantity": D("0.9995"), "holding_qty": D(1)}, "not a multiple of the step size"),
        ({"state": EngineState.PAUSED}, "engine is paused: no strategy exits (stop losses still run)"),
        ({"state": EngineState.STOPPED, "urgent": True}, "engine is stopped"),
        ({"state": EngineState.EMERGENCY_STOPPED, "urgent": True}, "emergency stop is active"),
    ],
)
def test_each_exit_check_fails_alone(change, expected):
    reasons = CHECKS.check_exit(replace(EXIT, **change))
    assert len(reasons) == 1, reasons
    assert expected in reasons[0]


def test_exit_in_reducing_allowed_for_strategy_and_operator():
    assert CHECKS.check_exit(replace(EXIT, state=EngineState.REDUCING)) == []
    assert CHECKS.check_exit(replace(EXIT, state=EngineState.REDUCING, source=Source.UI)) == []


def test_exit_short_form_builds_the_context():
    f = filt()
    assert CHECKS.check_exit("BTCUSDT", D(1), D(100), D(1), f) == []
    assert CHECKS.check_exit("BTCUSDT", D(2), D(100), D(1), f) == ["quantity 2 exceeds the holding 1"]
    assert CHECKS.check_exit("BTCUSDT", D("0.05"), D(100), D("0.05"), f) == [
        "order value 5.00 below the minimum notional 10.00: dust that cannot be sold"
    ]
    with pytest.raises(TypeError, match="all of them"):
        CHECKS.check_exit("BTCUSDT", D(1))


def test_a_small_part_of_a_large_holding_is_no_dust_and_money_shows_no_float_noise():
    f = filt()
    # selling 0.05 of a holding of 1: the order is too small, the position is not dust
    assert CHECKS.check_exit("BTCUSDT", D("0.05"), D(100), D(1), f)[0] == (
        "order value 5.00 below the minimum notional 10.00")
    noisy = D(0.8592)  # a price taken from a float: 0.85920000000000007...
    assert CHECKS.check_exit("BTCUSDT", D(1), noisy, D(1), f)[0].startswith(
        "order value 0.8592 below the minimum notional 10.00")


async def test_a_close_above_the_market_maximum_sells_what_one_order_can() -> None:
    # Binance moves MARKET_LOT_SIZE's maxQty with the market's volume: a position bought within it
    # may be above it later. Its close (and every exit of it, stop losses too) was refused outright.
    from engine_helpers import T0, klines, make_engine

    from tui_trader.events import ClosePosition, ManualBuy

    h = make_engine()
    f = h.feed.filters()["AAAUSDT"]
    await h.start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * 60_000, [100.0] * 4, open_=[100.0] * 4))
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=D(900)))).ok
        assert e.portfolio.positions["AAAUSDT"].quantity == D(9)
        lower = replace(f, market_max_qty=D(4))
        e.filters["AAAUSDT"] = lower
        e.broker.set_filters({"AAAUSDT": lower})
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert res.ok and res.message.startswith("SELL AAAUSDT: 4 @ "), res.message
        assert e.portfolio.positions["AAAUSDT"].quantity == D(5)
        assert (await e.submit(ClosePosition(symbol="AAAUSDT"))).ok
        assert e.portfolio.positions["AAAUSDT"].quantity == D(1)
        assert (await e.submit(ClosePosition(symbol="AAAUSDT"))).ok
        assert "AAAUSDT" not in e.portfolio.positions
    finally:
        await h.stop()


# tick, step, min_qty, max_qty, min_notional, max_notional, market max_qty: real and extreme symbols
SYMBOL_FILTERS = st.sampled_from([
    ("0.01", "0.00001", "0.00001", "9000", "5", "9000000", "128.52621715"),  # BTCUSDT
    ("0.00001", "1", "1", "9000000", "5", "9000000", "28160624.66945606"),  # DOGEUSDT
    ("0.00000001", "1", "1", "90000000000", "5", "9000000", "0"),  # a coin at 1e-8
    ("0.01", "10", "10", "1000", "10", "0", "0"),  # a step of 10
    ("0", "0", "0", "0", "0", "0", "0"),  # no filters in exchangeInfo
])


@settings(max_examples=400, deadline=None)
@given(
    spec=SYMBOL_FILTERS,
    price_units=st.integers(1, 10**13),
    equity=st.sampled_from([D(5), D(10), D("10000"), D("1e9")]),
    strength=st.floats(0, 3),
    max_pct=st.floats(0.5, 20),
    limit=st.booleans(),
)
def test_every_sized_entry_passes_the_filters_the_broker_applies(spec, price_units, equity, strength, max_pct, limit):
    from tui_trader.execution.filters import check_order, quantize_price

    tick, step, min_qty, max_qty, min_n, max_n, mkt_max = (D(x) for x in spec)
    f = SymbolFilters("XUSDT", "X", "USDT", tick, step, min_qty, max_qty, min_n, max_notional=max_n,
                      market_max_qty=mkt_max)
    price = max(tick, D(price_units) * (tick if tick else D("1e-8")))
    cfg = Config.model_validate({"risk_management": {"max_position_percent": max_pct},
                                 "order_execution": {"use_limit_orders": limit}})
    lot = f if limit else f.for_market_orders()  # as the engine passes them (_lot_filters)
    qty = position_size(sig(strength, 1.0), equity, price, 0.02, cfg, lot)
    if qty == 0:
        return
    assert qty * price <= equity * D(repr(max_pct)) / 100
    if limit:  # the engine's limit price: the buffer above the last price, down to the tick
        order_price = price * (1 + D(repr(cfg.order_execution.limit_order_buffer_percent)) / 100)
        order_price = quantize_price(order_price, f, Side.BUY)
        assert check_order(qty, order_price, f) is None
    else:
        assert check_order(qty, price, f, check_price_range=False) is None
    ctx = replace(BASE, quantity=qty, price=price, filters=f, equity=equity, cash=equity)
    assert PreTradeChecks(cfg)._filters(ctx, exit_=False) == []


# ============================================ cash check at the broker's worst fill


def test_the_cash_check_counts_the_worst_slippage_and_fee():
    # max_slippage_percent 0.5: a MARKET buy of 0.5 at 100 may fill at 100.50, costing 50.25 + fee
    # 0.05025 = 50.30025. Cash for the last price alone (50.05) passed the check, then the broker
    # refused the order.
    reasons = CHECKS.check_entry(replace(BASE, cash=D("50.30")))
    assert len(reasons) == 1, reasons
    assert reasons[0] == (
        "insufficient cash: need 50.31 (at up to 100.50 a unit with 0.5% slippage, incl. fee 0.05025), have 50.30"
    )
    assert CHECKS.check_entry(replace(BASE, cash=D("50.30025"))) == []  # the worst case exactly
    # A LIMIT IOC buy never pays more than its limit (100.10 with the 0.1 % buffer, on the tick) -
    # and locks the limit amount when it does not cross
    limit = replace(BASE, order_type=OrderType.LIMIT)
    assert CHECKS.check_entry(replace(limit, cash=D("50.10005"))) == []
    assert CHECKS.check_entry(replace(limit, cash=D("50.10004")))[0].startswith("insufficient cash: need 50.11 (")


@settings(max_examples=300, deadline=None)
@given(
    price_units=st.integers(1, 10**9),
    tick=st.sampled_from(["0.01", "0.00001", "0.00000001", "0"]),
    qty_units=st.integers(1, 10**6),
    spare=st.integers(0, 10**6),
    slip=st.sampled_from([0.0, 0.05, 0.5, 3.0]),
    limit=st.booleans(),
    liquid=st.booleans(),
)
def test_an_entry_that_passes_the_cash_check_is_paid_by_the_broker(
    price_units, tick, qty_units, spare, slip, limit, liquid
):
    # Whatever the slippage the paper broker applies (here up to its cap: no known volume), an
    # entry the checks let through must never be refused by the broker for want of cash.
    import asyncio

    from tui_trader.clock import ManualClock
    from tui_trader.execution.broker import BrokerError, BrokerErrorKind
    from tui_trader.execution.paper import PaperBroker
    from tui_trader.models import OrderRequest

    t = D(tick)
    f = SymbolFilters("XUSDT", "X", "USDT", t, D("0.001"), D("0.001"), D("0"), D("0"))
    price = D(repr(float(D(price_units) * (t if t else D("0.0001")))))  # the engine's float, as Decimal
    qty = D(qty_units) / 1000
    cfg = Config.model_validate({"order_execution": {"use_limit_orders": limit, "max_slippage_percent": slip}})
    checks = PreTradeChecks(cfg)
    otype = OrderType.LIMIT if limit else OrderType.MARKET
    ctx = replace(BASE, symbol="XUSDT", quantity=qty, price=price, filters=f, order_type=otype,
                  cash=D(0), equity=D("1e30"), recent_quote_volume=D("1e30"))
    # the least cash the check accepts (to 1e-8), plus a little
    lo, hi = D(0), qty * price * 2 + 1
    q8 = D("0.00000001")
    while hi - lo > q8:
        mid = ((lo + hi) / 2).quantize(q8)
        if checks.check_entry(replace(ctx, cash=mid)):
            lo = mid
        else:
            hi = mid
    cash = hi + D(spare) * q8
    assert checks.check_entry(replace(ctx, cash=cash)) == []
    broker = PaperBroker(cfg, ManualClock(0), {"XUSDT": float(price)}.get, {"XUSDT": f},
                         quote_volume_fn=(lambda s: 1e12) if liquid else (lambda s: 0.0),
                         balances={"USDT": cash})
    lp = None
    if limit:
        from tui_trader.execution.filters import limit_price

        lp = limit_price(price, Side.BUY, cfg.order_execution.limit_order_buffer_percent, f)
    req = OrderRequest("tt0x1", "XUSDT", Side.BUY, otype, qty, price=lp)
    try:
        asyncio.run(broker.submit(req))
    except BrokerError as exc:
        assert exc.kind is not BrokerErrorKind.INSUFFICIENT_BALANCE, str(exc)
