"""Ten digits are epoch seconds (``date +%s``, 1704067200 = 2024-01-01), not milliseconds: read
as ms they were 1970-01-20, and ``backtest --start 1704067200`` replayed the whole data without a
word (``data download --start`` fetched from each symbol's listing). Epoch milliseconds of ten
digits fall in 1970-01-12 to 1970-04-26, where no market's data is; they are refused, naming the
13-digit form. Every other form is read as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.clock import parse_time
from tui_trader.config import check


@pytest.mark.parametrize("text", ["1704067200", "1000000000", "9999999999"])
def test_ten_digits_are_refused_as_epoch_seconds(text: str) -> None:
    with pytest.raises(ValueError, match=f"ten digits are epoch seconds.*epoch ms: {text}000"):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1704067200000", 1_704_067_200_000),  # epoch ms, 13 digits
        ("10000000000", 10_000_000_000),  # 11 digits: still epoch ms
        ("2024-01-01", 1_704_067_200_000),
        ("2024-01-01T00:00Z", 1_704_067_200_000),
        ("2024-01-01T01:00+01:00", 1_704_067_200_000),
        ("20240101", 1_704_067_200_000),
    ],
)
def test_the_other_forms_read_as_before(text: str, ms: int) -> None:
    assert parse_time(text) == ms


def test_the_configuration_names_the_field() -> None:
    res = check({"feed": {"replay": {"start": "1704067200"}}})
    assert [e.path for e in res.errors] == ["feed.replay.start"]
    assert "epoch seconds" in res.errors[0].message


def test_a_backtest_start_in_epoch_seconds_is_the_flags_error(quiet: Path, capsys) -> None:
    folder = quiet / "k" / "BTCUSDT" / "1h"
    folder.mkdir(parents=True)
    row = '[1704067200000, "1", "2", "0.5", "1.5", "10", 1704070799999, "15", 5, "5", "7.5", "0"]'
    (folder / "2024-01-01.json").write_text(f"[{row}]")
    argv = [
        "backtest",
        "--data",
        str(quiet / "k"),
        "--interval",
        "1h",
        "--start",
        "1704067200",
        "--no-charts",
    ]
    assert main([*argv, "--db", str(quiet / "b.db")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --start: bad time '1704067200': ten digits are epoch seconds, not milliseconds "
        "(epoch ms: 1704067200000; or e.g. 2024-01-01T12:00Z)"
    ]
