"""Paths and error texts in the lines a backtest or sweep prints on stderr were read as rich markup:
an --out or --db folder named "[v2]" was shown without its name, "[/v2]" raised a MarkupError (a
traceback and exit 1 after the whole run), and so did a failed point's error holding one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tui_trader.cli import main

pytestmark = pytest.mark.shared_data


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize("folder", ["[v2]", "[/v2]"])
def test_an_out_folder_with_brackets_is_named_as_it_is(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys, restore_logging, folder: str
) -> None:
    out = tmp_path / folder / "reports"
    argv = ["backtest", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT",
            "--start", "2024-03-01", "--end", "2024-03-02", "--out", str(out), "--db", str(tmp_path / "a.db"),
            "--json"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"wrote {out / 'trades.csv'}, {out / 'equity.csv'}" in err
    assert (out / "report.json").is_file()


def test_a_sweep_s_db_path_and_failed_point_with_brackets_are_said_as_they_are(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys, monkeypatch: pytest.MonkeyPatch, restore_logging
) -> None:
    from tui_trader.backtest import sweep

    def one_failed(base, params, runner, **_k):
        return [
            {"point": 0, "params": {params[0][0]: 1.0}, "metrics": None, "error": "ValueError: no [/x] here"},
            {
                "point": 1,
                "params": {params[0][0]: 2.0},
                "metrics": None,
                "error": "ValueError: nor [red] here",
            },
            {
                "point": 2,
                "params": {params[0][0]: 3.0},
                "metrics": {"sharpe": 1.0},
                "error": None,
                "run_id": "bt-1",
            },
        ]

    monkeypatch.setattr(sweep, "run_sweep", one_failed)
    (tmp_path / "[/v2]").mkdir(parents=True)
    db = tmp_path / "[/v2]" / "sweep.db"
    argv = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "1d", "--symbols", "BTCUSDT,ETHUSDT",
            "--param", "signal_generation.z_score_threshold=1,2,3", "--processes", "1", "--db", str(db),
            "--json"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"stored 1 run(s) in {db} (" in err
    assert "point 0 failed: ValueError: no [/x] here" in err
    assert "point 1 failed: ValueError: nor [red] here" in err
