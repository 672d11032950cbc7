"""Review of the book: a book restored without a stored equity is worth its cash and positions.

``Portfolio.from_state`` without an ``equity`` (the engine's recovery stores none) took the cash
alone as the equity until the first mark: a book of 500 cash and 500 in a position read an
equity of 500, a drawdown of 50 % and a day's loss of 500 until then.
"""

from __future__ import annotations

import math
from decimal import Decimal as D

from tui_trader.models import Position
from tui_trader.portfolio import Portfolio


def _pos() -> Position:
    return Position(symbol="XUSDT", quantity=D(5), avg_entry=D(100), entry_ms=0, fees=D("0.5"), cost=D("500.5"),
                    updated_ms=0)


def test_a_restored_book_is_worth_its_cash_and_positions_before_its_first_mark():
    state = {"starting_cash": "1000.5", "cash": "500", "peak_equity": 1000.0, "day_start_equity": 1000.0}
    p = Portfolio.from_state(state, [_pos()])
    assert p.equity == 1000.0  # 500 cash + 5 x 100 (the entry price: no mark stored)
    assert p.drawdown_pct == 0.0 and p.daily_pnl == 0.0
    # at stored marks
    p = Portfolio.from_state(state | {"marks": {"XUSDT": 90.0}}, [_pos()])
    assert p.equity == 950.0 and math.isclose(p.drawdown_pct, 5.0) and p.daily_pnl == -50.0
    # without references either, they start from that equity
    p = Portfolio.from_state({"starting_cash": "1000.5", "cash": "500"}, [_pos()])
    assert p.equity == p.peak_equity == p.day_start_equity == 1000.0
    # a stored equity stands as stored
    p = Portfolio.from_state(state | {"equity": 990.0}, [_pos()])
    assert p.equity == 990.0
    # and the first mark agrees with the restored figure
    p = Portfolio.from_state(state, [_pos()])
    assert p.mark({"XUSDT": 100.0}) == 1000.0
