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
        "--db",
        "x.db",
        "--config",
        "c.toml",
        "f.toml",
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


def test_an_option_given_before_and_after_the_command_is_the_later_one(tmp_path: Path, capsys) -> None:
    # the options typed before the command went after the command's own: the earlier --db won, the run
    # traded a.db and never made b.db; an overridden --config's error stopped the run
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert _normalise_argv(["--db", "a.db", "run", "--db", "b.db"]) == ["run", "--db", "a.db", "--db", "b.db"]
    assert main(["--db", str(a), "run", "--db", str(b), "--feed", "sim", "--speed", "max", "--duration", "1s",
                 "--json"]) == 0
    assert b.exists() and not a.exists()
    capsys.readouterr()
    bad, good = tmp_path / "bad.toml", tmp_path / "good.toml"
    bad.write_text("[risk_management]\nmax_position_percent = -1\n")
    good.write_text("")
    assert main(["--config", str(bad), "config", "show", "--config", str(good)]) == 0
    assert main(["--config", str(good), "config", "show", "--config", str(bad)]) == 2
    assert "max_position_percent" in capsys.readouterr().err
    # a file after "--" is the action's, the options before the command stay options
    assert main(["--db", str(a), "config", "check", "--", str(good)]) == 0
