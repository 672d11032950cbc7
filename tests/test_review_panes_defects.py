"""A fresh-eyes review of the console panes: each test reproduces a defect found (it failed before
the fix) or pins a behaviour checked and found right."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from textual.app import App

from tui_trader.events import LeaderboardView, MarketView
from tui_trader.ui import format as fmt
from tui_trader.ui.palette import Palette
from tui_trader.ui.widgets.leaderboard import LeaderboardTable
from tui_trader.ui.widgets.logs import LogBuffer, LogPane
from tui_trader.ui.widgets.prices import PricesTable


class _Host(App):
    def __init__(self, *widgets) -> None:
        super().__init__()
        self.widgets = widgets

    def compose(self):
        yield from self.widgets


# ---------------------------------------------------------------- negative zero


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (fmt.fmt_num(-0.001, sign=True), "+0.00"),
        (fmt.fmt_num(-0.001), "0.00"),
        (fmt.fmt_num(-0.4, 0), "0"),
        (fmt.fmt_pct(-0.001), "+0.00%"),
        (fmt.fmt_pct(-0.004, width=7), "+0.00%"),
        (fmt.fmt_pct(-0.04, 1, sign=False, width=6), "0.0%"),
        (fmt.fmt_money(-0.001, sign=True), "+0.00"),
        (fmt.fmt_money(-0.001), "0.00"),
        (fmt.fmt_money(-0.4, decimals=0, width=5), "0"),
        (fmt.fmt_price(-0.0), "0.00"),
        (fmt.fmt_compact(-0.1), "0"),
        (fmt.fmt_qty(-0.0), "0"),
    ],
)
def test_a_value_rounded_to_zero_reads_as_zero_not_minus_zero(text, want):
    """A tiny negative z, change or PnL rounds to zero: it read '-0.00' (a loss of nothing), and
    exactly zero read '+0.00'. The same zero now reads the same, whatever side it came from."""
    assert text == want


def test_minus_zero_is_kept_off_only_where_nothing_is_left():
    assert fmt.fmt_num(-0.006, sign=True) == "-0.01"
    assert fmt.fmt_pct(-0.5, 0) == "+0%"  # round half to even: zero
    assert fmt.fmt_money(-1e-12, sign=True, width=3) == "+0"  # no "-1e-12" for an amount of nothing shown
    assert fmt.fmt_sci(-1.5e-9) == "-1.5000e-9"  # a tiny price is not zero: kept with its sign
    assert fmt.shown_zero("+0.00%") and fmt.shown_zero("0") and not fmt.shown_zero("-0.01")
    assert not fmt.shown_zero("1e-9") and not fmt.shown_zero(fmt.MISSING)


async def test_leaderboard_shows_no_minus_zero_and_a_zero_change_is_not_red():
    """z = -0.001 read '-0.00' on the leaderboard, and a threshold of 2.0 against z = 2.001
    read a distance of '-0.00'; in the prices pane a -0.001 % change read '-0.00%' in red."""
    lb_table = LeaderboardTable(id="leaderboard")
    prices = PricesTable(id="prices")
    pal = Palette()
    async with _Host(lb_table, prices).run_test(size=(100, 30)) as pilot:
        lb = LeaderboardView(
            symbols=["AUSDT", "BUSDT"],
            z=np.array([-0.001, 2.001]),
            rating=np.array([1500.0, -0.2]),
            rd=np.array([50.0, 50.0]),
            volatility=np.array([0.06, 0.06]),
            moving_average=np.array([1500.0, 1500.0]),
            score=np.zeros(2),
            period=10,
            threshold=2.0,
            version=1,
        )
        lb_table.apply(lb, frozenset(), frozenset())
        market = MarketView(
            symbols=["AUSDT", "BUSDT"],
            price=np.array([1.0, 2.0]),
            change_pct=np.array([-0.001, 0.0]),
            quote_volume=np.array([1e6, 1e6]),
            updated_ms=np.zeros(2, dtype=np.int64),
            version=1,
        )
        prices.apply(market)
        await pilot.pause()
        assert str(lb_table.cell_of("AUSDT", "z")) == "+0.00"
        assert str(lb_table.cell_of("BUSDT", "dist")) == "0.00"
        assert str(lb_table.cell_of("BUSDT", "rating")) == "0"
        a, b = prices.get_cell("AUSDT", "chg"), prices.get_cell("BUSDT", "chg")
        assert a.plain == b.plain == "+0.00%"
        assert a.style == b.style and pal.loss not in str(a.style)  # the same zero, the same colour


# ---------------------------------------------------------------- logs


async def test_a_hidden_log_pane_does_not_keep_every_line_written_to_it():
    """Below 160x45 the Logs pane is hidden until shown (7): its size unknown, every line written
    to it was kept by the RichLog in a list of renders waiting for a size - without bound, over
    an SSH session that never looks at the logs. Written lines are now bounded there too, and
    shown from the buffer once the pane has a width."""
    buf = LogBuffer(capacity=300, time_ms=lambda: 1_735_693_200_000)
    pane = LogPane(buf, level=logging.INFO, max_lines=200, id="log")
    pane.display = False
    log = logging.getLogger("tui_trader.test_review_panes.hidden")
    log.addHandler(buf)
    log.setLevel(logging.DEBUG)
    try:
        async with _Host(pane).run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for i in range(2_000):
                log.info("line %d", i)
                if i % 50 == 0:
                    pane.drain()
            pane.drain()
            await pilot.pause()
            pending = len(getattr(pane, "_deferred_renders", ()))
            assert pending + len(pane.lines) <= pane.max_lines, pending
            pane.display = True
            await pilot.pause()
            shown = [s.text.rstrip() for s in pane.lines]
            assert shown and shown[-1].endswith("line 1999"), shown[-3:]
            assert len(shown) <= pane.max_lines
    finally:
        log.removeHandler(buf)


# ---------------------------------------------------------------- the lowcolor theme


def _row_looks(app, table, row: int) -> set:
    """The look (colours and attributes) of the text cells on screen of ``table``'s ``row``."""
    update = app.screen._compositor.render_full_update()
    r = table.region
    y = r.y + 1 + row - int(table.scroll_y)  # under the header
    looks = set()
    x = 0
    for seg in (seg for strip in update.strips[y] for seg in strip):
        if r.x <= x < r.right - 1 and seg.text.strip() and seg.style is not None:
            s = seg.style
            looks.add((s.bgcolor, s.underline, s.reverse, s.bold))
        x += seg.cell_length
    return looks


