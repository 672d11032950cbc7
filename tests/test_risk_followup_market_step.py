"""MARKET_LOT_SIZE's step finer than LOT_SIZE's: sizing, the pre-trade checks and the broker agree
that a MARKET order's quantity must be a multiple of both steps."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from tui_trader.config import Config
from tui_trader.execution.filters import check_order, is_multiple
from tui_trader.models import Signal, SignalType, SymbolFilters
from tui_trader.risk.checks import PreTradeChecks, TradeContext
from tui_trader.risk.sizing import position_size

CFG = Config()  # MARKET orders (use_limit_orders false)
PRICE = D("33.33")


def filt(step: str, market_step: str) -> SymbolFilters:
    return SymbolFilters(
        "XUSDT",
        "X",
        "USDT",
        D("0.01"),
        D(step),
        D(step),
        D("1000000"),
        D("5"),
        market_step_size=D(market_step),
    )


def ctx(qty: D, f: SymbolFilters) -> TradeContext:
    return TradeContext(
        symbol="XUSDT",
        quantity=qty,
        price=PRICE,
        fee_rate=D("0.001"),
        cash=D(10_000),
        equity=D(10_000),
        open_positions=0,
        holding=False,
        stale_periods=0.0,
        gaps=0,
        volatility=0.01,
        recent_quote_volume=D(10**9),
        filters=f,
    )


@pytest.mark.parametrize(
    ("step", "market_step", "both"),
    [
        ("0.01", "0.001", D("0.01")),  # finer market step: LOT_SIZE's holds too
        ("0.02", "0.03", D("0.06")),  # neither divides the other: a multiple of both
        ("0.01", "0.1", D("0.1")),  # coarser market step (as before)
    ],
)
def test_a_sized_market_entry_meets_both_steps_and_the_broker_takes_it(step, market_step, both) -> None:
    f = filt(step, market_step)
    assert f.for_market_orders().step_size == both
    qty = position_size(
        Signal(0, "XUSDT", SignalType.BUY, 1.0, 1.0, 3.0, "t"), D(10_000), PRICE, 0.01, CFG, f
    )
    assert qty > 0 and is_multiple(qty, D(step)) and is_multiple(qty, D(market_step))
    assert check_order(qty, PRICE, f, check_price_range=False) is None  # the paper broker's check
    assert PreTradeChecks(CFG).check_entry(ctx(qty, f)) == []


def test_the_checks_refuse_what_the_broker_refuses() -> None:
    """A quantity on the market step but off LOT_SIZE's: the broker refuses it, so do the checks."""
    f = filt("0.01", "0.001")
    qty = D("14.914")
    assert check_order(qty, PRICE, f, check_price_range=False) is not None
    assert any("step size 0.01" in r for r in PreTradeChecks(CFG).check_entry(ctx(qty, f)))


def test_without_a_market_step_the_market_rules_keep_lot_sizes_step() -> None:
    """Real Binance data: MARKET_LOT_SIZE's step is 0 (LOT_SIZE's applies); one that equals
    LOT_SIZE's changes nothing either, as written."""
    f = replace(filt("0.00100000", "0"), market_max_qty=D("500"))
    assert f.for_market_orders().step_size is f.step_size
    same = filt("0.00100000", "0.001")
    assert same.for_market_orders().step_size == same.step_size
