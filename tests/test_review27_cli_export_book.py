"""``export --book live`` checks the file it reads, the live book's default file: a folder there
said "no database at DIR" (the message check_db_path exists to replace), while a folder at the
*paper* book's default file refused the live export, naming storage.path, a setting never given."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", "off")
    (tmp_path / "d" / "tui-trader").mkdir(parents=True)
    return tmp_path / "d" / "tui-trader"


def test_a_folder_at_the_live_book_is_named_by_book_live(data_home: Path, tmp_path: Path, capsys) -> None:
    (data_home / "tui-trader-live.db").mkdir()
    assert main(["export", "--book", "live", "--out", str(tmp_path / "out")]) == 2
    db = data_home / "tui-trader-live.db"
    assert capsys.readouterr().err.splitlines() == [
        f"error: --book live: {db} is a folder, not a database file (e.g. {db / 'tui-trader.db'})"
    ]


def test_a_folder_at_the_paper_book_does_not_refuse_the_live_export(
    data_home: Path, tmp_path: Path, capsys
) -> None:
    (data_home / "tui-trader.db").mkdir()
    assert main(["export", "--book", "live", "--out", str(tmp_path / "out")]) == 2  # no live book yet
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: no database at {data_home / 'tui-trader-live.db'} (give the book's file with --db)"
    ]


def test_the_paper_default_is_still_named_as_before(data_home: Path, tmp_path: Path, capsys) -> None:
    (data_home / "tui-trader.db").mkdir()
    assert main(["export", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: storage.path: {data_home / 'tui-trader.db'} is a folder"
    )