@pytest.mark.parametrize("theme", ["tui-trader-lowcolor", "tui-trader-dark"])
async def test_an_unfocused_tables_cursor_row_is_marked_in_every_theme(tmp_path, theme):
    """In tui-trader-lowcolor (ANSI colours) an unfocused table's cursor row had no mark at all:
    Textual's ANSI $block-cursor-blurred-background is the terminal's default. The symbol chosen in
    the leaderboard (what the charts show) could not be told once another pane had the focus."""
    from ui_support import make_app, make_engine, ready, ui_config

    cfg = ui_config(theme=theme, refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        assert app.theme == theme
        table = app.main_screen.query_one(LeaderboardTable)
        await pilot.press("2")
        await pilot.press("down", "down")
        await pilot.press("1")  # the prices pane has the focus now
        await pilot.pause()
        assert not table.has_focus and table.cursor_row == 2
        assert _row_looks(app, table, 2) != _row_looks(app, table, 3)


# ---------------------------------------------------------------- checked and found right


def _lb(symbols, z, version=1, threshold=2.0) -> LeaderboardView:
    n = len(symbols)
    return LeaderboardView(symbols=list(symbols), rating=np.full(n, 1500.0), rd=np.full(n, 50.0),
                           volatility=np.full(n, 0.06), z=np.asarray(z, dtype=np.float64),
                           moving_average=np.full(n, 1500.0), score=np.zeros(n), period=5,
                           threshold=threshold, version=version)


async def test_leaderboard_ties_keep_their_order_and_nan_ranks_last_as_a_dash():
    table = LeaderboardTable(id="leaderboard")
    async with _Host(table).run_test(size=(100, 30)) as pilot:
        syms = ["AUSDT", "BUSDT", "CUSDT", "DUSDT", "EUSDT"]
        z = [1.0, np.nan, 1.0, 3.0, 1.0]
        for version in range(1, 6):  # the same ties every period: the same order every period
            table.apply(_lb(syms, z, version), frozenset(), frozenset())
            await pilot.pause()
            shown = [table.symbol_for_key(f"r{r}") for r in range(table.row_count)]
            assert shown == ["DUSDT", "AUSDT", "CUSDT", "EUSDT", "BUSDT"], shown
        assert str(table.cell_of("BUSDT", "z")) == fmt.MISSING
        assert str(table.cell_of("BUSDT", "dist")) == fmt.MISSING


async def test_leaderboard_of_2000_symbols_writes_only_what_changed_and_follows_the_focused_symbol():
    table = LeaderboardTable(id="leaderboard")
    n = 2_000
    syms = [f"S{i:04d}USDT" for i in range(n)]
    rng = np.random.default_rng(3)
    z = rng.normal(size=n)
    async with _Host(table).run_test(size=(100, 30)) as pilot:
        table.apply(_lb(syms, z, 1), frozenset(), frozenset())
        await pilot.pause()
        assert table.row_count == n
        on_screen = len(table.visible_rows(margin=0))
        changed: list[set] = []
        original = table._invalidate_content
        table._invalidate_content = lambda cells=None: (changed.append(set(cells or ())), original(cells))[1]
        table.apply(_lb(syms, z, 2), frozenset(), frozenset())  # a new period, the same figures
        assert changed == [], "no cell re-rendered when nothing changed"
        z2 = z.copy()
        top = int(np.argmax(z2))
        z2[top] += 0.5  # the top symbol's z only: its row's z and distance change
        table.apply(_lb(syms, z2, 3), frozenset(), frozenset())
        assert len(changed) == 1 and {c.value for _, c in changed[0]} == {"z", "dist"}, changed
        assert len(table.visible_rows()) < 4 * on_screen  # rows far off screen are not formatted
        # the focused operator's symbol keeps the cursor as it moves down the ranks
        table.focus()
        await pilot.pause()
        table.move_cursor(row=3, animate=False)
        await pilot.pause()
        mine = table.symbol_for_key(table.selected_key)
        z3 = z2.copy()
        z3[syms.index(mine)] = -10.0
        table.apply(_lb(syms, z3, 4), frozenset(), frozenset())
        await pilot.pause()
        assert table.symbol_for_key(table.selected_key) == mine and table.cursor_row == n - 1


async def test_rows_of_symbols_gone_from_a_snapshot_are_removed():
    table = LeaderboardTable(id="leaderboard")
    prices = PricesTable(id="prices")
    async with _Host(table, prices).run_test(size=(100, 40)) as pilot:
        table.apply(_lb(["AUSDT", "BUSDT", "CUSDT"], [3.0, 2.0, 1.0]), frozenset(), frozenset())
        table.focus()
        table.move_cursor(row=2, animate=False)
        await pilot.pause()
        table.apply(_lb(["AUSDT", "CUSDT"], [3.0, 1.0], 2), frozenset(), frozenset())
        await pilot.pause()
        assert [table.symbol_for_key(f"r{r}") for r in range(table.row_count)] == ["AUSDT", "CUSDT"]
        assert table.symbol_for_key(table.selected_key) == "CUSDT"  # the cursor stayed on its symbol
        same_count = _lb(["AUSDT", "DUSDT"], [3.0, 4.0], 3)  # as many symbols, one replaced
        table.apply(same_count, frozenset(), frozenset())
        await pilot.pause()
        assert [str(table.get_cell(f"r{r}", "sym")) for r in range(2)] == ["DUSDT", "AUSDT"]

        def market(symbols):
            k = len(symbols)
            return MarketView(symbols=symbols, price=np.ones(k), change_pct=np.zeros(k),
                              quote_volume=np.ones(k), updated_ms=np.zeros(k, dtype=np.int64), version=1)

        prices.apply(market(["AUSDT", "BUSDT", "CUSDT"]))
        prices.apply(market(["AUSDT", "CUSDT"]))
        await pilot.pause()
        assert [k.value for k in prices.rows] == ["AUSDT", "CUSDT"]


async def test_charts_are_not_drawn_while_hidden_and_not_rebuilt_on_a_repaint(tmp_path):
    """At 80x24 the charts pane is a tab: while another is shown, new klines draw nothing (a
    plotext build costs 10-50 ms); shown, each chart is drawn once, and a repaint with the same
    data and size (a toast, a modal) does not rebuild it."""
    import asyncio

    from ui_support import make_app, make_engine, ready, ui_config

    from tui_trader.ui.widgets.charts import SeriesChart

    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=20)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        charts = list(app.main_screen.query(SeriesChart))
        await asyncio.create_task(engine.run())
        for _ in range(3):
            app.refresh_from_engine()
            app.refresh_charts()
            await pilot.pause()
        assert [c.draws for c in charts] == [0, 0] and [c.builds for c in charts] == [0, 0]
        await pilot.press("5")
        await pilot.pause()
        app.refresh_charts()
        await pilot.pause()
        draws, builds = [c.draws for c in charts], [c.builds for c in charts]
        assert all(d >= 1 for d in draws), draws
        for _ in range(3):
            app.refresh_charts()  # the same data: nothing drawn again
            app.notify("a toast over the charts")
            await pilot.pause()
        assert [c.draws for c in charts] == draws and [c.builds for c in charts] == builds


