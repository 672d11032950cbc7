"""The log pane and the logging handler that feeds it.

:class:`LogBuffer` is a ``logging.Handler`` safe to call from any thread: it
appends formatted records to a bounded deque and never touches widgets. The
UI timer drains new records into :class:`LogPane` (a bounded RichLog) once
per frame. The pane filters by level (``v`` cycles DEBUG/INFO/WARNING/ERROR);
changing the level re-renders from the buffer. Record times are taken from
``time_ms`` (the app passes engine time), so a simulated session shows
simulated time, matching the status bar. Lines show the time of day; a dim ``── 2025-01-02 ──``
line marks each new UTC day among the lines shown.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import RichLog

from tui_trader.ui.format import DAY_MS, fmt_clock

LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


@dataclass(frozen=True, slots=True)
class LogLine:
    seq: int
    levelno: int
    text: str
    ts_ms: int = 0  # engine time of the record (the text shows its time of day)


class LogBuffer(logging.Handler):
    """Bounded, thread-safe store of formatted log lines."""

    def __init__(self, capacity: int = 2000, time_ms: Callable[[], int] | None = None) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: deque[LogLine] = deque(maxlen=capacity)
        self._seq = 0
        self._time_ms = time_ms

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                msg += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            ts = self._time_ms() if self._time_ms is not None else int(record.created * 1000)
            text = f"{fmt_clock(ts, with_date=False)} {record.levelname:<7} {record.name}: {msg}"
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)
            return
        with self.lock:
            self._seq += 1
            self.lines.append(LogLine(self._seq, record.levelno, text, ts))

    def since(self, seq: int) -> list[LogLine]:
        """Lines with a sequence number above ``seq`` (oldest first)."""
        with self.lock:
            if not self.lines or self.lines[-1].seq <= seq:
                return []
            return [ln for ln in self.lines if ln.seq > seq]


class LogPane(RichLog):
    """Bounded, level-filtered view of a :class:`LogBuffer`."""

    def __init__(self, buffer: LogBuffer, level: int = logging.INFO, max_lines: int = 1000, **kwargs) -> None:
        super().__init__(max_lines=max_lines, wrap=False, markup=False, highlight=False, **kwargs)
        self.buffer = buffer
        self.level = level
        self._seq = 0
        self._day: int | None = None  # UTC day of the last line shown
        self.styles_by_level = {logging.WARNING: "yellow", logging.ERROR: "red", logging.CRITICAL: "bold red"}

    def drain(self) -> int:
        """Write new buffered lines at or above the level; returns how many."""
        lines = self.buffer.since(self._seq)
        if not lines:
            return 0
        self._seq = lines[-1].seq
        n = 0
        for ln in lines:
            if ln.levelno >= self.level:
                day = ln.ts_ms // DAY_MS
                if day != self._day and ln.ts_ms > 0:  # lines show the time of day: mark each new day
                    self._day = day
                    self.write(Text(f"── {fmt_clock(ln.ts_ms)[:10]} ──", style="dim"))
                self.write(Text(ln.text, style=self._style(ln.levelno)))
                n += 1
        return n

    def set_level(self, level: int) -> None:
        self.level = level
        self.clear()
        self._seq = 0
        self._day = None
        self.drain()

    def cycle_level(self) -> int:
        i = LEVELS.index(self.level) if self.level in LEVELS else 0
        self.set_level(LEVELS[(i + 1) % len(LEVELS)])
        return self.level

    def restyle(self, palette) -> None:
        """Use the theme's warning/unhealthy colours for warnings and errors."""
        self.styles_by_level = {
            logging.WARNING: palette.warning,
            logging.ERROR: palette.unhealthy,
            logging.CRITICAL: f"bold {palette.unhealthy}",
        }

    def _style(self, levelno: int) -> str:
        if levelno >= logging.CRITICAL:
            return self.styles_by_level[logging.CRITICAL]
        if levelno >= logging.ERROR:
            return self.styles_by_level[logging.ERROR]
        if levelno >= logging.WARNING:
            return self.styles_by_level[logging.WARNING]
        return "dim" if levelno < logging.INFO else ""
