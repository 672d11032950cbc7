"""Market prices are shown with the decimals of their symbol's tick, as the exchange shows them.

The prices pane, the buy dialog, a position's last price and a symbol's detail showed a last
price at six significant digits: BTCUSDT at 54,765.63 on its 0.01 tick read 54,765.6 in the
prices pane (and 54,765.63 in its detail), ADAUSDT at 0.42743 on 0.00001 read 0.427430 - a
decimal the tick has not. The engine's snapshot now carries each symbol's tick decimals (from the
filters it trades by, reloaded ones included) and the console shows prices with them."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest
from engine_helpers import MIN, T0, klines, make_engine
from test_review29_ui_prices_resort import _Host

from tui_trader.events import ManualBuy, MarketView
from tui_trader.execution.filters import tick_decimals
from tui_trader.ui.format import PRICE_WIDTH, fmt_price, fmt_prices, fmt_tick_price
from tui_trader.ui.widgets.prices import PricesTable


@pytest.mark.parametrize(
    ("tick", "decimals"),
    [("0.01", 2), ("0.01000000", 2), ("1", 0), ("10", 0), ("1E+1", 0), ("0.00001", 5), ("0.005", 3),
     ("0.00000001", 8), ("0", -1), ("-0.01", -1), ("NaN", -1), ("Infinity", -1)],
)
def test_tick_decimals(tick, decimals):
    assert tick_decimals(Decimal(tick)) == decimals


@pytest.mark.parametrize(
    ("price", "decimals", "shown"),
    [
        (54765.63, 2, "54,765.63"),
        (54765.6, 2, "54,765.60"),  # the tick's zero kept: the column does not jitter
        (54765.630000000005, 2, "54,765.63"),  # rounded to the tick in floats: still on it
        (0.42743, 5, "0.42743"),  # not 0.427430
        (0.00068103, 8, "0.00068103"),
        (60000.0, 2, "60,000.00"),
        (3.0, 0, "3"),
        (54765.634, 2, "54,765.63"),  # off its tick (an average): fmt_price's decimals if more
        (1.23456789, 2, "1.23457"),  # off its tick, fmt_price's 5 decimals are more than 2
    ],
)
def test_a_price_is_shown_with_its_ticks_decimals(price, decimals, shown):
    assert fmt_tick_price(price, decimals) == shown


@pytest.mark.parametrize(
    ("price", "decimals"),
    [
        (54765.63, -1),  # no tick known
        (1234567.89, 2),  # wider than the column this way
        (1e-7, 8),  # a tiny price: scientific, as before
        (float("nan"), 2),
        (float("inf"), 2),
        (None, 2),
        (0.0, 2),
    ],
)
def test_otherwise_a_price_is_shown_as_before(price, decimals):
    assert fmt_tick_price(price, decimals) == fmt_price(price)
    assert len(fmt_tick_price(price, decimals)) <= PRICE_WIDTH


def test_fmt_prices_with_tick_decimals_formats_each_as_fmt_tick_price():
    prices = np.array([54765.6, 0.42743, np.nan, 1234567.89, 2.8001, 2.8001])
    dec = np.array([2, 5, 2, 2, 4, -1], dtype=np.int8)
    assert fmt_prices(prices, tick_decimals=dec) == [fmt_tick_price(p, int(d)) for p, d in zip(prices, dec, strict=True)]
    assert fmt_prices(prices, tick_decimals=dec)[:2] == ["54,765.60", "0.42743"]
    assert fmt_prices(prices) == [fmt_price(p) for p in prices]  # without: as before


def _market(prices, version: int, decimals=None) -> MarketView:
    p = np.asarray(prices, dtype=np.float64)
    n = p.size
    dec = None if decimals is None else np.asarray(decimals, dtype=np.int8)
    return MarketView([f"S{i}USDT" for i in range(n)], p, np.zeros(n), np.full(n, 1e6),
                      np.zeros(n, dtype=np.int64), version, dec)


async def test_the_prices_pane_shows_each_price_with_its_ticks_decimals():
    table = PricesTable(id="prices")
    async with _Host(table).run_test(size=(60, 10)) as pilot:
        table.apply(_market([54765.6, 0.42743, 2.8], 1, [2, 5, -1]))
        await pilot.pause()
        cells = [str(table.get_cell(f"S{i}USDT", "last")).strip() for i in range(3)]
        assert cells == ["54,765.60", "0.42743", "2.80000"]  # the last: no tick known, as before
        # the filters reloaded (a new tick for S0): its row is shown again with the new decimals,
        # though no price moved
        table.apply(_market([54765.6, 0.42743, 2.8], 1, [1, 5, 4]))
        await pilot.pause()
        cells = [str(table.get_cell(f"S{i}USDT", "last")).strip() for i in range(3)]
        assert cells == ["54,765.6", "0.42743", "2.8000"]
        table.apply(_market([54765.6, 0.42743, 2.8], 2))  # a host that sends none: as before
        await pilot.pause()
        assert str(table.get_cell("S0USDT", "last")).strip() == "54,765.6"
        assert str(table.get_cell("S1USDT", "last")).strip() == "0.427430"


async def test_the_engines_snapshot_carries_each_symbols_tick_decimals():
    # synthetic filters: 60,000 -> tick 0.01; 3,000 -> 0.01; 0.5 -> 0.00001; 0.0005 -> 1e-8
    h = await make_engine(persist=False, ref_prices=[60000.0, 3000.0, 0.5, 0.0005]).start()
    e = h.engine
    try:
        await h.step(klines(T0, [60000.0, 3000.0, 0.5, 0.0005]))
        snap = e.snapshot()
        assert snap.market.price_decimals.tolist() == [2, 2, 5, 8]
        assert snap.market.price_decimals.dtype == np.int8
        snap.market.price_decimals[:] = 0  # the host's copy: the engine's are not changed
        assert e.snapshot().market.price_decimals.tolist() == [2, 2, 5, 8]
        assert (await e.submit(ManualBuy(symbol=e.symbols[0], quote_amount=Decimal(500), override_risk=True))).ok
        await h.step(klines(T0 + MIN, [60000.0, 3000.0, 0.5, 0.0005]))
        (pos,) = e.snapshot().positions
        assert pos.symbol == e.symbols[0] and pos.price_decimals == 2
        # the filters reloaded with a coarser tick (a filter failure's reload): the next snapshot says so
        sym = e.symbols[0]
        e.filters[sym] = dataclasses.replace(e.filters[sym], tick_size=Decimal("0.1"), min_price=Decimal("0.1"))
        snap = e.snapshot()
        assert snap.market.price_decimals.tolist() == [1, 2, 5, 8]
        assert snap.positions[0].price_decimals == 1
        del e.filters[e.symbols[3]]  # none for a symbol: unknown
        assert e.snapshot().market.price_decimals.tolist() == [1, 2, 5, -1]
    finally:
        await h.stop()
