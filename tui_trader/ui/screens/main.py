"""The main screen: status bar, the seven panes, filter bar and footer.

Responsive layout: from ``WIDE_SIZE`` (160×45) up every pane is visible in a
grid; below it a row of tabs shows one pane at a time (Tab / Shift+Tab or
1…7 switch). ``m`` maximises the focused pane in both layouts.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static, Tab, Tabs

from tui_trader.ui.widgets.charts import SeriesChart
from tui_trader.ui.widgets.footer import KeyFooter
from tui_trader.ui.widgets.health import HealthTable
from tui_trader.ui.widgets.leaderboard import LeaderboardTable
from tui_trader.ui.widgets.logs import LogBuffer, LogPane
from tui_trader.ui.widgets.pane import ChartsPane, Pane
from tui_trader.ui.widgets.positions import PositionsTable
from tui_trader.ui.widgets.prices import PricesTable
from tui_trader.ui.widgets.signals import SignalsTable
from tui_trader.ui.widgets.status_bar import StatusBar

WIDE_SIZE = (160, 45)
PANES = [
    ("prices", "Prices"),
    ("leaderboard", "Leaderboard"),
    ("positions", "Positions"),
    ("signals", "Signals"),
    ("charts", "Charts"),
    ("health", "Health"),
    ("logs", "Logs"),
]
PANE_KEYS = [k for k, _ in PANES]
#: Tab titles for a terminal too narrow for PANES' own (below 77 columns the row of tabs ran off
#: its right edge: 6 Health and 7 Logs, where an error's banner sends the operator, were unseen).
SHORT_TITLES = {"prices": "Price", "leaderboard": "Board", "positions": "Pos", "signals": "Sig",
                "charts": "Chart", "health": "Health", "logs": "Logs"}


def tab_labels(width: int) -> list[str]:
    """The tabs' labels that fit ``width`` cells (a tab pads its label with one cell each side):
    the panes' titles, else shorter ones, else their numbers only."""
    for titles in (dict(PANES), SHORT_TITLES):
        labels = [f"{i + 1} {titles[k]}" for i, k in enumerate(PANE_KEYS)]
        if sum(len(label) + 2 for label in labels) <= width:
            return labels
    return [str(i + 1) for i in range(len(PANE_KEYS))]


