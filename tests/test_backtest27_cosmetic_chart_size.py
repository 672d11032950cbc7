"""report.txt (`backtest --out`) holds charts of the size it asks for, whatever the terminal the
command ran in: plotext cut them to its own guess of the terminal (a 60-column terminal gave a
report.txt whose charts were 60 columns wide, and a short one charts of a few rows)."""

from __future__ import annotations

import pytest
from test_backtest_report import make_result

from tui_trader.backtest.report import CHART_HEIGHT, CHART_WIDTH, report_text


def _charts(text: str) -> list[list[str]]:
    """Each chart's lines: from its title to its last axis line."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() in ("Equity", "Drawdown")]
    return [lines[s : s + CHART_HEIGHT] for s in starts]


@pytest.mark.parametrize(("columns", "rows"), [("60", "12"), ("200", "80")])
def test_report_text_charts_do_not_depend_on_the_terminal(
    monkeypatch: pytest.MonkeyPatch, columns: str, rows: str
):
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("LINES", rows)
    charts = _charts(report_text(make_result(), width=120))
    assert len(charts) == 2
    for chart in charts:
        frame = [line for line in chart if "└" in line]
        assert len(frame) == 1, "\n".join(chart)  # the whole chart, CHART_HEIGHT rows
        assert len(frame[0].rstrip()) == CHART_WIDTH
