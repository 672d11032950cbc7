"""Money and risk at the edges of the filters: a sale worth less than its fee, a price below
one tick (a fresh-eyes review of the paper broker and the sizing)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.models import OrderRequest, OrderType, Side, Signal, SignalType, SymbolFilters
from tui_trader.portfolio import Portfolio
from tui_trader.risk.sizing import position_size

D = Decimal
JAN1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
# no minimum notional (a symbol whose NOTIONAL filter is 0): any quantity on the step may sell
BARE = SymbolFilters("XUSDT", "X", "USDT", D("1e-8"), D("1e-8"), D("1e-8"), D(0), D(0))


def _sell(b: PaperBroker, qty: Decimal, cid: str = "tt-1"):
    return asyncio.run(b.submit(OrderRequest(cid, "XUSDT", Side.SELL, OrderType.MARKET, qty)))


def test_a_sale_worth_less_than_its_fee_never_takes_the_cash_below_zero():
    # Before: a sale of 1e-8 X at 0.5 brings 5e-9 USDT, but its fee is rounded up to 1e-8: with
    # no free USDT the paper account went to -5e-9 USDT ("cash never goes negative" broken),
    # and the book then refused the fill the broker had already executed.
    cfg = Config.model_validate({"broker": {"fee_rate": 0.001, "slippage_bps": 0}})
    b = PaperBroker(cfg, ManualClock(JAN1), {"XUSDT": 0.5}.get, {"XUSDT": BARE},
                    balances={"USDT": D(0), "X": D("1e-8")})
    with pytest.raises(BrokerError) as ei:
        _sell(b, D("1e-8"))
    assert ei.value.kind is BrokerErrorKind.INSUFFICIENT_BALANCE
    assert "fee 1E-8 USDT above the proceeds" in str(ei.value)
    assert asyncio.run(b.balances()) == {"USDT": D(0), "X": D("1e-8")}  # nothing changed
    # with the fee's shortfall in the account the same sale goes through, and cash stays >= 0
    b.set_balances({"USDT": D("5e-9"), "X": D("1e-8")})
    (fl,) = _sell(b, D("1e-8"), "tt-2").fills
    assert fl.fee == D("1e-8") and asyncio.run(b.balances())["USDT"] == 0


@settings(max_examples=200, deadline=None)
@given(
    cash_units=st.integers(0, 30),
    qty_units=st.integers(1, 30),
    price=st.sampled_from([0.01, 0.1, 0.5, 0.99, 1.0, 2.5]),
    fee_rate=st.sampled_from([0.0, 0.00075, 0.001, 0.0999]),
)
def test_the_paper_account_and_the_book_never_hold_negative_cash_on_a_tiny_sale(cash_units, qty_units, price, fee_rate):
    # whatever the broker fills, the book books: neither goes below zero, and they agree
    cfg = Config.model_validate({"broker": {"fee_rate": fee_rate, "slippage_bps": 0}})
    cash, qty = D(cash_units) * D("1e-9"), D(qty_units) * D("1e-8")
    b = PaperBroker(cfg, ManualClock(JAN1), {"XUSDT": price}.get, {"XUSDT": BARE},
                    balances={"USDT": cash, "X": qty})
    book = Portfolio(cash)
    book.positions["XUSDT"] = _position(qty)
    try:
        res = _sell(b, qty)
    except BrokerError as exc:
        assert exc.kind is BrokerErrorKind.INSUFFICIENT_BALANCE
        return
    for fl in res.fills:
        book.apply_fill(fl)  # raised ValueError (negative cash) where the broker went below zero
    assert asyncio.run(b.balances())["USDT"] == book.cash >= 0


def _position(qty: Decimal):
    from tui_trader.models import Position

    return Position(symbol="XUSDT", quantity=qty, avg_entry=D(1), entry_ms=JAN1, fees=D(0), cost=qty,
                    updated_ms=JAN1)


def test_a_limit_entry_at_a_price_below_one_tick_sizes_to_zero_instead_of_raising():
    # Before: with use_limit_orders the sizing took the LIMIT buy's price as the worst fill; a
    # last price below one tick rounds that down to 0, and the cap's division raised
    # decimal.DivisionByZero out of the period's signal handling. No order can buy there.
    f = SymbolFilters("XUSDT", "X", "USDT", D("0.01"), D(1), D(1), D(0), D(0))
    cfg = Config.model_validate({"order_execution": {"use_limit_orders": True}})
    sig = Signal(JAN1, "XUSDT", SignalType.BUY, 2.0, 1.0, 2.5, "test")
    assert position_size(sig, D(10_000), D("0.004"), 0.01, cfg, f) == 0
    # one tick and above: sized as before (the limit price is at least one tick)
    assert position_size(sig, D(10_000), D("0.01"), 0.01, cfg, f) > 0


@settings(max_examples=300, deadline=None)
@given(
    tick=st.sampled_from([D("1e-8"), D("0.0001"), D("0.01")]),
    step=st.sampled_from([D("1e-8"), D("0.001"), D("1")]),
    min_notional=st.sampled_from([D(1), D(5), D(10)]),
    price_ticks=st.integers(1, 10**6),
    extra_steps=st.integers(0, 3),
    slip=st.sampled_from([(0.0, 0.0, 0.0), (2.0, 0.0, 0.5), (2.0, 0.1, 0.5), (50.0, 5.0, 3.0)]),
    limit=st.booleans(),
)
def test_a_partial_sell_the_checks_pass_never_leaves_a_rest_written_off_as_dust(
    tick, step, min_notional, price_ticks, extra_steps, slip, limit
):
    # The rest kept back is about the minimum notional at the last price: where the sell fills
    # (slipped, or at its limit), the engine's write-off after the sell must not find it dust.
    from tui_trader.engine import _dust_reason
    from tui_trader.execution.filters import limit_price, round_to_step
    from tui_trader.risk.checks import PreTradeChecks

    f = SymbolFilters("XUSDT", "X", "USDT", tick, step, step, D(0), min_notional)
    price = price_ticks * tick
    keep = round_to_step(min_notional / price, step, "ROUND_CEILING") + extra_steps * step
    held = keep + 1000 * step
    qty = held - keep
    bps, impact, cap = slip
    cfg = Config.model_validate({
        "broker": {"fee_rate": 0.001, "slippage_bps": bps, "slippage_impact": impact},
        "order_execution": {"max_slippage_percent": cap, "use_limit_orders": limit},
    })
    if PreTradeChecks(cfg).check_exit("XUSDT", qty, price, held, f):
        return
    b = PaperBroker(cfg, ManualClock(JAN1), {"XUSDT": float(price)}.get, {"XUSDT": f},
                    quote_volume_fn=lambda s: 1e6, balances={"USDT": D(0), "X": held})
    lp = limit_price(price, Side.SELL, cfg.order_execution.limit_order_buffer_percent, f) if limit else None
    req = OrderRequest("tt-1", "XUSDT", Side.SELL, OrderType.LIMIT if limit else OrderType.MARKET, qty, lp)
    res = asyncio.run(b.submit(req))  # what the checks pass the broker takes
    for fl in res.fills:
        assert _dust_reason(held - fl.quantity, fl.price, f) == ""


def test_the_step_check_of_a_huge_holding_is_exact_not_an_error():
    # 1e20 units on a 1e-8 step: the quotient has 29 digits, and the check's `q % step` in the
    # default 28-digit context raised decimal.InvalidOperation out of check_exit (and
    # check_entry) instead of answering; the broker's filters (60 digits) judge it fine.
    from tui_trader.risk.checks import PreTradeChecks

    f = SymbolFilters("XUSDT", "X", "USDT", D("1e-8"), D("1e-8"), D("1e-8"), D(0), D(5))
    checks = PreTradeChecks(Config())
    assert checks.check_exit("XUSDT", D("1e20"), D("0.00001"), D("2e20"), f) == []
    off = checks.check_exit("XUSDT", D("100000000000000000000.000000001"), D("0.00001"), D("2e20"), f)
    assert off == ["quantity 100000000000000000000.000000001 is not a multiple of the step size 0.00000001"]
