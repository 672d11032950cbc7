"""Numbers wider than their column: a price of 1e9 or more (a pair quoted in IDR) was cut to its
first digits in the prices pane's 11-cell Last column ("1,234,567,8" for 1,234,567,890 - another
number), 1e8 lost its gap, and a price under 1e-8 read 0.00000000. Positions' value, uPnL,
quantity and a 24h change over +100 % were cut the same way. Each is now shown whole: fewer
decimals, K/M/B/T or scientific notation, never its first digits alone."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.events import PositionView
from tui_trader.ui.format import PRICE_WIDTH, fmt_money, fmt_pct, fmt_price, fmt_prices, fmt_qty
from tui_trader.ui.widgets.positions import PositionsTable
from tui_trader.ui.widgets.prices import PricesTable
from tui_trader.ui.widgets.status_bar import StatusBar

_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def _value(text: str) -> float:
    """The number a text reads as (an operator's reading: separators, K/M/B/T, e-notation)."""
    t = text.replace(",", "").rstrip("%")
    if t[-1] in _SUFFIX:
        return float(t[:-1]) * _SUFFIX[t[-1]]
    return float(t)


PRICES = [
    1.23456789e9,
    123456789.0,
    99_999_999.7,
    12_345_678.9,
    60414.28,
    0.00017536,
    0.0000012345,
    0.00000012,
    1.2e-8,
    1.5e-8,
    1.2e-9,
    3.4e-12,
    7.5e15,
]


@pytest.mark.parametrize("p", PRICES)
def test_a_price_fits_its_column_and_reads_as_itself(p):
    for text in (fmt_price(p), fmt_price(Decimal(repr(p))), fmt_prices(np.array([p]))[0]):
        assert len(text) <= PRICE_WIDTH, text
        # at least 3 significant digits (a price of 8 decimals under 1e-5 has no more)
        assert _value(text) == pytest.approx(p, rel=5e-3), text


def test_prices_that_fit_keep_their_fixed_form():
    assert fmt_price(12_345_678.9) == "12,345,679"
    assert fmt_price(60414.28) == "60,414.3"
    assert fmt_price(0.00017536) == "0.00017536"
    assert fmt_price(0.0000012345) == "0.00000123"
    assert fmt_price(0) == "0.00"


@pytest.mark.parametrize("x", [1e9, 999_999_999.9, 1_234_567.891, -12_345.67, 123.45, -7.5e14, 2.5e16])
@pytest.mark.parametrize(("width", "sign"), [(10, False), (9, True), (7, True)])
def test_money_fits_its_width_and_reads_as_itself(x, width, sign):
    text = fmt_money(x, sign=sign, width=width)
    assert len(text) <= width, text
    assert _value(text) == pytest.approx(x, rel=5e-3), text
    assert fmt_money(x, sign=sign) == (f"{x:+,.2f}" if sign else f"{x:,.2f}")  # no width: as before


@pytest.mark.parametrize(
    "q",
    [
        Decimal("41442"),
        Decimal("12000000.5"),
        Decimal("12345.12345678"),
        1.2e7,
        Decimal("0.00000001"),
        Decimal("123456789012"),
        0.00000123,
        3.4e-12,
    ],
)
def test_a_quantity_fits_and_is_never_rounded_to_zero(q):
    text = fmt_qty(q, width=10)
    assert len(text) <= 10, text
    assert _value(text) == pytest.approx(float(q), rel=5e-5), text


def test_a_quantity_keeps_the_most_decimals_its_width_holds():
    assert fmt_qty(Decimal("0.12345678901"), width=11) == "0.123456789"
    assert fmt_qty(Decimal("12345.12345678"), width=12) == "12345.123457"
    assert fmt_qty(Decimal("123456789012345678901234.5"), width=10) == "1.23457e23"


@pytest.mark.parametrize("x", [1.23, -12.34, 123.456, 1234.5, -12345.6, 1e7])
def test_a_percentage_fits_its_width(x):
    text = fmt_pct(x, width=7)
    assert len(text) <= 7, text
    assert _value(text) == pytest.approx(x, rel=5e-3), text


def _lines(app, widget) -> list[str]:
    update = app.screen._compositor.render_full_update()
    rows = ["".join(strip.text for strip in row) for row in update.strips]
    r = widget.region
    return [line[r.x : r.right] for line in rows[r.y : r.bottom]]


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_large_and_tiny_numbers_are_shown_whole_in_the_panes(tmp_path, size):
    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=size) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        syms = sorted(engine.snapshot().market.symbols)[:6]  # the prices pane's first rows (by symbol)
        prices = dict(zip(syms, [1.23456789e9, 123456789.0, 0.00000012, 1.2e-8, 1.2e-9, 5.0], strict=True))
        original = engine.snapshot

        def snapshot():
            snap = original()
            idx = {s: i for i, s in enumerate(snap.market.symbols)}
            for sym, p in prices.items():
                snap.market.price[idx[sym]] = p
            snap.market.change_pct[idx[syms[5]]] = 123.456
            snap.portfolio.equity = 1_234_567_890.12
            snap.positions = [
                PositionView(
                    symbol=syms[0],
                    quantity=Decimal("12345.12345678"),
                    avg_entry=Decimal("1200000000"),
                    last_price=1.23456789e9,
                    value=1.524e13,
                    unrealized_pnl=4.2e11,
                    unrealized_pct=2.88,
                    stop_price=1.14e9,
                    target_price=1.26e9,
                    entry_ms=snap.ts_ms,
                    fees=Decimal(0),
                ),
                PositionView(
                    symbol=syms[3],
                    quantity=Decimal("41442000"),
                    avg_entry=Decimal("0.000000011"),
                    last_price=1.2e-8,
                    value=0.4973,
                    unrealized_pnl=0.041,
                    unrealized_pct=9.09,
                    stop_price=1.0e-8,
                    target_price=1.3e-8,
                    entry_ms=snap.ts_ms,
                    fees=Decimal(0),
                ),
                PositionView(  # crashed through its stop: -850 % to it, +950 % to the target
                    symbol=syms[5],
                    quantity=Decimal("2"),
                    avg_entry=Decimal("5"),
                    last_price=0.5,
                    value=1.0,
                    unrealized_pnl=-9.0,
                    unrealized_pct=-90.0,
                    stop_price=4.75,
                    target_price=5.25,
                    entry_ms=snap.ts_ms,
                    fees=Decimal(0),
                ),
            ]
            return snap

        engine.snapshot = snapshot
        app.refresh_from_engine()
        await pilot.pause()
        text = "\n".join(_lines(app, app.main_screen.query_one(PricesTable)))
        for shown in ("1.23457e9", "1.23457e8", "1.20000e-7", "1.20000e-8", "1.20000e-9", "+123.5%"):
            assert re.search(rf"(^|\s){re.escape(shown)}(\s|$)", text, re.M), f"{shown!r} not in:\n{text}"
        assert "0.00000000" not in text

        bar = "\n".join(_lines(app, app.main_screen.query_one(StatusBar)))
        assert "Eq 1,234,567,890.12" in bar and "DD " in bar, bar

        app.main_screen.action_show_pane("positions")
        await pilot.pause()
        app.refresh_from_engine()
        await pilot.pause()
        table = app.main_screen.query_one(PositionsTable)
        text = "\n".join(_lines(app, table))
        wanted = [
            "12345.1235",
            "1.20000e9",
            "1.23457e9",
            "+420.000B",
            "1.10000e-8",
            "1.20000e-8",
            "41442000",
            "-850%",
            "950.0%",
        ]
        if any(c[0] == "value" for c in table.shown_columns):
            wanted += ["15.2400T", "0.50"]
        for shown in wanted:
            assert re.search(rf"(^|\s){re.escape(shown)}(\s|$)", text, re.M), f"{shown!r} not in:\n{text}"