async def test_a_theme_change_keeps_the_operators_position_selected(tmp_path):
    """T (next theme) rebuilt the positions table from nothing: the cursor went back to the first
    position, so an x pressed next would sell another symbol than the one selected."""
    import asyncio
    from decimal import Decimal

    from ui_support import make_app, make_engine, ready, ui_config

    from tui_trader.events import ManualBuy
    from tui_trader.ui.widgets.positions import PositionsTable

    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        await engine.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(400)))
        await engine.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(300)))
        await asyncio.create_task(engine.run())
        app.refresh_from_engine()
        await pilot.press("3")
        await pilot.pause()
        table = app.main_screen.query_one(PositionsTable)
        assert table.has_focus and table.row_count >= 2
        second = table.coordinate_to_cell_key((1, 0)).row_key.value
        table.move_to_key(second)
        await pilot.pause()
        app.theme = "tui-trader-light"
        await pilot.pause()
        app.refresh_from_engine()
        await pilot.pause()
        assert table.selected_key == second and app.selected_symbol == second
        assert table.row_count >= 2
        pal = app.palette  # the light theme's colours on the figures
        assert pal != Palette.from_variables({})
        upnl = table.get_cell(second, "upnl")
        assert str(upnl.style) in {pal.profit, pal.loss}, upnl.style  # not the dark theme's


