"""The log file as an operator reads it after weeks on a server: one line per record, and a file
that stops taking lines (a full disk) costs the run nothing and floods nothing."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from tui_trader.monitor.logfile import detach_log_file

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) +tui_trader[.\w]*: "
)


def test_each_record_is_one_line_and_market_text_cannot_forge_one(log_to, tmp_path: Path) -> None:
    # a symbol name or an exchange's error text is logged as it came; with its line break the
    # file showed a second, forged record, and a traceback spread over lines without a time
    path = tmp_path / "t.log"
    log_to(str(path))
    log = logging.getLogger("tui_trader.market")
    log.warning("rejected 1 row(s): kline for %s", "X\n2026-01-01 00:00:00,000 CRITICAL tui_trader: forged\r")
    try:
        raise ValueError("bad\nframe")
    except ValueError:
        log.exception("stream connection %d: reader failed", 0)
    log.info("after")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3, lines
    assert all(LINE.match(line) for line in lines), lines
    assert lines[0].endswith("kline for X\\n2026-01-01 00:00:00,000 CRITICAL tui_trader: forged\\r")
    assert "reader failed\\nTraceback (most recent call last):\\n" in lines[1]
    assert lines[1].endswith("ValueError: bad\\nframe")
    assert lines[2].endswith(": after")


def test_a_full_disk_is_said_once_and_never_stops_the_run(log_to, capsys) -> None:
    # /dev/full answers every write with ENOSPC: the standard handler printed a ten-line
    # traceback ("--- Logging error ---") on stderr for every record, for as long as the disk
    # stayed full
    handler = log_to("/dev/full")
    log = logging.getLogger("tui_trader.engine")
    for i in range(500):
        log.warning("line %d", i)  # never raises
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "warning: cannot write the log file (/dev/full: No space left on device); "
        "the run goes on, its lines are lost until it can"
    ]
    assert handler.lost == 500
    detach_log_file()  # at the end of the run: closing flushes, and that raised too
    assert not [h for h in logging.getLogger("tui_trader").handlers if h is handler]


class _Disk(io.StringIO):
    full = False

    def write(self, s: str) -> int:
        if self.full:
            raise OSError(28, "No space left on device")
        return super().write(s)


def full_after_a_line(handler: logging.Handler, disk: _Disk) -> logging.Logger:
    """``handler`` writing into ``disk``: the engine's logger logs "before", then the disk is full."""
    handler.setStream(disk)
    log = logging.getLogger("tui_trader.engine")
    log.info("before")
    disk.full = True
    return log


def test_once_the_file_takes_lines_again_it_says_how_many_were_lost(log_to, tmp_path: Path, capsys) -> None:
    handler, disk = log_to(str(tmp_path / "t.log")), _Disk()
    log = full_after_a_line(handler, disk)
    for i in range(3):
        log.info("lost %d", i)
    disk.full = False
    log.info("back")
    lines = disk.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "before",
        "log file: 3 line(s) could not be written (No space left on device)",
        "back",
    ]
    assert " WARNING " in lines[1] and handler.lost == 0
    disk.full = True  # a second outage is reported again
    log.info("lost again")
    assert capsys.readouterr().err.count("warning: cannot write the log file") == 2


