"""Replay data with symbols that hold no valid klines: the per-symbol warning is kept when it adds
something (other symbols replay), and left out when the run's own error says the same."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.market.replay import load_klines

LOST = "no valid 1h klines for"


def _corrupt(root: Path, sym: str) -> None:
    d = root / sym / "1h"
    d.mkdir(parents=True)
    (d / "2024-01-01.json").write_text("garbage{")


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


def test_a_corrupt_symbol_among_good_ones_is_named(tmp_path: Path, klines_dir: Path, caplog) -> None:
    root = tmp_path / "k"
    good = root / "ETHUSDT" / "1h"
    good.mkdir(parents=True)
    rows = json.loads((klines_dir / "ETHUSDT" / "1h" / "2024-01-01.json").read_text())[:30]
    (good / "2024-01-01.json").write_text(json.dumps(rows))
    _corrupt(root, "BTCUSDT")
    caplog.set_level(logging.WARNING, "tui_trader")
    data = load_klines(root, "1h", file_cache=None)
    assert data.symbols == ["BTCUSDT", "ETHUSDT"] and len(data.klines) == 30
    assert [r.getMessage() for r in caplog.records if LOST in r.getMessage()] == [
        "replay: no valid 1h klines for BTCUSDT in the selected range"
    ]


@pytest.mark.parametrize("span", [[], ["--start", "2024-02-01"]])
def test_a_backtest_of_corrupt_data_says_each_warning_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, caplog, restore_logging, span: list[str]
) -> None:
    """The error's hint (the data's dates) loads the data again; that load repeats no warning."""
    _corrupt(tmp_path / "k", "BTCUSDT")
    monkeypatch.setenv("TUI_TRADER_CACHE_DIR", "off")
    caplog.set_level(logging.WARNING, "tui_trader")
    argv = ["backtest", "--data", str(tmp_path / "k"), "--interval", "1h", *span]
    assert main([*argv, "--db", str(tmp_path / "b.db")]) == 2
    err = capsys.readouterr().err
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and said[0].startswith("rejected 1 market-data row(s): malformed"), said
    assert err.strip().splitlines()[-1].startswith("error: no 1h klines to replay "), err


def test_a_sweep_of_corrupt_data_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, restore_logging
) -> None:
    _corrupt(tmp_path / "k", "BTCUSDT")
    monkeypatch.setenv("TUI_TRADER_CACHE_DIR", "off")
    argv = ["backtest", "sweep", "--data", str(tmp_path / "k"), "--interval", "1h"]
    assert main([*argv, "--param", "signal_generation.z_score_threshold=1.5,2"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"error: no 1h klines to replay in {tmp_path / 'k'}", err
