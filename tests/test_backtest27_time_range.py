"""backtest --start / --end in epoch milliseconds beyond what a date can hold (year 10,000 on):
a usage error naming the flag. A sweep crashed with a traceback ("year 3170843 is out of range"),
a plain backtest printed that line alone, naming no flag, or replayed to an end it cannot print."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tui_trader.cli import main

pytestmark = pytest.mark.shared_data

FAR = "99999999999999999"  # ms: the year 3,170,843


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize("flag", ["--start", "--end"])
@pytest.mark.parametrize(
    "command",
    [
        ["backtest"],
        ["backtest", "sweep", "--param", "signal_generation.z_score_threshold=1,2", "--processes", "1"],
    ],
    ids=["backtest", "sweep"],
)
def test_a_time_past_the_year_9999_is_a_usage_error(
    command: list[str], flag: str, klines_dir: Path, quiet: Path, capsys, restore_logging
) -> None:
    db = quiet / "a.db"
    args = [*command, "--data", str(klines_dir), "--interval", "1h", "--db", str(db), flag, FAR, "--json"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{flag}: {FAR!r} is out of range" in err
    assert "Traceback" not in err
    assert not db.exists()  # refused before any run


def test_the_last_ms_of_the_year_9999_is_still_a_time(quiet: Path) -> None:
    from tui_trader.backtest.cli import parse_time

    assert parse_time("253402300799999", "--end") == 253_402_300_799_999
    assert parse_time("9999-12-31T23:59", "--end") == 253_402_300_740_000
