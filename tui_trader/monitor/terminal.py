"""What a command draws on its terminal, which may go away while it runs (an SSH drop: SIGHUP,
then every write fails with EIO)."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def display_only(bar: Any) -> Iterator[Any]:
    """The rich progress ``bar`` started and stopped, its last draw on a terminal that is gone no
    error: it raised past what stopped the command (the hang-up's "interrupted", exit 130), a
    traceback and exit 1, as if the command itself had failed."""
    bar.start()
    try:
        yield bar
    finally:
        with contextlib.suppress(OSError):
            bar.stop()


def to_devnull(stream: Any) -> None:
    """Point ``stream``'s file descriptor at /dev/null: a terminal gone, or a pipe closed early,
    then takes every later write (the interpreter's flush at exit too) without an error."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, stream.fileno())
    finally:
        os.close(null)


class TerminalStream:
    """``sys.stdout`` or ``sys.stderr`` (as it is at each write) for a command's rich consoles (``data
    download``'s), on which a terminal gone (EIO after an SSH drop, SIGHUP ignored: the download goes on) is no error:
    its summary raised after every month was written, a traceback and exit 1. The gone stream's file
    descriptor then goes to /dev/null, so the interpreter's flush at exit fails no more either."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    @property
    def _f(self) -> Any:
        f = sys.stderr if self._stderr else sys.stdout
        return getattr(f, "rich_proxied_file", f)  # (a live bar's stand-in writes back to this console)

    @property
    def encoding(self) -> str:
        return getattr(self._f, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        try:
            return self._f is not None and self._f.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._f.fileno()

    def write(self, text: str) -> int:
        return self._call("write", text)

    def flush(self) -> None:
        self._call("flush")

    def _call(self, name: str, *a: Any) -> Any:
        f = self._f
        if f is None:  # started with it closed (`>&-`)
            return len(a[0]) if a else None
        try:
            return getattr(f, name)(*a)
        except OSError as exc:
            if exc.errno != errno.EIO:  # (a closed pipe is the CLI's: exit 1, quietly)
                raise
            with contextlib.suppress(OSError, ValueError, AttributeError):  # (a stream with no descriptor)
                to_devnull(f)
            return len(a[0]) if a else None
