"""What the README shows and claims is what the product does today: its example backtest report is
the default 1h backtest's summary, cell for cell (buy-and-hold's figures moved by a cent when its
fee became the paper broker's, and the open drawdown gained its '≥'), the prose quoting it agrees,
and every flag refusal it lists exits 2 with one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trader.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def paragraph(opening: str) -> str:
    text = readme_text()
    start = text.index(opening)
    return " ".join(text[start : text.index("\n\n", start)].split())


def summary_rows(text: str) -> dict[str, list[str]]:
    """The rows of a rendered summary table: figure -> [strategy, buy & hold, cash]."""
    start = text.index("┃ Figure")
    end = text.index("└", start)
    rows: dict[str, list[str]] = {}
    for line in text[start:end].splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def readme_example_report() -> str:
    text = readme_text()
    start = text.index("Example (default config, ten\nUSDT pairs, 1h, 2024")
    block = text.index("```", start)
    return text[block : text.index("```", block + 3)]


@pytest.fixture(scope="module")
def default_backtest(klines_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``tui-trader backtest --data … --interval 1h`` as an operator runs it (shipped defaults)."""
    tmp = tmp_path_factory.mktemp("readme-report")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp / "no-user-config"),
        "TUI_TRADER_LOG_FILE": "off",
        "COLUMNS": "120",
    }
    env.pop("BINANCE_API_KEY", None)
    env.pop("BINANCE_API_SECRET", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_trader",
            "backtest",
            "--data",
            str(klines_dir),
            "--interval",
            "1h",
            "--db",
            str(tmp / "bt.db"),
            "--no-charts",
        ],
        env=env,
        cwd=str(tmp),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.shared_data
def test_the_readme_example_report_is_the_default_backtests_summary(default_backtest: str) -> None:
    shown = readme_example_report()
    readme_rows = summary_rows(shown)
    assert len(readme_rows) == 17
    assert summary_rows(default_backtest) == readme_rows
    for line in ("From 2024-01-09 09:00 to 2025-01-01 00:00 UTC (357d 15h)", "85,830 klines, 727 fills,"):
        assert line in shown and line in default_backtest, line
    # the open drawdown's duration is a lower bound, and is the only one marked so
    assert readme_rows["Max DD duration"][0].startswith("≥ ")
    assert not readme_rows["Max DD duration"][1].startswith("≥")


@pytest.mark.shared_data
def test_the_prose_quoting_the_example_agrees_with_it(default_backtest: str) -> None:
    rows = summary_rows(default_backtest)
    strategy_return = rows["Total return"][0]
    bh_return = float(rows["Total return"][1].rstrip(" %"))
    fees = float(rows["Fees paid (USDT)"][0].replace(",", ""))
    text = " ".join(readme_text().split())
    # Modes and feeds: the sim is no judge of the strategy, the backtest is
    assert (
        f"the same configuration made +{strategy_return}, where equal-weight buy-and-hold made +{bh_return:.0f} %"
        in text
    )
    # Backtesting: the honest reading
    assert f"barely beats cash after {fees:.0f} USDT of fees" in text
    assert "a *max DD duration* with `≥` is a drawdown not made good by the end of the run" in text


def test_every_refusal_the_readme_lists_exits_2_with_one_line(quiet: Path, capsys) -> None:
    par = paragraph("A flag a command would not use is refused")
    db = str(quiet / "x.db")
    cases = {
        # README wording -> a command line that does it
        "`--report` beside a market or live flag": [
            ["--report", "--data", str(quiet)],
            ["--report", "--feed", "sim"],
            ["--report", "--speed", "max"],
            ["--report", "--live"],
        ],
        "`--speed` on the binance feed": [["run", "--feed", "binance", "--speed", "max", "--db", db]],
        "`--n-symbols` beside `--symbols`": [
            ["run", "--n-symbols", "5", "--symbols", "BTCUSDT,ETHUSDT", "--db", db]
        ],
        "a missing `--data` folder": [
            ["run", "--feed", "replay", "--data", str(quiet / "nowhere"), "--interval", "1h", "--db", db],
            ["--feed", "replay", "--data", str(quiet / "nowhere"), "--interval", "1h", "--db", db],
        ],
        "a `--db` that is a folder": [["run", "--duration", "1s", "--db", str(quiet)], ["--db", str(quiet)]],
    }
    for claim, argvs in cases.items():
        assert claim in par, claim
        for argv in argvs:
            assert main(argv) == 2, argv
            captured = capsys.readouterr()
            lines = captured.err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), (argv, captured.err)
    assert not Path(db).exists()


def test_the_speed_sentence_and_the_refusal_agree(quiet: Path, capsys) -> None:
    text = " ".join(readme_text().split())
    assert "`max` as fast as possible (the binance feed runs in real time)" in text
    assert main(["run", "--feed", "binance", "--speed", "2", "--db", str(quiet / "y.db")]) == 2
    assert "real time" in capsys.readouterr().err


def test_the_console_title_the_readme_quotes_is_the_consoles() -> None:
    from tui_trader.events import AcceptAccount, CommandResult
    from tui_trader.ui.app import result_title

    text = " ".join(readme_text().split())
    quoted = re.search(r'as a warning titled "([^"]+)"', text)
    assert quoted is not None
    res = CommandResult(True, "book cut; but trading stays off: x", data={"trading_stays_off": "x"})
    assert result_title(AcceptAccount(), res) == quoted.group(1)


def test_the_bad_flag_value_the_readme_quotes_is_the_clis_line(quiet: Path, capsys) -> None:
    par = paragraph("A flag a command would not use is refused")
    quoted = re.search(r"`(error: --speed \(feed\.speed\): [^`]+)`", par)
    assert quoted is not None
    assert main(["run", "--speed", "0", "--db", str(quiet / "z.db")]) == 2
    assert capsys.readouterr().err.splitlines() == [quoted.group(1)]


def test_the_sweep_warning_the_readme_shows_is_written_as_the_sweep_writes_it() -> None:
    """The README's line is the real output of its sweep command with ``--walk-forward 4 --start
    2024-01-01`` (seven points); its earlier second line came from no such run."""
    import inspect

    from tui_trader.backtest import runner
    from tui_trader.backtest.sweep import sweep_notes

    text = readme_text()
    start = text.index("The command above with `--walk-forward 4 --start 2024-01-01`:")
    opening = text.index("```text\n", start) + len("```text\n")
    block = text[opening : text.index("\n```", opening)]
    (line,) = block.splitlines()
    prefix, msg = line.split(": ", 1)[1].split(": ", 1)[0], line.split(": ", 2)[2]
    assert prefix == "window 1 in-sample, all 7 points"
    z = "signal_generation.z_score_threshold"
    grid = [{"point": {z: v}, "metrics": {"warnings": [msg]}} for v in (1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0)]
    one = [
        {"point": {z: 1.5}, "metrics": {"warnings": ["w"]}},
        {"point": {z: 2.0}, "metrics": {"warnings": []}},
    ]
    rows = [{"window": 0, "grid": grid, "oos": {}}, {"window": 1, "grid": one, "oos": {}}]
    assert sweep_notes(rows) == [f"{prefix}: {msg}", "window 2 in-sample, z_score_threshold=1.5: w"]
    assert "`z_score_threshold=1.5`" in text
    source = inspect.getsource(runner)
    assert "klines before the start (the data begins" in source and "settle inside the run" in source
