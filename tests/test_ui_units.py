"""Unit tests of the console's parts: themes, formatting, tables, log buffer, health rows."""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rich.text import Text
from textual.app import App
from textual.color import Color
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.events import (
    EngineSnapshot,
    HealthCheck,
    HealthView,
    LeaderboardView,
    MarketView,
    PortfolioView,
)
from tui_trader.models import EngineState, Signal, SignalType
from tui_trader.ui import format as fmt
from tui_trader.ui.palette import Palette
from tui_trader.ui.screens.modals import parse_decimal
from tui_trader.ui.themes import (
    APP_VARIABLES,
    BUILTIN_THEME_DIR,
    ThemeError,
    discover_themes,
    load_theme_file,
    theme_from_mapping,
)
from tui_trader.ui.widgets.health import COLUMNS as HEALTH_COLUMNS
from tui_trader.ui.widgets.health import MASK, MAX_STREAM_ROWS, HealthRow, health_rows
from tui_trader.ui.widgets.leaderboard import LeaderboardTable
from tui_trader.ui.widgets.logs import MIN_WRAP_WIDTH, LogBuffer, LogPane
from tui_trader.ui.widgets.pane import Pane
from tui_trader.ui.widgets.prices import PricesTable
from tui_trader.ui.widgets.signals import COLUMNS as SIGNAL_COLUMNS
from tui_trader.ui.widgets.signals import SignalsTable
from tui_trader.ui.widgets.table import FastTable

# ---------------------------------------------------------------- themes


