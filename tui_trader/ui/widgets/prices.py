"""The prices pane: every symbol's last price, 24h change, quote volume, tick arrow.

Rows are keyed by symbol and created once (again only on a filter/sort
request). Each refresh diffs the snapshot's arrays against the last ones
(numpy, all symbols), marks changed symbols dirty and formats/writes only
dirty rows in or near the viewport; rows scrolled into view are flushed then.
The arrow is the direction of the last price move. ``L`` beside the symbol marks a
symbol the operator locked (``l``), as on the leaderboard.

Sorted by a figure (last, 24h %, volume), the rows follow it as it moves: a refresh that
changes the order moves the rows (at most once per :attr:`PricesTable.RESORT_MIN_S`, so a row
does not jump under the operator's eyes at every tick), the cursor staying on its symbol. They
used to keep the order of the moment the sort was chosen, under a header still marked ▼.
"""

from __future__ import annotations

import time

import numpy as np
from rich.text import Text
from textual import on
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from tui_trader.events import MarketView
from tui_trader.ui.format import fmt_compact, fmt_pct, fmt_prices, shown_zero
from tui_trader.ui.palette import Palette, right
from tui_trader.ui.widgets.table import FastTable

# no cell padding: widths include a one-cell gap (numbers right-aligned)
COLUMNS = [
    ("sym", "Symbol", 13, "left"),
    ("flags", "", 2, "left"),  # L: locked
    ("last", "Last", 11, "right"),  # fmt_prices: at most 10 ("0.00017536", "12,345,678", "1.23457e9"), on the tick
    ("chg", "24h %", 8, "right"),  # fmt_pct(width=7): "+123.5%" for a listing's first day
    ("vol", "Volume", 8, "right"),
    ("dir", "", 2, "right"),
]
SORT_KEYS = ("sym", "last", "chg", "vol")


def _tick_decimals(market: MarketView) -> np.ndarray:
    """Each symbol's tick decimals (int8, -1 unknown), the prices shown with them."""
    dec = market.price_decimals
    if dec is None or len(dec) != len(market.symbols):
        return np.full(len(market.symbols), -1, dtype=np.int8)
    return np.asarray(dec, dtype=np.int8)