class MainScreen(Screen):
    class Ready(Message):
        """Posted once the panes exist (the app starts its timers and the engine then)."""

    class PanesShown(Message):
        """Posted when other panes came on screen (a tab, a pane maximised or restored): the app
        fills them at once. Only the panes on screen are written at each UI tick, so a pane shown
        was empty, or as old as when it was last shown, until the next tick (``ui.refresh_ms``,
        up to 5 s)."""

    class FilterChanged(Message):
        """Posted when the symbol filter was typed, kept or cleared: the rows shown changed, so
        the app checks that its selected symbol is still one of them (:meth:`filter_table`)."""

    #: A maximised pane (``m``) keeps the status bar (the engine's state, PAPER / LIVE), the banner
    #: (an emergency stop) and the key hints on screen: Textual's default kept the footer only. And
    #: the symbol filter when it is open: hidden, it still took the focus on ``/`` and every key
    #: after it (x, q, E typed into a field of no size), and a filter kept was not seen.
    ALLOW_IN_MAXIMIZED_VIEW = "Footer, #top-bar, #filter-bar"

    BINDINGS = [
        Binding("s", "app.start", "Start"),
        Binding("p", "app.pause", "Pause"),
        Binding("E", "app.emergency", "E-STOP"),
        Binding("b", "app.buy", "Buy"),
        Binding("x", "app.sell", "Sell"),
        Binding("F", "app.flatten", "Flatten"),
        Binding("l", "app.lock", "Lock"),
        Binding("t", "app.threshold", "Thresh"),
        Binding("slash", "filter", "Filter"),
        Binding("m", "maximize", "Max"),
        Binding("z", "maximize", "Max", show=False),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
        Binding("R", "app.reset_emergency", "Reset E", show=False),
        Binding("A", "app.accept_account", "Accept account", show=False),
        Binding("T", "app.next_theme", "Theme", show=False),
        Binding("B", "app.backtest_reports", "Reports", show=False),
        Binding("v", "log_level", "Log level", show=False),
        Binding("o", "sort", "Sort", show=False),
        Binding("tab", "next_pane", "Next pane", show=False),
        Binding("shift+tab", "prev_pane", "Prev pane", show=False),
        Binding("escape", "escape", "Restore", show=False),
        *[Binding(str(i + 1), f"show_pane('{k}')", t, show=False) for i, (k, t) in enumerate(PANES)],
    ]

    def __init__(self, log_buffer: LogBuffer, log_level: int) -> None:
        super().__init__()
        self.log_buffer = log_buffer
        self.log_level = log_level
        self.compact = True
        self.active = "prices"
        self._panes: dict[str, Pane] = {}
        self._banner_shown: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="top-bar"):  # one block: above a maximised pane too (app.tcss)
            yield StatusBar(id="status")
            yield Static("", id="banner")
        yield Tabs(*[Tab(f"{i + 1} {t}", id=f"tab-{k}") for i, (k, t) in enumerate(PANES)], id="pane-tabs")
        with Horizontal(id="filter-bar"):
            yield Static("Filter:", id="filter-label")
            inp = Input(placeholder="symbol substring (Enter keeps, Esc clears)", id="filter")
            inp.cursor_blink = False
            yield inp
        with Grid(id="dashboard", classes="-compact"):
            yield Pane(PricesTable(id="prices"), title="Prices", key="prices")
            yield Pane(LeaderboardTable(id="leaderboard"), title="Leaderboard (z)", key="leaderboard")
            # grid order (see app.tcss): row 1-2 prices | leaderboard | charts;
            # row 3 positions (2 columns) | health; row 4 signals (2 columns) | logs
            yield ChartsPane(SeriesChart("", id="symbol-chart"), SeriesChart("equity", id="equity-chart"),
                             title="Charts", key="charts")
            yield Pane(PositionsTable(id="positions"), title="Positions", key="positions")
            yield Pane(HealthTable(id="health"), title="Health", key="health")
            yield Pane(SignalsTable(id="signals"), title="Signals", key="signals")
            yield Pane(LogPane(self.log_buffer, level=self.log_level, id="logs"), title="Logs", key="logs")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._set_active("prices", focus=True)
        self._layout_for(self.size.width, self.size.height)
        self.post_message(self.Ready())

    # -- layout ---------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        compact = width < WIDE_SIZE[0] or height < WIDE_SIZE[1]
        widened = self.compact and not compact and self.maximized is None
        self.compact = compact
        self.query_one("#dashboard").set_class(compact, "-compact")
        self.query_one("#pane-tabs").display = compact
        for tab, label in zip(self.query(Tab), tab_labels(width), strict=True):
            if tab.label_text != label:
                tab.label = label
        if widened:  # the tabs' hidden panes came on screen
            self.post_message(self.PanesShown())

    def pane(self, key: str) -> Pane:
        pane = self._panes.get(key)
        if pane is None:
            pane = self._panes[key] = self.query_one(f"#pane-{key}", Pane)
        return pane

    def is_visible(self, key: str) -> bool:
        """Whether a pane is on screen (all are in the wide layout)."""
        if self.maximized is not None:
            return self.maximized is self.pane(key)
        return not self.compact or self.active == key

    def _set_active(self, key: str, focus: bool, shown: bool = False) -> None:
        """Make ``key`` the active pane; ``shown``: panes came on screen already (a restore)."""
        # only a pane that came on screen is filled at once (PanesShown): in the wide layout all
        # are shown, and each Tab (a focus move) rebuilt every pane and the charts
        shown = shown or (self.compact and self.maximized is None and key != self.active)
        self.active = key
        for k in PANE_KEYS:
            self.pane(k).set_class(k == key, "-active")
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{key}":
            tabs.active = f"tab-{key}"
        if focus:
            self.pane(key).main.focus()
        if shown:
            self.post_message(self.PanesShown())

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab(self, event: Tabs.TabActivated) -> None:
        if event.tab.id != event.tabs.active:  # stale: a burst of Tab (a held key) moved on since;
            return  # acting on it switched back, and the panes swapped to and fro for a while
        key = (event.tab.id or "tab-prices").removeprefix("tab-")
        if key != self.active:
            self._set_active(key, focus=True)

    def on_descendant_focus(self, event) -> None:
        # keep the tab row and the "active" pane in step with the focus (mouse, Tab, palette)
        node = event.widget
        if node is not self.focused:  # stale (a burst of Tab): the focus has moved on since
            return
        while node is not None and not isinstance(node, Pane):
            node = node.parent
        if isinstance(node, Pane) and node.key != self.active:
            self._set_active(node.key, focus=False)

    def action_show_pane(self, key: str) -> None:
        restored = self.maximized is not None
        if restored:
            self.minimize()
        self._set_active(key, focus=True, shown=restored)

    def action_next_pane(self) -> None:
        self._step(1)

    def action_prev_pane(self) -> None:
        self._step(-1)

    def _step(self, d: int) -> None:
        i = PANE_KEYS.index(self.active)
        self.action_show_pane(PANE_KEYS[(i + d) % len(PANE_KEYS)])

    def action_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
            self.post_message(self.PanesShown())
        else:
            self.maximize(self.pane(self.active))

    def action_escape(self) -> None:
        if self.maximized is not None:
            self.minimize()
            self.post_message(self.PanesShown())
        elif self.query_one("#filter-bar").display:
            self._clear_filter()

    # -- filter ---------------------------------------------------------------

    def action_filter(self) -> None:
        if self.maximized is not None and self.active not in ("prices", "leaderboard"):
            # the filter is the prices' and the leaderboard's: the view is restored (Enter on it
            # shows the prices, as from any other pane)
            self.minimize()
            self.post_message(self.PanesShown())
        bar = self.query_one("#filter-bar")
        bar.display = True
        self.query_one("#filter", Input).focus()

    def filter_table(self) -> PricesTable | LeaderboardTable:
        """The filtered table whose cursor names the selected symbol: the active pane of the
        two (where Enter on the filter puts the focus), else prices."""
        return self.query_one(LeaderboardTable if self.active == "leaderboard" else PricesTable)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(PricesTable).set_filter(event.value)
        self.query_one(LeaderboardTable).set_filter(event.value)
        self.post_message(self.FilterChanged())

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self._clear_filter()
        else:
            key = self.active if self.active in ("prices", "leaderboard") else "prices"
            self._set_active(key, focus=True)
            self.post_message(self.FilterChanged())

    def _clear_filter(self) -> None:
        inp = self.query_one("#filter", Input)
        inp.value = ""
        self.query_one(PricesTable).set_filter("")
        self.query_one(LeaderboardTable).set_filter("")
        self.query_one("#filter-bar").display = False
        self.pane(self.active).main.focus()
        self.post_message(self.FilterChanged())

    # -- misc -------------------------------------------------------------------

    def action_sort(self) -> None:
        self.query_one(PricesTable).cycle_sort()
        t = self.query_one(PricesTable)
        self.notify(f"prices sorted by {t.sort_key} {'descending' if t.sort_reverse else 'ascending'}", timeout=2)

    def action_log_level(self) -> None:
        import logging

        # (only the levels the package's logger passes on: monitoring.log_level)
        level = self.query_one(LogPane).cycle_level(logging.getLogger("tui_trader").getEffectiveLevel())
        self.notify(f"log pane shows {logging.getLevelName(level)} and above", timeout=2)

    def show_banner(self, text: str, severity: str = "error") -> None:
        """Show ``text`` (none: hide the banner). Called at every UI tick: only a change is
        written, since an update lays the whole screen out again (every pane re-rendered)."""
        if (text, severity) == self._banner_shown:
            return
        self._banner_shown = (text, severity)
        b = self.query_one("#banner", Static)
        b.update(text)
        b.set_classes(f"-{severity}")
        b.display = bool(text)
