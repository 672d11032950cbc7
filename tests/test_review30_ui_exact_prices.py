"""Prices the exchange set - a fill's, an order's, a position's entry and last - were shown at six
significant digits: a fill at 60,414.28 read 60,414.3 (a price off the exchange's 0.01 tick, not
the one on the exchange's record) and one at 151.17 read 151.170 (a decimal the tick has not).
They are shown with every digit they have, when that fits; a longer one as before."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tui_trader.events import PositionView
from tui_trader.ui.format import PRICE_WIDTH, fmt_exact_price, fmt_price
from tui_trader.ui.widgets.positions import PositionsTable


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        (Decimal("60414.28"), "60,414.28"),
        (Decimal("151.17"), "151.17"),
        (Decimal("60414.280000000000"), "60,414.28"),  # an order's average: its zeros dropped
        (Decimal("0.00001234"), "0.00001234"),
        (Decimal("60000.00"), "60,000"),
        (60719.13, "60,719.13"),  # a last price (a float read from the exchange's text)
        (0.5984, "0.5984"),
    ],
)
def test_an_exchange_price_shows_every_digit_it_has(price, shown):
    assert fmt_exact_price(price) == shown


@pytest.mark.parametrize(
    "price",
    [
        Decimal("60414.283333333333333"),  # an average entry's long division
        Decimal("1234567.89"),  # wider than the column
        Decimal("0.000000001"),  # more than 8 decimals
        1e-9,
        60402.123456789,
    ],
)
def test_a_longer_price_is_shown_as_before(price):
    assert fmt_exact_price(price) == fmt_price(price)
    assert len(fmt_exact_price(price)) <= PRICE_WIDTH


def test_none_and_nan_read_missing():
    assert fmt_exact_price(None) == fmt_price(None) == "—"
    assert fmt_exact_price(float("nan")) == "—"
    assert fmt_exact_price(Decimal("NaN")) == "—"


def test_the_positions_pane_shows_the_entry_and_last_on_the_tick():
    pos = PositionView(
        symbol="BTCUSDT",
        quantity=Decimal("0.00662"),
        avg_entry=Decimal("60414.28"),
        last_price=60719.13,
        value=401.96,
        unrealized_pnl=1.62,
        unrealized_pct=0.4,
        stop_price=58602.0,
        target_price=63435.0,
        entry_ms=0,
        fees=Decimal("0.4"),
    )
    plain = PositionsTable._plain_all(pos, 60_000)
    assert plain[2] == "60,414.28" and plain[3] == "60,719.13", plain
