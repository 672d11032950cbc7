"""Issue #6: a two-parameter sweep prints a plotext heat map of Sharpe after its table."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from tui_trader.backtest.sweep import HEAT_SHADES, heat_rgb, print_heatmap_chart, run_sweep
from tui_trader.config import Config

Z = "signal_generation.z_score_threshold"
MA = "signal_generation.moving_average_period"
TITLE = "Sharpe by z_score_threshold (up) x moving_average_period (across)"
ZS = (1.5, 2.0, 2.5)
MAS = (100, 200, 300, 400)


def fake_runner(config_dict: dict, data_spec: dict | None) -> dict:
    """Sharpe = z * MA / 100 (every cell different), except the failing z."""
    z = config_dict["signal_generation"]["z_score_threshold"]
    ma = config_dict["signal_generation"]["moving_average_period"]
    if (data_spec or {}).get("fail") == (z, ma):
        raise RuntimeError("boom")
    return {"total_return": 0.01, "sharpe": z * ma / 100, "max_drawdown": 0.02, "n_trades": 3}


def sweep_output(
    console: Console, params: list[str], data_spec: dict | None = None, charts: bool = True
) -> None:
    run_sweep(Config(), params, fake_runner, processes=1, data_spec=data_spec, console=console, charts=charts)


def params2() -> list[str]:
    return [f"{Z}={','.join(map(str, ZS))}", f"{MA}={','.join(map(str, MAS))}"]


def chart_lines(text: str) -> list[str]:
    """The chart's lines, from its title to its axis labels."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if TITLE in line)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("z_score_threshold"))
    return lines[start : end + 1]


def test_two_parameters_print_the_chart_after_the_table_within_80_columns():
    console = Console(record=True, width=80, color_system=None)
    sweep_output(console, params2())
    text = console.export_text()
    assert text.index("sharpe by z_score_threshold (rows)") < text.index(TITLE)  # the table stays, first
    chart = chart_lines(text)
    assert all(len(line) <= 80 for line in text.splitlines())
    # the y axis: one tick per z, labelled with its value; the x axis: one per MA
    y_ticks = [line.split("┤")[0].strip() for line in chart if "┤" in line]
    assert y_ticks == ["2.5", "2.0", "1.5"]  # the first value at the bottom
    x_labels = chart[[i for i, line in enumerate(chart) if "└" in line][0] + 1].split()
    assert x_labels == [str(m) for m in MAS]
    assert chart[-1].split() == ["z_score_threshold", "moving_average_period"]
    # no colour: a cell's shade goes up with its Sharpe (z * MA), left to right and bottom to top
    body = [line.split("┤")[1] if "┤" in line else line.split("│")[1] for line in chart if "┤" in line]
    low_row, high_row = body[-1], body[0]
    assert low_row[0] == HEAT_SHADES[0] and high_row[-2] == HEAT_SHADES[-1]
    for row in body:
        shades = [HEAT_SHADES.index(c) for c in row.rstrip("│")]
        assert shades == sorted(shades)
    assert "scale: ░ 1.50 (lowest) ▒ ▓ █ 10.00 (highest)" in text
    assert "\x1b[" not in text


def _t(rgb: tuple[int, int, int]) -> float:
    """The place of a colour of :func:`heat_rgb` on its scale (0 red ... 1 green)."""
    r, g, _ = rgb
    return (g - 60) / 340 if r == 230 else 0.5 + (230 - r) / 340


def test_with_colour_the_cells_are_coloured_in_the_order_of_their_sharpe():
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system="truecolor")
    sweep_output(console, params2())
    out = buf.getvalue()
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if TITLE in line)
    tick_rows = [line for line in lines[start:] if "┤" in line][:3]  # z = 2.5, 2.0, 1.5
    sharpe = {(z, ma): z * ma / 100 for z in ZS for ma in MAS}
    lo, hi = min(sharpe.values()), max(sharpe.values())
    seen: dict[tuple[float, int], tuple[int, int, int]] = {}
    for z, line in zip(reversed(ZS), tick_rows, strict=True):
        colours = [tuple(map(int, m)) for m in re.findall(r"\x1b\[38;2;(\d+);(\d+);(\d+)m█", line)]
        runs = list(dict.fromkeys(colours))  # one colour per cell, left to right
        assert len(runs) == len(MAS)
        for ma, rgb in zip(MAS, runs, strict=True):
            seen[(z, ma)] = rgb
            assert rgb == heat_rgb(sharpe[(z, ma)], lo, hi)
    by_sharpe = sorted(seen, key=lambda k: sharpe[k])
    by_colour = sorted(seen, key=lambda k: _t(seen[k]))
    assert by_colour == by_sharpe
    assert _t(seen[by_sharpe[0]]) == 0.0 and _t(seen[by_sharpe[-1]]) == 1.0  # red to green


