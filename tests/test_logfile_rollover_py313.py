"""The log file's rotation decides by the file's own size, whatever the interpreter's standard
handler does: Python 3.13's ``RotatingFileHandler.shouldRollover`` asks the stream's position
(no seek to the end first, as up to 3.12), which a FIFO cannot give ("underlying stream is not
seekable": every line to a log shipper was lost) and which counts a process's own lines only (two
processes on one file each rotated it late). The suite runs on 3.11 too, so the tests put 3.13's
rule in place of the standard one and check that nothing depends on it."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import pytest
from test_monitor_logfile import _file_handler, _rotated_files

from tui_trader.config import Config
from tui_trader.monitor.logfile import attach_log_file, detach_log_file


def _rule_of_python_313(self: logging.handlers.RotatingFileHandler, record: logging.LogRecord) -> bool:
    """What CPython 3.13's handler decides: the stream's position, not the file's size."""
    if self.stream is None:
        self.stream = self._open()
    if self.maxBytes > 0:
        pos = self.stream.tell()  # a FIFO raises here
        if pos and pos + len(f"{self.format(record)}\n") >= self.maxBytes:
            return not (os.path.exists(self.baseFilename) and not os.path.isfile(self.baseFilename))
    return False


@pytest.fixture
def python_313_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.handlers.RotatingFileHandler, "shouldRollover", _rule_of_python_313)


def test_two_writers_rotate_by_the_files_size_under_the_313_rule(python_313_rule, tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    a, b = (_file_handler(path, 2000, 3) for _ in range(2))
    written = []
    for i in range(120):  # ~35 bytes a line from each of two writers: 2.1 files of 2000 bytes
        msg = f"line {i:04d} from process {'AB'[i % 2]} ........"
        (a, b)[i % 2].emit(logging.LogRecord("tui_trader", logging.INFO, __file__, 0, msg, None, None))
        written.append(msg)
    a.close()
    b.close()
    files = _rotated_files(path, 3)
    assert [ln for f in files for ln in f.read_text().splitlines()] == written
    assert len(files) == 3 and all(1950 <= f.stat().st_size <= 2000 for f in files[:-1])


def test_an_empty_file_is_not_rotated_for_a_line_longer_than_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    handler = _file_handler(path, 100, 2)
    long_line = "x" * 300
    handler.emit(logging.LogRecord("tui_trader", logging.INFO, __file__, 0, long_line, None, None))
    handler.close()
    assert _rotated_files(path, 2) == [path] and path.read_text() == long_line + "\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_takes_every_line_under_the_313_rule(python_313_rule, monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.delenv("TUI_TRADER_LOG_FILE", raising=False)
    fifo = tmp_path / "ship.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert attach_log_file(Config.model_validate({"monitoring": {"log_file": str(fifo)}})) == fifo
        for i in range(3):
            logging.getLogger("tui_trader.engine").warning("to the shipper %d", i)
        got = os.read(reader, 65536)
        assert [ln.rsplit(" ", 1)[-1] for ln in got.decode().splitlines()] == ["0", "1", "2"]
    finally:
        detach_log_file()
        os.close(reader)
    assert capsys.readouterr().err == ""  # nothing said lost
