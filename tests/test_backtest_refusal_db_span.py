"""A backtest refused for its span (a --start after the data, an --end before it) or a sweep
refused for its walk-forward windows created the --db before it refused: the run's database was
opened (created, migrated) before its data was loaded and checked, so a typo left a new, empty
database behind (1e1fbd5 put the files' checks first; the span is only known once they load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--start", "2031-01-01"], "no 1h klines to replay from 2031-01-01 00:00 UTC on"),
        (["--end", "2001-01-01"], "no 1h klines to replay before 2001-01-01 00:00 UTC"),
        (["--start", "2031-01-01", "--end", "2031-02-01"], "no 1h klines to replay from 2031-01-01"),
    ],
    ids=["start", "end", "both"],
)
def test_a_span_outside_the_data_creates_no_database(
    flags, said: str, tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    db = tmp_path / "new.db"
    assert main(["backtest", "--data", str(klines_dir), "--interval", "1h", *flags, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {said}"), err
    assert list(tmp_path.glob("new.db*")) == []


def test_a_refused_walk_forward_creates_no_database(tmp_path: Path, klines_dir: Path, quiet: Path, capsys) -> None:
    db = tmp_path / "new.db"
    argv = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--param",
            "signal_generation.z_score_threshold=1.5,2", "--start", "2024-12-31", "--walk-forward", "50",
            "--processes", "1", "--db", str(db)]
    assert main(argv) == 2
    assert "error: --walk-forward 50:" in capsys.readouterr().err
    assert list(tmp_path.glob("new.db*")) == []


def test_a_database_it_cannot_use_is_still_refused_before_the_replay(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    db = tmp_path / "notes.db"
    db.write_text("not a database\n")
    argv = ["backtest", "--data", str(klines_dir), "--interval", "1h", "--start", "2024-03-01", "--json",
            "--db", str(db), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert "not a usable SQLite database" in cap.err and cap.out == ""  # no report: the run never replayed
    assert not (tmp_path / "out").exists() and db.read_text() == "not a database\n"


def test_a_good_span_stores_its_run(tmp_path: Path, klines_dir: Path, quiet: Path, capsys) -> None:
    db = tmp_path / "new.db"
    argv = ["backtest", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT", "--start",
            "2024-03-01", "--end", "2024-03-03", "--json", "--db", str(db)]
    assert main(argv) == 0
    assert db.is_file() and '"run_id"' in capsys.readouterr().out