@pytest.fixture
def paced_rejects(log_to, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(log file, wall clock in seconds that the test moves, a RejectCounter reporting to the file
    by that clock)."""
    from tui_trader.market import validation

    path = tmp_path / "t.log"
    log_to(str(path))
    wall = [0.0]
    monkeypatch.setattr(validation.time, "monotonic", lambda: wall[0])
    return path, wall, validation.RejectCounter()


def test_a_feed_flooding_bad_messages_writes_a_line_per_reason_per_interval(paced_rejects) -> None:
    # a feed sending a thousand bad messages a second for an hour: the counts stay exact, the
    # file gets one line per reason per ten seconds, each saying how many it stood for
    from tui_trader.market.binance_payloads import parse_mini_ticker_array

    path, wall, counter = paced_rejects
    bad = [
        {"s": "BTCUSDT"},
        {"s": "BTCUSDT", "c": "1", "o": "1", "h": "1", "l": "1", "v": "1", "q": "1", "E": None},
    ]
    for _ in range(3600 * 10):  # an hour, a tenth of a second apart: 10 messages each time
        parse_mini_ticker_array(bad * 5, {"BTCUSDT": 0}, counter)
        wall[0] += 0.1
    assert counter.total == 360_000 and sum(counter.by_reason.values()) == 360_000
    lines = path.read_text(encoding="utf-8").splitlines()
    reasons = len(counter.by_reason)
    assert 1 <= reasons <= 3
    assert len(lines) <= reasons * (3600 // 10 + 1)  # not 360,000
    assert sum(" more since last report)" in line for line in lines) >= len(lines) - reasons


def test_times_are_utc_and_say_so(log_to, tmp_path: Path) -> None:
    # the file's times were the server's local time with no zone: an hour of lines repeated when
    # summer time ended, and they did not match the console's UTC times
    handler = log_to(str(tmp_path / "t.log"))
    record = logging.LogRecord("tui_trader.engine", logging.INFO, __file__, 1, "period %d", (7,), None)
    record.created, record.msecs = 1_700_000_000.25, 250.0  # 2023-11-14 22:13:20.250 UTC
    assert handler.format(record) == "2023-11-14 22:13:20.250Z INFO    tui_trader.engine: period 7"


def test_ever_new_bogus_symbols_grow_no_map_and_no_log(paced_rejects) -> None:
    # a feed inventing a new symbol name in every message, for a day: what the health pane and
    # the log keep of it is one count under one reason, and one line per ten seconds
    from tui_trader.market import validation
    from tui_trader.market.binance_payloads import parse_kline_event

    path, wall, counter = paced_rejects
    n = 50_000
    for k in range(n):  # 50,000 messages over a day
        event = {"e": "kline", "s": f"BOGUS{k}\nX", "k": {"s": f"BOGUS{k}\nX", "i": "1m"}}
        assert parse_kline_event(event, {"BTCUSDT": 0}, counter) is None
        wall[0] += 86_400 / n
    assert counter.by_reason == {"unknown_symbol": n} and set(counter.snapshot()) <= set(validation.REASONS)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 86_400 // 10 + 1
    assert all(LINE.match(line) for line in lines)  # the names' line breaks forged no line


def _file_handler(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    from tui_trader.monitor.logfile import _LogFile

    handler = _LogFile(path)
    handler.maxBytes, handler.backupCount = max_bytes, backups
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def _rotated_files(path: Path, backups: int) -> list[Path]:
    """The log's files, oldest first."""
    return [f for f in (*(Path(f"{path}.{k}") for k in range(backups, 0, -1)), path) if f.exists()]


def test_two_processes_on_one_log_file_rotate_it_once(tmp_path: Path) -> None:
    # the console and a `run --headless` beside it on the default log file each rotated it: one
    # wrote on into the file the other had renamed to .1, and rotated the other's fresh file again,
    # so lines landed out of order in half-empty files and old ones fell off early. Two handlers
    # with their own open file stand for the two processes.
    path = tmp_path / "t.log"
    a, b = (_file_handler(path, 2000, 3) for _ in range(2))
    written = []
    for i in range(120):  # ~35 bytes a line: 2.1 files of 2000 bytes
        msg = f"line {i:04d} from process {'AB'[i % 2]} ........"
        (a, b)[i % 2].emit(logging.LogRecord("tui_trader", logging.INFO, __file__, 0, msg, None, None))
        written.append(msg)
    a.close()
    b.close()
    files = _rotated_files(path, 3)
    assert [ln for f in files for ln in f.read_text().splitlines()] == written
    assert len(files) == 3 and all(1950 <= f.stat().st_size <= 2000 for f in files[:-1])


_WRITER = """
import logging, os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_monitor_logfile import _file_handler
handler = _file_handler(Path({path!r}), 20_000, 40)
while not os.path.exists({go!r}):
    time.sleep(0.001)
for i in range(3000):
    handler.emit(logging.LogRecord("tui_trader", logging.INFO, "", 0, "%s %05d " + "." * 30, ({name!r}, i), None))
handler.close()
"""


def test_two_real_processes_writing_at_once_lose_and_mix_up_no_line(tmp_path: Path) -> None:
    # the rotation's lock under real concurrency: no line lost or doubled, none out of its
    # process's order, no file rotated before it was full
    import subprocess
    import sys

    path, go = tmp_path / "t.log", tmp_path / "go"
    tests = str(Path(__file__).resolve().parent)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER.format(tests=tests, path=str(path), go=str(go), name=n)])
             for n in "AB"]
    go.touch()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    files = _rotated_files(path, 40)
    lines = [ln.split()[:2] for f in files for ln in f.read_text().splitlines()]
    for name in "AB":  # every line once, each process's in the order it wrote them
        assert [int(n) for who, n in lines if who == name] == list(range(3000))
    # one rotation per full file: none rotated early by the other process (a line is 42 bytes;
    # both may append one after the size check)
    assert all(20_000 - 42 <= f.stat().st_size <= 20_000 + 84 for f in files[:-1]), [f.stat().st_size for f in files]
