"""The user's configuration file in the platform config folder, when it is there but cannot be
read (a folder of that name, a dangling link), is an error naming it, exit 2: it was skipped
without a word, and every command ran on the defaults instead of the operator's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main


@pytest.fixture
def user_file(quiet: Path) -> Path:
    folder = quiet / "config" / "tui-trader"  # quiet sets XDG_CONFIG_HOME to quiet/config
    folder.mkdir(parents=True)
    return folder / "config.toml"


def test_a_folder_in_place_of_the_user_file(user_file: Path, capsys) -> None:
    user_file.mkdir()
    assert main(["config", "show"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: config path is a directory, not a file: {user_file}"
    ]


def test_a_dangling_link_in_place_of_the_user_file(user_file: Path, quiet: Path, capsys) -> None:
    user_file.symlink_to(quiet / "moved-away.toml")
    argv = ["run", "--feed", "sim", "--speed", "max", "--duration", "1s", "--db", str(quiet / "r.db")]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: config file not found: {user_file}"]
    assert not (quiet / "r.db").exists()


def test_no_user_file_is_no_error(user_file: Path, capsys) -> None:
    assert main(["config", "show"]) == 0
    assert f"no user file at {user_file}" in capsys.readouterr().out.splitlines()[0]
