"""The log file: what the console's log pane and the headless runner's stderr show, kept on disk
for the morning after (``monitoring.log_file``; rotated at 10 MB, five old files kept). Processes
sharing it (the console and a ``run --headless`` beside it) rotate it once between them and
follow each other's rotation.

It is attached to the ``tui_trader`` logger at ``monitoring.log_level``. A file that cannot be
opened is reported once on stderr and never stops a run; nor does one that stops taking lines (a
full disk, its folder gone or read-only): that is said once on stderr, not with a traceback per
line, and once it takes lines again the file says how many were lost (at the end of the run, those
lost since the last line written are counted in the file if it takes that line, else on stderr).
Nothing is queued: each record is written and flushed as it is logged, so every line logged before
the end of the run (or a hard exit) is in the file unless the file refused it. Each record is one line
(a message's line breaks and a traceback's are written as ``\\n``, other control characters, a
terminal's escape sequences too, as ``\\x1b``), so a line that does not start with a time was never
written by this program: text from the market or the exchange cannot forge one. Secrets never
reach it: nothing logs them (a test runs with keys in the environment and searches the file for
them).
"""

from __future__ import annotations

import errno
import logging
import logging.handlers
import os
import re
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tui_trader.config import Config
from tui_trader.private import FILE_MODE, create_file, make_folders

try:
    import fcntl
except ImportError:  # Windows: no flock; a process still follows a file another one rotated
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOG_BACKUPS", "LOG_MAX_BYTES", "attach_log_file", "detach_log_file", "logging_to_file", "one_line"]

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5
_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s"
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def _say(text: str) -> None:
    """``text`` on stderr, if it still takes it: the warning of a log file that failed is printed from
    inside a logging call, and a stderr gone too (a closed pipe, a terminal gone after an SSH drop)
    raised out of that call, into whatever code was logging (the engine's loop). As one line
    (:func:`one_line`): a configured file name can hold any character, a NUL or an escape sequence."""
    with suppress(OSError, ValueError):  # (ValueError: a closed stream)
        print(one_line(text), file=sys.stderr)


class _OneLineFormatter(logging.Formatter):
    """The file's format, one line per record: line breaks (a traceback's too) written as ``\\n``.
    Times are UTC, marked ``Z``, as the console shows them: in the server's local time an hour of
    lines repeated at the end of summer time, and nothing said which zone they were in."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        try:
            text = super().format(record)
        except Exception as exc:  # noqa: BLE001 - see _unformatted
            clone = _unformatted(record, exc)
            try:  # with its traceback: a log.exception whose arguments did not fit lost it
                text = super().format(clone)
            except Exception:  # noqa: BLE001 - the traceback or the stack could not be formatted either
                clone.exc_info = clone.exc_text = clone.stack_info = None
                text = super().format(clone)
        return one_line(text)


def one_line(text: str) -> str:
    """``text`` as one line that cannot move a terminal's cursor: line breaks written as ``\\n``
    and ``\\r``, the other control characters (:data:`_CONTROL`) as ``\\x1b`` or ``\\u2028``; a tab
    stays a tab. Every log line is written so, to the log file and to the headless run's stderr."""
    return _CONTROL.sub(_escaped, text.replace("\r", "\\r").replace("\n", "\\n"))


#: The other characters that break a line or move a terminal's cursor: C0 controls but tab, DEL,
#: C1 controls, Unicode's line and paragraph separators (a terminal's escape sequence in an
#: exchange's text showed a forged line in ``tail``; ``str.splitlines`` breaks at a form feed).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def _unformatted(record: logging.LogRecord, exc: Exception) -> logging.LogRecord:
    """``record`` as its template and the reason it could not be formatted (a log call whose
    arguments do not fit its ``%`` template, an argument whose ``str()`` raises): such a record
    was taken for a file that failed, said on stderr at every one ("cannot write the log file")
    and counted as a lost line, while the file was fine."""
    clone = logging.makeLogRecord(record.__dict__)
    try:
        template = str(record.msg)
    except Exception:  # noqa: BLE001 - a message object whose str() raises too
        template = f"<{type(record.msg).__name__}>"
    clone.msg, clone.args = f"{template} [not formatted: {type(exc).__name__}: {exc}]", None
    return clone


