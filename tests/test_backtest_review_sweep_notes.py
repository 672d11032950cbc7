"""A failed point's or window's error is a numbered note under the sweep's or walk-forward's table:
the caption was read as rich markup, so an error holding "[/x]" raised MarkupError (a traceback after
the whole sweep) and one holding "[red]" lost it."""

from __future__ import annotations

from rich.console import Console

from tui_trader.backtest.sweep import sweep_table, walk_forward_table

Z = "signal_generation.z_score_threshold"
DAY, T0 = 86_400_000, 1_704_067_200_000  # 2024-01-01


def _text(table) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(table)
    return console.export_text()


def test_a_point_s_error_with_brackets_is_shown_as_it_is() -> None:
    rows = [
        {"point": {Z: 1.0}, "metrics": None, "error": "ValueError: no [/x] here"},
        {"point": {Z: 2.0}, "metrics": None, "error": "ValueError: nor [red] here"},
        {"point": {Z: 3.0}, "metrics": {"total_return": 0.01, "sharpe": 0.5, "n_trades": 3}, "error": None},
    ]
    text = _text(sweep_table(rows, [Z]))
    assert "[1] ValueError: no [/x] here" in text
    assert "[2] ValueError: nor [red] here" in text


def test_a_window_s_error_with_brackets_is_shown_as_it_is() -> None:
    rows = [
        {"window": 0, "best": None, "is": None, "oos": None, "error": "every point failed: ValueError: [/x] [red]",
         "is_start_ms": T0, "is_end_ms": T0 + 70 * DAY, "oos_start_ms": T0 + 70 * DAY, "oos_end_ms": T0 + 100 * DAY},
    ]  # fmt: skip
    text = _text(walk_forward_table(rows, [Z]))
    assert "[1] window 1: every point failed: ValueError: [/x] [red]" in text
