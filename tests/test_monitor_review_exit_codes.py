"""The database failing while a headless run trades (a disk that ran full) is a runtime failure:
exit 1. It exited 2, the code for bad usage or configuration, so a supervisor or script telling
the codes apart took a full disk for a misconfiguration. A --db that is no usable book stays 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.engine import TradingEngine
from tui_trader.storage.schema import StorageError, storage_failure


def _run(tmp_path: Path) -> list[str]:
    return [
        "run",
        "--headless",
        "--feed",
        "sim",
        "--speed",
        "max",
        "--n-symbols",
        "5",
        "--duration",
        "5s",
        "--status-every",
        "0",
        "--json",
        "--db",
        str(tmp_path / "run.db"),
    ]


def test_a_database_failing_mid_run_exits_1(quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    async def disk_full(self) -> None:
        raise storage_failure(self._db_path, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(TradingEngine, "run", disk_full)
    assert main(_run(quiet)) == 1
    err = capsys.readouterr().err
    assert "error: storage failure on " in err and "database or disk is full" in err


def test_a_final_flush_that_fails_after_a_clean_run_exits_1(
    quiet: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    stop = TradingEngine.stop

    async def failing_stop(self) -> None:
        await stop(self)
        raise StorageError(
            "closing run.db: final flush failed, 3 buffered rows lost: database or disk is full"
        )

    monkeypatch.setattr(TradingEngine, "stop", failing_stop)
    assert main(_run(quiet)) == 1
    assert "error: closing run.db: final flush failed" in capsys.readouterr().err


def test_a_db_that_is_no_database_still_exits_2(quiet: Path, capsys) -> None:
    (quiet / "run.db").write_bytes(b"not a database at all, " * 100)
    assert main(_run(quiet)) == 2
    assert "run.db" in capsys.readouterr().err
