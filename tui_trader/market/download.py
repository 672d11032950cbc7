"""``tui-trader data download``: historical Binance spot klines to resumable monthly files.

Layout (the format of the shared ``binance_spot_klines`` set, read by the replay feed):
``OUT/SYMBOL/INTERVAL/YYYY-MM-01.json``, one JSON array per calendar month (UTC) of the raw
12-field ``/api/v3/klines`` rows, exactly as Binance sent them, sorted by open time.
Only *closed* klines are written (open time + interval <= the exchange's time).

Resuming: a month whose file already holds every wanted kline is skipped without a request;
a partial month continues after its last open time (and before its first one, if the wanted
range starts earlier, and in any hole between two of its rows). Files are written atomically (temp file + ``os.replace``)
after ``FLUSH_PAGES`` pages once the new rows are half as many as those on disk, and when a
month is done or the run stops (Ctrl-C, SIGTERM, SIGHUP), so a run killed outright loses at most
9 pages or a third of its month so far, and never leaves a torn file. One run at a time per
``OUT/SYMBOL/INTERVAL`` folder (:func:`series_lock`). Holes the exchange itself has (a halt)
are named in the summary and asked for again on each run (one request each).

Before any download, each symbol new to ``OUT`` is asked for one kline, so that unknown symbols
are refused (exit 2) before the others are downloaded; so is a start in the future, while a start
whose first kline has not closed yet ends at once with a note (``summary["note"]``).

Rate limits: pages of 1000 rows; ``Retry-After`` is honoured on 429/418 up to 5 minutes, and a
longer ban ends the run saying how long to wait (requests during a ban lengthen it); when the
``X-MBX-USED-WEIGHT-1M`` header reaches ``weight_headroom`` of ``weight_limit`` the download
pauses until the next minute; network errors and 5xx back off exponentially
(:class:`~tui_trader.market.binance.RestRetry`), a bounded number of times.

Units: times are integer milliseconds since the epoch (UTC); ``end`` is exclusive.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
from binance.exceptions import BinanceAPIException, BinanceRequestException

from tui_trader.clock import BINANCE_INTERVALS, interval_to_ms, parse_time, utc_text
from tui_trader.config import Config, plain_name
from tui_trader.market.binance import (
    KLINE_LIMIT,
    RateLimited,
    RestRetry,
    UnexpectedAnswer,
    create_client,
    describe_error,
    fetch_klines_range,
    is_rate_limit,
    not_json_answer,
    retry_after_s,
)
from tui_trader.outdir import missing_folders, out_dir_problem, remove_empty

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, as for the engine's database
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("tui_trader.market.download")

FLUSH_PAGES = 10
DEFAULT_OUT = Path("data") / "klines"


class DownloadArgError(ValueError):
    """Bad arguments (unknown interval or symbol, bad dates): exit code 2."""


class DownloadError(Exception):
    """The exchange could not be reached or answered with an error after retries: exit code 1."""


# ---------------------------------------------------------------------------
# months and files
# ---------------------------------------------------------------------------


def month_start(ts_ms: int) -> int:
    d = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)


def next_month(ts_ms: int) -> int:
    d = datetime.fromtimestamp(month_start(ts_ms) / 1000, UTC)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return int(datetime(y, m, 1, tzinfo=UTC).timestamp() * 1000)


def month_file(out_dir: Path, symbol: str, interval: str, month_ms: int) -> Path:
    d = datetime.fromtimestamp(month_ms / 1000, UTC)
    return Path(out_dir) / symbol / interval / f"{d.year:04d}-{d.month:02d}-01.json"


def _is_kline_row(r: Any) -> bool:
    """A REST kline row as the files keep it: a list of 11 or more fields whose open and close
    times are integers (or strings of digits)."""

    def is_time(x: Any) -> bool:
        return (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, str) and x.isascii() and x.isdigit())

    return isinstance(r, list) and len(r) >= 11 and is_time(r[0]) and is_time(r[6])


def read_rows(path: Path) -> list[list[Any]]:
    """Rows of a month file; [] if absent. Raises DownloadError if it is not a kline array."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except OSError as e:
        raise DownloadError(f"cannot read {path}: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:  # RecursionError: arrays nested thousands deep
        raise DownloadError(
            f"cannot read {path}: it is not valid JSON ({str(e)[:80] or type(e).__name__}); it may have been cut "
            "short: move it away (or delete it) and run again to download that month anew"
        ) from None
    if not isinstance(data, list) or not all(_is_kline_row(r) for r in data):  # as a fetched page's rows
        raise DownloadError(f"{path} is not a JSON array of kline rows; move it away and re-run")
    return data


def write_rows_atomic(path: Path, rows: list[list[Any]]) -> None:
    """Write ``rows`` as ``[\\n  row,\\n  row\\n]\\n`` via a temp file and ``os.replace``.
    Raises :class:`DownloadError` naming the file when it cannot be written (the previous
    file, if any, stays as it was)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    body = ",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in rows)
    text = "[\n" + body + "\n]\n" if rows else "[]\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # the disk filled up, the folder went away or is read-only...
        raise DownloadError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def check_out_dir(out_dir: Path) -> None:
    """``--out``: a folder that exists (or can be made) and takes files, checked before any
    request; :class:`DownloadArgError` otherwise."""
    if problem := out_dir_problem(out_dir):
        raise DownloadArgError(problem)


#: The lock file of one ``OUT/SYMBOL/INTERVAL`` folder (hidden; the replay feed skips it).
LOCK_NAME = ".download.lock"
#: The temp files of :func:`write_rows_atomic` (``.2024-01-01.json.<pid>.part``).
_TEMP_RE = re.compile(r"^\.\d{4}-\d{2}-01\.json\.\d+\.part$")


@contextlib.contextmanager
def series_lock(folder: Path) -> Iterator[None]:
    """One download at a time per ``OUT/SYMBOL/INTERVAL`` folder: two runs over one month file
    each kept what they had read at the start and wrote it back over the other's rows. An advisory
    ``flock`` on ``folder/.download.lock`` (dropped by the OS when the process ends, ``kill -9``
    included); held by another process it raises :class:`DownloadArgError` naming it. The lock
    file is deleted on the way out (a process that locked it meanwhile sees that it is no longer
    the folder's and takes the new one), and so is every folder this made (``OUT`` too) that holds no
    month file (an unknown symbol, an empty range, an exchange out of reach). Holding the lock, it deletes the temp files of runs killed
    while writing. Where the file system refuses locks (some network and FUSE ones), the download
    goes on unguarded, saying so in the log."""
    # every folder this makes, top down: OUT too (a first run that reached no exchange left it empty)
    made = [d for d in (*reversed(folder.parents), folder) if not d.exists()]
    path = folder / LOCK_NAME
    fd = None
    try:
        while fcntl is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise DownloadError(f"cannot write to {folder}: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = ""
                with contextlib.suppress(OSError, ValueError):
                    who = f" (pid {int(os.pread(fd, 32, 0).decode(errors='replace').strip())})"
                os.close(fd)
                fd = None
                raise DownloadArgError(
                    f"{folder} is being downloaded by another tui-trader{who}: wait for it to end"
                ) from None
            except OSError as e:  # ENOLCK, EOPNOTSUPP...
                log.warning(
                    "cannot lock %s (%s): a second download of it at the same time is not refused",
                    folder,
                    e.strerror or e,
                )
                os.close(fd)
                fd = None
                with contextlib.suppress(OSError):
                    path.unlink()
                break
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except OSError:
                current = False
            if current:
                with contextlib.suppress(OSError):  # the pid only names us to a second run
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                for stale in folder.glob(".*.part"):  # of a run killed while writing: no one else writes here
                    if _TEMP_RE.match(stale.name):
                        with contextlib.suppress(OSError):
                            stale.unlink()
                break
            os.close(fd)  # its holder deleted it before we locked it: lock the folder's new one
            fd = None
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                path.unlink()  # still holding the lock: no one else is inside
            os.close(fd)  # closing drops the flock
        with contextlib.suppress(OSError):
            if made and not any(folder.iterdir()):
                for d in reversed(made):
                    d.rmdir()


# ---------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------


def _check_args(symbols: list[str], interval: str, start_ms: int, end_ms: int | None) -> list[str]:
    if interval not in BINANCE_INTERVALS:
        raise DownloadArgError(f"unknown interval {interval!r}; expected one of {', '.join(BINANCE_INTERVALS)}")
    syms = []
    for s in symbols:
        u = s.strip().upper()
        if not u:
            continue
        if not plain_name(u):
            raise DownloadArgError(f"bad symbol {s!r} (letters and digits, e.g. BTCUSDT)")
        if u not in syms:
            syms.append(u)
    if not syms:
        raise DownloadArgError("no symbols given")
    if start_ms < 0:
        raise DownloadArgError("--start is before 1970")
    if end_ms is not None and end_ms <= start_ms:
        raise DownloadArgError("--end must be after --start (the end is exclusive)")
    return syms


class _WeightGuard:
    """Pauses when the used request weight of the current minute nears the limit."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]], limit: int, headroom: float) -> None:
        self.sleep = sleep
        self.threshold = int(limit * headroom)
        self.pauses = 0
        self.last_used = 0

    async def after(self, response: Any) -> None:
        headers = getattr(response, "headers", None)
        if headers is None:
            return
        raw = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("X-MBX-USED-WEIGHT")
        try:
            used = int(raw) if raw is not None else 0
        except ValueError:
            return
        self.last_used = used
        if used < self.threshold:
            return
        wait = 61.0
        date = headers.get("Date")
        if date:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                wait = 61.0 - parsedate_to_datetime(date).second
        self.pauses += 1
        log.warning("used request weight %d of the minute is near the limit: pausing %.0f s", used, wait)
        await self.sleep(max(1.0, min(61.0, wait)))


async def download_klines(
    cfg: Config,
    symbols: list[str],
    interval: str,
    start_ms: int,
    end_ms: int | None,
    out_dir: Path,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    weight_limit: int = 6000,
    weight_headroom: float = 0.8,
    attempts: int = 6,
) -> dict[str, Any]:
    """Download closed klines of ``symbols`` with open time in ``[start_ms, end_ms)`` (``end_ms``
    None = up to now) into ``out_dir`` (see module doc). Resumes what is already there.

    ``progress(symbol, rows_done, rows_total)`` is called after every page (rows, estimated
    total). Returns ``{"interval", "out_dir", "rows", "files", "resumed", "pauses",
    "start_ms", "end_ms", "symbols": {symbol: {"rows", "files", "resumed", "months_skipped",
    "gaps", "first", "last"}}}`` where ``rows``
    are rows fetched now, ``files`` month files written, ``resumed`` rows already on disk, ``gaps``
    ``(first open time, klines)`` of each hole the exchange has between the ``first`` and ``last``
    kline (open times; None without klines); ``start_ms`` and ``end_ms`` the range asked of it;
    plus ``"note"`` (and no symbols) when no kline from ``start_ms`` on has closed yet.
    Raises DownloadArgError (bad arguments, unknown symbol) or DownloadError (network /
    exchange failure after ``attempts`` tries).
    """
    syms = _check_args(symbols, interval, start_ms, end_ms)
    iv = interval_to_ms(interval)
    out_dir = _expand(out_dir)
    sleeper = sleep or asyncio.sleep
    # the exchange's clock minus this machine's (from the time request): a rate-limit answer without
    # Retry-After gives the end of its ban on the exchange's clock (see ban_wait_s)
    offset_ms = 0
    retry = RestRetry(sleeper, attempts=attempts, now_ms=lambda: int(time.time() * 1000) + offset_ms)
    guard = _WeightGuard(sleeper, weight_limit, weight_headroom)
    client = create_client(cfg)
    summary: dict[str, Any] = {
        "interval": interval, "out_dir": str(out_dir), "rows": 0, "files": 0, "resumed": 0, "pauses": 0,
        "symbols": {},
    }
    try:
        try:
            answer = await retry.call("server time", client.get_server_time)
            await guard.after(client.response)
        except (RateLimited, BinanceAPIException) as e:
            if (why := _refusal_text(e, retry)) is not None:
                raise DownloadError(why) from None
            raise DownloadError(f"cannot reach the exchange: {describe_error(e)}") from None
        except (TimeoutError, BinanceRequestException, aiohttp.ClientError, OSError) as e:
            # an answer, not Binance's (a 200 page of a proxy or portal): the address is to be checked
            hint = "; check binance.rest_url" if not_json_answer(e) or isinstance(e, UnexpectedAnswer) else ""
            raise DownloadError(f"cannot reach the exchange: {describe_error(e)}{hint}") from None
        now = answer.get("serverTime") if isinstance(answer, dict) else None
        if not isinstance(now, int) or isinstance(now, bool) or now <= 0:  # another service, or a proxy's JSON
            raise DownloadError(
                f"cannot reach the exchange: its answer to the time request is not Binance's ({str(answer)[:60]}); "
                "check binance.rest_url"
            )
        offset_ms = now - int(time.time() * 1000)
        if start_ms > now - iv:  # no kline opening at the start or later has closed yet: nothing to store
            at, clock = utc_text(start_ms), utc_text(now)
            if start_ms > now:  # a mistyped date, not "fetched 0 rows" and success
                raise DownloadArgError(f"start {at} UTC is in the future: the exchange's time is {clock} UTC")
            summary["note"] = (  # e.g. a cron job asking for the last hour: no mistake, just early
                f"nothing to download yet: no {interval} kline from {at} UTC on has closed "
                f"(the exchange's time is {clock} UTC)"
            )
            return summary
        hi_all = now - iv + 1  # a kline opening before this has closed
        if end_ms is not None:
            hi_all = min(hi_all, end_ms)
        summary["start_ms"], summary["end_ms"] = start_ms, hi_all
        await _check_symbols(client, retry, guard, syms, interval, out_dir)
        for sym in syms:
            with series_lock(out_dir / sym / interval):
                summary["symbols"][sym] = await _download_symbol(
                    client, retry, guard, sym, interval, iv, start_ms, hi_all, now, out_dir, progress
                )
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close_connection(), 2.0)
    for s in summary["symbols"].values():
        summary["rows"] += s["rows"]
        summary["files"] += s["files"]
        summary["resumed"] += s["resumed"]
    summary["pauses"] = guard.pauses
    return summary


def _expand(p: Path | str) -> Path:
    return Path(p).expanduser()


class _BadPage(ValueError):
    """A page of klines from the exchange holding a row that is not a kline."""


class _ListPages:
    """The client's ``get_klines`` refusing an answer that is not a list: the paging takes one
    (a JSON object from a proxy, with HTTP 200) for the end of the data and would skip the rest
    of the month as if the exchange had none."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def get_klines(self, **params: Any) -> list[list[Any]]:
        page = await self.client.get_klines(**params)
        if not isinstance(page, list):
            raise _BadPage(f"a {type(page).__name__} instead of a list: {str(page)[:60]}")
        return page


class _Month:
    """One month file being completed: what is on disk, what was fetched, periodic atomic flushes."""

    def __init__(self, path: Path, lo: int, hi: int, now: int) -> None:
        self.path, self.lo, self.hi, self.now = path, lo, hi, now
        self.rows = read_rows(path)
        self.have = {int(r[0]) for r in self.rows}
        self.new_rows: list[list[Any]] = []
        self.pages = 0  # since the last flush
        self.written = False

    def resumed(self) -> int:
        return sum(1 for t in self.have if self.lo <= t < self.hi)

    def missing(self, iv: int) -> list[tuple[int, int]]:
        """Inclusive open-time ranges still to fetch (none = the month is complete): before the
        first stored open time of ``[lo, hi)``, after the last, and every hole between two (two
        runs over separate parts of a month leave one). A hole the exchange itself has (an
        outage) is asked for again on each run: one request that brings nothing."""
        times = sorted(t for t in self.have if self.lo <= t < self.hi)
        if not times:
            return [(self.lo, self.hi - 1)]
        out = []
        if times[0] - iv >= self.lo:
            out.append((self.lo, times[0] - 1))
        out.extend((a + iv, b - 1) for a, b in zip(times, times[1:], strict=False) if b - a > iv)
        if times[-1] + iv < self.hi:
            out.append((times[-1] + iv, self.hi - 1))
        return out

    def add_page(self, page: list[list[Any]]) -> int:
        """Keep the closed, in-range, new rows of ``page``; flush after FLUSH_PAGES pages once
        the new rows are half as many as those on disk (each flush rewrites the whole file: at a
        fixed rate, a month of 1s klines, 2,678 pages, wrote ~60 GB; so about 3 times its size).
        Raises :class:`_BadPage` (nothing of the page kept) when a row is not a kline."""
        for k, r in enumerate(page):
            if not _is_kline_row(r):
                raise _BadPage(f"row {k + 1} of a page of {len(page)} is not a kline: {str(r)[:60]}")
        keep = []
        for r in page:  # (a row repeated in the page too is kept once: it was counted twice)
            t = int(r[0])
            if self.lo <= t < self.hi and int(r[6]) < self.now and t not in self.have:
                self.have.add(t)
                keep.append(r)
        self.new_rows.extend(keep)
        self.pages += 1
        if self.pages >= FLUSH_PAGES and 2 * len(self.new_rows) >= len(self.rows):
            self.flush()
        return len(keep)

    def flush(self) -> None:
        if not self.new_rows:
            return
        merged = {int(r[0]): r for r in self.new_rows}
        merged.update({int(r[0]): r for r in self.rows})  # what was on disk wins
        self.rows = [merged[t] for t in sorted(merged)]
        self.new_rows = []
        self.pages = 0
        write_rows_atomic(self.path, self.rows)
        self.written = True


async def _download_symbol(
    client: Any,
    retry: RestRetry,
    guard: _WeightGuard,
    sym: str,
    interval: str,
    iv: int,
    lo_all: int,
    hi_all: int,
    now: int,
    out_dir: Path,
    progress: Callable[[str, int, int], None] | None,
) -> dict[str, int]:
    stats: dict[str, Any] = {
        "rows": 0, "files": 0, "resumed": 0, "months_skipped": 0, "gaps": [], "first": None, "last": None
    }
    total = max(0, (hi_all - lo_all + iv - 1) // iv)
    done = 0
    last: int | None = None  # the last open time stored, for the gaps across a month's end

    def on_new(n: int) -> None:
        nonlocal done
        stats["rows"] += n
        done += n
        if progress:
            progress(sym, done, total)

    m = month_start(lo_all)
    while m < hi_all:
        month = _Month(month_file(out_dir, sym, interval, m), max(lo_all, m), min(hi_all, next_month(m)), now)
        resumed = month.resumed()
        stats["resumed"] += resumed
        done += resumed
        todo = month.missing(iv)
        if not todo:
            stats["months_skipped"] += 1
        try:
            for span in todo:
                await _fetch_into(client, retry, guard, sym, interval, span, month, on_new)
        finally:
            month.flush()  # keep what was fetched, even when interrupted
            if month.written:
                stats["files"] += 1
        for t in sorted(t for t in month.have if month.lo <= t < month.hi):
            if last is not None and t - last > iv:  # open times the exchange has no kline for: a halt
                stats["gaps"].append((last + iv, (t - last) // iv - 1))
            if stats["first"] is None:
                stats["first"] = t
            last = stats["last"] = t
        if progress:
            progress(sym, done, total)
        m = next_month(m)
    if progress:
        progress(sym, done, done)  # complete: gaps and the time before a listing have no kline to wait for
    return stats


async def _fetch_into(
    client: Any,
    retry: RestRetry,
    guard: _WeightGuard,
    sym: str,
    interval: str,
    span: tuple[int, int],
    month: _Month,
    on_new: Callable[[int], None],
) -> None:
    """Fetch open times ``span`` (inclusive) page by page into ``month``; ``on_new(n)`` per page."""

    def on_page(page: list[list[Any]]) -> None:
        on_new(month.add_page(page))

    async def weight_check() -> None:
        await guard.after(client.response)

    with _exchange_errors(sym, interval, retry, month.path.parent):
        await fetch_klines_range(
            _ListPages(client), retry, sym, interval, span[0], span[1], KLINE_LIMIT, on_page, weight_check
        )


@contextlib.contextmanager
def _exchange_errors(sym: str, interval: str, retry: RestRetry, folder: Path | None = None) -> Iterator[None]:
    """A failed kline request of ``sym`` as :class:`DownloadArgError` (unknown symbol or
    interval) or :class:`DownloadError` (anything else, after ``retry``'s attempts), worded for
    the operator. ``folder``: the symbol's ``OUT/SYMBOL/INTERVAL``; one holding month files makes an
    unknown symbol a delisted one (no typo: it was downloaded before)."""
    try:
        yield
    except BinanceAPIException as e:
        if (why := _refusal_text(e, retry)) is not None:
            raise DownloadError(f"{sym}: {why}") from None
        if e.code == -1121:
            if folder is not None and _has_month_files(folder):
                raise DownloadArgError(
                    f"the exchange no longer knows {sym} (delisted?): the month files in {folder} are kept, as they "
                    f"are; leave {sym} out of --symbols"
                ) from None
            raise DownloadArgError(f"unknown symbol {sym} on the exchange") from None
        if e.code == -1120:
            raise DownloadArgError(f"the exchange does not accept interval {interval}") from None
        raise DownloadError(f"{sym}: exchange error {describe_error(e)}") from None
    except RateLimited as e:
        raise DownloadError(f"{sym}: {_refusal_text(e, retry) or e}") from None
    except _BadPage as e:
        raise DownloadError(f"{sym}: the exchange sent a malformed page of klines ({e}); nothing of it was kept") from None
    except (TimeoutError, BinanceRequestException, aiohttp.ClientError, OSError) as e:
        raise DownloadError(
            f"{sym}: network failure after {retry.attempts} attempts ({describe_error(e)}); the files written so far "
            "are kept: run the same command again to resume"
        ) from None


def _has_month_files(folder: Path) -> bool:
    """``OUT/SYMBOL/INTERVAL`` holds a month file: the symbol was downloaded before."""
    return any(folder.glob("*.json"))


async def _check_symbols(
    client: Any, retry: RestRetry, guard: _WeightGuard, syms: list[str], interval: str, out_dir: Path
) -> None:
    """Ask for one kline of each symbol that has no month file in ``out_dir`` yet, so that an
    unknown one (a typo) is refused before any download, not after the symbols before it; every
    unknown one is named. A symbol with files was known to the exchange already (one request
    fewer per symbol on each resume)."""
    unknown = []
    pages = _ListPages(client)
    for sym in syms:
        if _has_month_files(out_dir / sym / interval):
            continue
        try:
            with _exchange_errors(sym, interval, retry):
                await retry.call(f"klines {sym}", lambda s=sym: pages.get_klines(symbol=s, interval=interval, limit=1))
                await guard.after(client.response)
        except DownloadArgError as e:
            if not str(e).startswith("unknown symbol"):
                raise
            unknown.append(sym)
    if len(unknown) == 1:
        raise DownloadArgError(f"unknown symbol {unknown[0]} on the exchange")
    if unknown:
        raise DownloadArgError(f"unknown symbols on the exchange: {', '.join(unknown)}")


def _span_text(seconds: float) -> str:
    """7200 -> ``2 h 0 min``, 600 -> ``10 min``, 45 -> ``45 s``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{-(-s // 60)} min"
    return f"{s // 3600} h {-(-(s % 3600) // 60)} min"


def _refusal_text(exc: BaseException, retry: RestRetry) -> str | None:
    """What the operator must do after the exchange refused requests for their rate (418 = an IP
    ban, 429 = too many requests, 403 = its firewall's limit) or for where they come from (451),
    or None when ``exc`` is no such refusal. A ban is not waited out here (it can last up to
    days) and every request during it makes it longer, so the message says how long to wait
    before the next run."""
    if isinstance(exc, BinanceAPIException) and exc.status_code == 451:  # a JSON body with code 0
        return (
            "the exchange refuses requests from this location (HTTP 451: Binance is not available in this country "
            "or cloud region); the monthly kline files of data.binance.vision, which --data reads, are another way"
        )
    if isinstance(exc, BinanceAPIException) and exc.status_code == 403:  # an HTML page
        return (
            "the exchange's firewall refused the request (HTTP 403, its request rate limit): wait a few minutes "
            "before running again; the files written so far are kept"
        )
    if isinstance(exc, RateLimited):
        wait: float | None = exc.retry_after_s
        status = 418
    elif is_rate_limit(exc):
        assert isinstance(exc, BinanceAPIException)
        # the wait the retry worked out: Retry-After, else the ban's end in Binance's message
        wait, status = retry.last_retry_after_s or retry_after_s(exc), exc.status_code
    else:
        return None
    if wait is not None and wait > retry.max_retry_after_s:
        what = "has banned this IP" if status == 418 else "refuses requests from this IP"
        return (
            f"the exchange {what} for {_span_text(wait)} (HTTP {status}): do not run again before "
            "then, requests during a ban make it longer; the files written so far are kept"
        )
    return (
        f"rate limited by the exchange (HTTP {status}) on each of {retry.attempts} attempts: wait a minute "
        "before running again (other programs on this IP may use up its request weight); the files written so "
        "far are kept"
    )


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


#: Signals that stop a download as Ctrl-C does: a service stop, and a dropped SSH session.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _Stopped(Exception):
    """A download stopped by SIGTERM / SIGHUP (its fetched pages written on the way out)."""


async def _until_stopped(coro: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Await ``coro``; SIGTERM or SIGHUP cancel it, as asyncio cancels on Ctrl-C, so every month
    writes what it fetched on the way out instead of the process ending with up to
    ``FLUSH_PAGES - 1`` pages of it lost, then :class:`_Stopped` names the signal. A signal set
    to be ignored (``nohup`` ignores SIGHUP) or handled by someone else is left alone."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    got: list[str] = []
    installed = []

    def stop(sig: signal.Signals) -> None:
        if not got and task is not None:
            got.append(sig.name)
            task.cancel()

    for sig in STOP_SIGNALS:
        try:
            if signal.getsignal(sig) is not signal.SIG_DFL:
                continue
            loop.add_signal_handler(sig, stop, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # no loop signals here, or not the main thread
            continue
        installed.append(sig)
    try:
        return await coro
    except asyncio.CancelledError:
        if got:
            raise _Stopped(got[0]) from None
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def parse_date_ms(text: str, what: str) -> int:
    """``YYYY-MM-DD`` or an ISO date-time (UTC unless it names an offset) -> epoch ms
    (:func:`~tui_trader.clock.parse_time`); a bad or empty one is a DownloadArgError."""
    try:
        ms = parse_time(str(text))
    except ValueError as e:  # the clock's reason ("ten digits are epoch seconds ..."), naming the flag
        raise DownloadArgError(f"{what}: {e}") from None
    if ms is None:
        raise DownloadArgError(f"{what}: no date given: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    try:
        utc_text(ms)  # epoch ms past the year 9999: no date, and the summary failed on it
    except (ValueError, OverflowError, OSError):
        raise DownloadArgError(
            f"{what}: {text!r} is out of range: a time from 0001-01-01 to 9999-12-31 (UTC) is expected"
        ) from None
    return ms


def _symbols_arg(v: Any) -> list[str]:
    if v is None:
        return []
    items = v if isinstance(v, list | tuple) else [v]
    return [s for item in items for s in str(item).split(",") if s.strip()]


def main_download(args: argparse.Namespace, cfg: Config) -> int:
    """Run a download from CLI arguments (``symbols`` comma list, ``interval``, ``start``,
    ``end``, ``out``; optional ``retries``, default 6) with a progress bar; prints a summary.
    Returns 0 ok, 2 bad arguments, 1 network/exchange failure after retries."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from tui_trader.monitor.terminal import TerminalStream, display_only

    out = Console(file=TerminalStream(stderr=False))  # type: ignore[arg-type]
    err = Console(file=TerminalStream(stderr=True), stderr=True)  # type: ignore[arg-type]
    try:
        symbols = _symbols_arg(getattr(args, "symbols", None))
        interval = str(getattr(args, "interval", None) or cfg.feed.interval)
        if getattr(args, "start", None) in (None, ""):
            raise DownloadArgError("--start is required (YYYY-MM-DD)")
        start_ms = parse_date_ms(args.start, "--start")
        end_ms = parse_date_ms(args.end, "--end") if getattr(args, "end", None) else None
        out_dir = Path(getattr(args, "out", None) or cfg.feed.replay.path or DEFAULT_OUT).expanduser()
        _check_args(symbols, interval, start_ms, end_ms)
        made = missing_folders(out_dir)  # removed again at the end while empty (no month file written)
        check_out_dir(out_dir)  # before the network requests, not after them
    except DownloadArgError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 2

    with display_only(Progress(
        TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=False, disable=not err.is_terminal,
    )) as bar:
        tasks: dict[str, Any] = {}

        def progress(sym: str, done: int, total: int) -> None:
            if sym not in tasks:
                tasks[sym] = bar.add_task(sym, total=total)
            bar.update(tasks[sym], completed=done, total=max(total, done))

        try:
            attempts = int(getattr(args, "retries", None) or 6)
            summary = asyncio.run(
                _until_stopped(
                    download_klines(cfg, symbols, interval, start_ms, end_ms, out_dir, progress, attempts=attempts)
                )
            )
        except DownloadArgError as e:
            err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
            return 2
        except DownloadError as e:
            err.print(f"[red]download failed:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
            return 1
        except (KeyboardInterrupt, _Stopped) as e:
            why = f" ({e})" if isinstance(e, _Stopped) else ""
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                err.print(
                    f"interrupted{why}: the files written so far are complete; run the same command again to resume",
                    highlight=False,
                    soft_wrap=True,
                )
            return 130
        finally:
            remove_empty(made)

    if "note" in summary:
        err.print(f"note: {escape(summary['note'])}", highlight=False, soft_wrap=True)
        return 0
    title = f"{interval} klines -> {summary['out_dir']}"
    table = Table(title=title, min_width=len(title) + 4)  # the title on one line
    for col in ("symbol", "fetched", "already there", "files written", "months skipped"):
        table.add_column(col, justify="right" if col != "symbol" else "left")
    for sym, s in summary["symbols"].items():
        table.add_row(sym, str(s["rows"]), str(s["resumed"]), str(s["files"]), str(s["months_skipped"]))
    out.print(table)
    out.print(
        f"fetched {summary['rows']} rows, {summary['resumed']} already present, {summary['files']} file(s) written"
        + (f", {summary['pauses']} rate-limit pause(s)" if summary["pauses"] else "")
    )
    for sym, s in summary["symbols"].items():
        if gaps := s["gaps"]:
            n, k = sum(c for _, c in gaps), len(gaps)
            where = ", ".join(f"from {utc_text(t)} UTC ({c})" for t, c in gaps[:5]) + (", ..." if k > 5 else "")
            err.print(
                f"note: {sym}: the exchange has no {interval} kline for {n} open times in {k} gap{'s' if k > 1 else ''} "
                f"(a halt or maintenance): {where}",
                highlight=False,
                soft_wrap=True,
            )
    iv = interval_to_ms(interval)
    for sym, s in summary["symbols"].items():  # a listing after the start, a delisting before the end
        if s["first"] is not None and s["first"] - summary["start_ms"] >= iv:
            err.print(
                f"note: the exchange has no {interval} kline of {sym} before {utc_text(s['first'])} UTC (listed then?)",
                highlight=False,
                soft_wrap=True,
            )
        if s["last"] is not None and summary["end_ms"] - s["last"] > iv:
            err.print(
                f"note: the exchange has no {interval} kline of {sym} after {utc_text(s['last'])} UTC "
                "(delisted, or halted since?)",
                highlight=False,
                soft_wrap=True,
            )
    empty = [sym for sym, s in summary["symbols"].items() if s["rows"] + s["resumed"] == 0]
    if empty:  # else the next step (--data OUT) fails with "no kline files found" and no reason
        upto = f"to {utc_text(end_ms)} UTC" if end_ms is not None else "up to now"
        err.print(
            f"[yellow]warning:[/yellow] no {interval} kline of {escape(', '.join(empty))} from {utc_text(start_ms)} "
            f"{upto}: not listed yet, delisted, or a wrong range",
            highlight=False,
            soft_wrap=True,
        )
    out.file.flush()  # (stdout may be closed, `>&-`, or a terminal gone)
    return 0
