"""Tables wider than the terminal even in their compact form: rich cut their figures without a
word ("-205.…" for -205.11 in the per-symbol table at 60 columns; a sweep over long parameter
names at 80 columns showed a Max DD of 0.36 % as "0.3" and dropped the Trades column). Now the
sweep table has a compact form (names broken after their underscores), and a table that still
does not fit is cut into parts, one under the other, each keeping the row's name."""

from __future__ import annotations

from rich.console import Console
from test_backtest_report import make_result

from tui_trader.backtest.report import fit_tables, render_report, report_table, split_columns, table_width
from tui_trader.backtest.sweep import sweep_table

LONG = ["data_processing.rating_calculation_interval_ms", "risk_management.max_position_percent"]


def _text(width: int, renderable) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def _sweep_rows() -> list[dict]:
    return [{"point": {LONG[0]: iv, LONG[1]: pct},
             "metrics": {"total_return": -0.0007 * k, "sharpe": -0.88, "max_drawdown": 0.0036 * k, "n_trades": 3 * k},
             "error": None} for k, (iv, pct) in enumerate([(3600000, 5.0), (3600000, 10.0), (7200000, 5.0)], 1)]


def test_a_sweep_over_long_parameter_names_fits_80_columns_whole() -> None:
    rows = _sweep_rows()
    console = Console(record=True, width=80, color_system=None)
    assert table_width(console, sweep_table(rows, LONG)) > 80  # the ruled form does not fit
    text = _text(80, fit_tables(console, [lambda: sweep_table(rows, LONG), lambda: sweep_table(rows, LONG, True)],
                                keep=2))  # fmt: skip
    assert max(map(len, text.splitlines())) <= 80 and "…" not in text
    for figure in ("0.36 %", "0.72 %", "1.08 %", "-0.21 %"):
        assert figure in text, text
    assert "rating_" in text and "interval_" in text and "Trades" in text


def test_a_table_too_wide_even_compact_is_cut_into_parts_keeping_the_rows_name() -> None:
    spec = [("Symbol", "left")] + [(f"Figure {k}", "right") for k in range(8)]
    rows = [[sym] + [f"{-205.11 * (k + 1) * (i + 1):,.2f}" for k in range(8)] for i, sym in enumerate(("SOLUSDT", "ADAUSDT"))]
    console = Console(record=True, width=40, color_system=None)
    table = report_table("Per symbol", True, spec, rows)
    assert table_width(console, table) > 40
    parts = split_columns(console, table).renderables
    assert len(parts) > 1 and all(table_width(console, p) <= 40 for p in parts)
    assert [c.header for p in parts for c in p.columns[1:]] == [h for h, _ in spec[1:]]  # each column once, in order
    assert all(p.columns[0].header == "Symbol" for p in parts)
    text = _text(40, split_columns(console, table))
    assert "…" not in text and text.count("SOLUSDT") == len(parts)
    for row in rows:
        for cell in row[1:]:
            assert cell in text, cell
    assert "Per symbol" in text and text.count("(continued)") == len(parts) - 1


def test_the_report_at_60_columns_cuts_no_figure() -> None:
    console = Console(record=True, width=60, color_system=None)
    render_report(make_result(), console, charts=False)
    text = console.export_text()
    assert "…" not in text, text
    assert max(map(len, text.splitlines())) <= 60
