"""The signals pane: newest first, with what happened to each signal.

Unfocused, the pane keeps its newest rows in view; focused, the selected signal stays selected.

The engine's list is short and bounded, so a change (new signal, or an
outcome filled in) rebuilds the rows; an unchanged list costs one tuple compare.
"""

from __future__ import annotations

from rich.text import Text

from tui_trader.models import Signal, SignalType
from tui_trader.ui.format import DAY_MS, fmt_num, fmt_when
from tui_trader.ui.palette import Palette, right
from tui_trader.ui.widgets.table import FastTable

# no cell padding: widths include a one-cell gap; text after numbers starts with a space
COLUMNS = [
    ("time", "Time", 12, "left"),  # "01-02 03:04" on days before today's (engine time)
    ("type", "Type", 5, "left"),
    ("sym", "Symbol", 13, "left"),
    ("kind", "Kind", 14, "left"),  # "profit_target" and a gap
    ("str", "Str", 6, "right"),
    ("conf", "Conf", 6, "right"),
    ("z", "z", 7, "right"),
    ("result", " Result", 30, "left"),
    ("reason", " Reason", 60, "left"),
]


def signal_key(s: Signal) -> str:
    """A stable row key for a signal (its database id once it has one)."""
    return f"sig{s.id}" if s.id is not None else f"sig-{s.ts_ms}-{s.symbol}-{s.kind}-{s.type}"


def result_text(s: Signal) -> str:
    """What became of the signal: the engine's outcome text, else executed / pending."""
    return s.outcome or ("executed" if s.executed else "pending")


class SignalsTable(FastTable):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cell_padding", 0)
        super().__init__(COLUMNS, **kwargs)
        self.palette = Palette()
        self._sig: tuple = ()
        self.symbol_of: dict[str, str] = {}

    def apply(self, signals: list[Signal], now_ms: int | None = None) -> int:
        """Show ``signals`` (newest first). Times on the UTC day of ``now_ms`` (engine time;
        default: the newest signal's) read ``03:04:05Z``, earlier ones ``01-02 03:04``."""
        ref = now_ms if now_ms is not None else (signals[0].ts_ms if signals else 0)
        sig = (ref // DAY_MS,) + tuple((s.id, s.ts_ms, s.symbol, s.kind, s.executed, s.outcome) for s in signals)
        if sig == self._sig:
            return 0
        self._sig = sig
        # the operator's row stays under the cursor while the pane has focus; otherwise the pane
        # shows the newest signals (a cursor kept on an old row would scroll them out of view)
        selected = self.selected_key if self.has_focus else None
        self.clear()
        self.symbol_of = {}
        pal = self.palette
        for i, s in enumerate(signals):
            key = signal_key(s)
            if key in self.symbol_of:
                key = f"{key}#{i}"
            self.symbol_of[key] = s.symbol
            colour = pal.profit if s.type == SignalType.BUY else pal.loss
            res_style = pal.healthy if s.executed else pal.warning if s.outcome else pal.muted
            self.add_row(
                Text(fmt_when(s.ts_ms, ref), style=pal.muted),
                Text(str(s.type), style=f"bold {colour}"),
                s.symbol,
                Text(s.kind + (" !" if s.urgent else "")),
                right(fmt_num(s.strength)),
                right(fmt_num(s.confidence)),
                right(fmt_num(s.z_score, sign=True)),
                Text(" " + result_text(s), style=res_style),
                Text(" " + s.reason),
                key=key,
            )
        self.move_to_key(selected)  # None: the cursor and scroll stay at the top, where clear() put them
        return len(signals) * len(COLUMNS)

    def symbol_for_key(self, key: str) -> str | None:
        return self.symbol_of.get(key)

    def restyle(self, palette: Palette) -> None:
        self.palette = palette
        self._sig = ()
