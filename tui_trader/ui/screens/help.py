"""The ``?`` help screen: every key, grouped."""

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
            ("s", "start trading"),
            ("p", "pause / resume"),
            ("E", "EMERGENCY STOP (reason, optionally close all)"),
            ("R", "reset the emergency stop (confirm)"),
            ("A", "live: accept an account holding less than the book (confirm)"),
            ("b", "buy the selected symbol"),
            ("x", "sell / close the selected symbol"),
            ("F", "flatten: close all positions (confirm)"),
            ("l", "lock / unlock the selected symbol"),
            ("t", "set the z-score threshold"),
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
            ("B", "backtest reports (stored runs: figures, equity, trades)"),
            ("v", "cycle the log level shown"),
            ("T", "next colour theme"),
            ("Ctrl+P", "command palette (every action)"),
            ("?", "this help"),
            ("q", "quit (asks when positions are open)"),
        ],
    ),
]


def help_table() -> Table:
    t = Table(show_header=False, box=None, padding=(0, 1), expand=False)
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("action")
    for group, rows in KEYS:
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
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static("tui-trader — keys", classes="dialog-title")
            yield Static(help_table())
            yield Static("Esc closes. Every action is also in the command palette (Ctrl+P).", classes="dialog-text")

    def action_close(self) -> None:
        self.dismiss(None)
