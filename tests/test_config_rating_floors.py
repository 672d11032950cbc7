"""Rating settings too small to mean anything for a market are refused, naming the field.

``initial_rd = 1e-300`` with ``max_volatility = 1e-200`` made a period return RD 0, which the next
period refused; ``margin_scale = 1e-309`` read a tie as NaN. The rating engine now survives both, but
a configuration that asks for them is a mistake: ``config check`` says so (exit 2)."""

from __future__ import annotations

import pytest

from tui_trader.config import check


@pytest.mark.parametrize(("field", "bad", "floor"), [
    ("initial_rd", 1e-300, 1e-3), ("max_rd", 1e-9, 1e-3), ("initial_volatility", 1e-200, 1e-6),
    ("max_volatility", 1e-200, 1e-6), ("margin_scale", 1e-309, 1e-6),
])
def test_a_vanishing_rating_setting_is_refused_and_its_floor_accepted(field: str, bad: float, floor: float) -> None:
    result = check({"rating": {field: bad}})
    assert not result.ok
    assert [e.path for e in result.errors] == [f"rating.{field}"], result.errors
    # the floor itself is a valid (if odd) setting; the caps keep their own warnings
    assert check({"rating": {field: floor, "initial_rd": floor, "max_rd": floor}} if "rd" in field
                 else {"rating": {field: floor, "initial_volatility": floor, "max_volatility": floor}}
                 if "volatility" in field else {"rating": {field: floor}}).ok
