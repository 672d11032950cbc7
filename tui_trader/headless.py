"""``tui-trader run --headless``: the whole engine without the console.

SIGINT, SIGTERM and SIGHUP stop it cleanly (feed stopped, storage flushed and
closed, exit 0); SIGHUP or SIGINT ignored as it starts (``nohup``) stays ignored.
``--duration`` is wall-clock time, the start-up included (one that outlasts it is cut as a
signal cuts it); the run also ends when replayed data ends. A
one-screen summary is printed at the end, and logged as one ``run summary:`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import re
import signal
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from tui_trader.clock import parse_duration
from tui_trader.config import Config
from tui_trader.events import StartupProgress
from tui_trader.monitor.health import FEED_COUNTERS, describe_feed_counts, feed_counts
from tui_trader.monitor.logfile import one_line
from tui_trader.snapshots import BOOK_FIGURES  # (null in --json when a signal stopped the start-up)
from tui_trader.storage.schema import StorageError

log = logging.getLogger("tui_trader.headless")
#: Signals that stop a run cleanly (flush, close, exit 0); SIGHUP: the SSH session it was started from dropped.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _stop_signals() -> tuple[signal.Signals, ...]:
    """The :data:`_STOP_SIGNALS` to handle: not SIGHUP or SIGINT when ignored as the run started,
    which is what ``nohup`` (SIGHUP) and a shell's background job (SIGINT) do so that the run
    outlives the session: handling them anyway stopped a ``nohup`` run at the SSH logout."""
    keep = getattr(signal, "SIGTERM", None)
    return tuple(s for s in _STOP_SIGNALS if s == keep or signal.getsignal(s) != signal.SIG_IGN)


#: The engine's summary figures of a run stopped before its start-up began (the book's: null).
NOT_STARTED = {"periods": 0, "signals": 0, "orders": 0, "fills": 0, "rejected_orders": 0, "klines": 0,
               "max_drawdown_pct": 0.0, "rejected_messages": 0}


#: How often (wall time) a headless run logs its status line by default: a quiet run logged nothing
#: after its start-up, and an operator tailing the log could not tell a live run from a hung one.
STATUS_EVERY_S = 15 * 60.0


def parse_status_every(text: str) -> float:
    """``--status-every``: a duration (30s, 15m, 1h) in seconds, or 0 (``0``, ``0s``, ``off``) for
    no status line. Raises ValueError for anything else."""
    t = text.strip().lower()
    if t == "off" or re.fullmatch(r"(0+(\.0*)?|\.0+)(ms|s|m|h|d)?", t):  # a zero in any unit: 0, 0.0, 0s, 0m
        return 0.0
    return parse_duration(text)


def status_line(snap: Any) -> str:
    """One line of what a run is doing, from a snapshot (:class:`~tui_trader.events.EngineSnapshot`)
    only: its state, rating periods, equity against the starting balance, open positions, the
    feed's health row, and the other health checks that are not healthy."""
    pf = snap.portfolio
    start = float(pf.starting_balance)
    ret = f" ({(pf.equity / start - 1.0) * 100.0:+.2f} %)" if start else ""
    n = len(snap.positions)
    periods = int(snap.counters.get("periods", 0))
    feed = next((c for c in snap.health.checks if c.name == "feed"), None)
    if feed is None or feed.status == "healthy":
        counts = feed_counts(snap.health.feed or {})
        feed_text = "feed ok" + (f" ({describe_feed_counts(counts)})" if counts else "")
    else:
        feed_text = f"feed {feed.status}: {feed.message}"
    # the other checks that are not healthy (a failing database writer, an open order circuit): named
    others = [f"{c.name} {c.status}" for c in snap.health.checks if c.name != "feed" and c.status != "healthy"]
    return (
        f"status: {snap.state.value} · {periods:,} period{'' if periods == 1 else 's'}"
        f" · equity {pf.equity:,.2f} {pf.quote_asset}{ret}"
        f" · {n} position{'' if n == 1 else 's'} · {feed_text}"
        + (f" · {', '.join(others)}" if others else "")
    )


