"""Ctrl-C during a backtest on a new --db left that book behind: its tables and no run (the run
opens, so creates, the book before the replay, to refuse an unusable one up front). A book the
backtest made and stored nothing in goes with the interrupt; one that was there stays."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from backtest_support import kline_file  # noqa: F401 - autouse: the kline file the --data is checked for

from tui_trader.backtest.cli import main_backtest, remove_empty_book
from tui_trader.cli import build_parser
from tui_trader.config import Config


def _interrupted_after_the_book_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trader.backtest import runner

    async def made_then_ctrl_c(*_a, db_path, **_k):
        await runner.probe_db(db_path)  # as the run does, before its replay
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_backtest", made_then_ctrl_c)


def test_ctrl_c_takes_the_new_book_it_made_with_it(tmp_path: Path, quiet: Path, monkeypatch) -> None:
    _interrupted_after_the_book_is_made(monkeypatch)
    db = tmp_path / "new.db"
    with pytest.raises(KeyboardInterrupt):
        main_backtest(build_parser().parse_args(["backtest", "--data", str(tmp_path), "--db", str(db)]), Config())
    assert sorted(p.name for p in tmp_path.glob("new.db*")) == []


def test_ctrl_c_leaves_a_book_that_was_there(tmp_path: Path, quiet: Path, monkeypatch) -> None:
    _interrupted_after_the_book_is_made(monkeypatch)
    db = tmp_path / "old.db"
    import asyncio

    from tui_trader.backtest.runner import probe_db

    asyncio.run(probe_db(db))  # an empty book made earlier (by another command): not this run's
    before = db.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        main_backtest(build_parser().parse_args(["backtest", "--data", str(tmp_path), "--db", str(db)]), Config())
    assert db.read_bytes() == before


def test_only_a_book_without_a_row_is_removed(tmp_path: Path) -> None:
    import asyncio

    from tui_trader.backtest.runner import probe_db

    empty, kept = tmp_path / "empty.db", tmp_path / "kept.db"
    for db in (empty, kept):
        asyncio.run(probe_db(db))
    con = sqlite3.connect(kept)
    con.execute("INSERT INTO audit_log (ts_ms, action, source, ok, outcome) VALUES (1, 'x', 'system', 1, '')")
    con.commit()
    con.close()
    other = tmp_path / "not-sqlite.db"
    other.write_bytes(b"x" * 4096)
    for db in (empty, kept, other):
        remove_empty_book(db)
    assert not empty.exists() and kept.exists() and other.exists()
