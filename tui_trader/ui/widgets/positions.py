"""The positions pane: open positions with unrealised PnL and distances to exits.

Distances are in percent of the last price: to the stop (last - stop) / last
and to the target (target - last) / last. Age is engine time since entry.
"""

from __future__ import annotations

import math

from rich.text import Text

from tui_trader.events import PositionView
from tui_trader.ui.format import fmt_age, fmt_money, fmt_pct, fmt_price, fmt_qty
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

    def apply(self, positions: list[PositionView], now_ms: int) -> int:
        """Show ``positions``; returns the number of cells written."""
        wanted = {p.symbol: p for p in positions}
        removed = [s for s in self._shown if s not in wanted]
        for s in removed:
            self.remove_row(s)
            del self._shown[s]
        n = 0
        cells = []
        for sym, p in wanted.items():
            plain = self._plain(p, now_ms)
            old = self._shown.get(sym)
            if old is None:
                self.add_row(*self._styled(plain, p), key=sym)
                n += len(COLUMNS)
            elif old != plain:
                styled = self._styled(plain, p)
                for (col, *_), a, b, v in zip(COLUMNS, old, plain, styled, strict=True):
                    if a != b:
                        cells.append((sym, col, v))
            self._shown[sym] = plain
        return n + self.write_cells(cells)

    def restyle(self, palette: Palette) -> None:
        self.palette = palette
        self.clear()
        self._shown = {}

    @staticmethod
    def _plain(p: PositionView, now_ms: int) -> tuple:
        last = float(p.last_price)
        return (
            p.symbol,
            fmt_qty(p.quantity),
            fmt_price(p.avg_entry),
            fmt_price(last),
            fmt_money(p.value),
            fmt_money(p.unrealized_pnl, sign=True),
            fmt_pct(p.unrealized_pct),
            fmt_pct(_dist(last, float(p.stop_price), last), 1, sign=False),
            fmt_pct(_dist(float(p.target_price), last, last), 1, sign=False),
            fmt_age(now_ms - p.entry_ms),
        )

    def _styled(self, plain: tuple, p: PositionView) -> list:
        pal = self.palette
        sign = p.unrealized_pnl
        out: list = [Text(plain[0], style="bold")]
        out += [right(x) for x in plain[1:5]]
        out.append(pal.signed(plain[5], sign))
        out.append(pal.signed(plain[6], sign))
        out += [right(x) for x in plain[7:]]
        return out
