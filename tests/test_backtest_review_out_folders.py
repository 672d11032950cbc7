"""``backtest --out`` into folders it makes, whose report files then cannot be written after the run
(a disk that filled up meanwhile): the run is stored and the error is one line, but the empty
folders made for the files stayed behind, where the README says "a run that fails removes the
folders it made for them"."""

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


def test_a_write_failing_after_the_run_leaves_no_folder_it_made(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys, monkeypatch: pytest.MonkeyPatch, restore_logging
) -> None:
    def full(result, out_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(out_dir) / "trades.csv"))

    monkeypatch.setattr("tui_trader.backtest.report.write_outputs", full)
    out = tmp_path / "new" / "reports"
    argv = ["backtest", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT",
            "--start", "2024-03-01", "--end", "2024-03-02", "--out", str(out), "--db", str(tmp_path / "a.db"),
            "--no-charts"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: --out: cannot write {out / 'trades.csv'}: No space left on device" in err
    assert not (tmp_path / "new").exists()
    assert (tmp_path / "a.db").is_file()  # the run itself is stored
