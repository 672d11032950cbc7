"""Terminals that go away, for the tests of commands that outlive theirs: a stand-in for a stream
whose session drops (every write then fails with EIO), and a real pty a ``tui-trader`` process
is started on, read until it shows a given text, then closed under it (an SSH drop)."""

from __future__ import annotations

import errno
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class DroppingTerminal:
    """A terminal (``sys.stdout`` / ``sys.stderr`` stand-in) whose session drops: once ``gone``
    (or from the start with ``gone=True``), every write and flush fails with EIO. ``text`` holds
    what was written while it was there."""

    def __init__(self, gone: bool = False) -> None:
        self.text: list[str] = []
        self.gone = gone

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.gone:
            raise OSError(errno.EIO, "Input/output error")
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        if self.gone:
            raise OSError(errno.EIO, "Input/output error")


class PtyRun:
    """``tui-trader ARGV`` started on a new pty (stdout and stderr; stdin /dev/null), with no log
    file and no user config (under ``tmp_path``), SIGHUP ignored with ``ignore_hup`` (`trap '' HUP`)."""

    def __init__(self, argv: list[str], tmp_path: Path, ignore_hup: bool = False) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "TUI_TRADER_LOG_FILE": "off",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
        }
        self.master, slave = pty.openpty()
        self.seen = b""
        self.paused = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui_trader", *argv],
            cwd=str(tmp_path),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            preexec_fn=(lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if ignore_hup else None,
        )
        os.close(slave)

    def read_until(self, text: bytes | re.Pattern[bytes], what: str, timeout: float = 60) -> None:
        """Read the terminal until it has shown ``text``, or a match of the pattern (``what`` it
        means, for the failure)."""
        deadline = time.monotonic() + timeout
        while text not in self.seen if isinstance(text, bytes) else not text.search(self.seen):
            assert self.proc.poll() is None, self.seen.decode(errors="replace")[-2000:]
            assert time.monotonic() < deadline, f"{what} never showed"
            try:
                self.seen += os.read(self.master, 4096)
            except OSError:
                break

    def read_rest(self) -> bytes:
        """Everything the terminal shows until the process has closed it (ended); returns it all."""
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the process closed its side
                break
            if not chunk:
                break
            self.seen += chunk
        return self.seen

    def pause(self) -> bytes:
        """Stop the process (SIGSTOP; its workers run on) and return all it has written: nothing
        more is written until :meth:`hang_up` resumes it, so what is not in the text returned is
        written after the terminal is gone. Fails the test if the process had ended instead."""
        self.proc.send_signal(signal.SIGSTOP)
        _, status = os.waitpid(self.proc.pid, os.WUNTRACED)  # (reports the stop, reaps nothing)
        assert os.WIFSTOPPED(status), "the process ended before it could be stopped"
        self.paused = True
        os.set_blocking(self.master, False)
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EAGAIN: all it wrote has been read
                break
            if not chunk:
                break
            self.seen += chunk
        return self.seen

    def hang_up(self, timeout: float = 60) -> int:
        """The SSH session drops: the terminal is gone, then SIGHUP arrives (a process stopped by
        :meth:`pause` then goes on). The exit code."""
        self._close()
        self.proc.send_signal(signal.SIGHUP)
        if self.paused:
            self.proc.send_signal(signal.SIGCONT)
        return self.proc.wait(timeout=timeout)

    def _close(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def __enter__(self) -> PtyRun:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # (stopped or not)
            self.proc.wait()
        self._close()
