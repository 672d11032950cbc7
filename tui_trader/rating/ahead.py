"""Rating periods computed ahead of the engine, in a second process (the other core).

When the market is known in advance - the simulated market, or a replay of
kline files - and the engine runs at full speed, the engine's rating half
(:class:`~tui_trader.rating.periods.PeriodRater`: scores, games, Glicko-2,
z-scores) does not depend on anything the trading half does. So it can run
ahead, on the same klines, in another process: the engine keeps its own
market cache and period boundaries, and at each period close takes that
period's games results (ratings, RD, volatility, scores) instead of computing
them, then updates its z-score window from them as usual. The worker starts from a copy of
the engine's rater state and runs the same code, so every number is the same,
bit for bit; the engine checks each period's time against its own.

Protocol, over one socket pair: frames of an 8-byte big-endian length and a
pickle (both ends belong to this program):

* engine -> worker, once: ``(state, source)`` - the rater state
  (:meth:`PeriodRater._rater_state`) and an iterable of the closed
  :class:`~tui_trader.models.KlineBatch` es the feed is about to deliver
  (``kline_source()`` of the sim and replay feeds);
* worker -> engine: ``("periods", ts (K,), games (K, 4, N))`` - rating, RD,
  volatility and performance score (:data:`~tui_trader.rating.periods.GAMES_FIELDS`) -
  for K consecutive periods (K grows from 1 so the first period comes at once,
  up to about 64 kB a message), then ``("end",)``; or ``("error", text)``.

The worker never waits for the engine to read while it has periods to rate: its
socket is non-blocking, and frames the engine has not taken yet wait in the
worker (at most :data:`PENDING_BYTES`; beyond that it waits). A sending thread
would not do: it needs the GIL back after every write, and the rating thread
holds it.
When the engine stops or dies, the worker's next send fails and it exits.
Worker failures (an error, a crash, no answer within ``timeout_s``) raise
:class:`RatingAheadError` in the engine, which then stops trading (its rater
state is behind, it cannot carry on alone).

Run as ``python -m tui_trader.rating.ahead FD`` by :class:`RatingAhead`;
nothing else is meant to start it.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from tui_trader.rating.periods import GAMES_FIELDS, PERIOD_CLOSED, PeriodRater

__all__ = ["RatingAhead", "RatingAheadError"]

log = logging.getLogger(__name__)

#: Bytes of results per message the worker aims at (K periods of 4 N-arrays).
MESSAGE_BYTES = 64 * 1024
#: Bytes of framed messages the worker may hold for the engine before it waits for it to read.
PENDING_BYTES = 8 * 1024 * 1024
#: Seconds the engine waits for the next results before it gives up on the worker.
DEFAULT_TIMEOUT_S = 60.0

_LEN = struct.Struct(">Q")


class RatingAheadError(RuntimeError):
    """The rating worker failed, went away, or disagrees with the engine about the periods."""


def _frame(msg: object) -> bytes:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(data)) + data


def _read_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise EOFError("connection closed")
        got += k
    return buf


def _read_frame(sock: socket.socket) -> Any:
    (n,) = _LEN.unpack(_read_exact(sock, _LEN.size))
    return pickle.loads(_read_exact(sock, n))


class RatingAhead:
    """The engine's end: starts the worker process at once (its imports overlap the engine's
    start-up), :meth:`begin` hands it the state and the klines, :meth:`take` returns each
    period's results in order, :meth:`close` ends it. ``preload``: modules the worker imports
    while it waits (what unpickling the kline source needs)."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, preload: tuple[str, ...] = ()) -> None:
        self.timeout_s = float(timeout_s)
        ours, theirs = socket.socketpair()
        # the package this module belongs to, importable by the child whatever its cwd
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tui_trader.rating.ahead", str(theirs.fileno()), *preload],
                pass_fds=(theirs.fileno(),), env=env, close_fds=True,
                # never the console's terminal: errors come back through the socket
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self._queue: deque[tuple[int, np.ndarray]] = deque()
        self._sender: threading.Thread | None = None
        self._send_error: BaseException | None = None
        self._closed = False
        self.periods = 0  # results taken
        self.messages = 0  # messages received

    def begin(self, state: dict[str, Any], source: Iterable[Any]) -> None:
        """Send the rater state and the kline source (a year of klines is megabytes; the worker
        may still be importing): pickled here, written by a thread, so the engine goes on at once.
        Raises RatingAheadError if the worker is gone already."""
        if self._proc.poll() is not None:
            raise RatingAheadError(f"rating worker unavailable (exit code {self._proc.returncode})")
        data = _frame((state, source))
        self._sender = threading.Thread(target=self._send_begin, args=(data,), name="rating-ahead-begin",
                                        daemon=True)
        self._sender.start()

    def _send_begin(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:  # reported by take(): the worker then never answers
            self._send_error = exc

    def take(self, ts_ms: int) -> np.ndarray:
        """The next period's games results (rows :data:`~tui_trader.rating.periods.GAMES_FIELDS`);
        it must be the period ending at ``ts_ms``."""
        if not self._queue:
            self._receive()
        ts, games = self._queue.popleft()
        if ts != ts_ms:
            raise RatingAheadError(f"rating worker out of step: it rated the period ending at {ts}, "
                                   f"the engine closed the one ending at {ts_ms}")
        self.periods += 1
        return games

    def _receive(self) -> None:
        if self._send_error is not None:
            raise RatingAheadError(f"rating worker unavailable: {self._send_error}")
        try:
            ready, _, _ = select.select([self._sock], [], [], self.timeout_s)
            if not ready:
                raise RatingAheadError(f"rating worker sent nothing for {self.timeout_s:g} s")
            msg = _read_frame(self._sock)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            code = self._proc.poll()
            raise RatingAheadError(f"rating worker went away (exit code {code})") from exc
        self.messages += 1
        kind = msg[0]
        if kind == "periods":
            _, ts, games = msg
            self._queue.extend(zip(ts.tolist(), games, strict=True))
        elif kind == "error":
            raise RatingAheadError(f"rating worker failed: {msg[1]}")
        else:
            raise RatingAheadError("rating worker ran out of klines before the engine did")

    def close(self) -> None:
        """End the worker (idempotent). It is killed if it does not leave within a second."""
        if self._closed:
            return
        self._closed = True
        if self._sender is None or self._sender.is_alive():
            self._proc.kill()  # never begun, or still reading the state: nothing to wait for
        self._sock.close()
        try:
            self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    @property
    def pid(self) -> int:
        return self._proc.pid


class _GamesRater(PeriodRater):
    """The worker's rater: the games of each period; the z-scores are the engine's part."""

    def _rate_period(self, ts_ms: int) -> None:
        self._rate_games()
        self.counters["periods"] += 1
        self._period_ts = ts_ms


class _Outbox:
    """The worker's frames on their way to the engine, written without waiting while possible."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = bytearray()

    def post(self, msg: object) -> None:
        self.pending += _frame(msg)
        self.flush(wait=len(self.pending) > PENDING_BYTES)

    def flush(self, wait: bool) -> None:
        """Write what the socket takes now; with ``wait``, until everything is written.
        Raises OSError (BrokenPipeError...) once the engine is gone."""
        while self.pending:
            try:
                n = self.sock.send(self.pending)
            except BlockingIOError:
                if not wait:
                    return
                select.select([], [self.sock], [])
                continue
            del self.pending[:n]


def _serve(sock: socket.socket) -> None:
    """The worker: rate every period of the source, send the results in order."""
    try:
        state, source = _read_frame(sock)
    except (EOFError, OSError):
        return  # the engine never began
    sock.setblocking(False)
    out = _Outbox(sock)
    try:
        try:
            rater = _GamesRater.from_state(state)
            n = max(1, rater._all_sym.shape[0])
            most = max(1, MESSAGE_BYTES // (len(GAMES_FIELDS) * 8 * n))
            k = 1
            ts: list[int] = []
            games = np.empty((most, len(GAMES_FIELDS), n))
            for batch in source:
                for step in rater._kline_steps(batch):
                    if step is not PERIOD_CLOSED:
                        continue
                    rater._games_output(games[len(ts)])
                    ts.append(rater._period_ts)
                    if len(ts) >= k:
                        out.post(("periods", np.array(ts, dtype=np.int64), games[: len(ts)]))
                        ts = []
                        k = min(2 * k, most)
                out.flush(wait=False)
            if ts:
                out.post(("periods", np.array(ts, dtype=np.int64), games[: len(ts)]))
            out.post(("end",))
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the engine, which stops trading
            out.post(("error", f"{type(exc).__name__}: {exc}"))
        out.flush(wait=True)
    except OSError:
        return  # the engine stopped (or died): nothing more to do


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or not args[0].isdigit():
        print("usage: python -m tui_trader.rating.ahead FD [MODULE ...]  (started by the trading engine)",
              file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(args[0]))
    # Ctrl-C in the terminal reaches the whole process group: the engine decides when this ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for module in args[1:]:  # what unpickling the engine's kline source needs, before it comes
        if module.startswith("tui_trader."):
            importlib.import_module(module)
    try:
        _serve(sock)
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
