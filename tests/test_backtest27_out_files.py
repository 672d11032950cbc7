"""backtest --out into a folder where one of the report's names is taken by a folder: refused up
front with one line naming it (it was a traceback after the whole run, with some files written);
a write that fails after the run (a full disk) is one error line too, not a traceback."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from tui_trader.cli import main

pytestmark = pytest.mark.shared_data


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


def _backtest(klines_dir: Path, out: Path, db: Path) -> int:
    return main(["backtest", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT",
                 "--start", "2024-03-01", "--end", "2024-03-02", "--out", str(out), "--db", str(db),
                 "--no-charts"])  # fmt: skip


def test_a_folder_in_the_way_of_a_report_file_is_refused_before_the_run(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys, restore_logging
) -> None:
    out = tmp_path / "reports"
    (out / "report.json").mkdir(parents=True)
    db = tmp_path / "a.db"
    assert _backtest(klines_dir, out, db) == 2
    err = capsys.readouterr().err
    assert f"--out: cannot write {out / 'report.json'}: it is a folder" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]  # nothing written beside it
    assert not db.exists()  # refused before the run: nothing stored


def test_a_write_that_fails_after_the_run_is_one_error_line(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys, monkeypatch: pytest.MonkeyPatch, restore_logging
) -> None:
    def full(result, out_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(out_dir) / "equity.csv"))

    monkeypatch.setattr("tui_trader.backtest.report.write_outputs", full)
    out = tmp_path / "reports"
    assert _backtest(klines_dir, out, tmp_path / "a.db") == 2
    err = capsys.readouterr().err
    assert f"error: --out: cannot write {out / 'equity.csv'}: No space left on device" in err
    assert "stored as bt-" in err  # the run itself is in the database


def test_a_refused_out_folder_leaves_no_folder_it_made(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys, monkeypatch: pytest.MonkeyPatch, restore_logging
) -> None:
    # the check makes the folder, then writes a file in it: a folder that takes none (a full or
    # read-only disk) was refused, and the folders made for it stayed behind
    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tui_trader.outdir.tempfile.NamedTemporaryFile", no_space)
    assert _backtest(klines_dir, tmp_path / "new" / "a" / "b", tmp_path / "a.db") == 2
    assert "--out: cannot write to" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
