"""``rating.initial_rd`` is at most 10,000 (Glicko-2's new-player deviation is 350). 1e6 passed
``config check``; the first rating period then threw the ratings to +-800,000, and no z-score
ever reached the threshold: a run that never traded, without a word."""

from __future__ import annotations

from pathlib import Path

from tui_trader.cli import main
from tui_trader.config import check


def test_an_absurd_initial_rd_names_the_field(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[rating]\ninitial_rd = 1e6\n")
    assert main(["config", "check", str(f)]) == 2
    assert capsys.readouterr().out.splitlines()[0] == (
        "error: rating.initial_rd: Input should be less than or equal to 10000 (got 1000000.0)"
    )


def test_the_limit_itself_is_allowed() -> None:
    assert check({"rating": {"initial_rd": 10_000}}).ok
    assert not check({"rating": {"initial_rd": 10_000.5}}).ok
