"""``tui-trader run --headless``: trades with the defaults, stops cleanly on SIGINT/SIGTERM/SIGHUP (storage
flushed, session closed, exit 0), prints the summary (``--json``: one JSON line)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from tui_trader.config import Config
from tui_trader.headless import print_summary, run_headless

REPO = Path(__file__).resolve().parent.parent

FAST_CONFIG = """
[feed]
interval = "1m"
[feed.sim]
n_symbols = 10
warmup_periods = 12
[signal_generation]
z_score_threshold = 0.8
moving_average_period = 12
confidence_threshold = 0.0
signal_cooldown_ms = 0
[data_processing]
rating_calculation_interval_ms = 60000
[risk_management]
max_liquidity_share = 1.0
max_volatility = 10.0
max_data_staleness_periods = 1000.0
[rating]
volatility_window = 10
"""


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tui_trader", "run", "--headless", *args], cwd=str(tmp_path),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _fills(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(con.execute("SELECT COUNT(*) FROM fills").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _wait_for_fills(proc: subprocess.Popen, db: Path, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while _fills(db) == 0:
        if proc.poll() is not None:
            pytest.fail(f"runner exited early ({proc.returncode}): {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no fill in time")
        time.sleep(0.05)


def _check_closed_cleanly(db: Path, summary: dict) -> None:
    con = sqlite3.connect(str(db))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (ended, stored), = con.execute("SELECT ended_ms, summary_json FROM sessions")
        assert ended is not None and json.loads(stored)["fills"] == summary["fills"]
        # everything buffered was flushed: every period, signal and fill of the run is on disk
        periods = con.execute("SELECT COUNT(DISTINCT ts_ms) FROM glicko_ratings").fetchone()[0]
        signals = con.execute("SELECT COUNT(*) FROM trading_signals").fetchone()[0]
        fills = con.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        orders = con.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        equity = con.execute("SELECT COUNT(*) FROM equity_snapshots").fetchone()[0]
        state = con.execute("SELECT state FROM engine_state").fetchone()[0]
    finally:
        con.close()
    assert periods == summary["periods"]
    assert signals == summary["signals"]
    assert fills == summary["fills"] > 0 and orders == summary["orders"] > 0
    assert 0 < equity <= periods
    assert state == summary["state"] == "running"


def test_default_sim_run_trades_and_sigint_stops_it_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "default.db"
    proc = _start(tmp_path, "--feed", "sim", "--duration", "60s", "--speed", "max", "--db", str(db), "--json")
    try:
        _wait_for_fills(proc, db)  # the shipped defaults trade
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    lines = out.strip().splitlines()
    assert len(lines) == 1  # --json: one line, nothing else on stdout
    summary = json.loads(lines[0])
    assert summary["stopped_by"] == "signal"
    assert summary["feed"] == "sim" and summary["symbols"] == 40
    _check_closed_cleanly(db, summary)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_a_hang_up_stop_cleanly(tmp_path: Path, sig: int) -> None:
    # SIGHUP: the runner started from an SSH shell whose connection dropped
    db = tmp_path / "term.db"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_CONFIG)
    proc = _start(tmp_path, "--feed", "sim", "--speed", "max", "--db", str(db), "--config", str(cfg), "--json")
    try:
        _wait_for_fills(proc, db)
        time.sleep(0.3)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped_by"] == "signal" and summary["symbols"] == 10
    _check_closed_cleanly(db, summary)


def test_summary_table_names_every_figure(tmp_path: Path) -> None:
    db = tmp_path / "table.db"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_CONFIG)
    proc = _start(tmp_path, "--feed", "sim", "--speed", "max", "--db", str(db), "--config", str(cfg),
                  "--duration", "1.5s")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    for row in ("rating periods", "signals", "orders", "fills", "final equity", "return", "max drawdown",
                "duration reached"):
        assert row in out, row


def test_print_summary_shows_the_figures() -> None:
    console = Console(record=True, width=100)
    s = {"feed": "replay", "wall_time_s": 1.5, "symbols": 3, "klines": 1234, "klines_per_symbol": 411.3,
         "events_per_s": 822.0, "periods": 411, "signals": 17, "orders": 9, "fills": 8, "final_equity": 10123.456,
         "return_pct": 1.23456, "max_drawdown_pct": 2.5, "open_positions": 1, "state": "running",
         "db": "x.db", "stopped_by": "data ended", "rejected_by_reason": {"bad_price": 2}}
    print_summary(s, console)
    text = console.export_text()
    for want in ("411", "17", "10,123.46", "+1.235 %", "2.500 %", "rejected: bad_price", "data ended"):
        assert want in text, want
    # a title longer than the table's columns stays on one line
    console = Console(record=True, width=100)
    print_summary({**s, "feed": "sim", "db": "x.db", "stopped_by": "duration reached"}, console)
    assert "tui-trader run summary (duration reached)" in console.export_text()


def test_print_summary_says_which_figures_span_a_resumed_book() -> None:
    s = {"feed": "sim", "wall_time_s": 1.0, "symbols": 3, "klines": 30, "klines_per_symbol": 10.0,
         "events_per_s": 30.0, "periods": 10, "signals": 2, "orders": 1, "fills": 1, "final_equity": 10500.0,
         "return_pct": 5.0, "max_drawdown_pct": 0.25, "open_positions": 0, "state": "running", "db": "x.db",
         "stopped_by": "duration reached", "starting_balance": 10000.0}
    fresh = Console(record=True, width=160)
    print_summary({**s, "book_resumed": False}, fresh)
    resumed = Console(record=True, width=160)
    print_summary({**s, "book_resumed": True}, resumed)
    assert "since the book began" not in fresh.export_text()
    text = resumed.export_text()
    for want in ("resumed from the database", "+5.000 % since the book began at 10,000.00", "0.250 % in this run"):
        assert want in text, want


async def test_a_second_run_on_the_same_database_reports_a_resumed_book(tmp_path: Path) -> None:
    cfg = Config.model_validate({"feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 5}},
                                 "storage": {"path": str(tmp_path / "book.db")}})
    # runs that end with their data: a --duration also counts the start-up, which may outlast it
    first = await run_headless(cfg, None, Console(stderr=True, quiet=True), max_klines=50)
    second = await run_headless(cfg, None, Console(stderr=True, quiet=True), max_klines=50)
    assert first["book_resumed"] is False and second["book_resumed"] is True
    assert first["starting_balance"] == second["starting_balance"] == cfg.broker.starting_balance
    # the book's return is measured from its starting balance in both runs
    assert second["return_pct"] == pytest.approx(
        (second["final_equity"] / cfg.broker.starting_balance - 1) * 100, abs=1e-6)


async def test_a_run_that_fails_reports_its_first_cause_not_the_stop_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """The database fails mid-run: the run ends with that StorageError. The stop after it cannot
    flush either; its error used to replace the first one, so the operator read "final flush
    failed" instead of the cause (locked, read-only, disk full)."""
    from tui_trader.engine import TradingEngine
    from tui_trader.storage import StorageError

    async def failing_run(self) -> None:
        raise StorageError("storage failure on book.db: database is locked")

    stop = TradingEngine.stop

    async def failing_stop(self) -> None:
        await stop(self)
        raise StorageError("closing book.db: final flush failed, 3 buffered rows lost")

    monkeypatch.setattr(TradingEngine, "run", failing_run)
    monkeypatch.setattr(TradingEngine, "stop", failing_stop)
    cfg = Config.model_validate({"feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 5}},
                                 "storage": {"path": str(tmp_path / "book.db")}})
    with caplog.at_level(logging.ERROR, logger="tui_trader"), \
            pytest.raises(StorageError, match="database is locked"):
        await run_headless(cfg, 5.0, Console(stderr=True, quiet=True))
    assert "final flush failed" in caplog.text  # the second failure is logged, not lost
    # with no earlier failure, the stop's own error is still raised
    monkeypatch.setattr(TradingEngine, "run", lambda self: asyncio.sleep(0))
    with pytest.raises(StorageError, match="final flush failed"):
        await run_headless(cfg, 5.0, Console(stderr=True, quiet=True))