class _LogFile(logging.handlers.RotatingFileHandler):
    """A rotating log file whose failed writes cost the run nothing: the first is reported on
    stderr (the standard handler prints a traceback for every record), the records are counted as
    lost, and the first record written again is preceded by a line saying how many were lost."""

    def __init__(self, path: Path) -> None:
        # the mode of a file this handler makes: owner-only (:mod:`tui_trader.private`), or after a
        # rotation the mode of the file rotated (a log the operator opened to a group stays open to it)
        self.create_mode = FILE_MODE
        super().__init__(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
        self.lost = 0  # records not written since the last one that was
        self.last_error = ""
        self._failed = False
        # a rotation the file system refused (a folder that cannot be written): the file size at
        # which it is tried again, the file meanwhile growing past the limit (None: no failure)
        self.rotate_again_at: int | None = None

    def _open(self):  # noqa: ANN202 - logging's own, untyped
        """The file at the path; a FIFO opened without waiting for a reader (opened blocking, the
        reader gone since :func:`_no_fifo_without_reader` found one hung the run; ENXIO when no
        process reads it, said as a file that cannot be opened), then written as a file is."""
        try:
            fifo = fcntl is not None and stat.S_ISFIFO(os.stat(self.baseFilename).st_mode)
        except OSError:
            fifo = False
        if not fifo:
            with suppress(OSError):  # (one that cannot be made: the open below says why)
                create_file(self.baseFilename, self.create_mode)
            return super()._open()
        try:
            fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise OSError(errno.ENXIO, "a FIFO that no process reads", self.baseFilename) from None
            raise
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115
        except BaseException:
            os.close(fd)
            raise

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        err = sys.exc_info()[1]
        self._failed = True
        self.last_error = str((err.strerror if isinstance(err, OSError) else None) or err)

    def _lost_record(self, name: str) -> logging.LogRecord:
        """The line that says how many lines were lost, and why."""
        return logging.LogRecord(
            name,
            logging.WARNING,
            __file__,
            0,
            "log file: %d line(s) could not be written (%s)",
            (self.lost, self.last_error),
            None,
        )

    def say_lost(self) -> None:
        """At the end of the run, before the file is closed: the lines lost since the last one
        written were said only by the next line the file took, and none comes after the last, so a
        file that failed near the end (a full disk) lost them without a count. The file is asked
        once more to take the count; if it cannot, stderr says it. (The lines written before it
        all reached the file: each is flushed as it is written, and no queue holds any.)"""
        if not self.lost:
            return
        self.acquire()
        try:
            if self._write(self._lost_record("tui_trader.monitor.logfile")):
                self.lost = 0
                return
        finally:
            self.release()
        _say(f"warning: {self.lost} line(s) could not be written to the log file "
             f"({self.baseFilename}: {self.last_error})")

    def emit(self, record: logging.LogRecord) -> None:
        if self.lost:
            lost = self._lost_record(record.name)
            lost.created, lost.msecs = record.created, record.msecs
            if not self._write(lost):
                self.lost += 1
                return
            self.lost = 0
        if not self._write(record):
            _say(
                f"warning: cannot write the log file ({self.baseFilename}: {self.last_error}); "
                "the run goes on, its lines are lost until it can"
            )
            self.lost = 1

    def _write(self, record: logging.LogRecord) -> bool:
        self._failed = False
        super().emit(record)
        return not self._failed

    # -- rotation shared with other processes ---------------------------------------------------
    # Two processes on the default log file (the console and a `run --headless` beside it) each
    # rotated it: one went on writing into the file the other had renamed to .1, then rotated again
    # the other's fresh file, so lines landed in the wrong files, out of order, and old files fell
    # off early. Now a process whose file was rotated by another follows it to the new file, the
    # size that triggers a rotation is the file's own (every process's lines), and the rotation
    # itself holds a lock on the file and is skipped when another process did it meanwhile.

    def _replaced(self) -> bool:
        """The file at the path is no longer the one this handler writes to (another process
        rotated it, or it was moved or deleted)."""
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # no stream, or not a file (a test's buffer)
            return False
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        if not stat.S_ISREG(on_disk.st_mode):  # /dev/null, a FIFO: nothing to follow
            return False
        mine = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino)

    def _drop_stream(self) -> None:
        """Close the stream and forget it (the next record opens the path again). Its close failing
        (a line left in its buffer by a full disk: already counted lost) closes it all the same:
        kept, the closed stream lost every later line for the rest of the run."""
        stream, self.stream = self.stream, None
        if stream is not None:
            with suppress(OSError):
                stream.close()

    def _reopen(self) -> None:
        self._drop_stream()  # (if opening fails, the next record tries again)
        self.stream = self._open()

    def _size(self) -> int | None:
        """The size of the file written to (every process's lines: they all append to it), or None
        when it is no regular file (a FIFO, /dev/null, a test's buffer: never rotated)."""
        try:
            st = os.fstat(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 - logging's name
        """Whether ``record`` would take the file past ``maxBytes``, by the file's own size. Not
        the standard handler's: it took the size from the stream's position, after seeking to the
        end until Python 3.12 but not from 3.13 (a process's own lines only, so two processes on
        one file each rotated it late), and that position cannot be asked of a FIFO at all on 3.13
        (every line to a log shipper's FIFO was lost)."""
        if self.stream is not None and self._replaced():
            self._reopen()
            self.rotate_again_at = None
        if self.stream is None:  # (the standard handler opens it here too; a failure is the record's)
            self.stream = self._open()
        if self.maxBytes <= 0 or not (size := self._size()):  # an empty file is never rotated
            return False
        if size + len(self.format(record)) + 1 < self.maxBytes:
            return False
        return self.rotate_again_at is None or size >= self.rotate_again_at

    # A rotation the file system refuses (the log file writable, its folder not: no rename, no
    # new file) left the handler without a file: every later line was lost for the rest of the run,
    # and stderr said the file could not be written. Now the lines go on into the file, which
    # grows past the limit, said once on stderr; the rotation is tried again each LOG_MAX_BYTES.

    def doRollover(self) -> None:  # noqa: N802 - logging's name
        with suppress(AttributeError, OSError, ValueError):  # (no stream, or not a file)
            st = os.fstat(self.stream.fileno())
            if stat.S_ISREG(st.st_mode):
                self.create_mode = stat.S_IMODE(st.st_mode)
        try:
            self._rollover()
        except OSError as exc:
            first = self.rotate_again_at is None
            if self.stream is None:  # (if it cannot be opened either, the record is lost as any other)
                self.stream = self._open()
            self.rotate_again_at = (self._size() or 0) + self.maxBytes
            if first:
                _say(
                    f"warning: cannot rotate the log file ({self.baseFilename}: {exc.strerror or exc}); "
                    "its lines go on into it, past the size limit"
                )
        else:
            self.rotate_again_at = None

    def _rollover(self) -> None:
        if fcntl is None or self.stream is None:
            self._drop_stream()  # (as the rollover would, a failed close kept)
            super().doRollover()
            return
        # the lock is on the open file itself, held through the renames by a duplicate descriptor
        # (the rollover closes the stream first); a process waiting for it then finds the file
        # replaced and follows it instead of rotating again
        lock = os.dup(self.stream.fileno())
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._replaced():
                self._reopen()
            else:
                self._drop_stream()  # (as the rollover would, a failed close kept)
                super().doRollover()
        finally:
            os.close(lock)  # releases the lock


def _no_fifo_without_reader(path: Path) -> int | None:
    """Raise ENXIO when ``path`` is a FIFO no process reads (a log shipper not running): opening
    it to write waited for a reader, so the run hung before it started, without a word. For a
    FIFO that has a reader, returns the descriptor of the probe's own (non-blocking) open, for the
    caller to close only once the handler has opened the FIFO: closed before, the FIFO had no
    writer left, and a reader that stops at the end of its input (``cat``) was gone by then, the
    handler's open waiting for another one, the run hung again. None for anything else."""
    try:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            return None
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "a FIFO that no process reads") from None
        return None  # (no such file yet, or not readable here: the open that follows says so)


