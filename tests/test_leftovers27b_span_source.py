"""``backtest --end`` before a start taken from the configuration (``feed.replay.start``) was
reported as "--end ... must be after --start ...", naming a flag that was not given: the
message names where each end of the span came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_trader.cli import main


def _argv(tmp: Path, cfg_text: str, *flags: str) -> list[str]:
    (tmp / "k").mkdir(exist_ok=True)
    (tmp / "c.toml").write_text(cfg_text)
    return [
        "backtest",
        "--config",
        str(tmp / "c.toml"),
        "--data",
        str(tmp / "k"),
        "--interval",
        "1h",
        "--no-charts",
        "--db",
        str(tmp / "b.db"),
        *flags,
    ]


@pytest.mark.parametrize("sweep", [[], ["sweep", "--param", "rating.tau=0.3,0.5"]])
def test_an_end_flag_before_the_configured_start_names_the_field(
    quiet: Path, capsys, sweep: list[str]
) -> None:
    argv = _argv(quiet, '[feed.replay]\nstart = "2024-06-01"\n', "--end", "2024-03-01")
    argv[1:1] = sweep
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --end 2024-03-01 00:00 UTC must be after the configuration's feed.replay.start 2024-06-01 00:00 UTC"
    ]


def test_a_start_flag_after_the_configured_end_names_the_field(quiet: Path, capsys) -> None:
    assert main(_argv(quiet, '[feed.replay]\nend = "2024-03-01"\n', "--start", "2024-06-01")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: the configuration's feed.replay.end 2024-03-01 00:00 UTC must be after --start 2024-06-01 00:00 UTC"
    ]


def test_both_flags_are_named_as_before(quiet: Path, capsys) -> None:
    assert main(_argv(quiet, "", "--start", "2024-06-01", "--end", "2024-03-01")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --end 2024-03-01 00:00 UTC must be after --start 2024-06-01 00:00 UTC"
    ]


def test_a_walk_forward_end_before_the_warm_up_names_the_warm_up(quiet: Path, capsys) -> None:
    # no start given: the windows begin after the warm-up, which named a --start never given
    t0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
    for sym in ("BTCUSDT", "ETHUSDT"):
        folder = quiet / "k" / sym / "1h"
        folder.mkdir(parents=True)
        rows = [
            [t0 + i * 3_600_000, "1", "1.1", "0.9", str(1 + i / 100), "10", t0 + (i + 1) * 3_600_000 - 1, "15", 5, "5",
             "7.5", "0"]
            for i in range(48)
        ]  # fmt: skip
        (folder / "2024-01-01.json").write_text(json.dumps(rows))
    argv = _argv(
        quiet,
        "",
        "sweep",
        "--param",
        "rating.tau=0.3,0.5",
        "--walk-forward",
        "2",
        "--end",
        "2024-01-01T05:00",
    )
    argv.remove("--no-charts")
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        "error: --end 2024-01-01 05:00 UTC must be after the end of the warm-up"
    )
    assert "--start" not in err[0] and "feed.replay.start" not in err[0]
