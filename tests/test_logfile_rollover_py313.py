"""The log file's rotation decides by the file's own size, whatever the interpreter's standard
handler does: Python 3.13's ``RotatingFileHandler.shouldRollover`` asks the stream's position
(no seek to the end first, as up to 3.12), which a FIFO cannot give ("underlying stream is not
seekable": every line to a log shipper was lost) and which counts a process's own lines only (two
processes on one file each rotated it late). The suite runs on 3.11 too, so these tests put 3.13's
rule in place of the standard one and run the rotation's and the FIFO's own tests under it."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import pytest
from test_logfile_review import test_a_fifo_with_a_reader_is_written_blocking as _fifo_with_a_reader
from test_monitor_logfile import _file_handler, _rotated_files
from test_monitor_logfile import test_two_processes_on_one_log_file_rotate_it_once as _two_writers


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
    _two_writers(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_takes_the_lines_under_the_313_rule(python_313_rule, monkeypatch, tmp_path: Path, capsys) -> None:
    _fifo_with_a_reader(monkeypatch, tmp_path)
    assert capsys.readouterr().err == ""  # no line said lost


def test_an_empty_file_is_not_rotated_for_a_line_longer_than_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    handler = _file_handler(path, 100, 2)
    long_line = "x" * 300
    handler.emit(logging.LogRecord("tui_trader", logging.INFO, __file__, 0, long_line, None, None))
    handler.close()
    assert _rotated_files(path, 2) == [path] and path.read_text() == long_line + "\n"