def test_health_events_per_second_not_known_reads_a_dash():
    """A rate the feed cannot tell (NaN: no time elapsed yet, a feed of another host) read 'nan'."""
    from test_ui_units import _snapshot

    from tui_trader.ui.widgets.health import health_rows

    rows = {r.name: r for r in health_rows(_snapshot([], {}, {}, eps=float("nan")), 10)}
    assert rows["events/s"].detail == fmt.MISSING
    rows = {r.name: r for r in health_rows(_snapshot([], {}, {}, eps=190.94), 10)}
    assert rows["events/s"].detail == "190.9"


async def test_a_theme_change_recolours_the_log_lines_shown():
    """restyle() changed the colours of lines written afterwards only: the warnings and errors
    already in the pane kept the old theme's colours (a dark theme's amber on a light theme)."""
    buf = LogBuffer(capacity=50, time_ms=lambda: 1_735_693_200_000)
    pane = LogPane(buf, level=logging.INFO, id="log")
    log = logging.getLogger("tui_trader.test_review_panes.restyle")
    log.addHandler(buf)
    try:
        async with _Host(pane).run_test(size=(80, 12)) as pilot:
            await pilot.pause()
            log.warning("careful")
            pane.drain()
            await pilot.pause()
            pane.restyle(Palette(warning="magenta", unhealthy="blue"))
            await pilot.pause()
            line = next(s for s in pane.lines if "careful" in s.text)
            colours = {seg.style.color.name for seg in line if seg.style is not None and seg.style.color}
            assert colours == {"magenta"}, colours
    finally:
        log.removeHandler(buf)
