"""``run --status-every``: 0 turns the status line off; anything else is at least 1 s. 0.001s was
taken, and a headless run then logged a status line a thousand times a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import STATUS_EVERY_MIN_S, main


def _run(tmp_path: Path, *flag: str) -> list[str]:
    return [
        "run",
        "--feed",
        "sim",
        "--speed",
        "max",
        "--n-symbols",
        "3",
        "--duration",
        "1s",
        "--db",
        str(tmp_path / "run.db"),
        *flag,
    ]


def test_the_minimum_is_one_second() -> None:
    assert STATUS_EVERY_MIN_S == 1.0


@pytest.mark.parametrize("value", ["0.001s", "0.5", "999ms", "1e-300s", "0.016m"])
def test_an_interval_below_one_second_exits_2_naming_the_option(value: str, quiet: Path, capsys) -> None:
    assert main(_run(quiet, "--status-every", value)) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"error: --status-every: at least 1s (got {value!r}); 0 turns the status line off"
    ]
    assert captured.out == ""
    assert not (quiet / "run.db").exists()  # refused before anything ran


@pytest.mark.parametrize("value", ["-5s", "-0.5", "1e309s"])
def test_a_negative_or_endless_interval_is_one_error_line(value: str, quiet: Path, capsys) -> None:
    # "-5s" without "=": argparse took it for an option and printed its usage, "expected one argument"
    assert main(_run(quiet, "--status-every", value)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --status-every: bad duration {value!r}"), err
    assert not (quiet / "run.db").exists()


def test_the_help_gives_the_minimum(capsys) -> None:
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "every T of wall time, at least 1s, e.g. 30s, 15m, 1h; 0 for none (default: 15m)" in text
