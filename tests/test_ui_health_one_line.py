"""The health pane's rows are one line each, at 160x45 and at 80x24. In the 160x45 layout the
pane's detail column has some 20 cells and the rows wrapped: the broker's read "paper · order"
over "circuit closed" and the memory's "107 MB RSS, 107" over "MB peak", pushing the rows under
them out of view. They now read in fewer words ("paper · circuit closed", "107 MB (peak 107)"),
and a detail that still does not fit ends in "…" (the whole under the table, selected)."""

from __future__ import annotations

import re

import pytest
from test_ui_followup_narrow import table_lines
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.widgets.health import HealthTable, brief_detail, health_rows


def test_brief_details_keep_the_state_and_the_figure():
    assert brief_detail("broker", "paper · order circuit closed") == "paper · circuit closed"
    assert brief_detail("broker", "binance · order circuit half_open: the next order is a trial") == (
        "binance · circuit half open: next order a trial")
    assert brief_detail("broker", "paper · order circuit open: no order is sent until it cools off") == (
        "paper · circuit open: no order sent")
    assert brief_detail("broker", "paper · order circuit closed · 2 order(s) of unknown outcome, looked up "
                        "each period") == "paper · circuit closed · 2 order(s) unsettled"
    assert brief_detail("memory", "107 MB RSS, 107 MB peak") == "107 MB (peak 107)"
    assert brief_detail("memory", "1,207 MB RSS") == "1,207 MB"
    assert brief_detail("memory", "98 MB peak RSS") == "98 MB (peak)"
    # anything else as it is (a failed check's text, the mask)
    assert brief_detail("memory", "check failed: OSError: no /proc here") == "check failed: OSError: no /proc here"
    assert brief_detail("feed", "sim connected") == "sim connected"


@pytest.mark.parametrize("size", [(160, 45), (80, 24)])
async def test_each_health_row_is_one_line_with_its_state_and_figure(tmp_path, size):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg, mask_volatile=False)  # the memory row's real figures
    async with app.run_test(size=size) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        await pilot.press("6")
        await pilot.pause()
        app.refresh_from_engine()
        await pilot.pause()
        table = app.main_screen.query_one(HealthTable)
        rows = health_rows(engine.snapshot(), cfg.risk_management.max_total_positions)
        lines = table_lines(app, table)
        body = [line for line in lines[1:] if line.strip()]
        in_view = min(len(rows), table.scrollable_content_region.height - 1)
        # one line a row: each line in view begins with its row's check, none continues the last
        assert [line[:15].strip() for line in body[:in_view]] == [r.name for r in rows[:in_view]], (size, lines)
        by_name = {line[:15].strip(): line for line in body}
        assert "paper · circuit closed" in by_name["broker"], lines
        assert re.search(r"\b\d+ MB \(peak \d+\)", by_name["memory"]), lines
        assert "0 / 10 positions" in by_name["positions"], lines
        for line in body:  # none cut at 80 columns; at 160x45 a cut one ends in "…"
            assert "…" not in line or size == (160, 45)
