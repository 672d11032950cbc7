"""The leaderboard pane: symbols ranked by z-score with their Glicko-2 figures.

Columns: rank, an entry marker (``▶`` where z >= the entry threshold), symbol,
flags (``L`` locked, ``●`` held), z, distance to the threshold (threshold - z;
<= 0 means at or above it), rating, RD, volatility, moving average of the
rating.

Rows are rank slots (row ``i`` shows the i-th ranked symbol, keys ``r0`` ..),
so a re-ranking never moves rows: it only marks slots dirty, and only dirty
slots in or near the viewport are formatted and written (see
:class:`~tui_trader.ui.widgets.table.FastTable`). When the operator has the
table focused, the cursor follows its symbol to its new rank.
"""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text

from tui_trader.events import LeaderboardView
from tui_trader.ui.format import fmt_num
from tui_trader.ui.palette import Palette, right
from tui_trader.ui.widgets.table import FastTable

# no cell padding: widths include a one-cell gap (numbers right-aligned)
COLUMNS = [
    ("rank", "#", 4, "right"),
    ("mark", "", 3, "center"),
    ("sym", "Symbol", 13, "left"),
    ("flags", "", 3, "left"),
    ("z", "z", 7, "right"),
    ("dist", "Δthr", 6, "right"),
    ("rating", "Rating", 7, "right"),
    ("rd", "RD", 5, "right"),
    ("vol", "σ", 7, "right"),
    ("ma", "MA", 6, "right"),
]


class LeaderboardTable(FastTable):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cell_padding", 0)
        super().__init__(COLUMNS, **kwargs)
        self.palette = Palette()
        self.symbols: list[str] = []
        self.threshold = math.nan
        self._filter = ""
        self._key: tuple | None = None
        self._lb: LeaderboardView | None = None
        self._locked: frozenset[str] = frozenset()
        self._held: frozenset[str] = frozenset()
        self._order = np.empty(0, dtype=np.int64)  # row (rank slot) -> symbol index
        self._dirty = np.zeros(0, dtype=bool)  # per row
        self.cells_written = 0

    # -- public -------------------------------------------------------------

    def apply(self, lb: LeaderboardView, locked: frozenset[str], held: frozenset[str]) -> int:
        """Show the leaderboard; returns cells written (0 when nothing changed)."""
        key = (lb.version, lb.threshold, locked, held, len(lb.symbols))
        if key == self._key and lb.symbols == self.symbols:
            return 0
        self._key = key
        self._lb, self._locked, self._held = lb, locked, held
        self.threshold = float(lb.threshold)
        selected = self.symbol_for_key(self.selected_key) if self.has_focus else None
        if lb.symbols != self.symbols:
            self.symbols = list(lb.symbols)
        order = self._ranked()
        if order.size != self.row_count:
            self._order = order
            self._rebuild_rows()
        else:
            self._order = order
            self._dirty[:] = True
        if selected is not None:  # the operator's row follows its symbol
            self.move_to_key(self.key_for_symbol(selected))
        self.cells_written = self.flush_visible()
        return self.cells_written

    def symbol_for_key(self, key: str | None) -> str | None:
        if key is None or not key.startswith("r"):
            return None
        try:
            return self.symbols[int(self._order[int(key[1:])])]
        except (ValueError, IndexError):
            return None

    def key_for_symbol(self, symbol: str) -> str | None:
        """The row key showing ``symbol`` now (None if filtered out / unknown)."""
        try:
            i = self.symbols.index(symbol)
        except ValueError:
            return None
        rows = np.flatnonzero(self._order == i)
        return f"r{int(rows[0])}" if rows.size else None

    def cell_of(self, symbol: str, col: str) -> object:
        """The displayed cell of ``symbol`` in column ``col`` (flushes that row first)."""
        key = self.key_for_symbol(symbol)
        if key is None:
            raise KeyError(symbol)
        row = int(key[1:])
        if self._dirty[row]:
            self._dirty[row] = False
            self.write_cells(self._row_cells(row))
        return self.get_cell(key, col)

    def set_filter(self, text: str) -> None:
        text = text.strip().upper()
        if text != self._filter:
            self._filter = text
            if self._lb is not None:
                self._order = self._ranked()
                self._rebuild_rows()
                self.flush_visible()

    def restyle(self, palette: Palette) -> None:
        self.palette = palette
        self._dirty[:] = True
        self.flush_visible()

    def force(self) -> None:
        """Forget the last view so the next :meth:`apply` recomputes."""
        self._key = None

    def flush_visible(self) -> int:
        rows = self.visible_rows()
        if not rows or self._lb is None:
            return 0
        todo = [r for r in rows if self._dirty[r]]
        if not todo:
            return 0
        cells: list = []
        for r in todo:
            self._dirty[r] = False
            cells.extend(self._row_cells(r))
        return self.write_cells(cells)

    # -- internals ----------------------------------------------------------

    def _ranked(self) -> np.ndarray:
        """Symbol indices by z descending (NaN last), filtered."""
        lb = self._lb
        assert lb is not None
        z = np.asarray(lb.z, dtype=np.float64)
        order = np.argsort(-np.where(np.isnan(z), -np.inf, z), kind="stable")
        if self._filter:
            keep = np.fromiter((self._filter in self.symbols[i] for i in order.tolist()), dtype=bool,
                               count=order.size)
            order = order[keep]
        return order

    def _rebuild_rows(self) -> None:
        if not self.columns:
            return
        self.clear()
        blank = [""] * (len(COLUMNS) - 1)
        for r in range(self._order.size):
            self.add_row(str(r + 1), *blank, key=f"r{r}")
        self._dirty = np.ones(self._order.size, dtype=bool)

    def _row_cells(self, r: int) -> list[tuple[str, str, object]]:
        lb = self._lb
        assert lb is not None
        pal = self.palette
        i = int(self._order[r])
        sym = self.symbols[i]
        z = float(lb.z[i])
        hot = z >= self.threshold
        hot_style = f"bold {pal.accent}" if hot else ""
        key = f"r{r}"
        flags = ("L" if sym in self._locked else " ") + ("●" if sym in self._held else " ")
        return [
            (key, "rank", right(str(r + 1), pal.muted)),
            (key, "mark", Text("▶" if hot else " ", style=f"bold {pal.accent}", justify="center")),
            (key, "sym", sym),
            (key, "flags", Text(flags, style=pal.warning)),
            # NaN or inf (no rating yet) read "—"; a z rounded to zero "+0.00", never "-0.00"
            (key, "z", right(fmt_num(z, sign=True), hot_style)),
            (key, "dist", right(fmt_num(self.threshold - z), hot_style)),
            (key, "rating", right(fmt_num(float(lb.rating[i]), 0))),
            (key, "rd", right(fmt_num(float(lb.rd[i]), 0))),
            (key, "vol", right(fmt_num(float(lb.volatility[i]), 3))),
            (key, "ma", right(fmt_num(float(lb.moving_average[i]), 0))),
        ]