async def test_headless_replay_runs_until_the_data_ends(klines_dir: Path, tmp_path: Path) -> None:
    cfg = Config.model_validate({
        "feed": {"kind": "replay", "interval": "1h", "speed": "max", "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
                 "replay": {"path": str(klines_dir), "start": "2024-03-01", "end": "2024-03-15"}},
        "storage": {"path": str(tmp_path / "replay.db")},
    })
    summary = await run_headless(cfg, None, Console(stderr=True, quiet=True))
    assert summary["stopped_by"] == "data ended"
    assert summary["symbols"] == 3 and summary["klines"] == 3 * 14 * 24
    assert summary["periods"] == 14 * 24
    for key in ("signals", "orders", "fills", "final_equity", "return_pct", "max_drawdown_pct"):
        assert key in summary
    con = sqlite3.connect(str(tmp_path / "replay.db"))
    try:
        assert con.execute("SELECT COUNT(DISTINCT ts_ms) FROM glicko_ratings").fetchone()[0] == 14 * 24
        assert con.execute("SELECT COUNT(*) FROM klines").fetchone()[0] == 0  # replayed files are not copied
    finally:
        con.close()


async def test_a_long_start_up_shows_its_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trader import headless

    steps: list[tuple[str, int, int]] = []
    update = headless._Bar.update
    monkeypatch.setattr(headless._Bar, "update", lambda self, *a: (steps.append(a), update(self, *a))[1])
    cfg = Config.model_validate({"feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 10}},
                                 "storage": {"path": str(tmp_path / "p.db")}})
    await run_headless(cfg, 5.0, Console(stderr=True, quiet=True), max_klines=20)
    # bars that pulse while the feed starts and the history comes, then one that counts
    assert steps[:2] == [("starting the feed", 0, 0), ("loading history", 0, 0)]
    rating = [s for s in steps if s[0] == "rating history"]
    assert rating[0] == ("rating history", 0, 201) and rating[-1] == ("rating history", 201, 201)
    assert [d for _, d, _ in rating] == sorted(d for _, d, _ in rating) and len(rating) <= 103


