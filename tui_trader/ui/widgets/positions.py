"""The positions pane: open positions with unrealised PnL and distances to exits.

Distances are in percent of the last price: to the stop (last - stop) / last
and to the target (target - last) / last. Age is engine time since entry.

A pane narrower than :data:`COLUMNS` (an 80- or 100-column terminal, where the
last columns scrolled out of view: the distances to the stop and the target)
shows :data:`MEDIUM_COLUMNS` (narrower) or :data:`NARROW_COLUMNS` (no value, no
age). The widths stay fixed: the layout changes only when the pane's width crosses
a layout's (a resize, a tab shown).

A locked symbol (``l``) reads ``locked`` in the →Tgt column, its symbol in the warning
colour: the strategy takes no profit on it (its stop loss still runs), so a distance to
the target said something that would not happen. A word, not a colour alone, so a
monochrome terminal shows it, and no column more, so every layout keeps its width.
"""

from __future__ import annotations

import math

from rich.text import Text

from tui_trader.events import PositionView
from tui_trader.ui.format import (
    fmt_age,
    fmt_exact_price,
    fmt_last_price,
    fmt_money,
    fmt_pct,
    fmt_qty,
    shown_zero,
)
from tui_trader.ui.palette import Palette, right
from tui_trader.ui.widgets.table import FastTable

# no cell padding: widths include a one-cell gap (numbers right-aligned)
COLUMNS = [
    ("sym", "Symbol", 13, "left"),
    ("qty", "Qty", 12, "right"),
    ("entry", "Entry", 12, "right"),
    ("last", "Last", 12, "right"),
    ("value", "Value", 11, "right"),
    ("upnl", "uPnL", 10, "right"),
    ("upct", "uPnL%", 8, "right"),
    ("stop", "→Stop", 7, "right"),
    ("tgt", "→Tgt", 7, "right"),
    ("age", "Age", 8, "right"),
]
#: Narrower widths, for a pane narrower than COLUMNS (a 100-column terminal's holds 98 cells).
MEDIUM_COLUMNS = [
    ("sym", "Symbol", 12, "left"),  # "1000SATSUSDT": 12, up to the next column's gap
    ("qty", "Qty", 11, "right"),
    ("entry", "Entry", 11, "right"),  # fmt_price: at most 10 ("0.00017536")
    ("last", "Last", 11, "right"),
    ("value", "Value", 11, "right"),
    ("upnl", "uPnL", 10, "right"),  # "-1,234.56"
    ("upct", "uPnL%", 8, "right"),  # "-12.34%"
    ("stop", "→Stop", 7, "right"),  # "-12.5%": a price gapped through the stop
    ("tgt", "→Tgt", 7, "right"),  # "100.0%"
    ("age", "Age", 8, "right"),
]
#: Narrower still (an 80-column terminal's pane holds 78 cells): no value (quantity times last), no age.
NARROW_COLUMNS = [c for c in MEDIUM_COLUMNS if c[0] not in ("value", "age")]
#: The →Tgt cell of a locked symbol (no profit-target exit runs for it).
LOCKED = "locked"
#: The layouts, widest first: the first whose columns and a vertical scrollbar fit is shown.
LAYOUTS = [COLUMNS, MEDIUM_COLUMNS, NARROW_COLUMNS]
_KEYS = [c[0] for c in COLUMNS]


def _dist(a: float, b: float, last: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(last)) or last <= 0 or b <= 0:
        return math.nan
    return (a - b) / last * 100.0


