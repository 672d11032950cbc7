"""The help's replay examples run on a book of their own, as the README's does: copied after the
quick start (whose sim book's time is 2025), `run --feed replay` of the 2024 klines on the default
book was refused, exit 2 ("its time would go backwards"), and run first it left the replay's
positions in the paper book the console then opened."""

from __future__ import annotations

import re
import shlex

import pytest

from tui_trader.cli import main


def examples(command: list[str], capsys) -> list[list[str]]:
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out.partition("\nexamples:\n")[2]
    lines = [
        ln.strip() for ln in text.replace("\\\n", " ").splitlines() if ln.strip().startswith("tui-trader")
    ]
    return [
        shlex.split(re.split(r"\s{3,}(?=[^\s-])", line)[0]) for line in lines
    ]  # a comment follows 3 spaces


@pytest.mark.parametrize("command", [[], ["tui"], ["run"]])
def test_every_replay_example_of_an_engine_names_its_own_db(command: list[str], capsys) -> None:
    replays = [
        argv
        for argv in examples(command, capsys)
        if ("--data" in argv or "replay" in argv) and not {"backtest", "sweep", "data"} & set(argv)
    ]
    assert replays, "the help shows a replay"
    for argv in replays:
        assert "--db" in argv, argv


def test_the_comment_split_keeps_a_continued_line(capsys) -> None:
    # the continuation's indent is no comment: "--speed max \\\n      --db x" keeps its --db
    got = examples(["run"], capsys)
    assert any(argv[-2:] == ["--db", "replay-2024.db"] for argv in got), got


def test_the_symbols_help_says_what_each_feed_takes_without_it(capsys) -> None:
    # "(default: feed.symbols / universe rule)": the sim takes --n-symbols and a replay its files'
    # symbols, whatever the universe's top_n
    assert main(["run", "--help"]) == 0
    run_help = " ".join(capsys.readouterr().out.split())
    assert "the sim's --n-symbols, or the replay files' or the binance feed's top_n symbols" in run_help
    assert main(["backtest", "--help"]) == 0
    assert "else the files' symbols less feed.universe.blacklist" in " ".join(capsys.readouterr().out.split())


def test_the_backtest_help_counts_the_warm_up_the_runner_takes(capsys) -> None:
    # the help said "the first moving_average_period rating periods": the runner takes one more
    # (201 as shipped: the example report starts at 2024-01-09 09:00, 201 h into the data)
    from tui_trader.backtest.runner import warmup_klines_needed
    from tui_trader.config import Config

    cfg = Config()
    want = warmup_klines_needed(cfg, 3_600_000)  # 1h klines, 5-minute periods: one kline a period
    assert want == cfg.signal_generation.moving_average_period + 1
    assert main(["backtest", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "moving_average_period + 1 rating periods of the data (rating.volatility_window + 1 when that is larger;"
        in text
    )
    assert f"; {want} as shipped; at most half of the data)" in text
    # a volatility window longer than the z-score window sets the warm-up: the help says so
    wide = Config.model_validate({"rating": {"volatility_window": 300}})
    assert warmup_klines_needed(wide, 3_600_000) == wide.rating.volatility_window + 1


def test_the_top_help_names_the_consoles_own_options(capsys) -> None:
    # `tui-trader --help` listed only -h and --version: --report and --live, which the README gives
    # as `tui-trader --report` and `tui-trader --live`, were in `tui --help` alone, unnamed here
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert ["tui-trader", "--report"] in examples_of(out)
    assert "(--feed, --live, --report, ...): `tui-trader tui --help`" in out


def examples_of(help_text: str) -> list[list[str]]:
    text = help_text.partition("\nexamples:\n")[2].partition("\n\n")[0]
    lines = [
        ln.strip() for ln in text.replace("\\\n", " ").splitlines() if ln.strip().startswith("tui-trader")
    ]
    return [shlex.split(re.split(r"\s{3,}(?=[^\s-])", line)[0]) for line in lines]