@pytest.mark.parametrize("equity", [1_234_567_890.12, 1.5e13])
@pytest.mark.parametrize("width", [60, 66, 76, 80, 120, 160])
def test_the_status_bar_shows_a_ten_figure_equity_whole(tmp_path, width, equity):
    """At 60 to 66 columns ``Eq 1,234,567,890.12`` made the narrow layout longer than the bar:
    the drawdown at its end was cut mid-number."""
    from dataclasses import replace

    from tui_trader.models import EngineState
    from tui_trader.ui.palette import Palette
    from tui_trader.ui.widgets.status_bar import status_text

    snap = make_engine(tmp_path).snapshot()
    pf = replace(snap.portfolio, equity=equity, daily_pnl=-1.5e8, daily_pnl_pct=-12.34, drawdown_pct=14.99)
    for state in (EngineState.RUNNING, EngineState.EMERGENCY_STOPPED):
        text = status_text(
            replace(snap, state=state, mode="live", feed_kind="binance", portfolio=pf), Palette(), width
        )
        assert text.cell_len <= width, text.plain
        assert text.plain.endswith("DD 14.99%") or "DD 14.99% │" in text.plain, text.plain
        shown = re.search(r"Eq (\S+)", text.plain).group(1)
        assert _value(shown) == pytest.approx(equity, rel=5e-4), text.plain


