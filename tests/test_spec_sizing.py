"""Issue #4's sizing rule, term by term: max_position_percent x min(strength, 2) x confidence x
volatility multiplier, then the cap at max_position_percent of equity."""

from __future__ import annotations

from decimal import Decimal as D

from tui_trader.config import Config
from tui_trader.models import Signal, SignalType, SymbolFilters
from tui_trader.risk.sizing import position_size

CFG = Config()  # max_position_percent 5
FILTERS = SymbolFilters("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.001"), D("0.001"), D("9000"), D("10"))


def sig(strength: float, confidence: float) -> Signal:
    return Signal(0, "BTCUSDT", SignalType.BUY, strength, confidence, 2.5, "test")


def test_strength_counts_at_most_twice_below_the_cap():
    # strength 3 counts as 2: 5 % x 2 x 0.3 x 1 = 3 % of 10,000 = 300 at 100 -> 3 units
    # (3 x 0.3 would be 4.5 %, still under the 5 % cap, so only the strength cap tells them apart)
    assert position_size(sig(3.0, 0.3), D(10_000), D(100), 0.02, CFG, FILTERS) == D(3)
    assert position_size(sig(2.0, 0.3), D(10_000), D(100), 0.02, CFG, FILTERS) == D(3)
    assert position_size(sig(1.5, 0.3), D(10_000), D(100), 0.02, CFG, FILTERS) == D("2.25")
