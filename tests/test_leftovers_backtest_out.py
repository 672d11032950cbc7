"""backtest --out into a folder that holds an earlier report: its four files are written over, as
export's are, and the "wrote" line now says which ones it replaced; other files stay untouched."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tui_trader.cli import main

NAMES = ("trades.csv", "equity.csv", "report.txt", "report.json")


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


def _backtest(klines_dir: Path, out: Path, db: Path) -> int:
    span = ["--start", "2024-03-01", "--end", "2024-03-03"]
    return main(["backtest", "--data", str(klines_dir), "--interval", "1h", *span, "--out", str(out),
                 "--db", str(db), "--json"])  # fmt: skip


def _wrote_line(err: str) -> str:
    (line,) = [x for x in err.splitlines() if x.startswith("wrote ")]
    return line


def test_a_rerun_into_the_same_folder_says_what_it_replaced(
    tmp_path: Path, klines_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys, restore_logging
) -> None:
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", "off")
    out = tmp_path / "reports"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "report.txt").write_text("an earlier report")
    assert _backtest(klines_dir, out, tmp_path / "a.db") == 0
    wrote = ", ".join(str(out / n) for n in NAMES)
    assert _wrote_line(capsys.readouterr().err) == f"wrote {wrote} (replacing the earlier report.txt)"
    assert (out / "notes.txt").read_text() == "mine"  # not one of the report's files: left alone
    assert (out / "report.txt").read_text() != "an earlier report"

    assert _backtest(klines_dir, out, tmp_path / "b.db") == 0
    assert _wrote_line(capsys.readouterr().err) == f"wrote {wrote} (replacing the earlier {', '.join(NAMES)})"


def test_a_new_folder_replaces_nothing(
    tmp_path: Path, klines_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys, restore_logging
) -> None:
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", "off")
    out = tmp_path / "new"
    assert _backtest(klines_dir, out, tmp_path / "a.db") == 0
    assert _wrote_line(capsys.readouterr().err) == f"wrote {', '.join(str(out / n) for n in NAMES)}"
