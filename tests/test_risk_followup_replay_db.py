"""A replay on a book whose stored time is later than the replay's start is refused: its records
would go back in time and the daily-loss day (the reference the breaker measures from) would not
roll over until the replay reached the book's last day."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from tui_trader.cli import main

HOUR = 3_600_000


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


def _data(tmp_path: Path, klines_dir: Path) -> Path:
    root = tmp_path / "k"
    for sym in ("BTCUSDT", "ETHUSDT"):
        d = root / sym / "1h"
        d.mkdir(parents=True)
        rows = json.loads((klines_dir / sym / "1h" / "2024-01-01.json").read_text())[:60]
        (d / "2024-01-01.json").write_text(json.dumps(rows))
    return root


def _config(tmp_path: Path, name: str, start: str, end: str) -> Path:
    path = tmp_path / name
    path.write_text(f'[feed.replay]\nstart = "{start}"\nend = "{end}"\n')
    return path


def _sessions(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT count(*) FROM sessions").fetchone()[0]


def test_a_replay_starting_before_the_books_last_time_is_refused_before_anything_is_written(
    tmp_path: Path, klines_dir: Path, quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys, restore_logging
) -> None:
    monkeypatch.setenv("TUI_TRADER_CACHE_DIR", "off")
    data, db = _data(tmp_path, klines_dir), tmp_path / "book.db"
    run = [
        "run",
        "--headless",
        "--feed",
        "replay",
        "--data",
        str(data),
        "--interval",
        "1h",
        "--speed",
        "max",
        "--db",
        str(db),
        "--json",
    ]
    late = _config(tmp_path, "late.toml", "2024-01-02T00:00", "2024-01-03T00:00")
    assert main([*run, "--config", str(late)]) == 0
    capsys.readouterr()
    with sqlite3.connect(db) as con:
        before = con.execute("SELECT state, updated_ms FROM engine_state").fetchall()

    # the same data from its first day: the book's time would go back a day
    early = _config(tmp_path, "early.toml", "2024-01-01T00:00", "2024-01-02T00:00")
    assert main([*run, "--config", str(early)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: {db} holds a book last written at 2024-01-0"), line
    assert "after the start of this feed (2024-01-01 00:00 UTC)" in line and "fresh --db" in line, line
    assert _sessions(db) == 1  # no session, no record of the refused run
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT state, updated_ms FROM engine_state").fetchall() == before

    # a replay that goes on after the book's time resumes it, as before
    later = _config(tmp_path, "later.toml", "2024-01-03T00:00", "2024-01-03T12:00")
    assert main([*run, "--config", str(later)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["book_resumed"] is True and _sessions(db) == 2