def test_start_up_bars_leave_nothing_in_a_log_file() -> None:
    # stderr sent to a file got one empty line per start-up step between the log lines
    from tui_trader import headless

    for terminal, empty in ((False, True), (True, False)):
        buf = io.StringIO()
        bar = headless._Bar(Console(file=buf, force_terminal=terminal, width=80))
        for step in (("loading klines", 0, 10), ("loading klines", 10, 10), ("rating history", 0, 0)):
            bar.update(*step)
        bar.close()
        assert (buf.getvalue() == "") == empty, repr(buf.getvalue())


def test_an_unreachable_exchange_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port on 127.0.0.1 where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "live.toml"
    cfg.write_text(f'[binance]\nrest_url = "http://127.0.0.1:{port}"\nstream_url = "ws://127.0.0.1:{port}"\n'
                   "request_timeout_s = 1.0\n")
    # (a --duration that outlasts the feed's retries: one ended first cuts the start-up cleanly)
    proc = _start(tmp_path, "--feed", "binance", "--config", str(cfg), "--duration", "10m",
                  "--db", str(tmp_path / "live.db"))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "error: cannot start the Binance feed" in err
    assert "Traceback" not in err


def test_the_run_keeps_its_log_in_the_log_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "tui-trader.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUI_TRADER_LOG_FILE": str(log_file),
           "BINANCE_API_KEY": "KEY-THAT-MUST-NOT-APPEAR", "BINANCE_API_SECRET": "SECRET-THAT-MUST-NOT-APPEAR"}
    db = tmp_path / "log.db"
    r = subprocess.run([sys.executable, "-m", "tui_trader", "run", "--headless", "--duration", "1s", "--db", str(db)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    text = log_file.read_text()
    # (the run summary: a --duration also counts the start-up, which may not have opened a session)
    assert f"log file: {log_file}" in text and text.count("run summary:") == 1
    assert "MUST-NOT-APPEAR" not in text
    # an appended second run; a log file that cannot be opened only warns
    env["TUI_TRADER_LOG_FILE"] = "/proc/tui-trader-test/x.log"
    r = subprocess.run([sys.executable, "-m", "tui_trader", "run", "--headless", "--duration", "1s", "--db", str(db)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "warning: no log file (/proc/tui-trader-test/x.log" in r.stderr
    env["TUI_TRADER_LOG_FILE"] = str(log_file)
    subprocess.run([sys.executable, "-m", "tui_trader", "run", "--headless", "--duration", "1s", "--db", str(db)],
                   env=env, capture_output=True, text=True, timeout=120, check=True)
    text = log_file.read_text()
    assert text.count("run summary:") == 2  # appended, not overwritten


def test_where_the_log_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cfg = Config()
    default = cfg.log_path()
    assert default is not None and default.name == "tui-trader.log" and "tui-trader" in default.parent.parts
    assert Config.model_validate({"monitoring": {"log_file": "off"}}).log_path() is None
    assert Config.model_validate({"monitoring": {"log_file": "~/x.log"}}).log_path() == Path.home() / "x.log"
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", "off")
    assert Config.model_validate({"monitoring": {"log_file": "/tmp/y.log"}}).log_path() is None


def test_stderr_log_times_are_utc_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from tui_trader.headless import setup_logging

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        buf = io.StringIO()
        setup_logging(Config(), stream=buf)
        rec = logging.LogRecord("tui_trader.x", logging.WARNING, __file__, 1, "hello", None, None)
        rec.created, rec.msecs = 1_700_000_000.25, 250.0  # 2023-11-14 22:13:20.250 UTC
        logging.getLogger().handlers[0].handle(rec)
        line = buf.getvalue().strip()
        assert re.match(r"^2023-11-14 22:13:20\.250Z WARNING tui_trader\.x: hello$", line), line
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        logging.getLogger().handlers.clear()


def test_a_run_that_cannot_start_says_why_once_on_stderr_and_in_the_log_file(tmp_path, monkeypatch, capsys):
    # the reason came twice on stderr: as an ERROR log line and as the "error:" line after it
    from tui_trader.cli import main

    bad = tmp_path / "klines" / "BTCUSDT" / "1h"
    bad.mkdir(parents=True)
    (bad / "2024-01-01.json").write_text("garbage{")
    log_file = tmp_path / "t.log"
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", str(log_file))
    monkeypatch.setenv("TUI_TRADER_CACHE_DIR", "off")
    assert main(["run", "--data", str(tmp_path / "klines"), "--interval", "1h", "--speed", "max",
                 "--db", str(tmp_path / "x.db")]) == 2
    why = f"no valid 1h klines to replay in {tmp_path / 'klines'}"
    err = capsys.readouterr().err
    assert err.count(why) == 1 and err.splitlines()[-1].startswith(f"error: {why}"), err
    assert "rejected 1 market-data row(s): malformed" in err  # the cause the error points to stays
    # neither the engine's notice nor the replay's line for the one symbol repeat it on stderr
    notice = "start-up did not finish"
    assert notice not in err and "no valid 1h klines for" not in err, err
    text = log_file.read_text()
    assert f"ERROR   tui_trader.headless: {why}" in text
    # the replay's data is refused before the book is opened: none was made, so no notice of one left unchanged
    assert notice not in text and not list(tmp_path.glob("x.db*"))


@pytest.mark.shared_data
def test_a_run_refused_after_its_book_opened_says_the_notice_in_the_log_file_only(
    tmp_path, monkeypatch, capsys, klines_dir
):
    # a replay before the book's last stored time is refused once the book is open (and the feed
    # started): the engine's notice goes to the log file, the reason once to stderr
    from tui_trader.cli import main

    log_file = tmp_path / "t.log"
    monkeypatch.setenv("TUI_TRADER_LOG_FILE", str(log_file))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    db = str(tmp_path / "x.db")
    argv = ["run", "--data", str(klines_dir), "--interval", "1h", "--speed", "max", "--symbols", "BTCUSDT,ETHUSDT",
            "--db", db, "--config"]
    later, earlier = tmp_path / "later.toml", tmp_path / "earlier.toml"
    later.write_text('[feed.replay]\nstart = "2024-03-02"\nend = "2024-03-03"\n')
    earlier.write_text('[feed.replay]\nstart = "2024-03-01"\nend = "2024-03-02"\n')
    assert main([*argv, str(later)]) == 0
    capsys.readouterr()
    assert main([*argv, str(earlier)]) == 2
    err = capsys.readouterr().err
    assert err.count("holds a book last written at") == 1 and "start-up did not finish" not in err, err
    text = log_file.read_text()
    assert "WARNING tui_trader.engine: start-up did not finish: the stored engine state and account are left unchanged" in text


def test_print_summary_writes_counts_as_counts() -> None:
    """"klines per symbol" read 76056.0 and "rating periods" 15211 beside "klines" 4,563,360."""
    s = {"feed": "sim", "wall_time_s": 60.0, "symbols": 60, "klines": 4563360, "klines_per_symbol": 76056.0,
         "events_per_s": 50630.0, "periods": 15211, "signals": 4163, "orders": 2755, "fills": 2755,
         "final_equity": 52853.03, "return_pct": 428.53, "max_drawdown_pct": 1.25, "open_positions": 5,
         "state": "running", "db": "x.db", "stopped_by": "duration reached", "rejected_messages": 0}
    console = Console(record=True, width=100)
    print_summary(s, console)
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in console.export_text().splitlines() if line.count("│") == 3}  # fmt: skip
    assert rows["klines per symbol"] == "76,056" and rows["rating periods"] == "15,211", rows
    assert rows["signals"] == "4,163" and rows["klines"] == "4,563,360" and rows["rejected messages"] == "0"
    print_summary({**s, "klines_per_symbol": 411.35}, console := Console(record=True, width=100))
    assert "411.35" in console.export_text()
