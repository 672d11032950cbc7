"""The console at 80 columns (a common SSH terminal): each pane's columns fit the pane, so what
an operator needs of each row is on screen without scrolling sideways."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.events import LockSymbol, ManualBuy, PositionView
from tui_trader.ui.format import fmt_exact_price, fmt_money, fmt_pct, fmt_qty, fmt_tick_price
from tui_trader.ui.widgets import positions as positions_mod
from tui_trader.ui.widgets.positions import PositionsTable


def screen_lines(app) -> list[str]:
    """The text of the screen shown, one string a row."""
    update = app.screen._compositor.render_full_update()
    return ["".join(strip.text for strip in row) for row in update.strips]


def columns_width(table) -> int:
    return sum(c.get_render_width(table) for c in table.ordered_columns)


def table_lines(app, table) -> list[str]:
    """The screen text inside ``table``'s region."""
    r = table.region
    return [line[r.x : r.right] for line in screen_lines(app)[r.y : r.bottom]]


async def _held_positions(tmp_path):
    """An app over an engine holding two manual positions (one locked) after 30 klines."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=30)
    return engine, make_app(engine, cfg)


async def test_positions_fit_80_columns_and_show_stop_and_target(tmp_path):
    """At 80 columns the positions table (100 cells of columns) scrolled sideways: the distances
    to the stop loss and the profit target (and the age) were out of view. 80x24 and 80x30 now
    show the narrow columns whole; 100 columns every column; 160 the wide layout unchanged."""
    engine, app = await _held_positions(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        await engine.submit(LockSymbol(symbol="ETHUSDT"))
        await engine.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(400)))
        await engine.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(300)))
        await asyncio.create_task(engine.run())  # its own task: stop() at exit waits for it
        await pilot.press("3")
        await pilot.pause()
        app.refresh_from_engine()
        await pilot.pause()
        table = app.main_screen.query_one(PositionsTable)
        snap = engine.snapshot()
        assert {"BTCUSDT", "ETHUSDT"} <= {p.symbol for p in snap.positions}
        for size in [(80, 24), (80, 30), (100, 30), (160, 45), (80, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            app.refresh_from_engine()
            await pilot.pause()
            lines = table_lines(app, table)
            assert columns_width(table) <= table.scrollable_content_region.width, (size, lines)
            header = lines[0]
            for label in ("Qty", "Entry", "Last", "uPnL", "uPnL%", "→Stop", "→Tgt"):
                assert label in header, (size, header)
            if size[0] >= 100:
                assert "Value" in header and "Age" in header, (size, header)
            if size == (160, 45):
                assert table.shown_columns is positions_mod.COLUMNS
            for p in snap.positions:
                row = next(line for line in lines if line.startswith(f"{p.symbol} "))
                last = float(p.last_price)
                stop = fmt_pct((last - float(p.stop_price)) / last * 100, 1, sign=False)
                tgt = fmt_pct((float(p.target_price) - last) / last * 100, 1, sign=False)
                if p.symbol in snap.locked:  # no profit target runs for it: said so instead
                    tgt = positions_mod.LOCKED
                cells = row.split()
                want = [
                    p.symbol,
                    fmt_qty(p.quantity),
                    fmt_exact_price(p.avg_entry),
                    fmt_tick_price(last, p.price_decimals),  # on its tick: 3,044.00, not 3,044
                    fmt_money(p.unrealized_pnl, sign=True),
                    fmt_pct(p.unrealized_pct),
                    stop,
                    tgt,
                ]
                assert all(w in cells for w in want), (size, want, cells)


async def test_the_cursor_stays_on_its_position_when_the_columns_change(tmp_path):
    """The narrow layout is a rebuild of the table: the row the operator selected (what x sells)
    stays selected across it."""
    engine, app = await _held_positions(tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        await engine.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(400)))
        await engine.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(300)))
        await asyncio.create_task(engine.run())  # its own task: stop() at exit waits for it
        app.refresh_from_engine()
        await pilot.press("3")
        await pilot.pause()
        table = app.main_screen.query_one(PositionsTable)
        assert table.has_focus and table.row_count >= 2
        table.move_to_key("ETHUSDT")
        await pilot.pause()
        assert app.selected_symbol == "ETHUSDT"
        for size in [(80, 24), (100, 30), (160, 45)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert table.selected_key == "ETHUSDT" and app.selected_symbol == "ETHUSDT", size
            assert table.row_count == len(engine.snapshot().positions), size


@pytest.mark.parametrize("layout", positions_mod.LAYOUTS[1:])
def test_the_narrow_columns_hold_long_symbols_and_big_numbers(layout):
    """Every cell of an extreme position fits its narrow column with a gap before it (a value as
    wide as its column would run into the one before)."""
    p = PositionView(
        symbol="1000SATSUSDT",
        quantity=Decimal("1234567.89"),
        avg_entry=Decimal("0.00017536"),
        last_price=123_456.7,
        value=99_999.99,
        unrealized_pnl=-1_234.56,
        unrealized_pct=-12.34,
        stop_price=140_000.0,
        target_price=246_000.0,
        entry_ms=0,
        fees=Decimal(0),
    )
    table = PositionsTable()
    table._columns = layout
    table._index = [positions_mod._KEYS.index(c[0]) for c in layout]
    plain = table._plain(p, 2 * 86_400_000 + 4 * 3_600_000)
    for (key, _label, width, justify), text in zip(layout, plain, strict=True):
        if justify == "right":
            assert len(text) < width, (key, text, width)
        else:
            assert len(text) <= width, (key, text, width)


async def test_signals_show_what_became_of_each_signal_at_80_columns(tmp_path):
    """At 80 columns the signals' result was cut after 15 characters ("refused: max t", "dropped:
    conf"): strength and confidence took its room. Narrow, the result comes before z with 33 cells
    in view (a longer one ends in "…" there); at 100 columns it and z are whole; from 160 the wide
    layout, the result in the room its pane leaves."""
    from tui_trader.events import SetZThreshold
    from tui_trader.ui.widgets import signals as signals_mod
    from tui_trader.ui.widgets.signals import SignalsTable, result_text

    engine, app = await _held_positions(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        await engine.submit(SetZThreshold(value=1.5))  # signals on most klines
        await asyncio.create_task(engine.run())  # its own task: stop() at exit waits for it
        await pilot.press("4")
        await pilot.pause()
        app.refresh_from_engine()
        await pilot.pause()
        table = app.main_screen.query_one(SignalsTable)
        sigs = engine.snapshot().signals
        assert len(sigs) >= 5 and any(s.executed for s in sigs) and any(not s.executed for s in sigs)
        # seen: the result's characters in its column (less its gap), a longer one ends in "…" in view
        for size, seen in [((80, 24), 33), ((100, 30), 46), ((160, 45), 45), ((80, 30), 33)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            app.refresh_from_engine()
            await pilot.pause()
            lines = table_lines(app, table)
            header = lines[0]
            assert "Result" in header and "Kind" in header, (size, header)
            if size[0] >= 100:
                assert header.rstrip().endswith("z") or " z " in header, (size, header)
            if size == (160, 45):  # the wide layout's columns, the text columns fit to the pane
                assert [c[0] for c in table.shown_columns] == [c[0] for c in signals_mod.COLUMNS][:-1]
            rows = lines[1 : 1 + min(len(sigs), len(lines) - 2)]
            for s, row in zip(sigs, rows, strict=False):
                assert s.symbol in row and str(s.type) in row, (size, row)
                r = result_text(s)
                assert (r if len(r) <= seen else r[: seen - 1] + "…") in row, (size, r, row)


LONG_DETAIL = "paper · order circuit open: no order is sent until it cools off"  # 63: 49 fit at 80


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_a_health_detail_longer_than_the_pane_ends_in_an_ellipsis_and_shows_whole_below(tmp_path, size):
    """The detail column was 60 cells whatever the pane: at 80 columns a longer detail ran past the
    pane's edge (its end, often the why, out of view). It then wrapped, and in the 160x45 layout's
    narrow pane one row took several lines ("paper · order" / "circuit closed"). Each row is now one
    line: a longer detail (in its brief form) ends in "…", also when a check that was short becomes
    long (the cells-only update path), and the selected row's whole detail is shown under the table."""
    from tui_trader.ui.widgets.health import HealthRow, HealthTable, brief_detail

    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=size) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        await pilot.press("6")
        await pilot.pause()
        table = app.main_screen.query_one(HealthTable)
        short = [HealthRow("overall", "healthy", "running"), HealthRow("broker", "healthy", "paper"),
                 HealthRow("memory", "healthy", "90 MB")]
        table.apply(short)
        await pilot.pause()
        long_row = HealthRow("broker", "unhealthy", LONG_DETAIL, brief_detail("broker", LONG_DETAIL))
        table.apply([short[0], long_row, short[2]])
        await pilot.pause()
        assert columns_width(table) <= table.scrollable_content_region.width
        lines = table_lines(app, table)
        assert [line.split()[0] for line in lines[1:4]] == ["overall", "broker", "memory"], lines
        shown = lines[2].split("FAIL", 1)[-1].strip()
        brief = long_row.shown
        assert brief == "paper · circuit open: no order sent"
        width = table.detail_width
        assert shown == (brief if len(brief) <= width else brief[: width - 1] + "…"), (size, lines)
        table.move_cursor(row=1)
        await pilot.pause()
        assert app.main_screen.pane("health").detail_text == f"broker: {LONG_DETAIL}"


async def test_the_symbol_detail_line_keeps_the_lock_and_the_position_at_80_columns(tmp_path):
    """The detail screen's info line was one line cut with an ellipsis: at 80 columns a held,
    locked symbol's "LOCKED", entry and unrealised PnL were cut off. It now wraps."""
    engine, app = await _held_positions(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        await engine.submit(LockSymbol(symbol="BTCUSDT"))
        await engine.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(400)))
        await asyncio.create_task(engine.run())  # its own task: stop() at exit waits for it
        app.refresh_from_engine()
        app.action_detail("BTCUSDT")
        await pilot.pause()
        app.refresh_charts()
        await pilot.pause()
        p = next(p for p in engine.snapshot().positions if p.symbol == "BTCUSDT")
        info = app.screen.query_one("#detail-info")
        r = info.region
        text = " ".join(line[r.x : r.right] for line in screen_lines(app)[r.y : r.bottom])
        text = " ".join(text.split())
        assert "LOCKED" in text, text
        assert f"{fmt_qty(p.quantity)} @ {fmt_exact_price(p.avg_entry)}" in text, text
        assert f"{fmt_money(p.unrealized_pnl, sign=True)} ({fmt_pct(p.unrealized_pct)})" in text, text