def _neq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise "changed", treating NaN == NaN."""
    return ~((a == b) | (np.isnan(a) & np.isnan(b)))


class PricesTable(FastTable):
    """All symbols; sortable (header click or ``o``), filtered by substring."""

    #: The least time between two re-sorts on refresh (seconds): rows reorder as figures move,
    #: but not at every tick (the operator reading or choosing a row), and the cost is bounded.
    RESORT_MIN_S = 1.0

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cell_padding", 0)
        super().__init__(COLUMNS, **kwargs)
        self.palette = Palette()
        self.symbols: list[str] = []
        self._filter = ""
        self.sort_key = "sym"
        self.sort_reverse = False
        self._price = np.empty(0)
        self._chg = np.empty(0)
        self._vol = np.empty(0)
        self._dir = np.zeros(0, dtype=np.int8)
        self._tick_dec = np.zeros(0, dtype=np.int8)  # per symbol: its tick's decimals (-1 unknown)
        self._dirty = np.zeros(0, dtype=bool)  # per symbol: displayed cells are stale
        self._order = np.empty(0, dtype=np.int64)  # row position -> symbol index
        self._locked: frozenset[str] = frozenset()
        self._sorted_at = 0.0  # time.monotonic() of the last sort of the rows
        # figures moved since the rows were last put in order: a re-sort put off by RESORT_MIN_S
        # is done at a later refresh even if nothing moves again (a paused or ended feed)
        self._resort_due = False
        self.cells_written = 0

    # -- public -------------------------------------------------------------

    def apply(self, market: MarketView, locked: frozenset[str] = frozenset()) -> int:
        """Show ``market``, the symbols in ``locked`` marked; returns the number of cells written."""
        relocked = locked ^ self._locked
        self._locked = locked
        if market.symbols != self.symbols:
            self._reset(market)  # rows made with their marks
            return self.cells_written
        marks = self.write_cells([(s, "flags", self._flag(s)) for s in sorted(relocked)])
        price, chg, vol = market.price, market.change_pct, market.quote_volume
        changed = _neq(price, self._price) | _neq(chg, self._chg) | _neq(vol, self._vol)
        tick_dec = _tick_decimals(market)
        if not np.array_equal(tick_dec, self._tick_dec):  # a symbol's filters changed (reloaded)
            self._dirty |= tick_dec != self._tick_dec
            self._tick_dec = tick_dec
        if changed.any():
            self._dir = np.where(price > self._price, 1, np.where(price < self._price, -1, self._dir)).astype(np.int8)
            self._price, self._chg, self._vol = price.copy(), chg.copy(), vol.copy()
            self._dirty |= changed
            self._resort_due = True
        if self._resort_due:
            self._resort()
        self.cells_written = self.flush_visible() + marks
        return self.cells_written

    def flush_visible(self) -> int:
        rows = self.visible_rows()
        if not rows or self._order.size == 0:
            return 0
        idx = self._order[rows.start : rows.stop]
        idx = idx[self._dirty[idx]]
        if idx.size == 0:
            return 0
        self._dirty[idx] = False
        return self.write_cells(self._cells(idx, full=False))

    @property
    def filter_text(self) -> str:
        """The symbol filter (upper case; "" = all rows)."""
        return self._filter

    def key_for_symbol(self, symbol: str) -> str | None:
        """The row key showing ``symbol`` (None if filtered out / unknown)."""
        return symbol if RowKey(symbol) in self.rows else None

    def set_filter(self, text: str) -> None:
        text = text.strip().upper()
        if text != self._filter:
            self._filter = text
            self._rebuild()

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        if key not in SORT_KEYS:
            raise ValueError(f"unknown sort column {key!r}")
        if reverse is None:
            reverse = (not self.sort_reverse) if key == self.sort_key else key != "sym"
        self.sort_key, self.sort_reverse = key, reverse
        self._rebuild()

    def cycle_sort(self) -> None:
        i = SORT_KEYS.index(self.sort_key)
        self.set_sort(SORT_KEYS[(i + 1) % len(SORT_KEYS)])

    def restyle(self, palette: Palette) -> None:
        """Re-colour every row (theme change)."""
        self.palette = palette
        self._dirty[:] = True
        self.flush_visible()
        self.write_cells([(s, "flags", self._flag(s)) for s in sorted(self._locked)])

    # -- internals ----------------------------------------------------------

    def _resort(self) -> bool:
        """Put the rows in the order of the figures now, if it changed (True), at most once per
        :attr:`RESORT_MIN_S`; the cursor stays on its symbol. Rows are moved, not made again: their
        cells go with them."""
        if self.sort_key == "sym" or self.row_count == 0:  # symbols do not change their order
            self._resort_due = False
            return False
        now = time.monotonic()
        if now - self._sorted_at < self.RESORT_MIN_S:
            return False  # still due
        self._resort_due = False
        order = self._sorted_rows()
        if np.array_equal(order, self._order):
            return False
        rank = {self.symbols[i]: n for n, i in enumerate(order.tolist())}
        if len(rank) != self.row_count or any(k.value not in rank for k in self.rows):
            self._rebuild()  # rows other than the order's (not expected): made again
            return True
        selected = self.selected_key
        # the view follows the cursor only if it showed it: scrolled away (the wheel) to read other
        # rows, it jumped back to the cursor at every re-sort that moved the cursor's row
        in_view = self.cursor_row in self.visible_rows(margin=0)
        self._sorted_at = now
        self.sort(key=lambda cells: rank[str(cells[0])])  # the first cell is the symbol
        self._order = order
        if selected is not None and selected in rank:
            row = self.get_row_index(selected)
            if in_view:
                self.move_cursor(row=row, animate=False, scroll=True)
            else:  # the cursor's watcher scrolls to it: set quietly (same symbol: nothing to announce)
                self.set_reactive(DataTable.cursor_coordinate, Coordinate(row, self.cursor_column))
                self.refresh()
        return True

    def _flag(self, symbol: str) -> Text:
        return Text("L" if symbol in self._locked else "", style=self.palette.warning)

    def _reset(self, market: MarketView) -> None:
        self.symbols = list(market.symbols)
        self._price = market.price.copy()
        self._chg = market.change_pct.copy()
        self._vol = market.quote_volume.copy()
        self._dir = np.sign(np.nan_to_num(market.change_pct)).astype(np.int8)
        self._tick_dec = _tick_decimals(market)
        self._rebuild()

    def _sorted_rows(self) -> np.ndarray:
        n = len(self.symbols)
        if self._filter:
            visible = np.fromiter((self._filter in s for s in self.symbols), dtype=bool, count=n)
        else:
            visible = np.ones(n, dtype=bool)
        idx = np.flatnonzero(visible)
        if self.sort_key == "sym":
            order = sorted(idx.tolist(), key=self.symbols.__getitem__, reverse=self.sort_reverse)
            return np.asarray(order, dtype=np.int64)
        values = {"last": self._price, "chg": self._chg, "vol": self._vol}[self.sort_key][idx]
        # NaN always last, whatever the direction
        keyed = np.where(np.isnan(values), -np.inf if self.sort_reverse else np.inf, values)
        order = np.argsort(-keyed if self.sort_reverse else keyed, kind="stable")
        return idx[order]

    def _rebuild(self) -> None:
        """Re-create the rows in filter/sort order (on demand only); cells fill lazily."""
        if not self.columns:
            return
        selected = self.selected_key
        self._order = self._sorted_rows()
        self._sorted_at = time.monotonic()
        self.clear()
        blank = ["", "", "", ""]
        for i in self._order.tolist():
            sym = self.symbols[i]
            self.add_row(sym, self._flag(sym), *blank, key=sym)
        self._dirty = np.ones(len(self.symbols), dtype=bool)
        for key, label, *_ in COLUMNS:
            mark = ("▼" if self.sort_reverse else "▲") if key == self.sort_key else ""
            self.set_label(key, f"{label}{mark}")
        self.move_to_key(selected)
        self.cells_written = self.flush_visible()

    def _cells(self, idx: np.ndarray, full: bool) -> list[tuple[str, str, object]]:
        if idx.size == 0:
            return []
        pal = self.palette
        prices = fmt_prices(self._price[idx], tick_decimals=self._tick_dec[idx])
        chg = self._chg[idx].tolist()
        vol = self._vol[idx].tolist()
        dirs = self._dir[idx].tolist()
        out: list[tuple[str, str, object]] = []
        up = Text("▲", style=pal.profit, justify="right")
        down = Text("▼", style=pal.loss, justify="right")
        flat = Text(" ")
        for j, i in enumerate(idx.tolist()):
            sym = self.symbols[i]
            if full:
                out.append((sym, "sym", sym))
            out.append((sym, "last", right(prices[j])))
            c = chg[j]
            text = fmt_pct(c, width=7)  # a change rounded to zero is not coloured as a loss or a gain
            out.append((sym, "chg", pal.signed(text, 0.0 if c != c or shown_zero(text) else c)))
            out.append((sym, "vol", right(fmt_compact(vol[j]))))
            d = dirs[j]
            out.append((sym, "dir", up if d > 0 else down if d < 0 else flat))
        return out

    @on(FastTable.HeaderSelected)
    def _header(self, event: FastTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in SORT_KEYS:
            event.stop()
            self.set_sort(key)