def test_shipped_themes_parse_with_app_colours():
    found = discover_themes([BUILTIN_THEME_DIR])
    assert found.errors == []
    assert {"tui-trader-dark", "tui-trader-light", "tui-trader-lowcolor"} <= set(found.themes)
    for theme in found.themes.values():
        for var in APP_VARIABLES:
            assert var in theme.variables, (theme.name, var)
            Color.parse(theme.variables[var])
    assert found.themes["tui-trader-light"].dark is False
    low = found.themes["tui-trader-lowcolor"]
    assert low.ansi is True
    # only the 16 ANSI colours: safe on 16/256-colour terminals
    for name in ("primary", "error", "success", "warning"):
        assert Color.parse(getattr(low, name)).ansi is not None
    for var in APP_VARIABLES:
        assert Color.parse(low.variables[var]).ansi is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "primary": "#fff", "bogus": 1}, "unknown key(s) bogus"),
        ({"primary": "#fff"}, "name: required"),
        ({"name": "x"}, "primary: required"),
        ({"name": "x", "primary": "not-a-colour"}, "primary: not a colour"),
        ({"name": "x", "primary": "#fff", "dark": "yes"}, "dark: expected bool"),
        ({"name": "x", "primary": "#fff", "variables": {"profit": "greenish"}}, "variables.profit: not a colour"),
        ({"name": "x", "primary": "#fff", "variables": []}, "variables: expected a table"),
    ],
)
def test_bad_theme_data_names_the_key(data, message):
    with pytest.raises(ThemeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        theme_from_mapping(data, "t.toml")


def test_bad_theme_file_is_reported_not_fatal(tmp_path):
    (tmp_path / "good.toml").write_text('name = "mine"\nprimary = "#123456"\n[variables]\nprofit = "#00ff00"\n')
    (tmp_path / "broken.toml").write_text("name = [unclosed\n")
    found = discover_themes([tmp_path])
    assert list(found.themes) == ["mine"]
    assert len(found.errors) == 1 and "broken.toml" in found.errors[0] and "not valid TOML" in found.errors[0]
    with pytest.raises(ThemeError, match="cannot read"):
        load_theme_file(tmp_path / "missing.toml")


async def test_theme_from_config_is_applied_and_variables_reach_css(tmp_path):
    cfg = ui_config(theme="tui-trader-light")
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        assert app.theme == "tui-trader-light"
        light = discover_themes([BUILTIN_THEME_DIR]).themes["tui-trader-light"]
        assert app.theme_variables["profit"] == light.variables["profit"]
        assert app.palette.profit == Color.parse(light.variables["profit"]).rich_color.name
        app.set_theme("tui-trader-lowcolor")
        await pilot.pause()
        assert app.palette.loss == "color(1)"  # ansi_red


def _no_color_lowcolor_app(tmp_path, monkeypatch):
    """The console on the low-colour theme with NO_COLOR set (a plain terminal over SSH)."""
    monkeypatch.setenv("NO_COLOR", "1")
    cfg = ui_config(theme="tui-trader-lowcolor")
    return make_app(make_engine(tmp_path, cfg), cfg)


async def test_no_color_with_the_low_colour_theme_is_readable_not_black_on_black(tmp_path, monkeypatch):
    """NO_COLOR and an ANSI theme (the one for plain terminals over SSH): Textual chose its
    colour-removing filter for the theme of App.__init__ (Monochrome), which reads every ANSI
    colour as black: all text was drawn black on black. It must be the terminal's own colours."""
    from textual.geometry import Region

    app = _no_color_lowcolor_app(tmp_path, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.pause()
        seen = []
        for widget in (app.main_screen.query_one("#status"), app.main_screen.query_one(PricesTable)):
            for strip in widget.render_lines(Region(0, 0, widget.outer_size.width, 3)):
                seen += [(seg.text, seg.style) for seg in strip if seg.text.strip() and seg.style is not None]
        assert any("PAPER" in text for text, _ in seen) and any("USDT" in text for text, _ in seen)
        coloured = [(text, str(style)) for text, style in seen
                    if any(c is not None and not c.is_default for c in (style.color, style.bgcolor))]
        assert coloured == []


async def test_no_color_marks_the_row_cursor_and_the_focused_pane_by_style(tmp_path, monkeypatch):
    """Without colours the row under the cursor (the symbol b, x and l act on) showed only in
    bold, like the header row: it is reversed; the focused pane's border is heavy."""
    from textual.geometry import Region

    app = _no_color_lowcolor_app(tmp_path, monkeypatch)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        table = app.main_screen.query_one(PricesTable)
        table.focus()
        table.move_cursor(row=2)
        await pilot.pause()
        # line 0 is the header; row 2 is line 3 (the cursor), row 1 line 2
        lines = table.render_lines(Region(0, 0, table.size.width, 4))

        def reversed_text(line) -> str:
            return "".join(seg.text for seg in line if seg.style is not None and seg.style.reverse).strip()

        assert table.symbol_for_key(table.selected_key) in reversed_text(lines[3])
        assert "USDT" not in reversed_text(lines[2]) and "Symbol" not in reversed_text(lines[0])
        assert app.main_screen.pane("prices").styles.border_top[0] == "heavy"
        assert app.main_screen.pane("leaderboard").styles.border_top[0] == "round"


async def test_unknown_configured_theme_falls_back(tmp_path, caplog):
    cfg = ui_config(theme="no-such-theme")
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    with caplog.at_level(logging.WARNING, logger="tui_trader.ui"):
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(app, pilot)
            assert app.theme == "tui-trader-dark"
    assert any("no-such-theme" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------- formatting


def test_formatting_examples():
    assert fmt.fmt_price(60307.5) == "60,307.5"
    assert fmt.fmt_price(0.000758941) == "0.00075894"
    assert fmt.fmt_price(float("nan")) == fmt.MISSING
    assert fmt.fmt_price(None) == fmt.MISSING
    assert fmt.fmt_pct(1.234) == "+1.23%" and fmt.fmt_pct(-0.5, 1) == "-0.5%"
    assert fmt.fmt_compact(53_410_000) == "53.41M" and fmt.fmt_compact(950) == "950"
    assert fmt.fmt_compact(152_500) == "152.5K"
    assert fmt.fmt_age(45_000) == "45s" and fmt.fmt_age(3_905_000) == "1h05m" and fmt.fmt_age(-1) == fmt.MISSING
    assert fmt.fmt_clock(1_735_689_600_000) == "2025-01-01 00:00:00Z"
    assert fmt.fmt_clock(1_735_689_600_000, with_date=False) == "00:00:00Z"
    jan2 = 1_735_689_600_000 + 86_400_000 + 3_600_000 + 120_000  # 2025-01-02 01:02
    assert fmt.fmt_when(jan2, jan2 + 60_000) == "01:02:00Z"  # the newest event's UTC day: the time
    assert fmt.fmt_when(jan2, jan2 + 86_400_000) == "01-02 01:02"  # an earlier day: date and time
    assert fmt.fmt_qty(Decimal("0.00662000")) == "0.00662"
    assert fmt.fmt_money(-1234.5, sign=True) == "-1,234.50" and fmt.fmt_money(12345.678) == "12,345.68"


@given(st.lists(st.one_of(st.floats(min_value=1e-9, max_value=1e9), st.just(math.nan), st.just(math.inf)),
                max_size=30))
def test_vectorised_prices_match_scalar(values):
    arr = np.asarray(values, dtype=np.float64)
    assert fmt.fmt_prices(arr) == [fmt.fmt_price(v) for v in values]


def test_prices_a_few_ulps_under_a_power_of_ten_read_alike_in_the_table_and_alone():
    """The cases found (probing the floats next to each power of ten, which random draws never hit):
    ``floor(log10(p))`` rounded a price a few ulps under a power up to it, math's and numpy's not
    the same ones, so the prices table (vectorised) and the symbol's detail (one price) disagreed:
    999.9999999999994 read 1,000.000 and 1,000.00, 99999.9999999999 read 100,000 and 100,000.0."""
    values = [999.9999999999994, 99999.9999999999, 999999.999999999, 9.99999999999999e-05, 1000.0, 1e5, 0.0]
    assert fmt.fmt_prices(np.asarray(values)) == [fmt.fmt_price(v) for v in values]
    assert fmt.fmt_price(999.9999999999994) == "1,000.000"  # under 1,000: three decimals, rounded up
    assert fmt.fmt_price(99999.9999999999) == "100,000.0"
    assert fmt.fmt_price(1000.0) == "1,000.00" and fmt.fmt_price(1e5) == "100,000"


def test_parse_decimal_rejects_bad_input():
    assert parse_decimal(" 1250.50 ", "amount") == Decimal("1250.50")
    for bad, msg in (("", "enter a number"), ("abc", "not a number"), ("-5", "positive"), ("NaN", "not a finite number"),
                     ("0", "positive")):
        with pytest.raises(ValueError, match=msg):
            parse_decimal(bad, "amount")


@pytest.mark.parametrize("typed", ["100,5", "1,1", "1,250.50", "1.250,50", ","])
def test_parse_decimal_refuses_a_comma_rather_than_guess_what_it_means(typed):
    # "100,5" used to become 1005 (the comma read as a thousands separator): ten times the size
    with pytest.raises(ValueError, match="use a point for decimals and no thousands separators: 100.5"):
        parse_decimal(typed, "amount")


# ------------------------------------------------------------------ tables


class _Host(App):
    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self):
        yield self.widget


async def test_write_cells_matches_update_cell_and_skips_unknown_rows():
    a = FastTable([("k", "K", 5), ("v", "V", 8)], id="a")
    b = FastTable([("k", "K", 5), ("v", "V", 8)], id="b")

    class Two(App):
        def compose(self):
            yield a
            yield b

    async with Two().run_test() as pilot:
        for t in (a, b):
            for k in ("x", "y"):
                t.add_row(k, "0", key=k)
        n = a.write_cells([("x", "v", "1.5"), ("y", "v", "2.5"), ("zz", "v", "9"), ("x", "nope", "9")])
        b.update_cell("x", "v", "1.5")
        b.update_cell("y", "v", "2.5")
        await pilot.pause()
        assert n == 2
        assert [a.get_row_at(i) for i in range(2)] == [b.get_row_at(i) for i in range(2)]
        assert a.get_cell("x", "v") == "1.5"


def _market(prices: np.ndarray, version: int) -> MarketView:
    n = prices.size
    return MarketView([f"S{i:04d}USDT" for i in range(n)], prices, np.zeros(n), np.full(n, 1e6),
                      np.zeros(n, dtype=np.int64), version)


async def test_prices_write_only_visible_rows_and_flush_on_scroll():
    table = PricesTable(id="prices")
    async with _Host(table).run_test(size=(60, 12)) as pilot:
        n = 500
        p = np.linspace(1.0, 2.0, n)
        table.apply(_market(p, 1))
        await pilot.pause()
        assert table.row_count == n
        first = table.cells_written
        assert 0 < first < n  # only the rows near the viewport were formatted
        p2 = p.copy()
        p2[[3, 400]] = [9.0, 7.0]
        written = table.apply(_market(p2, 2))
        assert written == 4  # one visible row x 4 data columns; row 400 stays dirty
        assert str(table.get_cell("S0003USDT", "last")).strip() == "9.00000"
        assert "▲" in str(table.get_cell("S0003USDT", "dir"))
        table.move_cursor(row=400, animate=False, scroll=True)
        await pilot.pause()
        assert str(table.get_cell("S0400USDT", "last")).strip() == "7.00000"


async def test_prices_sort_and_filter():
    table = PricesTable(id="prices")
    async with _Host(table).run_test(size=(60, 12)) as pilot:
        p = np.array([5.0, np.nan, 9.0, 1.0])
        table.apply(_market(p, 1))
        table.set_sort("last")  # descending by default, NaN last
        await pilot.pause()
        assert [str(table.get_row_at(i)[0]) for i in range(4)] == ["S0002USDT", "S0000USDT", "S0003USDT", "S0001USDT"]
        table.set_sort("last")  # the same column again flips the direction; NaN stays last
        assert [str(table.get_row_at(i)[0]) for i in range(4)] == ["S0003USDT", "S0000USDT", "S0002USDT", "S0001USDT"]
        table.set_filter("s0002")
        assert table.row_count == 1
        with pytest.raises(ValueError):
            table.set_sort("nope")


async def test_home_and_end_go_to_the_first_and_last_row_not_sideways():
    # DataTable's Home / End scrolled a row table sideways: in a report's 727 trades, End put Time,
    # Symbol and Side out of view and left the cursor on the first trade
    table = FastTable([(f"c{i}", f"C{i}", 14) for i in range(12)], id="wide")
    async with _Host(table).run_test(size=(60, 12)) as pilot:
        for r in range(100):
            table.add_row(*[f"{r}-{i}" for i in range(12)], key=f"r{r}")
        table.focus()
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == 99 and table.scroll_x == 0 and table.scroll_y > 0
        await pilot.press("right", "right")  # (a row cursor: left and right scroll sideways)
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_x == 0 and table.scroll_y == 0
        table.clear()
        await pilot.press("end", "home")  # no rows: nothing to go to, and no error
        await pilot.pause()
        assert table.row_count == 0


def _signals(n: int) -> list[Signal]:
    """n signals, newest first, as the engine lists them."""
    return [Signal(ts_ms=1_000 * k, symbol=f"S{k:03d}USDT", type=SignalType.BUY, strength=1.0, confidence=0.9,
                   z_score=2.6, reason="z", id=k) for k in range(n, 0, -1)]


async def test_signals_pane_keeps_the_newest_in_view_unless_the_operator_holds_a_row():
    """Unfocused, new signals appear at the top and stay visible (the cursor once followed the
    first signal down and scrolled the new ones out of view); focused, the selected row stays."""
    table = SignalsTable(id="signals")
    other = FastTable([("k", "K", 5)], id="other")

    class Two(App):
        def compose(self):
            yield other
            yield table

    async with Two().run_test(size=(80, 16)) as pilot:
        other.focus()  # the operator is elsewhere
        table.apply(_signals(3))
        await pilot.pause()
        assert not table.has_focus
        assert str(table.get_cell("sig3", "time")) == "00:00:03Z"  # all on the newest signal's day
        for n in range(4, 30):  # one new signal at a time, the pane never focused
            table.apply(_signals(n))
            await pilot.pause()
            assert table.scroll_y == 0 and table.selected_key == f"sig{n}"
        table.focus()
        table.move_cursor(row=5, animate=False, scroll=True)
        await pilot.pause()
        held = table.selected_key
        assert held == "sig24"
        for n in range(30, 40):
            table.apply(_signals(n))
            await pilot.pause()
            assert table.selected_key == held  # the operator's row, now further down
        assert table.cursor_row == 5 + 10 and table.scroll_y > 0
        day = 86_400_000  # a signal of an earlier day than now shows its date: daily klines all read 00:00
        two = [Signal(ts_ms=5 * day, symbol="AUSDT", type=SignalType.SELL, strength=1.0, confidence=1.0,
                      z_score=-2.6, reason="z", id=900),
               Signal(ts_ms=4 * day, symbol="AUSDT", type=SignalType.BUY, strength=1.0, confidence=1.0,
                      z_score=2.6, reason="z", id=899)]
        table.apply(two)
        assert [str(table.get_cell(k, "time")) for k in ("sig900", "sig899")] == ["00:00:00Z", "01-05 00:00"]
        table.apply(two, now_ms=6 * day + 5)  # the engine is a day further: both are from earlier days
        assert [str(table.get_cell(k, "time")) for k in ("sig900", "sig899")] == ["01-06 00:00", "01-05 00:00"]


async def test_signals_pane_shows_the_selected_signals_whole_result_and_reason():
    """A refusal can list several failed checks, longer than the Result column: with the pane
    focused, the pane shows the selected signal's whole text under the table (brackets are not markup)."""
    table = SignalsTable(id="signals")
    other = FastTable([("k", "K", 5)], id="other")
    outcome = ("refused: max total positions reached: 10 of 10; illiquid: order value 385.45 above 1% of "
               "the recent quote volume [risk]")

    class Two(App):
        def compose(self):
            yield other
            yield Pane(table, title="Signals", key="signals")

    sigs = _signals(3)
    sigs[1].outcome = outcome
    sigs[1].kind = "profit_target"
    async with Two().run_test(size=(120, 16)) as pilot:
        other.focus()
        table.apply(sigs)
        await pilot.pause()
        pane = table.parent
        assert not pane.detail_text  # unfocused: nothing selected by the operator
        assert {k: w for k, _, w, _ in SIGNAL_COLUMNS}["result"] < len(outcome)  # the column cuts it
        table.focus()
        table.move_cursor(row=1, animate=False)
        await pilot.pause()
        assert pane.detail_text == f"BUY S002USDT profit_target: {outcome} · z"
        table.move_cursor(row=0, animate=False)
        await pilot.pause()
        assert pane.detail_text == "BUY S003USDT entry: pending · z"
        other.focus()
        await pilot.pause()
        assert not pane.detail_text


async def test_leaderboard_ranks_marks_and_flags():
    table = LeaderboardTable(id="leaderboard")
    async with _Host(table).run_test(size=(80, 12)) as pilot:
        syms = ["AUSDT", "BUSDT", "CUSDT", "DUSDT"]
        z = np.array([0.5, np.nan, 3.1, 2.0])
        ones = np.ones(4)
        lb = LeaderboardView(syms, ones * 1500, ones * 50, ones * 0.06, z, ones * 1490, ones, 3, 2.0, 1)
        table.apply(lb, frozenset({"DUSDT"}), frozenset({"CUSDT"}))
        await pilot.pause()
        order = [table.symbol_for_key(f"r{i}") for i in range(4)]
        assert order == ["CUSDT", "DUSDT", "AUSDT", "BUSDT"]  # z descending, NaN last
        assert str(table.cell_of("CUSDT", "mark")).strip() == "▶"
        assert str(table.cell_of("DUSDT", "mark")).strip() == "▶"  # z == threshold counts
        assert str(table.cell_of("AUSDT", "mark")).strip() == ""
        assert str(table.cell_of("DUSDT", "flags")).startswith("L")
        assert "●" in str(table.cell_of("CUSDT", "flags"))
        assert str(table.cell_of("AUSDT", "dist")).strip() == "1.50"
        assert str(table.cell_of("BUSDT", "z")).strip() == fmt.MISSING
        # re-ranking moves no rows, only their content
        z2 = np.array([4.0, 1.0, 0.0, -1.0])
        lb2 = LeaderboardView(syms, ones * 1500, ones * 50, ones * 0.06, z2, ones * 1490, ones, 4, 2.0, 2)
        table.apply(lb2, frozenset(), frozenset())
        assert [table.symbol_for_key(f"r{i}") for i in range(4)] == syms
        assert table.row_count == 4
        table.set_filter("b")
        assert table.row_count == 1 and table.symbol_for_key("r0") == "BUSDT"


# ---------------------------------------------------------------- logging


@contextlib.contextmanager
def _logging_into(buf: LogBuffer, name: str):
    """A DEBUG logger of this module that writes into ``buf`` for the block."""
    log = logging.getLogger(f"tui_trader.test_ui_units.{name}")
    log.addHandler(buf)
    log.setLevel(logging.DEBUG)
    try:
        yield log
    finally:
        log.removeHandler(buf)


def test_log_buffer_is_bounded_and_thread_safe():
    buf = LogBuffer(capacity=100, time_ms=lambda: 1_735_689_600_000)
    with _logging_into(buf, "threads") as log:
        threads = [threading.Thread(target=lambda k=k: [log.info("t%d m%d", k, i) for i in range(200)])
                   for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(buf.lines) == 100
    seqs = [ln.seq for ln in buf.lines]
    assert seqs == sorted(seqs) and seqs[-1] == 800
    assert buf.lines[-1].text.startswith("00:00:00Z INFO")
    assert buf.since(seqs[-1]) == [] and len(buf.since(seqs[-3])) == 2


async def test_log_pane_filters_by_level():
    buf = LogBuffer(capacity=50, time_ms=lambda: 0)
    pane = LogPane(buf, level=logging.INFO)
    with _logging_into(buf, "pane") as log:
        async with _Host(pane).run_test() as pilot:
            log.debug("quiet")
            log.info("hello")
            log.error("boom")
            assert pane.drain() == 2
            await pilot.pause()
            assert [str(s.text) for s in pane.lines] == [
                "— INFO test_ui_units.pane: hello",
                "— ERR! test_ui_units.pane: boom",
            ]
            pane.set_level(logging.ERROR)
            await pilot.pause()
            assert len(pane.lines) == 1 and "boom" in pane.lines[0].text
            assert pane.cycle_level() == logging.DEBUG
            await pilot.pause()
            assert len(pane.lines) == 3
            # a logger at INFO passes no DEBUG line: the cycle skips DEBUG ("shows DEBUG and above"
            # said, none ever came)
            assert [pane.cycle_level(logging.INFO) for _ in range(4)] == [
                logging.INFO, logging.WARNING, logging.ERROR, logging.INFO]


async def test_log_pane_lets_the_operator_read_back_while_lines_come_in():
    """Every line written scrolled the pane to its end: scrolled up to read an error, the
    operator was pulled back down by the next line. Scrolled back to the end, it follows again."""
    buf = LogBuffer(500)

    class A(App):
        def compose(self):
            yield LogPane(buf, id="log")

    app = A()
    async with app.run_test(size=(60, 12)) as pilot:
        pane = app.query_one(LogPane)
        pane.focus()

        def log(text: str) -> None:
            buf.emit(logging.LogRecord("tui_trader.x", logging.WARNING, __file__, 1, text, None, None))

        for i in range(60):
            log(f"line {i}")
        pane.drain()
        await pilot.pause()
        assert pane.max_scroll_y > 0 and pane.scroll_y == pane.max_scroll_y
        await pilot.press("pageup")
        await pilot.pause()
        reading = pane.scroll_y
        assert reading < pane.max_scroll_y
        log("a new line")
        pane.drain()
        await pilot.pause()
        await pilot.pause()
        assert pane.scroll_y == reading  # left where the operator reads
        await pilot.press("end")
        await pilot.pause()
        for i in range(5):
            log(f"more {i}")
        pane.drain()
        await pilot.pause()
        await pilot.pause()
        assert pane.scroll_y == pane.max_scroll_y  # at the end again: it follows the new lines


async def test_log_pane_marks_each_new_utc_day():
    """Lines show the time of day, so a line on a new day (of the lines shown) is preceded by
    the date: a replay of daily klines would otherwise read 00:00:00Z throughout."""
    now = [1_735_689_600_000 + 3_600_000]  # 2025-01-01 01:00
    buf = LogBuffer(capacity=50, time_ms=lambda: now[0])
    pane = LogPane(buf, level=logging.INFO)
    with _logging_into(buf, "days") as log:
        async with _Host(pane).run_test() as pilot:
            log.info("a")
            log.info("b")
            now[0] += 86_400_000
            log.debug("hidden, on day two")
            now[0] += 86_400_000
            log.info("c")
            assert pane.drain() == 3
            await pilot.pause()
            assert [str(s.text).rstrip() for s in pane.lines] == [
                "── 2025-01-01 ──",
                "01:00:00Z INFO test_ui_units.days: a",
                "01:00:00Z INFO test_ui_units.days: b",
                "── 2025-01-03 ──",  # day two had only a hidden line
                "01:00:00Z INFO test_ui_units.days: c",
            ]
            pane.set_level(logging.DEBUG)  # re-rendered: the markers follow the lines shown
            await pilot.pause()
            assert sum(str(s.text).startswith("──") for s in pane.lines) == 3


def test_command_titles_read_as_words():
    """The toast after a command is titled for people, not with the class name."""
    from tui_trader.events import EmergencyStop, FlattenAll, ManualBuy, ResetEmergency, SetZThreshold
    from tui_trader.ui.app import command_title

    cmds = [ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(10)), EmergencyStop(), ResetEmergency(), FlattenAll(),
            SetZThreshold(value=2.0)]
    assert [command_title(c) for c in cmds] == [
        "Manual buy", "Emergency stop", "Reset emergency", "Flatten all", "Set z threshold"]


def test_log_lines_are_short_for_a_narrow_pane():
    """The pane has 44 cells inside at 160x45: the level takes four letters and the logger's
    name loses the package, so a trade's message starts at cell 24 instead of 38."""
    buf = LogBuffer(capacity=10, time_ms=lambda: 1_735_693_200_000)  # 01:00
    for name, level in (("tui_trader.trades", logging.INFO), ("tui_trader.market.binance", logging.WARNING),
                        ("tui_trader.engine", logging.ERROR), ("tui_trader.engine", logging.DEBUG),
                        ("websockets.client", logging.CRITICAL)):
        buf.emit(logging.LogRecord(name, level, __file__, 1, "m %d", (7,), None))
    assert [ln.text for ln in buf.lines] == [
        "01:00:00Z INFO trades: m 7",
        "01:00:00Z WARN market.binance: m 7",
        "01:00:00Z ERR! engine: m 7",
        "01:00:00Z DBUG engine: m 7",
        "01:00:00Z CRIT websockets.client: m 7",  # other packages keep their whole name
    ]


async def test_log_pane_wraps_long_lines_at_its_width_and_rewraps_on_resize():
    """A long message is shown whole, on several lines, not cut off at the pane's edge; a wider
    pane (resized, maximised) wraps it again at the new width."""
    buf = LogBuffer(capacity=50, time_ms=lambda: 1_735_693_200_000)
    pane = LogPane(buf, level=logging.INFO)
    pane.styles.width = 40
    words = " ".join(f"w{i:02d}" for i in range(40))  # 159 cells of message
    with _logging_into(buf, "wrap") as log:
        async with _Host(pane).run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            log.info(words)
            pane.drain()
            await pilot.pause()
            width = pane.scrollable_content_region.width
            assert width < 40  # border-less pane less the scrollbar's column
            narrow = [s.text.rstrip() for s in pane.lines[1:]]  # after the day marker
            assert len(narrow) > 4 and all(len(t) <= width for t in narrow)
            assert narrow[0].startswith("01:00:00Z INFO") and all(t.startswith("  w") for t in narrow[1:])
            assert " ".join(narrow).split() == f"01:00:00Z INFO test_ui_units.wrap: {words}".split()
            assert pane.virtual_size.width <= pane.scrollable_content_region.width  # no sideways scroll
            pane.styles.width = 90
            await pilot.pause()
            await pilot.pause()
            wide = [s.text.rstrip() for s in pane.lines[1:]]
            assert len(wide) < len(narrow) and max(len(t) for t in wide) > width
            assert " ".join(wide).split() == " ".join(narrow).split()
            pane.styles.width = 12  # too narrow to wrap in: wrapped at the minimum width, nothing cut
            await pilot.pause()
            await pilot.pause()
            tiny = [s.text.rstrip() for s in pane.lines[1:]]
            assert max(len(t) for t in tiny) <= MIN_WRAP_WIDTH and len(tiny) > len(narrow)
            assert " ".join(tiny).split() == " ".join(narrow).split()


# ------------------------------------------------------------------ health


def _snapshot(checks, feed, counters=None, positions=0, eps=123.4) -> EngineSnapshot:
    empty = np.zeros(0)
    pf = PortfolioView(Decimal(0), 0.0, 0.0, Decimal(0), 0.0, 0.0, 0.0, 0.0, 0.0, Decimal(0), Decimal(0), "USDT")
    return EngineSnapshot(
        ts_ms=100_000, mode="paper", feed_kind="sim", state=EngineState.RUNNING, state_reason="",
        market=MarketView([], empty, empty, empty, empty.astype(np.int64), 0),
        leaderboard=LeaderboardView([], empty, empty, empty, empty, empty, empty, 0, 2.5, 0),
        locked=frozenset(), signals=[], positions=[object()] * positions, portfolio=pf,
        health=HealthView("warning", checks, feed, eps, {"orders": "open"}),
        counters=counters or {},
    )


def test_health_rows_mask_and_staleness():
    checks = [HealthCheck("feed", "healthy", "sim connected", True), HealthCheck("memory", "healthy", "812 MB")]
    feed = {"connected": True, "streams": {"kline": {"last_event_ms": 40_000, "stale": True, "reconnects": 2}}}
    rows = {r.name: r for r in health_rows(_snapshot(checks, feed, {"rejected_orders": 3}, 10), 10,
                                          mask_volatile=True)}
    assert rows["memory"].detail == MASK and rows["events/s"].detail == MASK
    assert rows["stream kline"].status == "warning"  # as the engine's feed check judges a stale stream
    assert rows["stream kline"].detail.startswith("STALE, last event 1m00s ago, reconnects 2")
    assert rows["breaker orders"].status == "unhealthy"
    # no positions row in this snapshot: the engine's own check, for which the limit reached is healthy
    assert rows["positions"].status == "healthy" and rows["positions"].detail == "10 / 10 positions"
    assert rows["rejected orders"].status == "warning"
    assert rows["overall"].detail == "running"
    plain = {r.name: r for r in health_rows(_snapshot(checks, feed), 10)}
    assert plain["memory"].detail == "812 MB" and plain["events/s"].detail == "123.4"


def test_health_rows_many_streams_summarised_below_the_checks():
    """A live feed has a stream per symbol: 500 of them make one summary row plus the stale
    ones, after the breakers and error counters (which a list of 500 streams would push out
    of view), and the labels above the streams fit the Check column."""
    checks = [HealthCheck("feed", "healthy", "binance connected", True)]
    streams = {f"sym{i:03d}usdt@kline_1m": {"last_event_ms": 90_000 - i * 10, "stale": False, "reconnects": 1,
                                            "connection": i // 200} for i in range(500)}
    streams["!miniTicker@arr"] = {"last_event_ms": 99_000, "stale": False, "reconnects": 1, "connection": 0}
    for i in (7, 300):
        streams[f"sym{i:03d}usdt@kline_1m"].update(stale=True, last_event_ms=40_000)
    rows = health_rows(_snapshot(checks, {"connected": True, "streams": streams},
                                 {"rejected_orders": 0, "rating_worker_failures": 2}), 10)
    names = [r.name for r in rows]
    summary = rows[names.index("streams")]
    assert summary.status == "warning"
    assert summary.detail == "501 streams, 2 stale, oldest event 1m00s ago, reconnects 3"
    assert names[names.index("streams") + 1:] == ["sym007usdt@kline_1m", "sym300usdt@kline_1m"]
    assert names.index("breaker orders") < names.index("streams")
    assert names.index("worker failures") < names.index("streams")
    assert rows[names.index("worker failures")].status == "warning"
    assert max(len(n) for n in names[: names.index("streams") + 1]) <= HEALTH_COLUMNS[0][2]
    # many stale streams: listed up to the cap, then how many more
    for stream in streams.values():
        stream["stale"] = True
    rows = health_rows(_snapshot(checks, {"connected": True, "streams": streams}), 10)
    tail = rows[[r.name for r in rows].index("streams"):]
    assert len(tail) == 1 + MAX_STREAM_ROWS + 1
    assert tail[-1].detail == f"... and {501 - MAX_STREAM_ROWS} more stale streams"
    # a few streams: each its own row, as before
    few = {"!miniTicker@arr": {"last_event_ms": 99_000, "stale": False, "reconnects": 0}}
    rows = health_rows(_snapshot(checks, {"connected": True, "streams": few}), 10)
    assert rows[-1] == HealthRow("!miniTicker@arr", "healthy", "last event 1s ago, reconnects 0")
    short = {"sim": {"last_event_ms": 99_000, "stale": False, "reconnects": 0}}
    assert health_rows(_snapshot(checks, {"connected": True, "streams": short}), 10)[-1].name == "stream sim"


def test_status_bar_feed_word_when_stopped():
    from dataclasses import replace

    from tui_trader.ui.widgets.status_bar import status_text

    checks = [HealthCheck("feed", "healthy", "binance connected", True)]
    pal = Palette(profit="green", loss="red")
    waiting = replace(_snapshot(checks, {"connected": True}), state=EngineState.STOPPED, feed_kind="binance")
    waiting.health.overall = "healthy"
    # a live console before `s`: stopped, but its feed streams
    assert "binance ● healthy" in status_text(waiting, pal, 160).plain
    ended = replace(_snapshot(checks, {"connected": False}), state=EngineState.STOPPED)
    ended.health.overall = "healthy"
    assert "sim ● stopped" in status_text(ended, pal, 160).plain  # a replay that finished
    running = _snapshot(checks, {"connected": False})
    assert "sim ● unhealthy" in status_text(running, pal, 160).plain
    # narrower, without the word: the mark itself tells the states apart (not its colour alone)
    assert "sim × │" in status_text(running, pal, 80).plain and "○ │" in status_text(ended, pal, 60).plain
    assert "binance ● │" in status_text(waiting, pal, 80).plain
    warned = replace(_snapshot(checks, {}), feed_kind="binance")  # no feed detail: the overall state
    assert "binance ● warning" in status_text(warned, pal, 160).plain and "binance ▲ │" in status_text(warned, pal, 80).plain


def test_status_bar_keeps_state_money_day_and_drawdown_in_a_60_column_terminal():
    """The bar is cut at the terminal's edge: at 60 columns the drawdown was cut off. Below
    76 columns the feed's name and the clock give way; what the operator must see stays."""
    from dataclasses import replace

    from tui_trader.ui.widgets.status_bar import status_text

    pf = PortfolioView(Decimal(0), 123_456.78, 0.0, Decimal(0), 0.0, -12_345.67, -9.12, 0.0, 14.37, Decimal(0),
                       Decimal(0), "USDT")
    stopped = replace(_snapshot([HealthCheck("feed", "healthy", "sim", True)], {"connected": True}),
                      state=EngineState.EMERGENCY_STOPPED, portfolio=pf)
    for width in (60, 75):
        text = status_text(stopped, Palette(), width).plain
        assert len(text) <= width, text
        assert all(part in text for part in ("PAPER", "E-STOP", "●", "Eq 123,456.78", "Day -9.12%", "DD 14.37%")), text
    text = status_text(stopped, Palette(), 80).plain  # the state in full; the feed's name and the clock give way
    assert len(text) <= 80 and "EMERGENCY STOP" in text and text.endswith("DD 14.37%"), text
    text = status_text(stopped, Palette(), 100).plain  # room enough: the feed and the clock too
    assert "EMERGENCY STOP" in text and "sim ●" in text and text.endswith("00:01:40Z")


def test_palette_signs():
    pal = Palette(profit="green", loss="red")
    assert pal.signed("+1", 1.0).style == "green"
    assert pal.signed("-1", -1.0).style == "red"
    assert pal.signed("0", 0.0).style == ""


# ------------------------------------------------------------------ charts


async def test_flat_series_chart_spans_a_sliver_around_its_value():
    """A constant equity curve (no trade yet) spans 10,000 +- 0.1 %, not plotext's 5,000-15,000;
    a moving one spans its own range, and a side with threshold lines keeps them in view and
    labels them. Every axis is labelled with round values (plotext's own labels were the rows'
    values: 9999.39, 10000.57, 10001.16 ...)."""
    from tui_trader.ui.widgets.charts import Series, SeriesChart

    class ChartApp(App):
        def compose(self):
            yield SeriesChart("equity", id="c")

    async with ChartApp().run_test(size=(60, 16)) as pilot:
        chart = pilot.app.query_one(SeriesChart)
        ts = np.arange(5, dtype=np.int64) * 60_000
        chart.draw("flat", ts, [Series("equity", np.full(5, 10_000.0), "green")])
        await pilot.pause()
        flat = Text.from_ansi(str(chart.plt.build())).plain
        assert "10,010┤" in flat and " 9,990┤" in flat and "15,000" not in flat
        chart.draw("moving", ts, [Series("equity", np.array([10_000.0, 10_040, 9_980, 10_100, 10_050]), "green")])
        await pilot.pause()
        moving = Text.from_ansi(str(chart.plt.build())).plain
        assert [f"{v:,}┤" in moving for v in range(10_000, 10_101, 25)] == [True] * 5
        assert "9,980" not in moving and "10,040" not in moving  # the data's extremes are not labels
        assert "-0.06" in moving and "0.00" in moving  # hours: four minutes, round steps
        chart.draw("zero", ts, [Series("z", np.zeros(5), "orange")], hlines=[(2.5, "green", "left")])
        await pilot.pause()
        assert re.search(r"(^|\n) *2\.5[┤├]", Text.from_ansi(str(chart.plt.build())).plain)  # ├ where a line meets the axis
        # no z yet (the first periods): the price is drawn on its side, the thresholds on theirs
        chart.draw("no z", ts, [Series("z", np.full(5, np.nan), "orange"),
                                Series("price", np.linspace(1.0, 2.0, 5), "cyan", "right")],
                   hlines=[(2.5, "green", "left"), (-2.5, "red", "left")])  # fmt: skip
        await pilot.pause()
        text = Text.from_ansi(str(chart.plt.build())).plain
        assert re.search(r"(^|\n) *-2\.5[┤├]", text) and "┤2.0" in text.replace("├", "┤")


async def test_a_chart_of_one_point_shows_the_hour_before_it_not_the_future():
    """A fresh start's equity curve has one point: plotext spread the time axis -1 h .. +1 h
    around it, half the chart labelled with hours that have not come yet."""
    from tui_trader.ui.widgets.charts import Series, SeriesChart

    class ChartApp(App):
        def compose(self):
            yield SeriesChart("equity", id="c")

    async with ChartApp().run_test(size=(60, 16)) as pilot:
        chart = pilot.app.query_one(SeriesChart)
        chart.draw("one", np.array([1_735_689_600_000]), [Series("equity", np.array([10_000.0]), "green")])
        await pilot.pause()
        lines = Text.from_ansi(str(chart.plt.build())).plain.splitlines()
        ticks = lines[next(i for i, line in enumerate(lines) if "└" in line) + 1]
        values = [float(v) for v in ticks.split()]
        assert len(values) >= 2 and max(values) == 0.0 and min(values) == -1.0, ticks


@settings(max_examples=300, deadline=None)
@given(
    lo=st.floats(-1e7, 1e7, allow_nan=False),
    span=st.floats(1e-6, 1e7, allow_nan=False),
    most=st.integers(2, 6),
)
def test_nice_ticks_are_round_even_and_inside_the_range(lo, span, most):
    from tui_trader.axis import nice_ticks

    assume(span >= max(abs(lo), 1.0) * 1e-8)  # a chart's span, not float noise on its level
    hi = lo + span
    ticks, labels = nice_ticks(lo, hi, most)
    assert 1 <= len(ticks) <= most and len(labels) == len(ticks)
    tol = span * 1e-6
    assert all(lo - tol <= t <= hi + tol for t in ticks)
    if len(ticks) > 1:
        steps = np.diff(ticks)
        np.testing.assert_allclose(steps, steps[0], rtol=1e-6)
        mant = steps[0] / 10.0 ** np.floor(np.log10(steps[0]) + 1e-6)
        assert min(abs(mant - m) for m in (1.0, 2.0, 2.5, 5.0)) < 1e-6  # 1, 2, 2.5 or 5 x 10^k
        assert len(set(labels)) == len(labels)  # enough decimals to tell them apart
