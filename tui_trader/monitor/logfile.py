"""The log file: what the console's log pane and the headless runner's stderr show, kept on disk
for the morning after (``monitoring.log_file``; rotated at 10 MB, five old files kept).

It is attached to the ``tui_trader`` logger at ``monitoring.log_level``. A file that cannot be
opened is reported once on stderr and never stops a run. Secrets never reach it: nothing logs them
(a test runs with keys in the environment and searches the file for them).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tui_trader.config import Config

__all__ = ["LOG_BACKUPS", "LOG_MAX_BYTES", "attach_log_file", "detach_log_file", "logging_to_file"]

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def attach_log_file(cfg: Config) -> Path | None:
    """Append the ``tui_trader`` logs to ``cfg.log_path()``; returns the path (None: off, or it
    could not be opened)."""
    path = cfg.log_path()
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        print(f"warning: no log file ({path}: {exc.strerror or exc})", file=sys.stderr)
        return None
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.set_name("tui-trader-file")
    level = {"warn": "WARNING"}.get(cfg.monitoring.log_level, cfg.monitoring.log_level.upper())
    handler.setLevel(level)
    pkg = logging.getLogger("tui_trader")
    detach_log_file()
    pkg.addHandler(handler)
    if pkg.level == logging.NOTSET or pkg.level > handler.level:
        pkg.setLevel(handler.level)
    return path


def detach_log_file() -> None:
    """Close and remove the handler :func:`attach_log_file` added (idempotent)."""
    pkg = logging.getLogger("tui_trader")
    for h in list(pkg.handlers):
        if h.get_name() == "tui-trader-file":
            pkg.removeHandler(h)
            h.close()


@contextmanager
def logging_to_file(cfg: Config, log: logging.Logger) -> Iterator[Path | None]:
    """The log file for one run of a host (the console, the headless runner): attached, its path
    logged on ``log``, and detached at the end whatever happens."""
    path = attach_log_file(cfg)
    if path is not None:
        log.info("log file: %s", path)
    try:
        yield path
    finally:
        detach_log_file()
