"""Command palette entries (Ctrl+P): every operator action, pane and theme."""

from __future__ import annotations

from textual.command import DiscoveryHit, Hit, Hits, Provider

ACTIONS: list[tuple[str, str, str]] = [
    ("Start trading", "start", "s"),
    ("Pause / resume trading", "pause", "p"),
    ("Emergency stop…", "emergency", "E"),
    ("Reset emergency stop…", "reset_emergency", "R"),
    ("Accept the exchange account (live)…", "accept_account", "A"),
    ("Abandon an order in a delisted symbol…", "abandon_order", ""),
    ("Buy selected symbol…", "buy", "b"),
    ("Sell / close selected symbol…", "sell", "x"),
    ("Flatten all positions…", "flatten", "F"),
    ("Lock / unlock selected symbol", "lock", "l"),
    ("Set z-score threshold…", "threshold", "t"),
    ("Symbol detail of the selection", "detail", "Enter"),
    ("Filter symbols", "screen.filter", "/"),
    ("Sort prices by next column", "screen.sort", "o"),
    ("Maximise / restore pane", "screen.maximize", "m"),
    ("Cycle log level", "screen.log_level", "v"),
    ("Backtest reports", "backtest_reports", "B"),
    ("Next colour theme", "next_theme", "T"),
    ("Help: keys", "help", "?"),
    ("Quit", "quit", "q"),
]


class TraderCommands(Provider):
    """Operator actions, panes and colour themes for the command palette."""

    def _entries(self) -> list[tuple[str, str, str]]:
        from tui_trader.ui.screens.main import PANES

        out = [(label, action, f"key {key}" if key else "command palette only") for label, action, key in ACTIONS]
        out += [(f"Show pane: {title}", f"screen.show_pane('{key}')", f"key {i + 1}")
                for i, (key, title) in enumerate(PANES)]
        out += [(f"Theme: {name}", f"set_theme({name!r})", "colour theme")  # a quote in a name stays one
                for name in getattr(self.app, "trader_themes", [])]
        return out

    def _run(self, action: str, label: str = ""):
        app = self.app

        async def run() -> None:
            if action.startswith("screen."):
                main = getattr(app, "main_screen", None)
                if main is None:
                    return
                if app.screen is not main:
                    # the main screen's panes, filter, sort and log level: run under the detail or a
                    # report screen they changed nothing on screen, and the filter took the focus there
                    app.notify(f"{label}: on the main screen only (Esc goes back to it)", severity="warning")
                    return
                await main.run_action(action.removeprefix("screen."))
            else:
                await app.run_action(action)

        return run

    async def discover(self) -> Hits:
        for label, action, help_text in self._entries():
            yield DiscoveryHit(label, self._run(action, label), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, action, help_text in self._entries():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), self._run(action, label), help=help_text)
