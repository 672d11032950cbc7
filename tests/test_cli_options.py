"""The command line takes its global options (--version, --help, --db, --config) wherever they are placed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader import __version__
from tui_trader.cli import _normalise_argv, main


@pytest.mark.parametrize(
    "argv",
    [
        ["--db", "x.db", "--version"],  # said "invalid choice: 'x.db'"
        ["--feed", "sim", "--version"],
        ["--config", "c.toml", "--db=x.db", "--version"],
        ["run", "--version"],  # said "unrecognized arguments: --version"
        ["--db", "x.db", "run", "--version"],
        ["backtest", "sweep", "--version"],
        ["config", "show", "--version"],
        ["--report", "--version"],  # --report's run id may be left out: --version is no run id
    ],
)
def test_version_wherever_it_is_placed(argv: list[str], capsys) -> None:
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == f"tui-trader {__version__}\n" and captured.err == ""


def test_version_as_an_options_value_is_that_value() -> None:
    # `--out --version` names a folder "--version" (argparse's own rule); nothing after "--" is an option
    assert _normalise_argv(["export", "--out", "--version"]) == ["export", "--out", "--version"]
    assert _normalise_argv(["run", "--", "--version"]) == ["run", "--", "--version"]


def test_options_before_an_action_go_after_it(tmp_path: Path, capsys) -> None:
    # `tui-trader config --db x.db show` said "invalid choice: 'x.db' (choose from 'check', 'show')"
    db = tmp_path / "x.db"
    assert _normalise_argv(["config", "--db", "x.db", "show"]) == ["config", "show", "--db", "x.db"]
    assert _normalise_argv(["--db", "x.db", "config", "--config", "c.toml", "check", "f.toml"]) == [
        "config",
        "check",
        "f.toml",
        "--db",
        "x.db",
        "--config",
        "c.toml",
    ]
    assert main(["config", "--db", str(db), "show"]) == 0
    assert f'path = "{db}"' in capsys.readouterr().out


@pytest.mark.parametrize("command", ["config", "data"])
def test_an_action_left_out_after_an_option_is_named(command: str, capsys) -> None:
    # the option's value was taken for the action: "invalid choice: 'x.db'"
    assert main([command, "--db", "x.db"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {command}: expected an action: ")
    assert main(["--db", "x.db", command, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: tui-trader {command} [-h] ACTION")
    assert main([command, "--db", "x.db", "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: tui-trader {command} [-h] ACTION")


def test_a_misspelt_action_after_an_option_is_named(capsys) -> None:
    assert main(["config", "--db", "x.db", "chek"]) == 2
    assert "invalid choice: 'chek'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "uses_db"),
    [
        (["config", "check"], False),
        (["data", "download"], False),
        (["config", "show"], True),
        (["run"], True),
        (["export"], True),
    ],
)
def test_db_help_says_whether_the_command_reads_a_database(command: list[str], uses_db: bool, capsys) -> None:
    # `config check --help` and `data download --help` described --db as the database they used; they read none
    assert main([*command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert ("--db PATH SQLite database file" in text) == uses_db
    assert ("--db PATH not used by this command" in text) == (not uses_db)
