"""The leaderboard pane: symbols ranked by z-score with their Glicko-2 figures.

Columns: rank, an entry marker (``▶`` where z >= the entry threshold), symbol,
flags (``L`` locked, ``●`` held), z, distance to the threshold (threshold - z;
<= 0 means at or above it), rating, RD, volatility, moving average of the
rating. Rows are keyed by symbol; a refresh writes only changed cells and
re-orders rows in place (``DataTable.sort``) only when the ranking changed.
"""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text

from tui_trader.events import LeaderboardView
from tui_trader.ui.format import MISSING
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
_DATA_COLS = ("rank", "mark", "flags", "z", "dist", "rating", "rd", "vol", "ma")


def _f(values: np.ndarray, spec: str) -> list[str]:
    return [MISSING if not math.isfinite(v) else format(v, spec) for v in values.tolist()]


class LeaderboardTable(FastTable):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cell_padding", 0)
        super().__init__(COLUMNS, **kwargs)
        self.palette = Palette()
        self.symbols: list[str] = []
        self.threshold = math.nan
        self._filter = ""
        self._key: tuple | None = None
        self._shown: dict[str, list[str]] = {}
        self._rank_of: dict[str, int] = {}
        self._order: np.ndarray = np.empty(0, dtype=np.int64)
        self._visible = np.zeros(0, dtype=bool)
        self._lb: LeaderboardView | None = None
        self._locked: frozenset[str] = frozenset()
        self._held: frozenset[str] = frozenset()
        self.cells_written = 0

    def apply(self, lb: LeaderboardView, locked: frozenset[str], held: frozenset[str]) -> int:
        """Show the leaderboard; returns cells written (0 when nothing changed)."""
        key = (lb.version, lb.threshold, locked, held, len(lb.symbols))
        if key == self._key and lb.symbols == self.symbols:
            return 0
        self._key = key
        self._lb, self._locked, self._held = lb, locked, held
        self.threshold = lb.threshold
        if lb.symbols != self.symbols:
            self.symbols = list(lb.symbols)
            self._shown = {}
            self._compute()
            self._rebuild()
            return self.cells_written
        old = self._shown
        new = self._compute()
        cells = []
        vis = self._visible
        for col in _DATA_COLS:
            old_vals = old.get(col)
            new_vals = new[col]
            for i, (a, b) in enumerate(zip(old_vals or [], new_vals, strict=False)):
                if a != b and vis[i]:
                    cells.append((self.symbols[i], col, self._style(col, i, b)))
        self.cells_written = self.write_cells(cells)
        if cells:
            selected = self.selected_key
            self.sort("sym", key=self._rank_of.__getitem__)
            if self.has_focus:  # the operator's row follows its symbol
                self.move_to_key(selected)
            else:  # otherwise the view stays on the top of the ranking
                self.move_cursor(row=0, animate=False, scroll=True)
        return self.cells_written

    def set_filter(self, text: str) -> None:
        text = text.strip().upper()
        if text != self._filter:
            self._filter = text
            self._update_visible()
            self._rebuild()

    def restyle(self, palette: Palette) -> None:
        self.palette = palette
        self._rebuild()

    def force(self) -> None:
        """Forget the last view so the next :meth:`apply` recomputes."""
        self._key = None

    # -- internals ----------------------------------------------------------

    def _compute(self) -> dict[str, list[str]]:
        lb = self._lb
        if lb is None:
            return {}
        z = np.asarray(lb.z, dtype=np.float64)
        thr = float(lb.threshold)
        zkey = np.where(np.isnan(z), -np.inf, z)
        self._order = np.argsort(-zkey, kind="stable")
        rank = np.empty(len(z), dtype=np.int64)
        rank[self._order] = np.arange(1, len(z) + 1)
        self._rank_of = dict(zip(self.symbols, rank.tolist(), strict=True))
        above = z >= thr
        flags = []
        for s in self.symbols:
            f = ("L" if s in self._locked else " ") + ("●" if s in self._held else " ")
            flags.append(f)
        out = {
            "rank": [str(r) for r in rank.tolist()],
            "mark": ["▶" if a else " " for a in above.tolist()],
            "flags": flags,
            "z": _f(z, "+.2f"),
            "dist": _f(thr - z, ".2f"),
            "rating": _f(np.asarray(lb.rating, dtype=np.float64), ".0f"),
            "rd": _f(np.asarray(lb.rd, dtype=np.float64), ".0f"),
            "vol": _f(np.asarray(lb.volatility, dtype=np.float64), ".3f"),
            "ma": _f(np.asarray(lb.moving_average, dtype=np.float64), ".0f"),
        }
        self._update_visible()
        self._shown = out
        return out

    def _update_visible(self) -> None:
        n = len(self.symbols)
        if self._filter:
            self._visible = np.fromiter((self._filter in s for s in self.symbols), dtype=bool, count=n)
        else:
            self._visible = np.ones(n, dtype=bool)

    def _style(self, col: str, i: int, text: str) -> object:
        pal = self.palette
        if col == "mark":
            return Text(text, style=f"bold {pal.accent}", justify="center")
        if col == "flags":
            return Text(text, style=pal.warning)
        if col in ("z", "dist"):
            hot = self._shown.get("mark", [" "])[i] == "▶" if self._shown else False
            return right(text, f"bold {pal.accent}" if hot else "")
        if col == "rank":
            return right(text, pal.muted)
        return right(text)

    def _rebuild(self) -> None:
        if not self.columns:
            return
        selected = self.selected_key
        self.clear()
        self.cells_written = 0
        if not self._shown:
            return
        shown = self._shown
        for i in self._order.tolist():
            if not self._visible[i]:
                continue
            sym = self.symbols[i]
            row = [self._style(c, i, shown[c][i]) if c != "sym" else sym for c, *_ in COLUMNS]
            self.add_row(*row, key=sym)
            self.cells_written += len(row)
        self.move_to_key(selected)
