"""The log file at the end of a run. Nothing is queued between a log call and the file (each record
is written and flushed by the call itself), so every line logged before the end reaches the file,
from any thread, even when the process then leaves with os._exit (the console's exit after a
hung-up terminal). What was lost: the count of lines a failing file (a full disk) refused after the
last line it wrote. It was said only by the next line the file took, and at the end of the run none
comes; now the end of the run asks the file to take the count once more, else says it on stderr."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from test_monitor_logfile import _Disk as FailingDisk
from test_monitor_logfile import full_after_a_line

from tui_trader.monitor.logfile import detach_log_file

REPO = Path(__file__).resolve().parent.parent


class _Disk(FailingDisk):
    """A stream that fails its writes while ``full``; keeps its text when the handler closes it."""

    text = ""

    def close(self) -> None:
        self.text = self.getvalue()
        super().close()


def test_lines_a_full_disk_lost_at_the_end_are_counted_on_stderr(log_to, capsys) -> None:
    handler = log_to("/dev/full")
    log = logging.getLogger("tui_trader.engine")
    for i in range(3):
        log.warning("line %d", i)
    assert handler.lost == 3
    capsys.readouterr()  # (the first failure's warning)
    detach_log_file()
    assert capsys.readouterr().err == (
        "warning: 3 line(s) could not be written to the log file (/dev/full: No space left on device)\n"
    )


def test_lines_lost_at_the_end_are_counted_in_the_file_when_it_takes_that_line(log_to, tmp_path, capsys) -> None:
    disk = _Disk()
    log = full_after_a_line(log_to(str(tmp_path / "t.log")), disk)
    log.info("lost 1")
    log.info("lost 2")
    disk.full = False  # the disk has room again, and the run ends before another line is logged
    detach_log_file()
    lines = disk.text.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "before",
        "log file: 2 line(s) could not be written (No space left on device)",
    ]
    assert " WARNING " in lines[1]
    assert capsys.readouterr().err.count("warning:") == 1  # the failure's own warning; no second one


def test_a_file_that_lost_nothing_gets_no_count(log_to, tmp_path, capsys) -> None:
    path = tmp_path / "t.log"
    log_to(str(path))
    logging.getLogger("tui_trader.engine").info("only")
    detach_log_file()
    assert [ln.split(": ", 1)[1] for ln in path.read_text().splitlines()] == ["only"]
    assert capsys.readouterr().err == ""


def test_every_line_logged_by_any_thread_before_the_end_is_in_the_file(log_to, tmp_path) -> None:
    path = tmp_path / "t.log"
    handler = log_to(str(path))
    log = logging.getLogger("tui_trader.engine")
    go = threading.Barrier(5)

    def burst(t: int) -> None:
        go.wait()
        for i in range(2000):
            log.info("thread %d line %d", t, i)

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    go.wait()
    for i in range(2000):
        log.info("thread main line %d", i)
    for th in threads:
        th.join()
    log.info("last")
    detach_log_file()  # at once after the last line: nothing left behind to drain
    texts = [ln.split(": ", 1)[1] for ln in path.read_text().splitlines()]
    assert len(texts) == 5 * 2000 + 1 and texts[-1] == "last" and handler.lost == 0
    for who in ("0", "1", "2", "3", "main"):
        mine = [t for t in texts if t.startswith(f"thread {who} ")]
        assert mine == [f"thread {who} line {i}" for i in range(2000)]


def test_every_line_logged_before_a_hard_exit_is_in_the_file(tmp_path) -> None:
    # the console leaves with os._exit when a hung-up terminal blocks its exit: no handler is
    # closed, no buffer flushed at exit, yet no line logged before it is missing
    path = tmp_path / "t.log"
    code = f"""
import logging, os
from tui_trader.config import Config
from tui_trader.monitor.logfile import attach_log_file
assert attach_log_file(Config.model_validate({{"monitoring": {{"log_file": {str(path)!r}, "log_level": "info"}}}}))
log = logging.getLogger("tui_trader.engine")
for i in range(3000):
    log.info("line %d", i)
os._exit(7)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TUI_TRADER_LOG_FILE", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7, proc.stderr
    texts = [ln.split(": ", 1)[1] for ln in path.read_text().splitlines()]
    assert texts == [f"line {i}" for i in range(3000)]


def test_lines_lost_at_the_end_are_counted_before_the_console_s_hard_exit(log_to, tmp_path, monkeypatch,
                                                                          capsys) -> None:
    # the console leaves with os._exit when a hung-up terminal blocks its exit: no detach runs, and
    # the count of the lines a still-full disk refused was never said
    from tui_trader.ui import app as app_module

    disk = _Disk()
    log = full_after_a_line(log_to(str(tmp_path / "t.log")), disk)
    log.info("lost 1")
    capsys.readouterr()  # (the failure's own warning)
    left: list[int] = []
    monkeypatch.setattr(app_module.os, "_exit", left.append)
    app_module._exit_if_still_running(3, 0.0).join(timeout=10)
    assert left == [3]
    # "lost 1" and the exit's own warning line
    assert capsys.readouterr().err == (
        f"warning: 2 line(s) could not be written to the log file ({tmp_path / 't.log'}: No space left on device)\n"
    )


def test_a_log_file_held_by_a_stuck_thread_does_not_keep_the_hard_exit_waiting(log_to, tmp_path) -> None:
    from tui_trader.monitor.logfile import say_lost_before_hard_exit

    handler = log_to(str(tmp_path / "t.log"))
    handler.lost = 2
    held = threading.Event()
    done = threading.Event()

    def stuck() -> None:
        with handler.lock:
            held.set()
            done.wait(10)

    th = threading.Thread(target=stuck)
    th.start()
    held.wait(5)
    try:
        say_lost_before_hard_exit(timeout_s=0.1)  # returns: the count is not said, the process leaves
        assert handler.lost == 2
    finally:
        done.set()
        th.join()
    say_lost_before_hard_exit(timeout_s=0.1)
    assert handler.lost == 0 and "log file: 2 line(s) could not be written" in (tmp_path / "t.log").read_text()