def test_no_color_turns_the_chart_into_shades(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_COLOR", "1")
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system="truecolor")
    sweep_output(console, params2())
    out = buf.getvalue()
    assert TITLE in out and "\x1b[38;2;" not in out.split(TITLE)[1]
    assert HEAT_SHADES[0] in out and HEAT_SHADES[-1] in out


def test_a_failed_point_is_left_blank_and_said_so():
    console = Console(record=True, width=80, color_system=None)
    sweep_output(console, params2(), data_spec={"fail": (2.0, 300)})
    text = console.export_text()
    row = next(line for line in chart_lines(text) if line.startswith("2.0┤"))
    cells = row.split("┤")[1].rstrip("│")
    width = len(cells) / len(MAS)
    third = cells[round(2 * width) : round(3 * width)]
    assert third.strip() == "" and cells[: round(2 * width)].strip() != ""
    assert "blank: 1 failed point" in text


def test_one_parameter_prints_no_chart():
    console = Console(record=True, width=80, color_system=None)
    sweep_output(console, [f"{Z}=1.5,2.0,2.5"])
    text = console.export_text()
    assert "Sweep" in text and "Sharpe by" not in text and "scale:" not in text
    assert not any(c in text for c in HEAT_SHADES)


def test_no_charts_leaves_the_table_alone():
    console = Console(record=True, width=80, color_system=None)
    sweep_output(console, params2(), charts=False)
    text = console.export_text()
    assert "sharpe by z_score_threshold (rows)" in text and TITLE not in text


def test_a_grid_wider_than_the_chart_gets_a_note_not_a_smeared_chart():
    console = Console(record=True, width=80, color_system=None)
    print_heatmap_chart(
        console,
        [
            {"point": {Z: z, MA: ma}, "metrics": {"sharpe": z * ma}, "error": None}
            for z in ZS
            for ma in range(100, 190)
        ],
        [Z, MA],
    )
    text = console.export_text()
    assert "no heat-map chart: 90 values of moving_average_period" in text and TITLE not in text


def test_cli_sweep_prints_the_chart_and_json_stays_json(klines_dir: Path, capsys):
    from tui_trader.cli import main

    args = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT",
            "--start", "2024-02-01", "--end", "2024-02-15", "--param", f"{Z}=2,2.5",
            "--param", f"{MA}=100,150", "--processes", "1"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out)  # stdout is the JSON alone
    assert len(rows) == 4 and "Sharpe by" not in out and not any(c in out for c in HEAT_SHADES)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert TITLE in out and "scale:" in out
    assert main([*args, "--no-charts"]) == 0
    out = capsys.readouterr().out
    assert "sharpe by z_score_threshold (rows)" in out and TITLE not in out


TRAIL = "risk_management.trailing_stop_activation_percent"
TIMEOUT = "order_execution.limit_order_timeout_seconds"


@pytest.mark.parametrize("width", [60, 80, 100])
def test_the_chart_names_both_parameters_and_is_as_wide_as_the_console(width: int):
    # plotext drops a title longer than its plot and one of two axis labels that would overlap;
    # and it cut the chart to its own guess of the terminal (80 columns in a pipe)
    rows = [
        {"point": {TRAIL: a, TIMEOUT: b}, "metrics": {"sharpe": a * b}, "error": None}
        for a in (1.0, 2.0)
        for b in (10, 20)
    ]
    console = Console(record=True, width=width, color_system=None)
    print_heatmap_chart(console, rows, [TRAIL, TIMEOUT])
    lines = console.export_text().splitlines()
    chart = lines[: next(i for i, line in enumerate(lines) if line.startswith("scale:"))]
    text = "\n".join(chart)
    assert "trailing_stop_activation_percent" in text and "limit_order_timeout_seconds" in text
    assert max(len(line.rstrip()) for line in chart) <= width
    frame = next(line for line in chart if "└" in line)
    assert len(frame.rstrip()) == width  # the whole width the console has (the report's charts: at most 100)


def test_a_grid_without_any_sharpe_gets_a_note_not_an_empty_chart():
    rows = [{"point": {Z: z, MA: m}, "metrics": None, "error": "boom"} for z in ZS for m in MAS]
    console = Console(record=True, width=80, color_system=None)
    print_heatmap_chart(console, rows, [Z, MA])
    text = console.export_text()
    assert "no heat-map chart: no point has a Sharpe" in text and "┌" not in text