#: The name of the log file's handler on the ``tui_trader`` logger: :func:`attach_log_file` sets
#: it, :func:`detach_log_file` and the headless run summary (written whatever the level) find it by it.
LOG_FILE_HANDLER = "tui-trader-file"


def attach_log_file(cfg: Config) -> Path | None:
    """Append the ``tui_trader`` logs to ``cfg.log_path()``; returns the path (None: off, or it
    could not be opened). A path that cannot be a file name (``~nosuchuser/…``, whose home is
    unknown; a NUL character) is said so as one that cannot be opened: it raised out of the
    start of the run, a traceback and exit 1."""
    try:
        path = cfg.log_path()
    except RuntimeError as exc:  # Path.expanduser: "Could not determine home directory."
        named = os.environ.get("TUI_TRADER_LOG_FILE", "").strip() or cfg.monitoring.log_file.strip()
        _say(f"warning: no log file ({named}: {exc})")
        return None
    if path is None:
        return None
    try:
        make_folders(path.parent)
        probe = _no_fifo_without_reader(path)
        try:
            handler = _LogFile(path)
        finally:
            if probe is not None:
                os.close(probe)
    except (OSError, ValueError) as exc:  # (ValueError: an embedded NUL)
        _say(f"warning: no log file ({path!s}: {getattr(exc, 'strerror', None) or exc})")
        return None
    handler.setFormatter(_OneLineFormatter(_FORMAT, _DATE_FORMAT))
    handler.set_name(LOG_FILE_HANDLER)
    level = {"warn": "WARNING"}.get(cfg.monitoring.log_level, cfg.monitoring.log_level.upper())
    handler.setLevel(level)
    pkg = logging.getLogger("tui_trader")
    detach_log_file()
    pkg.addHandler(handler)
    if pkg.level == logging.NOTSET or pkg.level > handler.level:
        pkg.setLevel(handler.level)
    return path


