"""The log pane and the logging handler that feeds it.

:class:`LogBuffer` is a ``logging.Handler`` safe to call from any thread: it
appends formatted records to a bounded deque and never touches widgets. The
UI timer drains new records into :class:`LogPane` (a bounded RichLog) once
per frame. The pane filters by level (``v`` cycles DEBUG/INFO/WARNING/ERROR);
changing the level re-renders from the buffer. Record times are taken from
``time_ms`` (the app passes engine time), so a simulated session shows
simulated time, matching the status bar. Lines show the time of day; a dim ``── 2025-01-02 ──``
line marks each new UTC day among the lines shown.

The pane sits in a narrow column, so its lines are short - a four-letter level and the logger's
name without the ``tui_trader.`` package (``00:55:00Z INFO trades: BUY …``) - and long messages
wrap at the pane's width (re-wrapped when the pane is resized or maximised) instead of being cut
off at its edge.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from tui_trader.clock import MS_PER_DAY
from tui_trader.ui.format import fmt_clock

LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
#: Level names as the pane shows them: four letters, so the messages line up.
LEVEL_TAGS = {logging.DEBUG: "DBUG", logging.INFO: "INFO", logging.WARNING: "WARN", logging.ERROR: "ERR!",
              logging.CRITICAL: "CRIT"}
PACKAGE_PREFIX = "tui_trader."


def level_tag(levelno: int) -> str:
    return LEVEL_TAGS.get(levelno) or logging.getLevelName(levelno)[:4].ljust(4)


def short_name(name: str) -> str:
    """The logger's name without this program's package: ``trades``, ``engine``, ``market.binance``."""
    return name.removeprefix(PACKAGE_PREFIX)


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
            text = f"{fmt_clock(ts, with_date=False)} {level_tag(record.levelno)} {short_name(record.name)}: {msg}"
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


#: Narrowest width lines are wrapped at: a narrower pane scrolls sideways over them.
MIN_WRAP_WIDTH = 24
#: Cells a wrapped record's continuation lines are indented by.
INDENT = 2


class LogPane(RichLog):
    """Bounded, level-filtered view of a :class:`LogBuffer`."""

    # the vertical scrollbar's column is kept free, so lines wrapped before it appears still fit
    DEFAULT_CSS = """
    LogPane { scrollbar-gutter: stable; }
    """

    def __init__(self, buffer: LogBuffer, level: int = logging.INFO, max_lines: int = 1000, **kwargs) -> None:
        # anchored to its end instead of auto_scroll (which scrolls to the end on every line
        # written): an operator who scrolls up to read stays there while lines come in, and the
        # pane follows again once scrolled back to the end
        super().__init__(max_lines=max_lines, wrap=False, min_width=MIN_WRAP_WIDTH, markup=False, highlight=False,
                         auto_scroll=False, **kwargs)
        self.buffer = buffer
        self.level = level
        self._seq = 0
        self._day: int | None = None  # UTC day of the last line shown
        self._wrap_width = 0  # the width the lines shown were wrapped at (0: not known yet)
        self.styles_by_level = {logging.WARNING: "yellow", logging.ERROR: "red", logging.CRITICAL: "bold red"}

    def on_mount(self) -> None:
        self.anchor()

    def drain(self) -> int:
        """Write new buffered lines at or above the level; returns how many."""
        lines = self.buffer.since(self._seq)
        if not lines:
            return 0
        self._seq = lines[-1].seq
        if self._wrap_width <= 0:
            # no width yet (a pane hidden below 160x45 until shown): the RichLog kept every line
            # written until it had a size, without bound; the lines are written from the buffer
            # (bounded) once the width is known (on_resize)
            return sum(1 for ln in lines if ln.levelno >= self.level)
        n = 0
        for ln in lines:
            if ln.levelno >= self.level:
                day = ln.ts_ms // MS_PER_DAY
                if day != self._day and ln.ts_ms > 0:  # lines show the time of day: mark each new day
                    self._day = day
                    self.write(Text(f"── {fmt_clock(ln.ts_ms)[:10]} ──", style="dim"))
                self._write_wrapped(Text(ln.text, style=self._style(ln.levelno)))
                n += 1
        return n

    def _write_wrapped(self, text: Text) -> None:
        """Write ``text`` wrapped at the pane's width, its continuation lines indented (so each
        record still starts at the left edge with its time)."""
        width = max(self._wrap_width, MIN_WRAP_WIDTH)
        if text.cell_len <= width:
            self.write(text)
            return
        console = self.app.console
        first = text.wrap(console, width, overflow="fold")[0]
        self.write(first)
        rest = text[len(first.plain):]
        rest = rest[len(rest.plain) - len(rest.plain.lstrip(" ")):]
        for line in rest.wrap(console, width - INDENT, overflow="fold"):
            self.write(Text(" " * INDENT) + line)

    def on_resize(self, event: Resize) -> None:
        """Lines are wrapped at the pane's width when written: a new width re-wraps them all."""
        super().on_resize(event)
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._wrap_width:
            return
        self._wrap_width = width
        self._rerender()

    def set_level(self, level: int) -> None:
        self.level = level
        self._rerender()

    def _rerender(self) -> None:
        """Clear the pane and write the buffered lines at or above the level again."""
        self.clear()
        self._seq = 0
        self._day = None
        self.drain()

    def cycle_level(self, lowest: int = logging.DEBUG) -> int:
        """The next level of :data:`LEVELS` at or above ``lowest`` (the lowest one the logger
        passes on: below it no line comes, and "shows DEBUG and above" showed none), after the
        last the first."""
        levels = [lv for lv in LEVELS if lv >= lowest] or [LEVELS[-1]]
        i = levels.index(self.level) if self.level in levels else -1
        self.set_level(levels[(i + 1) % len(levels)])
        return self.level

    def restyle(self, palette) -> None:
        """Use the theme's warning/unhealthy colours for warnings and errors, the lines shown
        included (written again from the buffer: they kept the old theme's colours)."""
        styles = {
            logging.WARNING: palette.warning,
            logging.ERROR: palette.unhealthy,
            logging.CRITICAL: f"bold {palette.unhealthy}",
        }
        if styles != self.styles_by_level:
            self.styles_by_level = styles
            if self._wrap_width > 0:
                self._rerender()

    def _style(self, levelno: int) -> str:
        if levelno >= logging.CRITICAL:
            return self.styles_by_level[logging.CRITICAL]
        if levelno >= logging.ERROR:
            return self.styles_by_level[logging.ERROR]
        if levelno >= logging.WARNING:
            return self.styles_by_level[logging.WARNING]
        return "dim" if levelno < logging.INFO else ""
