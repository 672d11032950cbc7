"""Text columns fit their pane: a signal's result and reason end in '…' inside the pane (never cut
silently at its edge, never only readable by scrolling sideways), and the selected signal's whole
text is shown, wrapped, under the table while the pane has the focus."""

from __future__ import annotations

import pytest
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.models import Signal, SignalType
from tui_trader.ui.widgets.signals import SignalsTable, detail_text

RESULT = "refused: max total positions reached: 10 of 10; illiquid: order value 385.45 above 1% [risk]"
REASON = "Z-Score entry: 2.61 at or above 2.50 with a rating of 1780 against its average 1486"


def screen_lines(app) -> list[str]:
    update = app.screen._compositor.render_full_update()
    return ["".join(strip.text for strip in row) for row in update.strips]


def region_lines(app, widget) -> list[str]:
    r = widget.region
    return [line[r.x : r.right] for line in screen_lines(app)[r.y : r.bottom]]


def _signals(ts_ms: int) -> list[Signal]:
    long = Signal(ts_ms, "ADAUSDT", SignalType.BUY, 0.5, 0.9, 2.61, REASON, outcome=RESULT, id=2)
    short = Signal(ts_ms, "ETHUSDT", SignalType.SELL, 0.5, 0.9, -2.6, "z reversal", executed=True,
                   outcome="executed: SELL 1 @ 2", id=1)
    return [long, short]


async def _showing_signals(app, engine, pilot) -> None:
    """The app ready, live refresh off, the engine's snapshots carrying :func:`_signals`, and the
    signals pane focused and drawn."""
    await ready(app, pilot)
    app.set_live_refresh(False)
    original = engine.snapshot

    def snapshot():
        snap = original()
        snap.signals = _signals(snap.ts_ms)
        return snap

    engine.snapshot = snapshot
    await pilot.press("4")
    await pilot.pause()
    app.refresh_from_engine()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45), (220, 50)])
async def test_signal_text_columns_fit_the_pane_and_end_in_an_ellipsis_in_view(tmp_path, size):
    """At 80x24 the Result column (47 cells) ran past the pane's edge: a result longer than the 34
    cells in view was cut there without a mark ("executed: BUY 1.177 @ 422.29 (FIL"), and the
    reason was out of view behind a horizontal scrollbar. Now the columns shown fit the pane: the
    result takes the room left, a longer one ends in '…' inside the pane, and the reason is shown
    where there is room for it."""
    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=size) as pilot:
        await _showing_signals(app, engine, pilot)
        table = app.main_screen.query_one(SignalsTable)
        for maximised in (False, True) if size[0] >= 160 else (False,):
            if maximised:  # the whole terminal's width: the reason too
                await pilot.press("m")
                await pilot.pause()
                app.refresh_from_engine()
                await pilot.pause()
            widths = sum(c.get_render_width(table) for c in table.ordered_columns)
            assert widths <= table.scrollable_content_region.width, (size, widths)
            assert table.virtual_size.width <= table.scrollable_content_region.width  # no sideways scrolling
            lines = region_lines(app, table)
            row = next(line for line in lines if "ADAUSDT" in line)
            assert "…" in row, (size, row)
            shown = row.split(" entry ", 1)[1].strip()
            start = shown.index("refused")
            assert RESULT.startswith(shown[start:].split("…")[0].rstrip()), (size, row)
            assert len(shown[start:].split("…")[0]) >= 30, (size, row)  # as much as the room allows
            short = next(line for line in lines if "ETHUSDT" in line)
            assert "executed: SELL 1 @ 2" in short and "…" not in short.split("executed: SELL 1 @ 2")[0], short
            if maximised:
                assert "Reason" in lines[0] and "z reversal" in short, (size, lines[0], short)
                assert REASON[:30] in row, (size, row)


async def test_the_selected_signals_whole_text_is_shown_wrapped_while_focused(tmp_path):
    """The whole text was on the pane's bottom border, one line: at 80 columns it was cut after
    some 70 characters, most reasons with it. It is now shown under the table, wrapped, while the
    pane has the focus, and goes when the focus leaves."""
    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await _showing_signals(app, engine, pilot)
        table = app.main_screen.query_one(SignalsTable)
        pane = table.parent
        assert table.has_focus and table.cursor_row == 0
        await pilot.pause()
        whole = detail_text(_signals(0)[0])
        assert len(whole) > 80
        text = " ".join(" ".join(line.strip("│ ") for line in region_lines(app, pane)).split())
        assert whole in text, text
        await pilot.press("down")
        await pilot.pause()
        text = " ".join(" ".join(line.strip("│ ") for line in region_lines(app, pane)).split())
        assert detail_text(_signals(0)[1]) in text and REASON not in text, text
        await pilot.press("1")  # another pane: the signals pane is not the operator's any more
        await pilot.press("4")
        await pilot.press("tab")
        await pilot.pause()
        assert not table.has_focus
        assert not table.selected_detail()
