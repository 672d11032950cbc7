"""``feed.replay.end`` is exclusive: an end equal to the start replays nothing. ``config check``
passed it (only an end before the start was refused); ``run`` then failed on "no valid klines",
and ``backtest`` blamed flags that were never given ("--end ... must be after --start ...")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import check


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-03-01", "2024-03-01"),
        ("2024-03-01", "2024-03-01T00:00Z"),
        ("2024-03-01T05:00+05:00", "2024-03-01"),
    ],
)
def test_an_end_equal_to_the_start_is_the_fields_error(start: str, end: str) -> None:
    res = check({"feed": {"replay": {"start": start, "end": end}}})
    assert [(e.path, e.message) for e in res.errors] == [
        ("feed.replay", f"end {end!r} is not after start {start!r} (the end is exclusive: nothing to replay)")
    ]


def test_an_end_before_the_start_still_is(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[feed.replay]\nstart = "2024-03-02"\nend = "2024-03-01"\n')
    assert main(["config", "check", str(f)]) == 2
    assert capsys.readouterr().out.splitlines()[0] == (
        "error: feed.replay: end '2024-03-01' is not after start '2024-03-02' (the end is exclusive: nothing to replay)"
    )


def test_an_hour_apart_is_a_span() -> None:
    assert check({"feed": {"replay": {"start": "2024-03-01T00:00", "end": "2024-03-01T01:00"}}}).ok
