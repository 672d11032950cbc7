"""Second review of the log file. On a FIFO: the probe that finds whether a process reads it (so
that the run does not hang waiting for one) must not itself end the reader's input.
A record that cannot be formatted keeps its traceback."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest
from test_logfile_failures import attach_without_hanging

import tui_trader.monitor.logfile as logfile
from tui_trader.config import Config
from tui_trader.monitor.logfile import attach_log_file, detach_log_file


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_the_reader_of_a_fifo_never_sees_its_input_end_before_the_log_opens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the probe opened the FIFO and closed it before the log's own open: in between the FIFO had
    # no writer, and a reader that stops at the end of its input (`cat fifo > shipped.log`) saw it
    # end and was gone, the log's open then waiting for another reader: the run hung
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    fifo = tmp_path / "ship.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    what_the_reader_saw: list[str] = []
    opened = logfile._LogFile.__init__

    def open_log(self, path: Path) -> None:
        try:  # what the reader finds just before the log's own open
            what_the_reader_saw.append("the end of its input" if os.read(reader, 4096) == b"" else "data")
        except BlockingIOError:
            what_the_reader_saw.append("nothing yet, a writer still there")
        opened(self, path)

    monkeypatch.setattr(logfile._LogFile, "__init__", open_log)
    try:
        assert attach_log_file(Config.model_validate({"monitoring": {"log_file": str(fifo)}})) == fifo
        assert what_the_reader_saw == ["nothing yet, a writer still there"]
        logging.getLogger("tui_trader.engine").warning("to the shipper")
        assert b"to the shipper" in os.read(reader, 4096)
    finally:
        detach_log_file()
        os.close(reader)


def test_a_regular_log_file_is_opened_blocking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the FIFO's non-blocking probe is for a FIFO alone: a log file is written as any other
    fcntl = pytest.importorskip("fcntl")

    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    path = tmp_path / "t.log"
    try:
        assert attach_log_file(Config.model_validate({"monitoring": {"log_file": str(path)}})) == path
        handler = next(
            h for h in logging.getLogger("tui_trader").handlers if h.get_name() == "tui-trader-file"
        )
        assert not fcntl.fcntl(handler.stream.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
    finally:
        detach_log_file()


def _format(record: logging.LogRecord) -> str:
    return logfile._OneLineFormatter(logfile._FORMAT, logfile._DATE_FORMAT).format(record)


def test_an_exception_logged_with_arguments_that_do_not_fit_keeps_its_traceback() -> None:
    # the record written as its template and the reason (df86e82) lost its traceback: of a
    # log.exception, the one part that said what had failed
    try:
        raise ZeroDivisionError("the cause")
    except ZeroDivisionError:
        record = logging.getLogger("tui_trader.engine").makeRecord(
            "tui_trader.engine", logging.ERROR, __file__, 1, "order %s failed: %s", ("x",), sys.exc_info()
        )
    text = _format(record)
    assert "order %s failed: %s [not formatted: TypeError" in text
    assert "Traceback (most recent call last):" in text and "ZeroDivisionError: the cause" in text
    assert "\n" not in text  # still one line


def test_a_record_whose_stack_cannot_be_formatted_either_is_still_written() -> None:
    record = logging.LogRecord("tui_trader.engine", logging.ERROR, __file__, 1, "odd %s %s", ("x",), None)
    record.stack_info = 5  # type: ignore[assignment] - not a text: formatting it raises
    assert _format(record).endswith(
        "odd %s %s [not formatted: TypeError: not enough arguments for format string]"
    )


class _CloseFails:
    """A log file's stream whose close fails (on a full disk the flush of a line left in its
    buffer does), closed all the same, as a real file's is."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def close(self) -> None:
        self._stream.close()
        raise OSError(28, "No space left on device")


def test_a_file_replaced_whose_old_stream_fails_to_close_is_followed_all_the_same(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the file moved away (logrotate, another process's rotation, a full disk's log deleted) and
    # the old stream's close failing: the handler kept the closed stream, and every later line was
    # lost for the rest of the run ("I/O operation on closed file")
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    path = tmp_path / "t.log"
    log = logging.getLogger("tui_trader.engine")
    try:
        assert attach_log_file(Config.model_validate({"monitoring": {"log_file": str(path)}})) == path
        handler = next(
            h for h in logging.getLogger("tui_trader").handlers if h.get_name() == "tui-trader-file"
        )
        log.warning("before")
        handler.stream = _CloseFails(handler.stream)
        path.rename(tmp_path / "t.log.moved")
        log.warning("after 1")
        log.warning("after 2")
    finally:
        detach_log_file()
    lines = path.read_text().splitlines()
    assert [line.rsplit(": ", 1)[-1] for line in lines] == ["after 1", "after 2"]
    assert "cannot write" not in capsys.readouterr().err


def test_a_rotation_whose_close_fails_loses_no_more_than_that(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the rotation closes the stream first: its close failing (a full disk) left the handler with
    # the closed stream, and every later line was lost for the rest of the run
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    monkeypatch.setattr(logfile, "LOG_MAX_BYTES", 2_000)
    path = tmp_path / "t.log"
    log = logging.getLogger("tui_trader.engine")
    try:
        assert attach_log_file(Config.model_validate({"monitoring": {"log_file": str(path)}})) == path
        handler = next(
            h for h in logging.getLogger("tui_trader").handlers if h.get_name() == "tui-trader-file"
        )
        log.warning("x" * 1_500)
        handler.stream = _CloseFails(handler.stream)
        log.warning("y" * 1_500)  # rotates first
        log.warning("after")
    finally:
        detach_log_file()
    written = "".join(p.read_text() for p in tmp_path.glob("t.log*"))
    assert "after" in written


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_whose_reader_left_after_the_probe_is_said_not_waited_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the probe found a reader, gone by the log's own open (a shipper restarting): that open,
    # blocking, waited for a reader, the run hung before it started

    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    monkeypatch.setattr(logfile, "_no_fifo_without_reader", lambda _path: None)  # "a reader is there"
    fifo = tmp_path / "ship.fifo"
    os.mkfifo(fifo)
    assert attach_without_hanging(Config.model_validate({"monitoring": {"log_file": str(fifo)}}), fifo, 30) is None
    assert capsys.readouterr().err == f"warning: no log file ({fifo}: a FIFO that no process reads)\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_with_a_reader_is_written_blocking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # opened non-blocking (not to wait for a reader), written blocking: a reader a moment behind
    # must not cost lines (EAGAIN)
    fcntl = pytest.importorskip("fcntl")
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    fifo = tmp_path / "ship.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert attach_log_file(Config.model_validate({"monitoring": {"log_file": str(fifo)}})) == fifo
        handler = next(
            h for h in logging.getLogger("tui_trader").handlers if h.get_name() == "tui-trader-file"
        )
        assert not fcntl.fcntl(handler.stream.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        logging.getLogger("tui_trader.engine").warning("to the shipper")
        assert b"to the shipper" in os.read(reader, 4096)
    finally:
        detach_log_file()
        os.close(reader)