async def _log_status(engine: Any, every_s: float) -> None:
    """Log :func:`status_line` at INFO every ``every_s`` seconds of wall time (the event loop's
    monotonic clock, never the engine's), until cancelled. Display only: reads snapshots."""
    while True:
        await asyncio.sleep(every_s)
        try:
            log.info("%s", status_line(engine.snapshot()))
        except Exception as exc:  # noqa: BLE001 - a status line never stops the run
            log.warning("status line not available: %s", exc)


class _StderrHandler(logging.StreamHandler):
    """Writes each record to ``sys.stderr`` as it is at that moment, not as it was when logging
    was set up: a host (or a test) that swaps or closes its stderr leaves no dead stream behind."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 - a text stream
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it: sys.stderr is always used
        pass


class _UtcFormatter(logging.Formatter):
    """Times in UTC, marked ``Z``, as in the log file and the console (local time without a zone
    repeated an hour at the end of summer time and matched neither). One line per record, written
    as the log file writes it (:func:`~tui_trader.monitor.logfile.one_line`): a symbol name or an
    exchange's text holding a terminal's escape sequence reached the operator's terminal raw, and
    could forge or erase a line there."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


def setup_logging(cfg: Config, stream=None) -> None:
    """Log records to ``stream`` (default: the current ``sys.stderr`` at each record)."""
    level = {"warn": "WARNING"}.get(cfg.monitoring.log_level, cfg.monitoring.log_level.upper())
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(_UtcFormatter("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    # a record the runner also prints as its "error:" line goes to the log file only, not twice here
    handler.addFilter(lambda record: getattr(record, "stderr", True))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    if cfg.feed.speed == "max":
        # a full-speed run makes thousands of fills a second: the summary reports them, not the log
        logging.getLogger("tui_trader.trades").setLevel(logging.WARNING)


class _Bar:
    """A transient rich progress bar for one long step of the start-up (loading the replay's
    files, rating the warm-up's history), fed ``update(label, done, total)``; a new label starts
    a new bar, ``total`` 0 shows a bar that only pulses, ``done >= total > 0`` ends it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.label: str | None = None
        self._p: Any = None
        self._task: Any = None
        self._gone = False  # the terminal failed a write: no more bars

    def update(self, label: str, done: int, total: int) -> None:
        """Display only, so it never raises: a terminal gone (EIO after an SSH drop) failed every
        step with a traceback in the log, then the runner's final ``close`` raised before the
        engine was stopped, and the process hung at exit with its database open."""
        if self._gone:
            return
        try:
            self._update(label, done, total)
        except Exception:  # noqa: BLE001 - a bar never stops a run
            self._drop()

    def _drop(self) -> None:
        self._gone = True
        p, self._p = self._p, None
        if p is not None:
            with contextlib.suppress(Exception):
                p.stop()  # (its refresh thread)

    def _update(self, label: str, done: int, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if label != self.label:
            self.close()
            self.label = label
            # not on a terminal (stderr to a file or a pipe) a bar only left an empty line behind
            self._p = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                               console=self.console, transient=True, disable=not self.console.is_terminal)
            self._p.start()
            self._task = self._p.add_task(label, total=total or None)
        if self._p is None:
            return
        self._p.update(self._task, completed=done, total=total or None)
        if total and done >= total:
            self.close()

    def close(self) -> None:
        if self._p is not None:
            try:
                self._p.stop()
                self._p = None
            except Exception:  # noqa: BLE001 - see update
                self._drop()


async def run_headless(cfg: Config, duration_s: float | None, console: Console, *,
                       status_every_s: float = STATUS_EVERY_S, **overrides: Any) -> dict[str, Any]:
    """Run the engine; ``status_every_s`` (wall time, 0: never) paces :func:`status_line` in the log."""
    from tui_trader.runtime import build_engine

    # one bar at a time for the start-up's steps: the engine's (feed, history, rating the history)
    # and, inside the feed's start, the replay's files
    startup_bar = _Bar(console)
    if cfg.feed.kind == "replay":
        overrides.setdefault("progress", lambda done, total: startup_bar.update("loading klines", done, total))
    loop = asyncio.get_running_loop()
    stop_event = asyncio.Event()
    start_task: asyncio.Task | None = None

    def on_signal(sig: signal.Signals) -> None:
        # said in the log: the morning after, it told neither that a signal ended the run nor
        # which (a hang-up of the SSH session, or a kill)
        hup = " (the session it was started from hung up)" if sig.name == "SIGHUP" else ""
        again = "; already stopping" if stop_event.is_set() else ""
        log.info("%s received%s: stopping%s", sig.name, hup, again)
        stop_event.set()
        if start_task is not None and not start_task.done() and not start_task.cancelling():
            # at once, not when the wait below wakes: the start-up may be about to make the book
            # (see TradingEngine._start_up, after a replay's loading)
            start_task.cancel()

    # before the engine is built (the feed made, a replay's files found: seconds at times), so that
    # a signal then stops the start-up as one later does; until here, main's handler of SIGTERM
    # and SIGHUP (see cli._early_stop_signals) ends the process as "interrupted"
    for sig in _stop_signals():
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-Unix
            loop.add_signal_handler(sig, on_signal, sig)
    # --duration counts from here, the start-up included: one that outlasts it is cut as a signal
    # cuts it (a slow kline load or warm-up ran on past the limit asked for)
    t0 = time.perf_counter()

    def left() -> float | None:
        return None if duration_s is None else max(0.0, duration_s - (time.perf_counter() - t0))

    try:
        engine = build_engine(cfg, session_kind="run", autostart=True, **overrides)
    except BaseException:
        _remove_signal_handlers(loop)
        raise
    unsubscribe = engine.bus.subscribe(lambda ev: startup_bar.update(ev.stage, ev.done, ev.total), StartupProgress)
    stopped_by = "data ended"
    started_up = False
    stop_task = asyncio.create_task(stop_event.wait())
    status_task: asyncio.Task | None = None
    try:
        # a signal while the engine was built: its callback runs once the loop has read it (an
        # iteration or two), and then no start-up begins at all: one begun and cut at once was
        # cancelled inside its database connect, whose thread then failed on the closed loop
        for _ in range(3):
            await asyncio.sleep(0)
        # a signal during a long start-up (loading, warm-up) stops it too
        # (and so does the end of --duration)
        start_task = asyncio.create_task(engine.start_up()) if not stop_event.is_set() and left() != 0 else None
        if start_task is not None:
            await asyncio.wait({start_task, stop_task}, timeout=left(), return_when=asyncio.FIRST_COMPLETED)
        if start_task is None or not start_task.done() or start_task.cancelled():
            stopped_by = "signal" if stop_event.is_set() else "duration reached"
            if start_task is not None:
                if not start_task.cancelling():  # (once: the signal's handler may have cancelled it; a
                    start_task.cancel()          # second cancel cut the wait for the book's opening)
                with contextlib.suppress(asyncio.CancelledError):
                    await start_task
        else:
            unsubscribe()
            startup_bar.close()
            start_task.result()  # re-raise a start-up failure
            started_up = True
            run_task = asyncio.create_task(engine.run())
            if status_every_s > 0:
                status_task = asyncio.create_task(_log_status(engine, status_every_s))
            done, _ = await asyncio.wait({run_task, stop_task}, timeout=left(),
                                         return_when=asyncio.FIRST_COMPLETED)
            if status_task is not None:  # the run is over: no line about a feed stopping on purpose
                status_task.cancel()
            if run_task not in done:
                stopped_by = "signal" if stop_task in done else "duration reached"
                await engine.stop()  # lets the loop finish its event, then flushes and closes
                try:
                    await asyncio.wait_for(run_task, timeout=15)
                except (TimeoutError, asyncio.CancelledError):
                    run_task.cancel()
            else:
                run_task.result()  # re-raise an engine crash
    finally:
        unsubscribe()
        startup_bar.close()
        stop_task.cancel()
        if status_task is not None:
            status_task.cancel()
        wall = time.perf_counter() - t0
        # (an engine never started, a signal while it was built: nothing counted, the same keys)
        summary = engine.summary() if engine._started else {**NOT_STARTED, "state": engine.state.value}
        feed_health = _feed_health(engine)
        failing = sys.exc_info()[1]
        if started_up and isinstance(failing, StorageError):
            failing.during_run = True  # see main_run
        try:
            await engine.stop()
        except Exception as exc:
            if failing is None:
                if isinstance(exc, StorageError):  # the final flush of a database that opened
                    exc.during_run = True
                raise
            # the run already failed (e.g. its storage): the stop's own failure (a final flush
            # that cannot write either) is logged, and the first cause is the one reported
            log.error("while stopping after %s: %s", type(failing).__name__, exc)
        finally:
            _remove_signal_handlers(loop)
    if not started_up:
        # a signal cut the start-up short: the book was not (or not wholly) loaded, and the figures
        # the engine holds may be the configured starting balance's, not the stored book's (which
        # is left unchanged); "resumed, +0.000 % since the book began at 10,000.00" misled
        summary.update(dict.fromkeys(BOOK_FIGURES))
    klines = summary.get("klines", 0)
    summary.update(
        {
            "stopped_by": stopped_by,
            "wall_time_s": round(wall, 3),
            "feed": cfg.feed.kind,
            "symbols": len(engine.symbols),
            "klines_per_symbol": round(klines / max(1, len(engine.symbols)), 2),
            "events_per_s": round(klines / wall, 1) if wall > 0 else 0.0,
            "rejected_by_reason": _rejected_by_reason(feed_health),
            "feed_counts": feed_counts(feed_health),
            "db": engine._db_path if engine._persist else None,
        }
    )
    if not started_up and engine.book_missing():
        # the start-up was cut before it made a new book: there is nothing at that path to open
        summary.update({"db": None, "db_not_made": True})
    return summary


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for sig in _STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(sig)


def _feed_health(engine: Any) -> dict[str, Any]:
    """The feed's health figures for the summary ({} when it has none, or they cannot be read - a
    feed whose ``health()`` raises or answers no mapping: the run still stops and is saved)."""
    if not engine._started:
        return {}
    try:
        return dict(engine.feed.health())
    except Exception as exc:  # noqa: BLE001 - the summary's feed figures are then unavailable
        log.warning("run summary: the feed's health figures unavailable (%s: %s)", type(exc).__name__, exc)
        return {}


def _rejected_by_reason(feed_health: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(feed_health.get("rejected_by_reason") or {})
    except (TypeError, ValueError) as exc:
        log.warning("run summary: the feed's rejected messages by reason are unavailable: %s", exc)
        return {}


def print_summary(s: dict[str, Any], console: Console) -> None:
    title = f"tui-trader run summary ({s.get('stopped_by')})"
    # a table narrower than its title wraps the title over two lines
    t = Table(title=title, show_header=False, min_width=len(title) + 4)
    t.add_column("what", style="bold")
    t.add_column("value", justify="right")
    rows = [
        ("feed", s["feed"]),
        ("wall time", f"{s['wall_time_s']:.2f} s"),
        ("symbols", s["symbols"]),
        ("klines", f"{s.get('klines', 0):,}"),
        ("klines per symbol", f"{s['klines_per_symbol']:,.2f}".rstrip("0").rstrip(".")),  # not 76056.0
        ("events per second", f"{s['events_per_s']:,.0f}"),
        ("rejected messages", _shown(s.get("rejected_messages", 0))),
        ("rating periods", s.get("periods", 0)),
        ("signals", s.get("signals", 0)),
        ("orders", s.get("orders", 0)),
        ("fills", s.get("fills", 0)),
    ]
    if "cash" in s and s["cash"] is None:  # a signal stopped the start-up (BOOK_FIGURES)
        rows.append(("book", "not reported: the start-up did not finish (the stored book is unchanged)"))
    else:
        # (a figure the engine could not read is None: "unavailable")
        rows.append(("final equity", _shown(s.get("final_equity", 0), "{:,.2f}")))
        ret, dd = _shown(s.get("return_pct", 0), "{:+.3f} %"), _shown(s.get("max_drawdown_pct", 0), "{:.3f} %")
        if s.get("book_resumed"):  # the account came from an earlier run: say which figures span the whole book
            rows.append(("book", "resumed from the database (the counts above are this run's)"))
            ret, dd = f"{ret} since the book began at {s.get('starting_balance', 0):,.2f}", f"{dd} in this run"
        rows += [("return", ret), ("max drawdown", dd), ("open positions", s.get("open_positions", 0))]
    rows += [
        ("engine state", s.get("state", "")),
        ("database", s.get("db") or ("not made: the start-up was cut first" if s.get("db_not_made") else "off")),
    ]
    for k, v in rows:
        t.add_row(k, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))  # counts as 15,211
    for reason, n in sorted(s.get("rejected_by_reason", {}).items()):
        t.add_row(f"  rejected: {reason}", str(n))
    for key, label in FEED_COUNTERS.items():  # only those that are not zero
        if s.get("feed_counts", {}).get(key):
            t.add_row(f"  feed: {label}", f"{s['feed_counts'][key]:,}")
    console.print(t)


def main_run(args: argparse.Namespace, cfg: Config) -> int:
    """``tui-trader run --headless`` once ``cmd_run`` has checked the flags, the replay's files
    (``check_replay_data``) and the database path."""
    from tui_trader.cli import UsageError

    duration = None
    if args.duration:
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise UsageError(f"--duration: {exc}") from None
    status_every = STATUS_EVERY_S
    if getattr(args, "status_every", None) is not None:
        try:
            status_every = parse_status_every(args.status_every)
        except ValueError as exc:
            raise UsageError(f"--status-every: {exc}; 0 turns the status line off") from None
    setup_logging(cfg)
    console = Console(stderr=False)
    from tui_trader.market.feed import FeedError
    from tui_trader.market.replay import ReplayError
    from tui_trader.monitor.logfile import logging_to_file

    with logging_to_file(cfg, log):
        try:
            summary = asyncio.run(run_headless(cfg, duration, Console(stderr=True), status_every_s=status_every))
        except (FileNotFoundError, ReplayError) as exc:
            log.error("%s", exc, extra={"stderr": False})
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except FeedError as exc:  # the exchange unreachable or refusing (after the feed's own retries)
            log.error("%s", exc, extra={"stderr": False})
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except StorageError as exc:
            if not exc.during_run:
                raise  # the --db is no usable book (not a database, damaged, newer): the CLI's exit 2
            # the database failed while the run traded (a disk that ran full): a runtime failure,
            # exit 1; it exited 2, "bad usage or configuration", and a supervisor told apart by
            # the code left it down as misconfigured (the engine logged it already)
            print(f"error: {exc}", file=sys.stderr)
            return 1
        # the summary in the log file too (not again on stderr): after an SSH session dropped, the
        # terminal it would be printed on is gone, and the log is what is read the morning after
        _log_summary(summary)
    try:
        if args.json:
            print(json.dumps(summary, sort_keys=True))
        else:
            print_summary(summary, console)
        if sys.stdout is not None:  # (None: started with stdout closed, `>&-`)
            sys.stdout.flush()
    except OSError as exc:
        if exc.errno != errno.EIO:  # (a closed pipe is the CLI's: exit 1, quietly)
            raise
        # the terminal hung up (SIGHUP, then every write fails): the run itself ended cleanly and
        # its summary is in the log file; a traceback on a dead terminal and exit 1 said otherwise
        from tui_trader.monitor.terminal import to_devnull

        to_devnull(sys.stdout)  # for the flush at exit too
    return 0


def _log_summary(summary: dict[str, Any]) -> None:
    """The ``run summary:`` line (INFO, the log file's only: not again on stderr), in the log file
    whatever ``monitoring.log_level`` says: it is the run's result, and under "warning" or "error"
    an INFO line was left out - the morning after an SSH drop the log had no result at all."""
    from tui_trader.monitor.logfile import LOG_FILE_HANDLER

    text = json.dumps(summary, sort_keys=True)
    log.info("run summary: %s", text, extra={"stderr": False})
    enabled = log.isEnabledFor(logging.INFO)
    files = [h for h in logging.getLogger("tui_trader").handlers if h.get_name() == LOG_FILE_HANDLER]
    skipped = [h for h in files if not enabled or h.level > logging.INFO]  # the level kept it out
    if skipped:
        record = log.makeRecord(log.name, logging.INFO, __file__, 0, "run summary: %s", (text,), None,
                                "_log_summary", {"stderr": False})
        for h in skipped:
            h.handle(record)  # (a handler's level is judged by its logger, not by handle())


def _shown(v: Any, fmt: str = "{}") -> Any:
    """A summary figure for the table: "unavailable" for one the engine could not read (None)."""
    if v is None:
        return "unavailable"
    return v if fmt == "{}" else fmt.format(v)
