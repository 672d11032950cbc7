"""The log file when things around it fail: a folder that refuses the rotation, a stderr gone
while the file fails too. Neither may lose the log for the rest of the run or reach the code that
was logging."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

import tui_trader.monitor.logfile as logfile
from tui_trader.config import Config
from tui_trader.monitor.logfile import attach_log_file, detach_log_file


@pytest.fixture
def attach(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)

    def _attach(path: Path | str) -> logging.Handler:
        got = attach_log_file(
            Config.model_validate({"monitoring": {"log_file": str(path), "log_level": "info"}})
        )
        assert got == Path(path)
        return next(h for h in logging.getLogger("tui_trader").handlers if h.get_name() == "tui-trader-file")

    yield _attach
    detach_log_file()


def test_a_rotation_the_folder_refuses_keeps_the_lines_in_the_file(
    attach, monkeypatch, tmp_path, capsys
) -> None:
    # the log file writable, its folder not (the rename fails): every line after the first
    # rotation was lost for the rest of the run, and stderr said the file could not be written
    monkeypatch.setattr(logfile, "LOG_MAX_BYTES", 2_000)
    path = tmp_path / "t.log"
    handler = attach(path)
    log = logging.getLogger("tui_trader.engine")
    for i in range(20):
        log.info("before %03d %s", i, "x" * 60)
    assert (tmp_path / "t.log.1").exists()  # it rotates while it can
    refused = []

    def deny(src: str, dst: str) -> None:
        refused.append(dst)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(handler, "rotate", deny)
    for i in range(200):
        log.info("refused %03d %s", i, "x" * 60)
    lines = path.read_text().splitlines()
    assert [ln for ln in lines if " refused " in ln][-1].endswith(f"refused 199 {'x' * 60}")
    assert sum(" refused " in ln for ln in lines) == 200 and handler.lost == 0
    # tried again each LOG_MAX_BYTES of growth, not at every line
    grown = sum(len(ln) + 1 for ln in lines if " refused " in ln)
    assert 2 <= len(refused) <= grown // 2_000 + 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"warning: cannot rotate the log file ({path}: Permission denied); "
        "its lines go on into it, past the size limit"
    ]
    monkeypatch.undo()  # the folder takes renames again: it rotates again, and stays in bounds
    monkeypatch.setattr(logfile, "LOG_MAX_BYTES", 2_000)
    for i in range(300):
        log.info("after %03d %s", i, "x" * 60)
    assert path.stat().st_size < 2_000 and (tmp_path / "t.log.1").stat().st_size < 2_000
    assert path.read_text().splitlines()[-1].endswith(f"after 299 {'x' * 60}")
    assert capsys.readouterr().err == ""


class _GoneStream:
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("gone", ["broken pipe", "closed"])
def test_a_full_disk_with_stderr_gone_too_never_raises_into_the_caller(attach, monkeypatch, gone) -> None:
    # the warning of a failing log file is printed from inside the logging call: a stderr gone too
    # (a pipe whose reader exited, a closed stream) raised out of log.warning() into the engine
    handler = attach("/dev/full")
    if gone == "closed":
        dead = open(os.devnull, "w")  # noqa: SIM115 - closed at once on purpose
        dead.close()
    else:
        dead = _GoneStream()
    monkeypatch.setattr(sys, "stderr", dead)
    log = logging.getLogger("tui_trader.engine")
    for i in range(3):
        log.warning("line %d", i)  # never raises
    assert handler.lost == 3


def test_a_log_folder_that_cannot_be_made_with_stderr_gone_is_no_crash(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    monkeypatch.setattr(sys, "stderr", _GoneStream())
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = Config.model_validate({"monitoring": {"log_file": str(blocker / "sub" / "t.log")}})
    assert attach_log_file(cfg) is None  # not a folder: no log file, said if stderr takes it


@pytest.mark.parametrize(
    ("where", "value", "said"),
    [
        ("env", "~nosuchuser-tt/x.log", "~nosuchuser-tt/x.log: Could not determine home directory."),
        ("config", "~nosuchuser-tt/x.log", "~nosuchuser-tt/x.log: Could not determine home directory."),
        ("config", "logs/a\0b.log", "embedded null"),  # "... byte" (3.11), "... character in path" (3.13)
    ],
)
def test_a_log_file_name_that_names_no_file_is_said_and_the_run_goes_on(
    monkeypatch, tmp_path, capsys, where, value, said
) -> None:
    # "~user/..." for a user that does not exist raised out of the start of a run (a traceback,
    # exit 1); a NUL in the configured name too
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    if where == "env":
        monkeypatch.setenv("TUI_TRADER_LOG_FILE", value)
        cfg = Config()
    else:
        cfg = Config.model_validate({"monitoring": {"log_file": value}})
    assert attach_log_file(cfg) is None
    err = capsys.readouterr().err
    assert err.startswith("warning: no log file (") and said in err and len(err.splitlines()) == 1
    assert "\0" not in err and value.replace("\0", "\\x00") in err  # the name, its NUL written as \x00
    assert not [h for h in logging.getLogger("tui_trader").handlers if h.get_name() == "tui-trader-file"]


class _Unprintable:
    def __str__(self) -> str:
        raise ValueError("no text")


def test_a_record_that_cannot_be_formatted_is_written_as_such_not_taken_for_a_failing_file(
    attach, tmp_path, capsys, monkeypatch
) -> None:
    # (pytest's own capture handler, on the root logger, raises at such a record: kept out)
    monkeypatch.setattr(logging.getLogger("tui_trader"), "propagate", False)
    # a log call's arguments that do not fit its template (or whose str() raises) made the file
    # "fail": stderr said "cannot write the log file" at each one and the line was counted lost
    path = tmp_path / "t.log"
    handler = attach(path)
    log = logging.getLogger("tui_trader.engine")
    for i in range(3):
        log.info("bad %d", "s")
        log.info("odd %s", _Unprintable())
        log.info("good %d", i)
    lines = path.read_text().splitlines()
    assert capsys.readouterr().err == "" and handler.lost == 0
    assert len(lines) == 9 and not any("could not be written" in ln for ln in lines)
    assert lines[0].endswith(
        "bad %d [not formatted: TypeError: %d format: a real number is required, not str]"
    )
    assert lines[1].endswith("odd %s [not formatted: ValueError: no text]")
    assert lines[-1].endswith("good 2")


def attach_without_hanging(cfg: Config, fifo: Path, join_s: float) -> object:
    """``attach_log_file(cfg)`` in a thread; if it has not returned within ``join_s`` (blocked
    opening ``fifo``), the open is let go and the test fails. Its result otherwise."""
    import threading

    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(attach_log_file(cfg)), daemon=True)
    t.start()
    t.join(join_s)
    if t.is_alive():  # let the blocked open go, so nothing is left waiting
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        t.join(10)
        detach_log_file()
        pytest.fail(f"attaching the FIFO {fifo} did not return")
    return got[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_no_process_reads_is_said_not_waited_for(monkeypatch, tmp_path, capsys) -> None:
    # opening a FIFO to write waits for a reader: with the log shipper not running the run hung
    # before it started, without a word

    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    fifo = tmp_path / "ship.fifo"
    os.mkfifo(fifo)
    cfg = Config.model_validate({"monitoring": {"log_file": str(fifo)}})
    assert attach_without_hanging(cfg, fifo, 10) is None
    assert capsys.readouterr().err == f"warning: no log file ({fifo}: a FIFO that no process reads)\n"
    # with a reader, it is a log file like any other
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert attach_log_file(cfg) == fifo
        logging.getLogger("tui_trader.engine").warning("to the shipper")
        assert b"to the shipper" in os.read(reader, 4096)
    finally:
        detach_log_file()
        os.close(reader)
