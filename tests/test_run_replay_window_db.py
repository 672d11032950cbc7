"""`run --feed replay` with a replay window (feed.replay.start / end) outside the data opened the
book (--db, its -wal/-shm and the engine's .lock) before the feed loaded its klines, so a refused
run left a new, empty database behind, as `backtest` did before c08df2d. The engine now loads the
replay's klines and checks its window before it opens the book (it takes the lock first, so that a
book in use is refused at once; a lock file it made beside no book goes as it stops)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tui_trader.cli import main

pytestmark = pytest.mark.shared_data


def _config(tmp_path: Path, **replay: str) -> Path:
    cfg = tmp_path / "window.toml"
    cfg.write_text("[feed.replay]\n" + "".join(f'{k} = "{v}"\n' for k, v in replay.items()))
    return cfg


def _run(cfg: Path, klines_dir: Path, db: Path, *extra: str) -> int:
    return main(["run", "--headless", "--config", str(cfg), "--feed", "replay", "--data", str(klines_dir),
                 "--interval", "1h", "--speed", "max", "--db", str(db), *extra])


@pytest.mark.parametrize(
    ("replay", "said"),
    [
        ({"start": "2031-01-01"}, "from 2031-01-01 00:00 UTC on"),
        ({"end": "2001-01-01"}, "before 2001-01-01 00:00 UTC"),
        ({"start": "2031-01-01", "end": "2031-02-01"}, "from 2031-01-01 00:00 to 2031-02-01 00:00 UTC"),
    ],
    ids=["start", "end", "both"],
)
def test_a_window_outside_the_data_creates_no_database(
    replay, said: str, tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    db = tmp_path / "new.db"
    assert _run(_config(tmp_path, **replay), klines_dir, db) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: no valid 1h klines to replay in {klines_dir} {said}", err
    assert sorted(p.name for p in tmp_path.glob("new.db*")) == []  # no book, no -wal/-shm, no .lock


def test_a_window_outside_the_data_makes_no_folder_for_the_book(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    # the lock is taken before the loading only where the book's folder is there already
    db = tmp_path / "books" / "new.db"
    assert _run(_config(tmp_path, start="2031-01-01"), klines_dir, db) == 2
    assert not (tmp_path / "books").exists()


def test_a_refused_window_leaves_an_existing_book_as_it_was(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    db = tmp_path / "book.db"
    ok = _config(tmp_path, start="2024-03-01", end="2024-03-02")
    assert _run(ok, klines_dir, db, "--symbols", "BTCUSDT,ETHUSDT") == 0
    capsys.readouterr()
    with sqlite3.connect(db) as con:
        sessions = con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.glob("book.db*")}
    assert "book.db" in before and sessions == 1

    assert _run(_config(tmp_path, start="2031-01-01"), klines_dir, db) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: no valid 1h klines to replay")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.glob("book.db*")}
    # not opened at all: no session row, nothing rewritten, nothing removed (the lock file, taken
    # before the loading and let go, is empty again: only its time moved)
    assert after.keys() == before.keys() and after["book.db.lock"][0] == b""
    assert {k: v for k, v in after.items() if k != "book.db.lock"} == {
        k: v for k, v in before.items() if k != "book.db.lock"}


def test_a_window_inside_the_data_still_runs_on_a_new_book(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys
) -> None:
    db = tmp_path / "new.db"
    assert _run(_config(tmp_path, start="2024-03-01", end="2024-03-02"), klines_dir, db,
                "--symbols", "BTCUSDT,ETHUSDT", "--json") == 0
    assert db.is_file() and '"stopped_by": "data ended"' in capsys.readouterr().out


def test_a_book_another_engine_holds_is_refused_before_the_loading(
    tmp_path: Path, klines_dir: Path, quiet: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine takes the book's lock before a replay loads its klines: a book in use is refused at
    once, not after a second of loading (and a refused start-up leaves no lock file it made)."""
    from tui_trader.market import replay
    from tui_trader.storage.lock import EngineLock

    loads: list[str] = []
    load = replay.load_klines
    monkeypatch.setattr(replay, "load_klines", lambda *a, **k: (loads.append("load"), load(*a, **k))[1])
    db = tmp_path / "held.db"
    held = EngineLock(db)
    held.acquire()
    try:
        assert _run(_config(tmp_path, start="2024-03-01", end="2024-03-02"), klines_dir, db) == 2
    finally:
        held.release()
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: {db} is in use by another tui-trader")
    assert loads == []
    assert sorted(p.name for p in tmp_path.glob("held.db*")) == ["held.db.lock"]  # the holder's own