def detach_log_file() -> None:
    """Close and remove the handler :func:`attach_log_file` added (idempotent), first saying how
    many lines it lost since the last one it wrote (:meth:`_LogFile.say_lost`)."""
    pkg = logging.getLogger("tui_trader")
    for h in list(pkg.handlers):
        if h.get_name() == LOG_FILE_HANDLER:
            pkg.removeHandler(h)
            if isinstance(h, _LogFile):
                h.say_lost()  # (the lines lost at the end: counted, said in the file or on stderr)
            with suppress(OSError):  # closing flushes: on a full disk that raises, at the end of a run
                h.close()


def say_lost_before_hard_exit(timeout_s: float = 1.0) -> None:
    """Before ``os._exit`` (the console leaving past a hung-up terminal): the log file's count of
    the lines it lost at the end (:meth:`_LogFile.say_lost`), as :func:`detach_log_file` says it.
    Waits at most ``timeout_s`` for the file's lock: a thread stuck writing it must not keep the
    process from leaving. The handler stays attached (the process ends now)."""
    for h in list(logging.getLogger("tui_trader").handlers):
        if h.get_name() == LOG_FILE_HANDLER and isinstance(h, _LogFile) and h.lock is not None:
            if not h.lock.acquire(timeout=timeout_s):
                continue
            try:
                h.say_lost()
            finally:
                h.lock.release()


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
