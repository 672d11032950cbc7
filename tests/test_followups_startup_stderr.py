"""A run that cannot start says so once on stderr: its "error:" line, after the warnings it points
to. The engine's "start-up did not finish" notice came before it as a second alarm; it stays in
the log file, and on stderr when the start-up was cancelled (no error line follows then)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import Config
from tui_trader.runtime import build_engine

NOTICE = "start-up did not finish"


@pytest.fixture
def restore_logging():
    yield
    logging.getLogger().handlers.clear()


def test_a_corrupt_kline_file_is_said_once_on_stderr_and_the_log_file_keeps_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, restore_logging
) -> None:
    bad = tmp_path / "klines" / "BTCUSDT" / "1h"
    bad.mkdir(parents=True)
    (bad / "2024-01-01.json").write_text("garbage{")
    log_file = tmp_path / "t.log"
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", str(log_file))
    monkeypatch.setenv("TUI_TRADER_CACHE_DIR", "off")
    argv = ["run", "--headless", "--feed", "replay", "--data", str(tmp_path / "klines"), "--interval", "1h"]
    assert main([*argv, "--speed", "max", "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: no valid 1h klines to replay in "), err
    assert NOTICE not in err, err
    assert "rejected 1 market-data row(s): malformed" in err  # the warnings the error points to stay
    text = log_file.read_text()
    assert (
        f"WARNING tui_trader.engine: {NOTICE}: the stored engine state and account are left unchanged" in text
    )


async def test_a_cancelled_start_up_still_says_it_did_not_finish_on_stderr(tmp_path: Path, caplog) -> None:
    """A signal during a long start-up cancels it; the run then ends with its summary, no error
    line: the notice is the only word that the stored state was left as it was."""
    cfg = Config.model_validate({"monitoring": {"log_file": "off"}})
    engine = build_engine(cfg, db_path=str(tmp_path / "c.db"), session_kind="run")
    started = asyncio.Event()
    real_start = engine.feed.start

    async def slow_feed_start() -> None:
        started.set()
        await asyncio.sleep(30)
        await real_start()

    engine.feed.start = slow_feed_start
    task = asyncio.create_task(engine.start_up())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    caplog.set_level(logging.WARNING, "tui_trader.engine")
    await asyncio.wait_for(engine.stop(), 20)
    (notice,) = [r for r in caplog.records if r.getMessage().startswith(NOTICE)]
    assert getattr(notice, "stderr", True) is True
