"""A --db whose folder is a file: one line naming the path and why, exit 2, for every command
(the OS's "[Errno 17] File exists" or "[Errno 20] Not a directory" named no path given)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.storage import Database
from tui_trader.storage.schema import StorageError, file_in_the_way


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", "off")
    monkeypatch.setenv("TUI_TRADER_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    import tui_trader.ui.app

    monkeypatch.setattr(tui_trader.ui.app, "run_tui", lambda *a, **k: pytest.fail("the console opened"))
    (tmp_path / "file").write_text("")
    return tmp_path


def _klines(root: Path) -> Path:
    folder = root / "klines" / "BTCUSDT" / "1h"
    folder.mkdir(parents=True)
    row = [1704067200000, "1", "2", "0.5", "1.5", "10", 1704070799999, "15", 5, "5", "7.5", "0"]
    (folder / "2024-01-01.json").write_text(json.dumps([row]))
    return root / "klines"


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("below", ["x.db", "sub/x.db"])
@pytest.mark.parametrize("command", ["run", "backtest", "export", "console"])
def test_a_db_under_a_file_says_which_file_is_in_the_way(
    home: Path, capsys, command: str, below: str
) -> None:
    db = home / "file" / below
    argv = {
        "run": ["run", "--headless", "--feed", "sim", "--duration", "1s"],
        "backtest": ["backtest", "--data", str(_klines(home)), "--interval", "1h"]
        if command == "backtest"
        else [],
        "export": ["export", "--out", str(home / "out")],
        "console": [],
    }[command]
    assert main([*argv, "--db", str(db)]) == 2
    line = _one_error_line(capsys)
    assert line.endswith(f"{db}: {home / 'file'} is a file, not a folder") or line.endswith(
        f"{db}.lock for the database: {home / 'file'} is a file, not a folder"
    ), line
    assert "Errno" not in line
    assert not (home / "out").exists()


def test_database_open_under_a_file_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")

    async def go() -> None:
        await Database.open(tmp_path / "f" / "x.db")

    with pytest.raises(StorageError) as err:
        asyncio.run(go())
    assert (
        str(err.value)
        == f"cannot open the database {tmp_path / 'f' / 'x.db'}: {tmp_path / 'f'} is a file, not a folder"
    )


def test_file_in_the_way_says_nothing_when_no_file_is(tmp_path: Path) -> None:
    assert file_in_the_way(tmp_path / "a" / "b" / "x.db") == ""  # folders to be made: fine
    (tmp_path / "a").write_text("")
    assert file_in_the_way(tmp_path / "a" / "b" / "x.db") == f"{tmp_path / 'a'} is a file, not a folder"


@pytest.mark.parametrize("command", ["run", "backtest", "sweep", "export", "console"])
def test_a_db_that_is_a_folder_is_said_so_by_every_command(home: Path, capsys, command: str) -> None:
    """`backtest --db /tmp` said "cannot open the database /tmp: unable to open database file";
    the others already said what `run` says."""
    folder = home / "books"
    folder.mkdir()
    data = ["--data", str(_klines(home)), "--interval", "1h"] if command in ("backtest", "sweep") else []
    argv = {
        "run": ["run", "--headless", "--feed", "sim", "--duration", "1s"],
        "backtest": ["backtest", *data],
        "sweep": ["backtest", "sweep", *data, "--param", "signal_generation.z_score_threshold=2,3"],
        "export": ["export", "--out", str(home / "out")],
        "console": [],
    }[command]
    assert main([*argv, "--db", str(folder)]) == 2
    line = _one_error_line(capsys)
    assert line == f"error: --db: {folder} is a folder, not a database file (e.g. {folder / 'tui-trader.db'})"
