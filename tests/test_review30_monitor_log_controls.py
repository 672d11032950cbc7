"""The log file's one-line promise against text that holds other control characters: a terminal's
escape sequence (``ESC [1A ESC [2K``: up a line, erase it) in an exchange's error text or a symbol
name made ``tail`` or ``cat`` show a forged line in place of the real one, and a form feed, a
vertical tab or a Unicode line separator is a line break to ``str.splitlines`` (a script reading
the log). They are written as escapes now, as line breaks are (``\\x1b``, ``\\u2028``); a tab
stays a tab."""

from __future__ import annotations

import logging
from pathlib import Path

from test_monitor_logfile import LINE

FORGED = "2026-01-01 00:00:00.000Z CRITICAL tui_trader: forged"


def test_control_characters_are_written_as_escapes(log_to, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "t.log"
    log_to(str(path))
    log = logging.getLogger("tui_trader.execution")
    log.warning("binance broker: %s", f"order refused: \x1b[1A\x1b[2K{FORGED}")
    log.warning("bad symbol %s", f"X\x0b{FORGED}\x0c{FORGED}\x1c{FORGED}\x85{FORGED}\u2028{FORGED}\u2029end")
    log.warning("tab\tkept, NUL \x00 and DEL \x7f escaped")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 3 and text.count("\n") == 3, lines
    assert all(LINE.match(line) for line in lines), lines
    assert "\x1b" not in text and lines[0].endswith(f"order refused: \\x1b[1A\\x1b[2K{FORGED}")
    assert lines[1].endswith(
        f"bad symbol X\\x0b{FORGED}\\x0c{FORGED}\\x1c{FORGED}\\x85{FORGED}\\u2028{FORGED}\\u2029end"
    )
    assert lines[2].endswith("tab\tkept, NUL \\x00 and DEL \\x7f escaped")
