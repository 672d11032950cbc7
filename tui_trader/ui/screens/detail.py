"""The symbol detail screen: charts, rating history, signals, orders and fills.

Everything comes from ``engine.symbol_history(symbol)`` (``engine.uncarried_history(symbol)``
for a held symbol the session's market does not carry), read by the app, which refreshes it on
its chart timer while the screen is shown: the screen reads no engine.

From 160×45 up (the main screen's :data:`~tui_trader.ui.screens.main.WIDE_SIZE`) the three
charts and the tables share a 2×2 grid. Below it each chart and each table is a tab of its own
(← → switch), as the main screen's panes are: in the grid of an 80×24 terminal each chart and
the tables had a quarter of the screen (40×10), the orders' price and status, a fill's price and
fee, and a signal's result were out of view, and the charts were a few cells of plot.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Grid
from textual.events import Resize
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane, Tabs

from tui_trader.clock import MS_PER_DAY
from tui_trader.events import SymbolHistory
from tui_trader.ui.format import (
    fmt_exact_price,
    fmt_last_price,
    fmt_money,
    fmt_num,
    fmt_pct,
    fmt_qty,
    fmt_when,
)
from tui_trader.ui.palette import Palette, right
from tui_trader.ui.screens.main import WIDE_SIZE
from tui_trader.ui.widgets.charts import Series, SeriesChart, history_key, rating_series, z_series
from tui_trader.ui.widgets.footer import KeyFooter
from tui_trader.ui.widgets.signals import result_text
from tui_trader.ui.widgets.status_bar import StatusBar
from tui_trader.ui.widgets.table import FastTable

# as wide as the main screen's signals pane: "profit_target" and a refusal's text whole; times as
# in the main panes (``03:04:05Z`` today, ``01-02 03:04`` before), so that the result shows
SIG_COLS = [("time", "Time", 11), ("type", "Type", 4), ("kind", "Kind", 13), ("z", "z", 6),
            ("result", "Result", 48), ("reason", "Reason", 46)]
ORDER_COLS = [("time", "Time", 11), ("side", "Side", 4), ("type", "Type", 6), ("qty", "Qty", 12),
              ("price", "Avg price", 12), ("status", "Status", 16), ("src", "Source", 8), ("reason", "Reason", 30)]
FILL_COLS = [("time", "Time", 11), ("side", "Side", 4), ("qty", "Qty", 12), ("price", "Price", 12),
             ("fee", "Fee", 16), ("id", "Order", 24)]  # fee: "0.39994254 USDT", its asset whole

#: The charts' tabs (below 160×45 only).
CHART_TABS = ("tab-price", "tab-rating", "tab-z")

#: A symbol the session's market does not carry: a position or a signal restored from a book whose
#: universe held it (the feed's symbols changed since), shown but with no price or history.
NOT_TRADED = "not in this session's market (no prices: the feed does not carry it)"


def compact_size(size: Size) -> bool:
    """Whether a screen of ``size`` shows the detail as tabs (below the main screen's wide size)."""
    return size.width < WIDE_SIZE[0] or size.height < WIDE_SIZE[1]


class DetailBody(Container):
    """The charts and the tables: a grid, or (``compact``) one tab each."""

    def __init__(self, compact: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.compact = compact

    def compose(self) -> ComposeResult:
        price = SeriesChart("price", id="detail-price")
        rating = SeriesChart("rating · moving average", id="detail-rating")
        z = SeriesChart("z-score · thresholds", id="detail-z")
        if self.compact:
            with TabbedContent(id="detail-tabs", initial="tab-price"):
                with TabPane("Price", id="tab-price"):
                    yield price
                with TabPane("Rating", id="tab-rating"):
                    yield rating
                with TabPane("z-score", id="tab-z"):
                    yield z
                yield from self._tables()
            return
        with Grid(id="detail-grid"):
            yield price
            yield rating
            yield z
            with TabbedContent(id="detail-tabs"):
                yield from self._tables()

    @staticmethod
    def _tables() -> ComposeResult:
        with TabPane("Signals", id="tab-signals"):
            yield FastTable(SIG_COLS, id="detail-signals")
        with TabPane("Orders", id="tab-orders"):
            yield FastTable(ORDER_COLS, id="detail-orders")
        with TabPane("Fills", id="tab-fills"):
            yield FastTable(FILL_COLS, id="detail-fills")


class SymbolDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("b", "app.buy", "Buy"),
        Binding("x", "app.sell", "Sell"),
        Binding("l", "app.lock", "Lock"),
        Binding("p", "app.pause", "Pause"),
        Binding("E", "app.emergency", "E-STOP"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol
        self.palette = Palette()
        self._key: tuple | None = None
        self._chart_tab: str | None = None  # the chart's tab shown before the grid (see on_resize)
        self._grid_tab = ""  # the grid's table tab when it was laid out

    @property
    def compact(self) -> bool:
        """The charts and tables are tabs (a terminal below 160×45)."""
        return self.query_one(DetailBody).compact

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static(self.symbol, id="detail-info")
        yield DetailBody(compact_size(self.app.size), id="detail-body")
        yield KeyFooter()

    async def on_resize(self, event: Resize) -> None:
        body = self.query_one(DetailBody)
        compact = compact_size(event.size)
        if compact == body.compact:
            return
        tabs = self.query_one("#detail-tabs", TabbedContent)
        active, focused = tabs.active, self.focused
        had_focus = focused is None or body in focused.ancestors_with_self
        # a chart's tab, which the grid has not: shown again on the way back (a tmux pane zoomed
        # and unzoomed), unless a table was chosen in the grid meanwhile (its tab, or the focus)
        chart_tab, self._chart_tab = self._chart_tab, None
        if active in CHART_TABS:
            self._chart_tab = active
        elif chart_tab is not None and active == self._grid_tab and not isinstance(focused, FastTable):
            active = chart_tab
        body.compact = compact
        await body.recompose()  # the other layout: charts and tables made anew, filled at once
        tabs = self.query_one("#detail-tabs", TabbedContent)
        if tabs.query(f"#{active}"):  # a table's tab: still the one shown
            tabs.active = active
        self._grid_tab = tabs.active
        if had_focus:  # its widgets were replaced: the focus was nowhere, and ← → did nothing
            # a table (both layouts have each) keeps it: moved to the tabs instead, ↑ ↓ did
            # nothing more and ← → switched tabs
            again = self.query(f"#{focused.id}") if focused is not None and focused.id else None
            (again.first() if again else tabs.query_one(Tabs)).focus()
        self._key = None
        self.app.refresh_charts()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A chart's tab shown: drawn again at the size it now has (drawn hidden, its ticks
        were laid out for no size at all)."""
        for chart in event.pane.query(SeriesChart):
            chart.data_key = None
            self.app.call_after_refresh(self.app.refresh_charts)

    def show(self, h: SymbolHistory, last_price: float | None = None, now_ms: int | None = None,
             price_decimals: int = -1) -> None:
        """Update everything from one history (cheap when nothing changed). ``now_ms`` is the
        engine's time (the app's last snapshot), the day the tables' times are relative to; by
        default the history's last period. ``price_decimals``: the symbol's tick's (-1 unknown),
        the last price shown with them, as in the prices pane."""
        pal = self.palette
        # wraps: on one line an 80-column terminal cut "LOCKED" and the position's entry and PnL
        info = Text(overflow="fold")
        info.append(f" {h.symbol} ", style="bold reverse")
        price = last_price if last_price is not None else (float(h.price[-1]) if h.price.size else None)
        info.append(f"  last {fmt_last_price(price, price_decimals)}")
        if h.rating.size:
            info.append(f"  rating {fmt_num(float(h.rating[-1]), 0)}  z ")
            z = float(h.z[-1])
            info.append(fmt_num(z, sign=True), style=f"bold {pal.accent}" if z >= h.threshold else "")
        info.append(f"  threshold ±{h.threshold:g}")
        if h.locked:
            info.append("  LOCKED", style=f"bold {pal.warning}")
        if h.position is not None:
            p = h.position
            info.append(f"  ● {fmt_qty(p.quantity)} @ {fmt_exact_price(p.avg_entry)} ")
            info.append(f"{fmt_money(p.unrealized_pnl, sign=True)} ({fmt_pct(p.unrealized_pct)})",
                        style=pal.profit if p.unrealized_pnl > 0 else pal.loss if p.unrealized_pnl < 0 else "")
        self.query_one("#detail-info", Static).update(info)
        key = history_key(h)
        self.query_one("#detail-price", SeriesChart).draw(key, h.ts_ms, [Series("price", h.price, "cyan")])
        self.query_one("#detail-rating", SeriesChart).draw(key, h.ts_ms, rating_series(h))
        zs, zl = z_series(h)
        self.query_one("#detail-z", SeriesChart).draw(key, h.ts_ms, zs, zl)
        if now_ms is None:
            now_ms = int(h.ts_ms[-1]) if h.ts_ms.size else 0
        self._show_tables(True, h, now_ms)

    def show_not_traded(self, h: SymbolHistory | None, now_ms: int | None = None) -> None:
        """The symbol is not in the session's market (restored from a book whose universe held it):
        no price, rating or z-score to chart, and the info line says so; the holding, and the
        stored orders and fills (the engine's read-only ``uncarried_history``, read by the app: None
        when there is none to show) in the tables. ``now_ms`` as :meth:`show`'s; by default the
        last order's time."""
        pal = self.palette
        info = Text(overflow="fold")
        info.append(f" {self.symbol} ", style="bold reverse")
        info.append(f"  {NOT_TRADED}", style=f"bold {pal.warning}")
        if h is not None and h.locked:
            info.append("  LOCKED", style=f"bold {pal.warning}")
        if h is not None and h.position is not None:
            info.append(f"  ● {fmt_qty(h.position.quantity)} @ {fmt_exact_price(h.position.avg_entry)}")
        self.query_one("#detail-info", Static).update(info)
        if h is None:
            return
        if now_ms is None:
            now_ms = max([o.created_ms for o in h.orders] + [0])
        self._show_tables(False, h, now_ms)

    def _show_tables(self, traded: bool, h: SymbolHistory, now_ms: int) -> None:
        """The tables filled again when what they show changed (the symbol, whether the session's
        market carries it, the day the times are relative to, the rows and their states) - not at
        each period, as when the charts' data was part of that: every rating period the tables
        were refilled and their cursor and scroll went back to the top."""
        tkey = (h.symbol, traded, now_ms // MS_PER_DAY, len(h.signals), len(h.orders), len(h.fills),
                tuple((o.status, o.executed_qty) for o in h.orders[-20:]),
                tuple((s.executed, s.outcome) for s in h.signals[-20:]))
        if tkey != self._key and self._tables(h, now_ms):
            self._key = tkey

    def _tables(self, h: SymbolHistory, now_ms: int) -> bool:
        """Fill the three tables; False while the tabs are not mounted yet (retried)."""
        tables = [self.query(f"#detail-{k}") for k in ("signals", "orders", "fills")]
        if not all(tables) or not all(t.first().columns for t in tables):
            return False
        pal = self.palette

        def when(ts_ms: int) -> str:
            return fmt_when(ts_ms, now_ms)

        t = self.query_one("#detail-signals", FastTable)
        kept = _cursor_of(t)
        t.clear()
        for s in reversed(h.signals):
            t.add_row(when(s.ts_ms), Text(str(s.type), style=pal.profit if s.type == "BUY" else pal.loss),
                      s.kind, right(fmt_num(s.z_score, sign=True)),
                      # longer than its column: ends in "…", not cut after a price's first digits
                      Text(result_text(s), no_wrap=True, overflow="ellipsis"),
                      Text(s.reason, no_wrap=True, overflow="ellipsis"))
        _put_cursor(t, kept)
        t = self.query_one("#detail-orders", FastTable)
        kept = _cursor_of(t)
        t.clear()
        for o in reversed(h.orders):
            t.add_row(when(o.created_ms), str(o.side), str(o.type), right(fmt_qty(o.executed_qty or o.quantity, width=12)),
                      right(fmt_exact_price(o.avg_price) if o.avg_price else fmt_exact_price(o.price)), str(o.status),
                      str(o.source), Text(o.reason or o.error, no_wrap=True, overflow="ellipsis"))
        _put_cursor(t, kept)
        t = self.query_one("#detail-fills", FastTable)
        kept = _cursor_of(t)
        t.clear()
        for f in reversed(h.fills):
            # each within its column (Qty 12, Fee 16): a quantity of many digits was cut to its first;
            # the fee as charged (a live buy's in the base asset: not its USDT value under that name)
            fee, asset = f.charged_fee()
            t.add_row(when(f.ts_ms), str(f.side), right(fmt_qty(f.quantity, width=12)), right(fmt_exact_price(f.price)),
                      right(f"{fmt_qty(fee, width=max(6, 15 - len(asset)))} {asset}"), f.client_order_id)
        _put_cursor(t, kept)
        return True


def _cursor_of(t: FastTable) -> tuple[int, float, float]:
    """A table's cursor row and scroll offsets, to put back after it is refilled."""
    return t.cursor_row, t.scroll_x, t.scroll_y


def _put_cursor(t: FastTable, kept: tuple[int, float, float]) -> None:
    """The cursor row (the nearest there is) and the scroll ``kept`` by :func:`_cursor_of`: a
    refill (a new order or fill) left them at the top, where the operator was reading further down."""
    row, x, y = kept
    if t.row_count:
        t.move_cursor(row=min(max(row, 0), t.row_count - 1), scroll=False)
        t.call_after_refresh(t.scroll_to, x=x, y=y, animate=False)  # (once the rows are laid out)