class PositionsTable(FastTable):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cell_padding", 0)
        super().__init__(COLUMNS, **kwargs)
        self.palette = Palette()
        self._shown: dict[str, tuple] = {}
        self._columns = COLUMNS
        self._index = list(range(len(COLUMNS)))  # of the columns shown, in _plain's tuple
        self._last: tuple[list[PositionView], int, frozenset[str]] = ([], 0, frozenset())
        self._restyle = False  # the next apply writes every cell (a new palette)

    @property
    def shown_columns(self) -> list[tuple]:
        """The columns shown: one of :data:`LAYOUTS`."""
        return self._columns

    def on_resize(self) -> None:  # FastTable's own handler runs too (Textual calls each class's)
        width = self.size.width
        if width <= 0:  # hidden (another tab): keep the layout until shown
            return
        columns = next((c for c in LAYOUTS if sum(w for _, _, w, _ in c) + 1 <= width), LAYOUTS[-1])
        if columns is not self._columns:
            self._set_columns(columns)

    def _set_columns(self, columns: list[tuple]) -> None:
        """Show ``columns`` instead, with the positions last applied (the cursor kept on its row)."""
        selected = self.selected_key
        self._columns = columns
        self._index = [_KEYS.index(c[0]) for c in columns]
        self.set_columns(columns)
        self._shown = {}
        self.apply(*self._last)
        self.move_to_key(selected)

    def apply(self, positions: list[PositionView], now_ms: int, locked: frozenset[str] = frozenset()) -> int:
        """Show ``positions`` (those in ``locked`` marked); returns the number of cells written."""
        self._last = (positions, now_ms, locked)
        wanted = {p.symbol: p for p in positions}
        removed = [s for s in self._shown if s not in wanted]
        for s in removed:
            self.remove_row(s)
            del self._shown[s]
        n = 0
        cells = []
        for sym, p in wanted.items():
            is_locked = sym in locked
            plain = self._plain(p, now_ms, is_locked)
            old = self._shown.get(sym)
            if old is None:
                self.add_row(*self._styled(plain, p, is_locked), key=sym)
                n += len(self._columns)
            elif old != (is_locked, plain) or self._restyle:
                styled = self._styled(plain, p, is_locked)
                restyled = old[0] != is_locked  # the symbol's colour follows the lock
                for (col, *_), a, b, v in zip(self._columns, old[1], plain, styled, strict=True):
                    if a != b or (restyled and col == "sym") or self._restyle:  # unchanged: not repainted
                        cells.append((sym, col, v))
            self._shown[sym] = (is_locked, plain)
        self._restyle = False
        return n + self.write_cells(cells)

    def restyle(self, palette: Palette) -> None:
        """Use ``palette`` from the next :meth:`apply` on. The rows stay: clearing them put the
        cursor back on the first position after a theme change (x then sold another symbol)."""
        self.palette = palette
        self._restyle = True

    def _plain(self, p: PositionView, now_ms: int, locked: bool = False) -> tuple:
        """The texts of the columns shown."""
        full = self._plain_all(p, now_ms, locked)
        return tuple(full[i] for i in self._index)

    @staticmethod
    def _plain_all(p: PositionView, now_ms: int, locked: bool = False) -> tuple:
        last = float(p.last_price)
        return (
            p.symbol,
            # each in the narrowest layout's column, less its gap: a longer text was cut to its
            # first digits (a value of 1,234,567.89 read "1,234,567." - another number)
            fmt_qty(p.quantity, width=10),
            fmt_exact_price(p.avg_entry),
            fmt_last_price(last, p.price_decimals),
            fmt_money(p.value, width=10),
            fmt_money(p.unrealized_pnl, sign=True, width=9),
            fmt_pct(p.unrealized_pct, width=7),
            # a price crashed through the stop: "-900.0%" was cut to "-900.0"
            fmt_pct(_dist(last, float(p.stop_price), last), 1, sign=False, width=6),
            LOCKED if locked else fmt_pct(_dist(float(p.target_price), last, last), 1, sign=False, width=6),
            fmt_age(now_ms - p.entry_ms),
        )

    def _styled(self, plain: tuple, p: PositionView, locked: bool = False) -> list:
        pal = self.palette
        sign = p.unrealized_pnl
        out: list = []
        for (key, *_), x in zip(self._columns, plain, strict=True):
            if key == "sym":
                out.append(Text(x, style=f"bold {pal.warning}" if locked else "bold"))
            elif key == "tgt" and locked:
                out.append(right(x, pal.warning))
            elif key in ("upnl", "upct"):  # rounded to zero: no colour of a loss or a gain
                out.append(pal.signed(x, 0.0 if shown_zero(x) else sign))
            else:
                out.append(right(x))
        return out
