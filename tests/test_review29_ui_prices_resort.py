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

# A re-sort put off by the once-a-second bound is done at a later refresh even if no figure moves
# again: the pane of a paused or ended feed kept a stale order for good under a header marked ▼.
# And a re-sort leaves the view where the operator scrolled it when the cursor is out of view.


async def test_a_put_off_resort_is_done_when_the_figures_stop_moving():
    table = PricesTable(id="prices")
    async with _Host(table).run_test(size=(60, 12)) as pilot:
        table.apply(_market([5.0, 1.0, 9.0], 1))
        table.set_sort("last")  # descending, just now: a re-sort waits RESORT_MIN_S
        await pilot.pause()
        table.apply(_market([5.0, 30.0, 9.0], 2))  # the last move of the feed, within the bound
        assert _rows(table) == ["S0002USDT", "S0000USDT", "S0001USDT"]
        table._sorted_at -= table.RESORT_MIN_S  # a second later, nothing moved since
        table.apply(_market([5.0, 30.0, 9.0], 3))
        assert _rows(table) == ["S0001USDT", "S0002USDT", "S0000USDT"]
        table._sorted_at -= table.RESORT_MIN_S
        written = table.apply(_market([5.0, 30.0, 9.0], 4))  # in order now: nothing to do
        assert written == 0


async def test_a_resort_does_not_scroll_the_pane_to_a_cursor_out_of_view():
    """Scrolled away from the cursor (the wheel) to read other rows, the pane jumped back to the
    cursor at every re-sort that moved the cursor's row by one, once a second."""
    table = PricesTable(id="prices")
    table.RESORT_MIN_S = 0.0
    async with _Host(table).run_test(size=(60, 12)) as pilot:
        prices = np.arange(60, dtype=np.float64) + 1
        table.apply(_market(prices, 1))
        table.set_sort("last")  # descending: S0000 (the cursor's) last
        table.focus()
        table.move_to_key("S0000USDT")
        await pilot.pause()
        table.scroll_to(y=20, animate=False)
        await pilot.pause()
        moved = prices.copy()
        moved[30] = 0.5  # S0030 falls to the bottom: the cursor's row goes up by one
        table.apply(_market(moved, 2))
        await pilot.pause()
        assert table.selected_key == "S0000USDT"
        assert table.scroll_y == 20
        # with the cursor in view, the view follows it
        table.scroll_to(y=table.row_count, animate=False)
        await pilot.pause()
        moved[30] = 1000.0  # S0030 to the top: the cursor's row goes down by one, to the last
        table.apply(_market(moved, 3))
        await pilot.pause()
        assert table.selected_key == "S0000USDT" and table.cursor_row == table.row_count - 1
        assert table.cursor_row in range(int(table.scroll_y), int(table.scroll_y) + 12)
