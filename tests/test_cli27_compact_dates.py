"""A time of digits only was read as epoch milliseconds whatever its length: ``--start 20241201``
(ISO 8601's compact form of 2024-12-01, which Python itself reads so) became 1970-01-01 05:37, and
a backtest ran the whole data without a word; ``2024`` became 2024 ms. Eight digits are now the
compact date, and digits too few for a time since 1970-01-12 (under ten) are an error; epoch
milliseconds (13 digits today) are read as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.clock import parse_time
from tui_trader.config import check


def test_eight_digits_are_a_compact_date() -> None:
    assert parse_time("20241201") == parse_time("2024-12-01") == 1_733_011_200_000


def test_epoch_milliseconds_are_read_as_before() -> None:
    assert parse_time("1733011200000") == 1_733_011_200_000
    assert parse_time("10000000000") == 10_000_000_000  # eleven digits: 1970-04-26 (ten are epoch seconds)


@pytest.mark.parametrize("text", ["2024", "202412", "0", "999999999"])
def test_too_few_digits_for_a_time_are_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="expected e.g. 2024-01-01"):
        parse_time(text)


def test_the_configuration_reads_the_compact_date() -> None:
    res = check({"feed": {"replay": {"start": "20241201", "end": "20241215"}}})
    assert res.ok and parse_time(res.config.feed.replay.start) == parse_time("2024-12-01")
    assert [e.path for e in check({"feed": {"replay": {"start": "2024"}}}).errors] == ["feed.replay.start"]


def test_a_backtest_start_of_four_digits_is_the_flags_error(quiet: Path, capsys) -> None:
    (quiet / "k").mkdir()
    assert main(["backtest", "--data", str(quiet / "k"), "--interval", "1h", "--start", "2024"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --start: expected YYYY-MM-DD[THH:MM] (UTC), got '2024'"
    ]
