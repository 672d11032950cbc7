"""What the console shows in a terminal smaller than :data:`MIN_SIZE` (80×24).

Below it the panes were drawn squeezed past reading (a price cut to its first digits, a pane
one row high), and nothing said why. :class:`TooSmallScreen` covers whatever screen is shown
with the status bar (the engine's state, which it keeps updated) and a notice naming the size
and the minimum. It changes nothing in the engine: trading, the stop losses and the UI's own
refresh go on underneath, and the screen under it is as it was once the terminal is large
enough again (the app takes the notice away, :meth:`TuiTraderApp.check_terminal_size`).

``q`` quits (asking first, as on the main screen, when positions are open) and ``E`` (or
``Ctrl+E``) opens the emergency stop; their dialogs open over the notice.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_trader.ui.widgets.status_bar import StatusBar

#: The smallest terminal the console draws its panes in (columns, rows).
MIN_SIZE = (80, 24)


def too_small(width: int, height: int) -> bool:
    """Whether a ``width`` × ``height`` terminal is below :data:`MIN_SIZE`."""
    return width < MIN_SIZE[0] or height < MIN_SIZE[1]


def notice_text(width: int, height: int) -> str:
    return (f"Terminal {width}×{height} is too small: tui-trader needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]}.\n"
            "Resize, or press q to quit.\n\n"
            "The engine keeps running. E: emergency stop.")


class TooSmallScreen(ModalScreen):
    """The notice over every screen while the terminal is below :data:`MIN_SIZE`. Modal: the
    app's refresh still reads the screen under it as the one shown (the main screen's panes,
    a symbol's detail) and keeps it current."""

    DEFAULT_CSS = """
    TooSmallScreen {
        background: $background;
        align: center middle;
    }
    TooSmallScreen > StatusBar {
        dock: top;
        height: 1;
    }
    #too-small {
        width: auto;
        max-width: 100%;
        height: auto;
        padding: 0 1;
        text-align: center;
        text-style: bold;
    }
    """

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("E", "app.emergency", "E-STOP"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static(notice_text(*self.app.size), id="too-small")

    def on_mount(self) -> None:
        bar = self.query_one(StatusBar)
        palette = getattr(self.app, "palette", None)
        if palette is not None:
            bar.restyle(palette)
        snap = getattr(self.app, "last_snapshot", None)
        if snap is not None:
            bar.show(snap)

    def show_size(self, width: int, height: int) -> None:
        """Say the terminal's size now (it is resized while still too small)."""
        text = notice_text(width, height)
        notice = self.query_one("#too-small", Static)
        if str(notice.content) != text:
            notice.update(text)

    async def action_quit(self) -> None:
        """The app's quit; when its question is open already (asked before the terminal shrank,
        under this notice), the notice steps aside so that it can be answered."""
        if getattr(self.app, "_asking_quit", False):
            self.dismiss()
        else:
            await self.app.run_action("quit")

    def on_screen_resume(self) -> None:
        # a dialog opened over the notice (q's question, E's) closed: the terminal may have been
        # made large enough meanwhile, and the notice is then taken away
        self.app.call_later(self.app.check_terminal_size)
