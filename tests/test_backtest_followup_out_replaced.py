"""An ``--out`` folder replaced by a plain file during a backtest (checked up front, gone by the end
of the run): the report's write raised an uncaught ValueError, a traceback after the stored run,
where every other failed write of the report files is one line naming the path and exit 2."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from tui_trader.cli import main

pytestmark = pytest.mark.shared_data


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


def test_an_out_folder_replaced_by_a_file_during_the_run_is_one_error_line(
    tmp_path: Path, klines_dir: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys, restore_logging
) -> None:
    from tui_trader.backtest import runner

    out, db = tmp_path / "reports", tmp_path / "a.db"
    real = runner.run_backtest

    async def replaced_meanwhile(*a, **k):
        result = await real(*a, **k)
        shutil.rmtree(out)  # checked up front, the folder is a plain file by the end of the run
        out.write_text("not a folder")
        return result

    monkeypatch.setattr(runner, "run_backtest", replaced_meanwhile)
    argv = ["backtest", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT",
            "--start", "2024-03-01", "--end", "2024-03-02", "--out", str(out), "--db", str(db), "--no-charts"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    with sqlite3.connect(str(db)) as con:
        (run_id,) = con.execute("SELECT run_id FROM backtest_runs").fetchone()  # the run is stored
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert lines == [f"error: --out: cannot write {out}: not a folder (the run is stored as {run_id})"]
    assert "Traceback" not in err
    assert out.read_text() == "not a folder"  # the file in the way is left alone


def test_an_out_folder_that_cannot_be_listed_still_takes_the_report(
    tmp_path: Path, klines_dir: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys, restore_logging
) -> None:
    """A folder it may write but not list (mode 0300; root lists anything, so the refusal is made
    here): listing it for the files a report replaces raised past the error handling, a traceback
    after the stored run. The report is written; there are no earlier files to name."""
    out, db = tmp_path / "reports", tmp_path / "a.db"
    out.mkdir()
    real_iterdir = Path.iterdir

    def iterdir(self: Path):
        if self == out:
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    argv = ["backtest", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT",
            "--start", "2024-03-01", "--end", "2024-03-02", "--out", str(out), "--db", str(db), "--no-charts"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" not in err, err
    monkeypatch.setattr(Path, "iterdir", real_iterdir)
    assert {"equity.csv", "trades.csv", "report.txt", "report.json"} <= {p.name for p in out.iterdir()}
