"""The signals pane: newest first, with what happened to each signal.

Unfocused, the pane keeps its newest rows in view; focused, the selected signal stays selected
and the pane shows that signal's whole result and reason under the table, wrapped (a refusal can
list several failed checks, longer than its column).

The columns fit the pane (:func:`fit_columns`): the result takes the room the other columns leave
(up to :data:`RESULT_WIDTH`), the reason what is left after it (when at least :data:`REASON_MIN`),
and a longer text ends in "…" inside the pane. At 80 columns a result longer than the 34 cells in
view was cut at the pane's edge without a mark, and the reason was only seen by scrolling sideways.

The engine's list is short and bounded, so a change (new signal, or an
outcome filled in) rebuilds the rows; an unchanged list costs one tuple compare.

A table narrower than :data:`WIDE_MIN` (an 80-column terminal, where the result was cut
after 15 characters: "refused: max t") shows :data:`NARROW_COLUMNS`: no strength and
no confidence (a signal dropped on confidence says its confidence in the result), and the
result before z, so the result gets their room (z is shown when the whole result column fits).
"""

from __future__ import annotations

from rich.text import Text

from tui_trader.clock import MS_PER_DAY
from tui_trader.models import Signal, SignalType
from tui_trader.ui.format import fmt_num, fmt_when
from tui_trader.ui.palette import Palette, right
from tui_trader.ui.widgets.pane import Pane
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
    # the result first: "refused: max total positions reached: 10 of 10" whole in the 160x45 layout,
    # whose pane (110 cells) shows 47 of it: a longer result's "…" is the last cell in view
    ("result", " Result", 47, "left"),
    ("reason", " Reason", 46, "left"),  # "Z-Score reversal: -2.61 at or below -2.50"
]
#: From this table width on, COLUMNS (a 100-column terminal's pane is 98 wide).
WIDE_MIN = 100
#: Below WIDE_MIN: the result before z, 34 cells of it in view at 80 columns ("executed: BUY
#: 0.00662 @ 60414.28", "dropped: confidence 0.64 < 0.70" whole).
NARROW_COLUMNS = [
    ("time", "Time", 12, "left"),
    ("type", "Type", 5, "left"),
    ("sym", "Symbol", 12, "left"),
    ("kind", "Kind", 14, "left"),
    ("result", " Result", 47, "left"),  # and z: whole at 100 columns, with a scrollbar
    ("z", "z", 7, "right"),
    ("reason", " Reason", 46, "left"),
]


#: The result column's width when the pane has room for it ("refused: max total positions
#: reached: 10 of 10" whole), and the least it gets (a narrower pane scrolls sideways).
RESULT_WIDTH = 47
RESULT_MIN = 12
#: The reason column is shown only with at least this many cells.
REASON_MIN = 16
_TEXT = ("result", "reason")


def fit_columns(width: int) -> list[tuple]:
    """The columns for a table ``width`` cells wide (a vertical scrollbar's cell kept free): the
    layout's other columns, then the result in the room they leave (at most RESULT_WIDTH), z after
    it in the narrow layout when it fits too, the reason in what is left (at least REASON_MIN; a
    few cells more go to the result instead)."""
    layout = COLUMNS if width >= WIDE_MIN else NARROW_COLUMNS
    i = next(k for k, c in enumerate(layout) if c[0] == "result")
    head, tail = layout[:i], [c for c in layout[i + 1 :] if c[0] != "reason"]  # tail: z (narrow)
    room = width - 1 - sum(c[2] for c in head)
    result = max(RESULT_MIN, min(RESULT_WIDTH, room))
    room -= result
    shown_tail = []
    for c in tail:
        if c[2] <= room:
            shown_tail.append(c)
            room -= c[2]
    res = next(c for c in layout if c[0] == "result")
    reason = next(c for c in layout if c[0] == "reason")
    if room >= REASON_MIN:
        return [*head, res[:2] + (result,) + res[3:], *shown_tail, reason[:2] + (room,) + reason[3:]]
    return [*head, res[:2] + (result + max(0, room),) + res[3:], *shown_tail]


def signal_key(s: Signal) -> str:
    """A stable row key for a signal (its database id once it has one)."""
    return f"sig{s.id}" if s.id is not None else f"sig-{s.ts_ms}-{s.symbol}-{s.kind}-{s.type}"


def result_text(s: Signal) -> str:
    """What became of the signal: the engine's outcome text, else executed / pending."""
    return s.outcome or ("executed" if s.executed else "pending")


