"""Live-mode gate: a full-screen warning the operator must answer by typing a word.

Typing exactly the confirmation word (default ``LIVE``) and Enter returns
True; anything else, or Escape, returns False (nothing is traded).
:class:`LiveConfirmApp` hosts the screen on its own so the engine (and its
exchange connection) is only built after the operator agreed.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static

from tui_trader.ui.themes import APP_VARIABLES

CONFIRM_WORD = "LIVE"


def summary_grid(summary: str) -> Table | str:
    """The account summary's ``Label:   value`` lines as two columns, so that a long value
    (the universe, the endpoint) wraps inside its own column instead of under the labels."""
    rows = [line.split(":", 1) for line in summary.splitlines() if line.strip()]
    if not rows or any(len(r) != 2 or not r[0].strip() for r in rows):
        return summary or "(no account summary)"
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(f"{label.strip()}:", value.strip())
    return grid


class LiveConfirmScreen(Screen[bool]):
    BINDINGS = [Binding("escape", "abort", "Abort")]

    def __init__(self, account_summary: str, word: str = CONFIRM_WORD) -> None:
        super().__init__()
        self.account_summary = account_summary
        self.word = word
        self._answered = False

    def compose(self) -> ComposeResult:
        with Vertical(id="live-box"):
            yield Static(" LIVE TRADING — REAL MONEY ", id="live-title")
            yield Static(
                "This session will place real orders on the exchange with the account below. "
                "Losses are real and can exceed what the limits suggest (slippage, gaps, outages).",
                classes="live-text",
            )
            with VerticalScroll(id="live-summary-box"):  # the part that gives way in a small terminal
                yield Static(summary_grid(self.account_summary), id="live-summary")
            yield Static(f"Type {self.word} and press Enter to start. Anything else, or Esc, exits without trading.",
                         classes="live-text")
            inp = Input(placeholder=self.word, id="live-word")
            inp.cursor_blink = False
            yield inp

    def on_mount(self) -> None:
        self.query_one("#live-word", Input).focus()

    def on_resize(self) -> None:
        """The box is as tall as its text, at most the screen: in a small terminal its end was
        cut off, or (centred) its top: the title and the warning. Let the summary give way."""
        self.query_one("#live-summary-box").styles.max_height = None
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        box = self.query_one("#live-box")
        excess = box.virtual_size.height - box.scrollable_content_region.height
        if excess > 0:
            summary = self.query_one("#live-summary-box")
            summary.styles.max_height = max(1, summary.outer_size.height - excess)

    @on(Input.Submitted, "#live-word")
    def _submitted(self, event: Input.Submitted) -> None:
        self._answer(event.value.strip() == self.word)

    def action_abort(self) -> None:
        self._answer(False)

    def _answer(self, go_live: bool) -> None:
        """Answer once: a second Enter typed ahead submitted the word again before the first
        answer closed the screen, and the second dismissal crashed the gate (ScreenStackError)."""
        if self._answered or self.app.screen is not self:
            return
        self._answered = True
        self.dismiss(go_live)


class LiveConfirmApp(App[bool]):
    """A tiny app that only asks the live question. ``run()`` returns True to go live."""

    CSS_PATH = [Path(__file__).resolve().parent.parent / "global.tcss"]
    TITLE = "tui-trader: confirm live trading"

    def __init__(self, account_summary: str, word: str = CONFIRM_WORD) -> None:
        super().__init__()
        self.account_summary = account_summary
        self.word = word

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    def on_mount(self) -> None:
        self.push_screen(LiveConfirmScreen(self.account_summary, self.word), callback=self.exit)
