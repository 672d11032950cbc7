"""A sorted prices pane keeps its sort as prices move: the rows were put in order once, when the
sort was chosen, and stayed so - sorted by 24h %, the pane's top stopped being the top movers
while its header still said ▼. It re-sorts on refresh (at most once per ``RESORT_MIN_S``), the
cursor staying on the symbol it was on."""

from __future__ import annotations

import numpy as np
from textual.app import App

from tui_trader.events import MarketView
from tui_trader.ui.widgets.prices import PricesTable


class _Host(App):
    def __init__(self, table: PricesTable) -> None:
        super().__init__()
        self.table = table

    def compose(self):
        yield self.table


def _market(prices, version: int) -> MarketView:
    p = np.asarray(prices, dtype=np.float64)
    n = p.size
    return MarketView([f"S{i:04d}USDT" for i in range(n)], p, np.zeros(n), np.full(n, 1e6),
                      np.zeros(n, dtype=np.int64), version)


def _rows(table: PricesTable) -> list[str]:
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def test_a_sorted_pane_resorts_as_prices_move_and_the_cursor_keeps_its_symbol():
    table = PricesTable(id="prices")
    table.RESORT_MIN_S = 0.0  # every refresh (the console's bound is a second)
    async with _Host(table).run_test(size=(60, 12)) as pilot:
        table.apply(_market([5.0, 1.0, 9.0, 3.0], 1))
        table.set_sort("last")  # descending
        table.focus()
        table.move_to_key("S0000USDT")
        await pilot.pause()
        assert _rows(table) == ["S0002USDT", "S0000USDT", "S0003USDT", "S0001USDT"]
        table.apply(_market([5.0, 20.0, 9.0, 3.0], 2))  # S0001 jumps to the top
        await pilot.pause()
        assert _rows(table) == ["S0001USDT", "S0002USDT", "S0000USDT", "S0003USDT"]
        assert table.selected_key == "S0000USDT"  # the cursor went with its symbol
        assert str(table.get_cell("S0001USDT", "last")).strip() == "20.0000"
        # cells follow their rows: each row still shows its own symbol's price
        assert [str(table.get_row_at(i)[2]).strip() for i in range(4)] == ["20.0000", "9.00000", "5.00000", "3.00000"]
        table.set_filter("S000")  # under a filter too
        table.apply(_market([50.0, 20.0, 9.0, 3.0], 3))
        await pilot.pause()
        assert _rows(table)[:2] == ["S0000USDT", "S0001USDT"]
        assert table.selected_key == "S0000USDT"


async def test_the_resort_is_bounded_and_a_symbol_sort_never_moves_rows():
    table = PricesTable(id="prices")
    async with _Host(table).run_test(size=(60, 12)) as pilot:
        table.apply(_market([5.0, 1.0, 9.0], 1))
        table.set_sort("last")
        await pilot.pause()
        table.apply(_market([5.0, 30.0, 9.0], 2))  # within RESORT_MIN_S of the sort chosen: not yet
        assert _rows(table) == ["S0002USDT", "S0000USDT", "S0001USDT"]
        table._sorted_at -= table.RESORT_MIN_S  # a second later
        table.apply(_market([5.0, 31.0, 9.0], 3))
        assert _rows(table) == ["S0001USDT", "S0002USDT", "S0000USDT"]
        table.set_sort("sym", reverse=False)
        table.RESORT_MIN_S = 0.0
        table.apply(_market([50.0, 1.0, 2.0], 4))
        assert _rows(table) == ["S0000USDT", "S0001USDT", "S0002USDT"]
