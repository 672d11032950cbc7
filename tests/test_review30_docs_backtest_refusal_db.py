"""The README: `backtest` checks a replay's files and the `--db` "before anything starts", each
refusal exit 2 with one line. An --interval or --symbols its files lack was refused only after the
--db had been created (opened, migrated) for the run: a typo left a new, empty database behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize(
    "flags",
    [["--interval", "4h"], ["--interval", "1h", "--symbols", "FOOUSDT"]],
    ids=["interval", "symbols"],
)
def test_a_data_refusal_creates_no_database(
    flags, tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    db = tmp_path / "new.db"
    assert main(["backtest", "--data", str(klines_dir), *flags, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {flags[-2]}: "), err
    assert list(tmp_path.glob("new.db*")) == []


def test_a_database_refusal_still_comes_before_the_run(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    assert main(["backtest", "--data", str(klines_dir), "--interval", "1h", "--db", str(tmp_path)]) == 2
    assert "is a folder, not a database file" in capsys.readouterr().err
