"""The ``?`` help screen: the keys of the screen it was opened on, grouped.

Each screen lists exactly its own keys (:data:`KEYS` the main screen's, :data:`DETAIL_KEYS`
the symbol detail's, :data:`RUNS_KEYS` and :data:`REPORT_KEYS` the backtest reports'): the
detail screen used to show the main screen's list, half of whose keys do nothing there, and the
report screens had no help at all."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Trading",
        [
            ("s", "start trading (while stopped no stop loss runs)"),
            ("p", "pause / resume"),
            ("E", "EMERGENCY STOP (Ctrl+E from a dialog or field too)"),
            ("R", "reset the emergency stop (confirm)"),
            ("A", "live: accept an account holding less than the book (confirm)"),
            ("b", "buy the selected symbol"),
            ("x", "sell / close the selected symbol (also stopped)"),
            ("F", "flatten: close all positions (confirm; stopped too)"),
            ("l", "lock / unlock the selected symbol (marked L; \"locked\" in positions' →Tgt)"),
            ("t", "set the z-score threshold (a value outside 1–5 needs a second Enter)"),
        ],
    ),
    (
        "Navigation",
        [
            ("Tab / Shift+Tab", "next / previous pane"),
            ("1 … 7", "prices, leaderboard, positions, signals, charts, health, logs"),
            ("Enter", "symbol detail (charts, history, orders, fills)"),
            ("/", "filter symbols (Esc clears)"),
            ("o", "cycle the prices sort column (or click a header)"),
            ("m / z", "maximise / restore the focused pane"),
            ("Esc", "restore a maximised pane; else clear the filter"),
            ("B", "backtest reports (stored runs: figures, equity, trades)"),
            ("v", "cycle the log level shown"),
            ("T", "next colour theme"),
            ("Ctrl+P", "command palette (every action)"),
            ("?", "this help"),
            ("q", "quit (asks when positions are open, or unknown: a failing snapshot)"),
        ],
    ),
]


DETAIL_KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Trading (this symbol)",
        [
            ("b", "buy this symbol"),
            ("x", "sell / close this symbol"),
            ("l", "lock / unlock this symbol"),
            ("p", "pause / resume"),
            ("E", "EMERGENCY STOP (Ctrl+E from a dialog or field too)"),
        ],
    ),
    (
        "Navigation",
        [
            ("Tab / Shift+Tab", "next / previous table (← → switch signals, orders, fills; the charts too below 160×45)"),
            ("Ctrl+P", "command palette (every action)"),
            ("?", "this help"),
            ("Esc / q", "back to the main screen"),
        ],
    ),
]

RUNS_KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Backtest runs",
        [
            ("↑ ↓ PgUp PgDn", "choose a run"),
            ("Enter", "open its report"),
            ("?", "this help"),
            ("Esc / q", "back (tui-trader --report: quit)"),
        ],
    ),
]

REPORT_KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Backtest report",
        [
            ("1 2 3", "summary, equity chart, trades"),
            ("↑ ↓ PgUp PgDn Home End", "scroll the summary or the trades"),
            ("?", "this help"),
            ("Esc / q", "back (tui-trader --report with a run id: quit)"),
        ],
    ),
]



def with_emergency(keys: list[tuple[str, list[tuple[str, str]]]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """``keys`` of a backtest report screen opened in the console, where E stops trading (the
    standalone viewer has no engine to stop)."""
    return [*keys, ("Trading", [("E", "EMERGENCY STOP (Ctrl+E from a dialog or field too)")])]


PALETTE_NOTE = "Esc closes. Every action is also in the command palette (Ctrl+P)."


def help_table(keys: list[tuple[str, list[tuple[str, str]]]] | None = None) -> Table:
    t = Table(show_header=False, box=None, padding=(0, 1), expand=False)
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("action")
    for group, rows in KEYS if keys is None else keys:
        t.add_row(Text(group, style="bold underline"), "")
        for key, text in rows:
            t.add_row(key, text)
        t.add_row("", "")
    return t


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        # the help lists E first: it did nothing here, without a word (Ctrl+E did)
        Binding("E", "emergency", "E-STOP", show=False),
    ]

    def __init__(self, keys: list[tuple[str, list[tuple[str, str]]]] | None = None, title: str = "tui-trader — keys",
                 note: str = PALETTE_NOTE) -> None:
        super().__init__()
        self.keys = KEYS if keys is None else keys
        self.title_text = title
        self.note = note

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(help_table(self.keys))
            yield Static(self.note, classes="dialog-text")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_emergency(self) -> None:
        """E: the console's emergency stop, in place of the help. The standalone report viewer
        has no engine to stop (and its help no E): nothing."""
        stop = getattr(self.app, "action_emergency", None)
        if stop is None:
            return
        self.dismiss(None)
        stop()
