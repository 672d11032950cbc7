"""``--db`` naming something that is no file (``/dev/null``, a named pipe) is one line naming the
option, exit 2: ``run`` said "storage failure on /dev/null: disk I/O error (the disk reported an
I/O error)", and ``export`` "no database at /dev/null"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_trader.cli import main


def _said(path: Path | str) -> str:
    return f"error: --db: {path} is not a regular file: a database is a file (e.g. tui-trader.db)"


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null here")
@pytest.mark.parametrize(
    "command", [["run", "--feed", "sim", "--speed", "max", "--duration", "1s"], ["export", "--out", "o"]]
)
def test_dev_null_is_no_database(command: list[str], quiet: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(quiet)
    assert main([*command, "--db", "/dev/null"]) == 2
    assert capsys.readouterr().err.splitlines() == [_said("/dev/null")]
    assert not (quiet / "o").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_no_database(quiet: Path, capsys) -> None:
    fifo = quiet / "book.db"
    os.mkfifo(fifo)
    assert main(["run", "--feed", "sim", "--speed", "max", "--duration", "1s", "--db", str(fifo)]) == 2
    assert capsys.readouterr().err.splitlines() == [_said(fifo)]
