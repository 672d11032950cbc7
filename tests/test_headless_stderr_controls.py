"""A headless run's log lines on stderr are written as its log file's are (d7bdbe5): a symbol
name or an exchange's text holding a terminal's escape sequence (``ESC [1A ESC [2K``: up a line,
erase it), a bell or a line break reached the operator's terminal raw, and could forge or erase
a line there. The one function that writes a record as one line serves both."""

from __future__ import annotations

import io
import logging

import pytest

from tui_trader.config import Config
from tui_trader.headless import setup_logging
from tui_trader.monitor import logfile

FORGED = "2026-01-01 00:00:00.000Z CRITICAL tui_trader: forged"


@pytest.fixture
def stderr_lines():
    buf = io.StringIO()
    setup_logging(Config(), stream=buf)
    try:
        yield buf
    finally:
        logging.getLogger().handlers.clear()


def test_control_characters_on_stderr_are_written_as_escapes(stderr_lines: io.StringIO) -> None:
    log = logging.getLogger("tui_trader.execution")
    log.warning("binance broker: %s", f"order refused: \x1b[1A\x1b[2K{FORGED}\x07")
    log.warning("bad symbol %s", f"X\x0b{FORGED}\n{FORGED}\r\x85\u2028end\tafter a tab, DEL \x7f")
    text = stderr_lines.getvalue()
    lines = text.splitlines()
    assert len(lines) == 2 and text.count("\n") == 2, lines
    assert not any(c in text for c in "\x1b\x07\x0b\r\x85\u2028\x7f")
    assert lines[0].endswith(f"order refused: \\x1b[1A\\x1b[2K{FORGED}\\x07")
    assert lines[1].endswith(f"bad symbol X\\x0b{FORGED}\\n{FORGED}\\r\\x85\\u2028end\tafter a tab, DEL \\x7f")


def test_stderr_and_the_log_file_share_one_function(stderr_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = logfile.one_line

    def spy(text: str) -> str:
        seen.append(text)
        return real(text)

    monkeypatch.setattr("tui_trader.headless.one_line", spy)
    logging.getLogger("tui_trader.x").warning("a \x1b b")
    assert len(seen) == 1 and stderr_lines.getvalue().rstrip("\n").endswith("a \\x1b b")