def detail_text(s: Signal) -> str:
    """One line with all of a signal: ``SELL ETHUSDT stop_loss: <result> · <reason>``."""
    return f"{s.type} {s.symbol} {s.kind}: {result_text(s)} · {s.reason}"


class SignalsTable(FastTable):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cell_padding", 0)
        super().__init__(COLUMNS, **kwargs)
        self.palette = Palette()
        self._sig: tuple = ()
        self.symbol_of: dict[str, str] = {}
        self.detail_of: dict[str, str] = {}
        self._columns = COLUMNS
        self._last: tuple[list[Signal], int | None] = ([], None)

    @property
    def shown_columns(self) -> list[tuple]:
        """The columns shown: COLUMNS or NARROW_COLUMNS."""
        return self._columns

    def on_resize(self) -> None:  # FastTable's own handler runs too (Textual calls each class's)
        width = self.size.width
        if width <= 0:  # hidden (another tab): keep the layout until shown
            return
        columns = fit_columns(width)
        if columns != self._columns:
            self._columns = columns
            selected = self.selected_key if self.has_focus else None  # as apply() keeps it
            self.set_columns(columns)
            self._sig = ()
            self.apply(*self._last)
            self.move_to_key(selected)

    def apply(self, signals: list[Signal], now_ms: int | None = None) -> int:
        """Show ``signals`` (newest first). Times on the UTC day of ``now_ms`` (engine time;
        default: the newest signal's) read ``03:04:05Z``, earlier ones ``01-02 03:04``."""
        self._last = (signals, now_ms)
        ref = now_ms if now_ms is not None else (signals[0].ts_ms if signals else 0)
        sig = (ref // MS_PER_DAY,) + tuple((s.id, s.ts_ms, s.symbol, s.kind, s.executed, s.outcome) for s in signals)
        if sig == self._sig:
            return 0
        self._sig = sig
        # the operator's row stays under the cursor while the pane has focus; otherwise the pane
        # shows the newest signals (a cursor kept on an old row would scroll them out of view)
        selected = self.selected_key if self.has_focus else None
        self.clear()
        self.symbol_of = {}
        self.detail_of = {}
        pal = self.palette
        for i, s in enumerate(signals):
            key = signal_key(s)
            if key in self.symbol_of:
                key = f"{key}#{i}"
            self.symbol_of[key] = s.symbol
            self.detail_of[key] = detail_text(s)
            colour = pal.profit if s.type == SignalType.BUY else pal.loss
            res_style = pal.healthy if s.executed else pal.warning if s.outcome else pal.muted
            cells = {
                "time": Text(fmt_when(s.ts_ms, ref), style=pal.muted),
                "type": Text(str(s.type), style=f"bold {colour}"),
                "sym": s.symbol,
                "kind": Text(s.kind + (" !" if s.urgent else "")),
                "str": right(fmt_num(s.strength)),
                "conf": right(fmt_num(s.confidence)),
                "z": right(fmt_num(s.z_score, sign=True)),
                # longer than its column: ends in "…" (the whole on the pane's border when selected),
                # never cut silently after a price's first digits ("@ 1234567" for 1234567890.5)
                "result": Text(" " + result_text(s), style=res_style, no_wrap=True, overflow="ellipsis"),
                "reason": Text(" " + s.reason, no_wrap=True, overflow="ellipsis"),
            }
            self.add_row(*(cells[c[0]] for c in self._columns), key=key)
        self.move_to_key(selected)  # None: the cursor and scroll stay at the top, where clear() put them
        self._show_detail()
        return len(signals) * len(self._columns)

    def selected_detail(self) -> str:
        """The whole result and reason of the signal under the cursor while the pane has focus."""
        key = self.selected_key if self.has_focus else None
        return self.detail_of.get(key, "") if key is not None else ""

    def _show_detail(self) -> None:
        """Show :meth:`selected_detail` under the table, wrapped (:meth:`Pane.show_detail`): on the
        pane's border, one line, it was cut at 80 columns after some 70 characters."""
        pane = self.parent
        if isinstance(pane, Pane):
            pane.show_detail(self.selected_detail())

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    # has_focus changes in the base class's handlers, which run after these: look once they have
    def on_focus(self) -> None:
        self.call_later(self._show_detail)

    def on_blur(self) -> None:
        self.call_later(self._show_detail)

    def symbol_for_key(self, key: str) -> str | None:
        return self.symbol_of.get(key)

    def restyle(self, palette: Palette) -> None:
        self.palette = palette
        self._sig = ()