async def test_a_signal_result_longer_than_its_column_ends_in_an_ellipsis(tmp_path):
    """An executed signal's result names its fill (engine text): a quantity and price of many
    digits ran past the 48-cell column and were cut after the price's first digits."""
    from tui_trader.models import Signal, SignalType
    from tui_trader.ui.widgets.signals import SignalsTable

    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        original = engine.snapshot
        outcome = "executed: BUY 12345.12345678 @ 1234567890.12345678 (FILLED)"

        def snapshot():
            snap = original()
            reason = "Z-Score entry: 2.61 at or above 2.50, " + "and a long reason " * 4 + "1234567890.123"
            snap.signals = [
                Signal(
                    snap.ts_ms,
                    "ADAUSDT",
                    SignalType.BUY,
                    0.5,
                    0.9,
                    2.61,
                    reason,
                    executed=True,
                    outcome=outcome,
                )
            ]
            return snap

        engine.snapshot = snapshot
        app.refresh_from_engine()
        await pilot.pause()
        table = app.main_screen.query_one(SignalsTable)
        row = next(line for line in _lines(app, table) if "ADAUSDT" in line)
        assert "executed: BUY 12345.12345678 @ 123456" in row, row
        # the cut is marked, in view (the column fits the pane, a scrollbar's cell kept free), not
        # a shorter number
        assert row.rstrip().endswith("@ 1234567890.12…"), row


def test_a_backtest_trade_of_an_idr_pair_fits_the_trades_columns():
    """The report's trades: a quantity of 14 characters, a notional of 1.5e13 and a fee of
    12,345.67 were longer than their columns (Qty 11, Notional 12, Fee 9) and cut."""
    from tui_trader.models import Fill, Side
    from tui_trader.storage.queries import BacktestTrade
    from tui_trader.ui.palette import Palette
    from tui_trader.ui.screens.report import TRADE_COLS, trade_rows, trip_pnl

    qty = Decimal("12345.12345678")
    fills = [
        Fill("a", "BTCIDR", Side.BUY, Decimal("1234567890.5"), qty, Decimal("12345.67"), "IDR", 3_600_000),
        Fill("b", "BTCIDR", Side.SELL, Decimal("1300000000"), qty, Decimal("13000"), "IDR", 7_200_000),
    ]
    trades = [BacktestTrade.from_fill(f) for f in fills]
    rows = trade_rows(trades, trip_pnl(trades), Palette())  # the rows the report's trades tab adds
    cols = {c[0]: (i, c[2]) for i, c in enumerate(TRADE_COLS)}
    for row, f in zip(rows, fills, strict=True):
        want = {
            "qty": float(f.quantity),
            "price": float(f.price),
            "fee": float(f.fee),
            "notional": float(f.price * f.quantity),
        }
        for key, value in want.items():
            i, width = cols[key]
            text = str(row[i])
            assert len(text) <= width - 1, (key, text)
            assert _value(text) == pytest.approx(value, rel=5e-4), (key, text)
    i, width = cols["pnl"]
    assert len(str(rows[1][i])) <= width - 1 and _value(str(rows[1][i])) > 8e11, rows[1][i]


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_the_symbol_detail_shows_a_long_quantity_and_fee_whole(tmp_path, size):
    """The detail's fills and orders: a quantity of 14 characters ran past the 12-cell Qty column
    and was cut to its first digits, a long result after a price's first digits."""
    from dataclasses import replace

    from test_ui_detail_small import _detail, _show_tab

    from tui_trader.models import Signal, SignalType
    from tui_trader.ui.widgets.table import FastTable

    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    app = make_app(engine, cfg)
    async with app.run_test(size=size) as pilot:
        screen = await _detail(app, pilot, engine)
        original = engine.symbol_history
        qty, fee = Decimal("12345.12345678"), Decimal("0.12345678901")
        outcome = "executed: BUY 12345.12345678 @ 1234567890.12345678 (FILLED)"

        def symbol_history(symbol):
            h = original(symbol)
            h.fills = [replace(f, quantity=qty, fee=fee) for f in h.fills]
            h.orders = [replace(o, quantity=qty, executed_qty=qty) for o in h.orders]
            h.signals = [
                Signal(h.fills[0].ts_ms, symbol, SignalType.BUY, 0.5, 0.9, 2.61, "z entry", outcome=outcome)
            ]
            return h

        engine.symbol_history = symbol_history
        if screen.compact:
            await _show_tab(app, pilot, "tab-fills")
        app.refresh_charts()
        await pilot.pause()
        fills = screen.query_one("#detail-fills", FastTable)
        orders = screen.query_one("#detail-orders", FastTable)
        signals = screen.query_one("#detail-signals", FastTable)
        assert fills.row_count and orders.row_count and signals.row_count
        widths = {c.key.value: c.width for c in fills.columns.values()}
        row = fills.get_row_at(0)
        assert str(row[2]) == "12345.123457" and len(str(row[2])) <= widths["qty"], row
        assert str(row[4]).split()[0] == "0.123456789" and len(str(row[4])) <= widths["fee"], row
        assert str(orders.get_row_at(0)[3]) == "12345.123457"
        assert signals.get_row_at(0)[4].overflow == "ellipsis"
