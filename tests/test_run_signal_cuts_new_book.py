"""A signal that cuts a headless run's start-up during a replay's loading leaves no new book.

A replay loads its klines before the book is opened, but the loading holds the event loop: a Ctrl-C
during it was only read once the start-up had gone on to take the lock and make the book, which the
cut then left empty beside an empty ``.lock``. Now the start-up lets the signal in before it makes
the book, and the runner cancels it from the signal's handler at once. A start-up cut after it made
a new book leaves it (its tables, no session): removing it was tried, and a review showed another
program can write or move a book there in the moments between any check and the removal - so a cut
start-up never deletes a book, whatever is in it."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from tui_trader.config import Config
from tui_trader.headless import print_summary, run_headless
from tui_trader.storage.db import Database

pytestmark = pytest.mark.shared_data


def _config(klines_dir: Path, db: Path, start: str = "2024-03-01", end: str = "2024-03-03") -> Config:
    return Config.model_validate({
        "feed": {"kind": "replay", "interval": "1h", "speed": "max", "symbols": ["BTCUSDT", "ETHUSDT"],
                 "replay": {"path": str(klines_dir), "start": start, "end": end}},
        "storage": {"path": str(db)},
        "monitoring": {"log_level": "error"},
    })


def _interrupt() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # read by the runner's handler once the loop runs again


def _signal_while_the_book_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = Database.open.__func__

    async def open_interrupted(cls, *args, **kwargs):
        _interrupt()
        return await opened(cls, *args, **kwargs)

    monkeypatch.setattr(Database, "open", classmethod(open_interrupted))


def _files(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.glob(name + "*"))


async def test_a_signal_while_the_replay_loads_makes_no_book(
    klines_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trader.market import replay

    load = replay.load_klines
    monkeypatch.setattr(replay, "load_klines", lambda *a, **k: (load(*a, **k), _interrupt())[0])
    summary = await run_headless(_config(klines_dir, tmp_path / "new.db"), None, Console(stderr=True, quiet=True))
    assert summary["stopped_by"] == "signal" and summary["klines"] == 0
    assert _files(tmp_path, "new.db") == []  # no book, no -wal/-shm, no .lock
    assert summary["db"] is None and summary["db_not_made"] is True
    out = Console(record=True, width=100)
    print_summary(summary, out)
    assert "not made: the start-up was cut first" in out.export_text()


async def test_a_new_book_a_signal_caught_opening_is_kept_and_a_later_run_starts_it(
    klines_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "new.db"
    with monkeypatch.context() as m:
        _signal_while_the_book_opens(m)
        summary = await run_headless(_config(klines_dir, db), None, Console(stderr=True, quiet=True))
    assert summary["stopped_by"] == "signal" and summary["db"] == str(db) and "db_not_made" not in summary
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0  # its tables, no session
    again = await run_headless(_config(klines_dir, db), None, Console(stderr=True, quiet=True))
    assert again["stopped_by"] == "data ended" and again["book_resumed"] is False and again["periods"] > 0


async def test_a_book_there_before_the_cut_start_up_is_kept(
    klines_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "book.db"
    first = await run_headless(_config(klines_dir, db), None, Console(stderr=True, quiet=True))
    assert first["stopped_by"] == "data ended" and first["fills"] >= 0
    with sqlite3.connect(db) as con:
        sessions = con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    _signal_while_the_book_opens(monkeypatch)
    cfg = _config(klines_dir, db, "2024-03-03", "2024-03-05")  # after the book's last time
    summary = await run_headless(cfg, None, Console(stderr=True, quiet=True))
    assert summary["stopped_by"] == "signal" and summary["db"] == str(db)
    assert "book.db" in _files(tmp_path, "book.db") and "book.db.lock" in _files(tmp_path, "book.db")
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == sessions


async def test_a_new_book_a_failing_start_up_made_is_kept(
    klines_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trader.engine import TradingEngine

    async def broken(self) -> None:
        raise RuntimeError("a failure, not a cut")

    monkeypatch.setattr(TradingEngine, "_check_book_mode", broken)
    with pytest.raises(RuntimeError, match="not a cut"):
        await run_headless(_config(klines_dir, tmp_path / "new.db"), None, Console(stderr=True, quiet=True))
    assert "new.db" in _files(tmp_path, "new.db")  # what it wrote before it failed stays to be read


async def test_a_book_still_opening_when_the_runner_wakes_is_closed(
    klines_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal's handler cancels the start-up at once; the runner's own wait then wakes with the
    start-up still letting the book's opening finish (so that the stop closes it). A second cancel
    from the runner cut that wait: the book opened later with no owner, its connection never closed
    (its thread failed once the loop had closed)."""
    db = tmp_path / "book.db"
    assert (await run_headless(_config(klines_dir, db), None, Console(stderr=True, quiet=True)))["stopped_by"] \
        == "data ended"
    opened = Database.open.__func__
    books: list[Database] = []

    async def slow_open(cls, *args, **kwargs):
        _interrupt()
        book = await opened(cls, *args, **kwargs)
        books.append(book)
        await asyncio.sleep(0.3)  # still opening when the runner's wait wakes
        return book

    monkeypatch.setattr(Database, "open", classmethod(slow_open))
    summary = await run_headless(_config(klines_dir, db, "2024-03-03", "2024-03-05"), None,
                                 Console(stderr=True, quiet=True))
    assert summary["stopped_by"] == "signal"
    assert len(books) == 1 and books[0].closed  # the stop closed it


async def _template_book(path: Path) -> Path:
    """A tui-trader book with a row in it (as a backup copied into place, or a backtest's book)."""
    db = await Database.open(str(path))
    await db.audit(1000, "ui", "Start", {}, True, "ok")
    await db.close()
    return path


async def test_a_book_put_at_the_path_while_the_replay_loads_is_kept(
    klines_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the path was free when the start-up began; a backup copied there (or a backtest's book stored
    # there) while the data loaded is not the start-up's to remove
    import shutil

    from tui_trader.market import replay

    template = await _template_book(tmp_path / "template.db")
    db = tmp_path / "new.db"
    load = replay.load_klines

    def load_then_copy(*a, **k):
        out = load(*a, **k)
        shutil.copy(template, db)
        return out

    monkeypatch.setattr(replay, "load_klines", load_then_copy)
    _signal_while_the_book_opens(monkeypatch)
    summary = await run_headless(_config(klines_dir, db), None, Console(stderr=True, quiet=True))
    assert summary["stopped_by"] == "signal" and summary["db"] == str(db)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT action FROM audit_log").fetchall() == [("Start",)]


async def test_a_new_book_with_a_row_written_before_the_cut_is_kept(
    klines_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. an emergency stop stored (and its audit row) as the cut came: a book with any row is kept
    opened = Database.open.__func__

    async def open_write_interrupted(cls, *args, **kwargs):
        book = await opened(cls, *args, **kwargs)
        await book.audit(1000, "ui", "EmergencyStop", {}, True, "stored")
        _interrupt()
        return book

    monkeypatch.setattr(Database, "open", classmethod(open_write_interrupted))
    db = tmp_path / "new.db"
    summary = await run_headless(_config(klines_dir, db), None, Console(stderr=True, quiet=True))
    assert summary["stopped_by"] == "signal" and summary["db"] == str(db)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT action FROM audit_log").fetchall() == [("EmergencyStop",)]
