"""Rating periods computed ahead of the engine, in a second process (the other core).

When the market is known in advance - the simulated market, or a replay of
kline files - and the engine runs at full speed, the engine's rating half
(:class:`~tui_trader.rating.periods.PeriodRater`: scores, games, Glicko-2,
z-scores) does not depend on anything the trading half does. So it can run
ahead, on the same klines, in another process: the engine keeps its own
market cache and period boundaries, and at each period close takes that
period's games results (ratings, RD, volatility, scores) instead of computing
them, then updates its z-score window from them as usual. The worker starts
from a copy of the engine's rater state and runs the same code, so every
number is the same, bit for bit; the engine checks each period's time against
its own.

Protocol, over one socket pair: frames of an 8-byte big-endian length and a
pickle (both ends belong to this program):

* engine -> worker, first: ``(state, source)`` - the rater state
  (:meth:`PeriodRater._rater_state`) and where the klines come from: an
  iterable of the closed :class:`~tui_trader.models.KlineBatch` es the feed is
  about to deliver (a replay's ``kline_source()``), or :data:`TAPPED`;
* engine -> worker, with :data:`TAPPED`: ``("klines", interval_ms, dtypes, data)`` for
  every closed batch (its columns' bytes end to end: pickling twelve arrays took
  four times as long), as the feed makes it, some klines before the engine gets
  to it (the simulated market's ``tap_klines``: the worker needs no copy of the market);
* worker -> engine: ``("periods", ts (K,), games (K, 4, N))`` - rating, RD,
  volatility and performance score (:data:`~tui_trader.rating.periods.GAMES_FIELDS`) -
  for K consecutive periods (K grows from 1 so the first period comes at once,
  up to about 64 kB a message), then ``("end",)``; or ``("error", text)``.

Both ends are non-blocking (:class:`_Channel`): frames wait in the sender until
the socket takes them, so neither end stops working to wait for the other. A
sending thread would not do: it needs the GIL back after every write, and the
rating holds it (frames then stalled for 0.1-0.3 s). The worker holds at most
:data:`PENDING_BYTES` of unread results before it waits for the engine.

When the engine stops or dies, the worker's next write fails (or its read ends)
and it exits. Worker failures (an error, a crash, no answer within
``timeout_s``, a period out of step) raise :class:`RatingAheadError`; the
engine then rates every period itself from there on. Nothing is lost: it keeps
the period accumulators and the z-scores, and has taken every rating so far, so
its own state is always current.

Run as ``python -m tui_trader.rating.ahead FD [MODULE ...]`` by
:class:`RatingAhead`; nothing else is meant to start it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tui_trader.models import KlineBatch
from tui_trader.rating.periods import GAMES_FIELDS, PERIOD_CLOSED, PeriodRater

__all__ = ["TAPPED", "RatingAhead", "RatingAheadError"]

#: Seconds a closed worker has to leave before it is killed.
LEAVE_S = 1.0
#: Bytes of results per message the worker aims at (K periods of 4 N-arrays).
MESSAGE_BYTES = 64 * 1024
#: Bytes of framed results the worker may hold for the engine before it waits for it to read.
PENDING_BYTES = 8 * 1024 * 1024
#: Seconds the engine waits for the next results before it gives up on the worker.
DEFAULT_TIMEOUT_S = 60.0
#: The kline source that means: the engine's feed sends the klines itself, as it makes them.
TAPPED = "tapped"

#: Socket buffers asked for at both ends: the simulated market runs up to 64 batches of klines ahead.
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
_LEN = struct.Struct(">Q")
_READ_CHUNK = 1 << 20


class RatingAheadError(RuntimeError):
    """The rating worker failed, went away, or disagrees with the engine about the periods."""


#: KlineBatch's array fields, in the order :func:`_pack_klines` puts them end to end.
_KLINE_COLUMNS = tuple(f.name for f in dataclasses.fields(KlineBatch) if f.name != "interval_ms")


def _pack_klines(batch: KlineBatch) -> tuple[str, int, tuple[str, ...], bytes]:
    """``("klines", interval_ms, dtypes, data)``: the batch's columns' bytes, end to end."""
    cols = [getattr(batch, name) for name in _KLINE_COLUMNS]
    return ("klines", batch.interval_ms, tuple(c.dtype.str for c in cols), b"".join([c.tobytes() for c in cols]))


def _unpack_klines(msg: tuple[str, int, tuple[str, ...], bytes]) -> KlineBatch:
    """The batch :func:`_pack_klines` packed (read-only arrays over its bytes)."""
    _, interval_ms, dtypes, data = msg
    types = [np.dtype(d) for d in dtypes]
    n = len(data) // sum(t.itemsize for t in types)
    cols = {}
    offset = 0
    for name, t in zip(_KLINE_COLUMNS, types, strict=True):
        cols[name] = np.frombuffer(data, dtype=t, count=n, offset=offset)
        offset += t.itemsize * n
    return KlineBatch(interval_ms=interval_ms, **cols)


def _frame(msg: object) -> bytes:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(data)) + data


class _Channel:
    """One end of the socket pair, non-blocking both ways: frames to send wait in ``out`` and go
    whenever the socket takes them; frames that arrive are decoded into ``frames``."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):  # the system's cap (net.core.wmem_max) applies
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER_BYTES)
        self.sock = sock
        self.out = bytearray()
        self._in = bytearray()
        self.frames: deque[Any] = deque()
        self.closed = False  # the other end closed (read all it sent)

    def post(self, msg: object) -> None:
        self.out += _frame(msg)
        self.write()

    def write(self) -> None:
        """Send what the socket takes now (OSError once the other end is gone)."""
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            del self.out[:n]

    def _read(self) -> None:
        """Take what has arrived; EOFError when the other end closed and every frame it sent
        before has been taken."""
        while not self.closed:
            try:
                chunk = self.sock.recv(_READ_CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                self.closed = True  # its last frames may still be in the buffer
                break
            self._in += chunk
        buf = self._in
        while len(buf) >= _LEN.size:
            (n,) = _LEN.unpack_from(buf)
            if len(buf) < _LEN.size + n:
                break
            self.frames.append(pickle.loads(bytes(buf[_LEN.size : _LEN.size + n])))
            del buf[: _LEN.size + n]
        if self.closed and not self.frames:
            raise EOFError("connection closed")

    def pump(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` (None: no limit) until the socket can take or give something,
        then write and read; False if nothing happened in time."""
        if self.closed:
            self._read()  # EOFError once its frames are taken
            return True
        r, w, _ = select.select([self.sock], [self.sock] if self.out else [], [], timeout)
        if w:
            self.write()
        if r:
            self._read()
        return bool(r or w)

    def next_frame(self, timeout: float | None) -> Any:
        """The next frame that arrived, sending pending ones meanwhile; TimeoutError after
        ``timeout`` seconds without any progress."""
        while not self.frames:
            if not self.pump(timeout):
                raise TimeoutError
        return self.frames.popleft()

    def drain(self, limit: int = 0) -> None:
        """Wait until at most ``limit`` bytes are left to send (reading what arrives meanwhile)."""
        while len(self.out) > limit:
            self.pump(None)


class RatingAhead:
    """The engine's end: starts the worker process at once (its imports overlap the engine's
    start-up), :meth:`begin` hands it the state and the klines, :meth:`feed` sends it klines
    (with :data:`TAPPED`), :meth:`take` returns each period's results in order, :meth:`close`
    ends it. ``preload``: modules the worker imports while it waits (what unpickling the kline
    source needs)."""

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
        self._ch = _Channel(ours)
        self._queue: deque[tuple[int, np.ndarray]] = deque()
        self._begun = False
        self._closed = False
        self._closed_at = 0.0

    def begin(self, state: dict[str, Any], source: Iterable[Any] | str) -> None:
        """Send the rater state and the kline source (or :data:`TAPPED`). A year of klines is
        megabytes and the worker may still be importing: what the socket does not take now goes
        with the next :meth:`feed` or :meth:`take`. Raises RatingAheadError if the worker is gone."""
        if self._proc.poll() is not None:
            raise RatingAheadError(f"rating worker unavailable (exit code {self._proc.returncode})")
        self._begun = True
        self._post((state, source))

    def feed(self, batch: KlineBatch) -> None:
        """Closed klines for a :data:`TAPPED` worker (never waits)."""
        self._post(_pack_klines(batch))

    def _post(self, msg: object) -> None:
        try:
            self._ch.post(msg)
        except OSError as exc:
            raise RatingAheadError(f"rating worker went away (exit code {self._proc.poll()})") from exc

    def take(self, ts_ms: int) -> np.ndarray:
        """The next period's games results (rows :data:`~tui_trader.rating.periods.GAMES_FIELDS`);
        it must be the period ending at ``ts_ms``."""
        if not self._queue:
            self._receive()
        ts, games = self._queue.popleft()
        if ts != ts_ms:
            raise RatingAheadError(f"rating worker out of step: it rated the period ending at {ts}, "
                                   f"the engine closed the one ending at {ts_ms}")
        return games

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether :meth:`take` answers at once: the next period's results, or the worker's error
        or end, have arrived. Waits up to ``timeout`` seconds for them (sending pending klines
        meanwhile), so an engine that must keep answering its operator waits in short steps."""
        if self._queue or self._ch.frames:
            return True
        try:
            self._ch.pump(timeout)
        except (EOFError, OSError, pickle.UnpicklingError):
            return True  # take() raises RatingAheadError saying so
        return bool(self._ch.frames)

    def _receive(self) -> None:
        try:
            msg = self._ch.next_frame(self.timeout_s)
        except TimeoutError:
            raise RatingAheadError(f"rating worker sent nothing for {self.timeout_s:g} s") from None
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            raise RatingAheadError(f"rating worker went away (exit code {self._proc.poll()})") from exc
        kind = msg[0]
        if kind == "periods":
            _, ts, games = msg
            self._queue.extend(zip(ts.tolist(), games, strict=True))
        elif kind == "error":
            raise RatingAheadError(f"rating worker failed: {msg[1]}")
        else:
            raise RatingAheadError("rating worker ran out of klines before the engine did")

    def close(self, *, wait: bool = True) -> None:
        """End the worker (idempotent): it leaves once it reads the end of the socket. With ``wait``
        (the default) wait for it - it is killed if it has not left within :data:`LEAVE_S`;
        without, the caller :meth:`reap` s it later (the interpreter's exit takes ~30 ms, which
        the engine's final flush can cover)."""
        if not self._closed:
            self._closed = True
            self._closed_at = time.monotonic()
            if not self._begun:
                self._proc.kill()  # nothing to finish
            self._ch.sock.close()
        if wait:
            self._reap_now()

    def _reap_now(self) -> None:
        try:
            self._proc.wait(timeout=max(0.0, self._closed_at + LEAVE_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    async def reap(self) -> None:
        """After ``close(wait=False)``: wait, without holding up the event loop, for the worker to
        leave; killed if it has not within :data:`LEAVE_S` of the close."""
        import asyncio

        self.close(wait=False)
        if self._proc.poll() is None:
            await asyncio.to_thread(self._reap_now)
        else:
            self._reap_now()

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


def _tapped(ch: _Channel, before_waiting: Callable[[], None]) -> Iterator[KlineBatch]:
    """The klines the engine sends (sending results meanwhile), until it closes the socket.
    ``before_waiting`` runs before it waits for klines that have not arrived: the engine may be
    waiting for the results of those it sent."""
    while True:
        try:
            if not ch.frames:
                ch.pump(0)
                if not ch.frames:
                    before_waiting()
            msg = ch.next_frame(None)
        except EOFError:
            return
        yield _unpack_klines(msg)


def _serve(sock: socket.socket) -> None:
    """The worker: rate every period of the source, send the results in order."""
    ch = _Channel(sock)
    try:
        state, source = ch.next_frame(None)
    except (EOFError, OSError):
        return  # the engine never began
    try:
        try:
            rater = _GamesRater.from_state(state)
            n = max(1, rater._all_sym.shape[0])
            most = max(1, MESSAGE_BYTES // (len(GAMES_FIELDS) * 8 * n))
            k = 1  # periods per message: from 1 (the first comes at once) up to `most`
            ts: list[int] = []
            games = np.empty((most, len(GAMES_FIELDS), n))

            def send() -> None:
                nonlocal ts
                if ts:
                    ch.post(("periods", np.array(ts, dtype=np.int64), games[: len(ts)]))
                    ts = []

            for batch in _tapped(ch, send) if source == TAPPED else source:
                for step in rater._kline_steps(batch):
                    if step is not PERIOD_CLOSED:
                        continue
                    rater._games_output(games[len(ts)])
                    ts.append(rater._period_ts)
                    if len(ts) >= k:
                        send()
                        ch.drain(PENDING_BYTES)
                        k = min(2 * k, most)
                    elif ch.out:
                        ch.write()
            send()
            ch.post(("end",))
        except (OSError, EOFError):
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the engine, which then rates by itself
            ch.post(("error", f"{type(exc).__name__}: {exc}"))
        ch.drain()
    except (OSError, EOFError):
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
