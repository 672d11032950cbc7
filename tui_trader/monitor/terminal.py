"""What a command draws on its terminal, which may go away while it runs (an SSH drop: SIGHUP,
then every write fails with EIO)."""

from __future__ import annotations

import contextlib
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
