"""Replay of recorded Binance klines: loading (JSON / CSV / zip) and the replay feed.

Inputs
------
* REST format: a JSON array of 12-field kline rows (``/api/v3/klines``), laid out
  ``SYMBOL/INTERVAL/*.json`` (e.g. ``binance_spot_klines/BTCUSDT/1h/2024-01-01.json``).
* data.binance.vision format: CSV with the same 12 columns, with or without a
  header row, plain or zipped, named ``SYMBOL-INTERVAL-YYYY-MM[.csv|.zip]`` or
  ``SYMBOL-INTERVAL-YYYY-MM-DD[.csv|.zip]`` (the extension in either case; also accepted under
  ``SYMBOL/INTERVAL/``).
* Timestamps in ms, or µs (values > 1e14, as in data.binance.vision's files from 2025 on),
  floored to whole ms: a µs close time ends in 999 µs past its last millisecond
  (``1735693199999999``), so exact division would not do. An open time between two milliseconds,
  which real data never has, is floored too and then checked as any other: one off the interval's
  grid is a ``bad_time``, one a few µs past the hour is that hour's kline.

``load_klines`` accepts a folder (searched recursively), one file, or a list of
those; files of other intervals are skipped. All klines are validated
(:func:`~tui_trader.market.validation.validate_kline_batch`; rejects are counted
per file) and merged into one columnar :class:`KlineBatch` sorted by open time
then symbol index.

Event time: the :class:`ReplayFeed` yields one KlineBatch per open time and
advances the clock to ``max(close_time) + 1`` of that batch (= the next open
time for regular klines), the moment the candles are complete; the simulated
feed uses the same convention.

Units: times integer ms since the epoch (UTC); prices quote currency; volumes
base currency (``quote_volume`` quote currency).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import json
import logging
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tui_trader.clock import MS_PER_DAY, MS_PER_UNIT, Clock, interval_to_ms, parse_time, utc_text
from tui_trader.config import Config
from tui_trader.market.binance_payloads import US_THRESHOLD, parse_rest_klines, synthetic_filters, to_ms
from tui_trader.market.file_cache import KlineFileCache
from tui_trader.market.pacing import Pacer
from tui_trader.market.sim import advance_clock, parse_speed
from tui_trader.market.sources import ReplayKlines
from tui_trader.market.universe import drop_blacklisted, refuse_blacklisted
from tui_trader.market.validation import (
    DEFAULT_MAX_PRICE_JUMP,
    PriceGuard,
    RejectCounter,
    kline_batch_from_arrays,
    validate_kline_batch,
)
from tui_trader.models import KlineBatch, SymbolFilters
from tui_trader.monitor.metrics import CounterRate

log = logging.getLogger("tui_trader.market")

_INTERVAL_RE = r"\d+[smhdwM]"
# the extension in either case: ".CSV" / ".ZIP" names (a Windows copy) were left out, only named
_VISION_RE = re.compile(rf"^([A-Z0-9]+)-({_INTERVAL_RE})-(\d{{4}}-\d{{2}}(?:-\d{{2}})?)\.(?i:csv|zip)$")
_LAYOUT_INTERVAL = re.compile(rf"^{_INTERVAL_RE}$")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")


#: A symbol whose lowest low is under this many ticks of its first close's tick is priced on the
#: lowest low's tick (see :meth:`ReplayFeed.filters`).
MIN_TICKS_AT_LOW = 1000


class ReplayError(ValueError):
    """Replay input that cannot be used (no files, unknown layout, nothing for the interval)."""


@dataclass
class ReplayData:
    """All klines of a replay, merged: ``klines`` sorted by open_time then symbol index."""

    symbols: list[str]
    interval_ms: int
    klines: KlineBatch
    rejects: dict[str, dict[str, int]] = field(default_factory=dict)  # file -> {reason: count}
    files: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return sum(sum(r.values()) for r in self.rejects.values())

    def rejected_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rejects.values():
            for k, v in r.items():
                out[k] = out.get(k, 0) + v
        return out


# ---------------------------------------------------------------------------
# discovery
# ---------------------------------------------------------------------------


def classify(path: Path) -> tuple[str, str] | None:
    """``(SYMBOL, interval)`` of a kline file from its name or its ``SYMBOL/INTERVAL/`` folders."""
    m = _VISION_RE.match(path.name)
    if m:
        return m.group(1), m.group(2)
    if path.suffix.lower() in (".json", ".csv", ".zip"):
        iv, sym = path.parent.name, path.parent.parent.name
        if _LAYOUT_INTERVAL.match(iv) and _SYMBOL_RE.match(sym):
            return sym, iv
    return None


def misnamed(path: Path) -> bool:
    """Whether ``path``, which :func:`classify` cannot tell, looks like a kline file all the same:
    a data.binance.vision name in the wrong case (``btcusdt-1h-2024-01.zip``), or a kline file
    under ``INTERVAL/`` in a folder that is no symbol name (``btcusdt/1h/``, ``BTC-USDT/1h/``)."""
    if path.suffix.lower() not in (".json", ".csv", ".zip"):
        return False
    in_interval_folder = bool(_LAYOUT_INTERVAL.match(path.parent.name) and path.parent.parent.name)
    return in_interval_folder or bool(re.match(_VISION_RE.pattern, path.name, re.IGNORECASE))


def _files_under(root: Path) -> Iterator[Path]:
    """The files under the folder ``root``, at any depth, symlinked folders followed (each real
    folder once, so a link back up ends). ``rglob`` does not follow them: a symbol's folder linked
    in from a larger disk was left out of the replay without a word."""
    seen: set[tuple[int, int]] = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            subfolders[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            subfolders[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        for name in names:
            yield Path(folder) / name


def discover(
    paths: str | Path | Sequence[str | Path], skipped: list[Path] | None = None
) -> list[tuple[Path, str, str]]:
    """Kline files under ``paths`` as ``(path, SYMBOL, interval)``, sorted.

    Folders are searched recursively (files that match no known naming are
    ignored; those that look like kline files all the same, see :func:`misnamed`, are
    appended to ``skipped``); an explicitly named file that matches none raises ReplayError. A link
    under a folder to a file gone is kept when its name is a kline file's (its read fails, counted),
    otherwise (a symbol's folder on a disk not mounted) said in one WARNING each.
    A missing path raises FileNotFoundError.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: dict[Path, tuple[str, str]] = {}
    gone: list[Path] = []  # links to nothing that name no kline file (a symbol's folder, ...)
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            for f in _files_under(p):
                # a kline file linked to one gone (a disk not mounted) is kept: its read fails,
                # counted and logged, where skipping it left its month out of the replay unsaid
                dangling = f.is_symlink() and not f.exists()
                if f.is_file() or dangling:
                    c = classify(f)
                    if c:
                        out[f] = c
                    elif dangling:
                        gone.append(f)
                    elif skipped is not None and misnamed(f):
                        skipped.append(f)
        elif p.is_file():
            c = classify(p)
            if c is None:
                raise ReplayError(
                    f"cannot tell the symbol and interval of {p}: name it SYMBOL-INTERVAL-YYYY-MM.csv|zip "
                    "(data.binance.vision) or put it under SYMBOL/INTERVAL/"
                )
            out[p] = c
        else:
            raise FileNotFoundError(f"replay path not found: {p}")
    for f in gone:  # a symbol's (or interval's) folder linked in from a disk not mounted
        with contextlib.suppress(OSError):
            log.warning("replay: %s links to %s, which is not there (a disk not mounted?): what it held is not "
                        "read", f, os.readlink(f))
    return sorted(((f, s, i) for f, (s, i) in out.items()), key=lambda x: (x[1], x[2], str(x[0])))


# ---------------------------------------------------------------------------
# file parsing
# ---------------------------------------------------------------------------


def _rows_from_csv_fast(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Columnar conversion of a clean 12-column CSV body (no header); None if irregular."""
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if lines <= 0:
        return np.empty((0, 3), dtype=np.int64), np.empty((0, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            x = np.fromstring(text.replace("\n", ","), sep=",")  # noqa: NPY201 (text mode is supported)
        except (ValueError, DeprecationWarning):
            return None
    if x.size != lines * 12:
        return None
    # The total alone would let a short row and a long one shift each other's columns (prices
    # read as times): every line must hold exactly 11 commas.
    # (Counted from the commas' positions: a running count over every byte took 8 bytes per byte
    # of the file, some 3 GB for a month of 1s klines.)
    raw = np.frombuffer(text.encode(), dtype=np.uint8)
    ends = np.append(np.flatnonzero(raw == ord("\n")), raw.size - 1)[:lines]
    per_line = np.diff(np.searchsorted(np.flatnonzero(raw == ord(",")), ends, side="right"), prepend=0)
    if np.any(per_line != 11):
        return None
    a = x.reshape(lines, 12)
    t = a[:, [0, 6, 8]]
    if not np.all(np.isfinite(t)) or np.any(t != np.floor(t)) or np.any(np.abs(t) > 9e15):
        return None
    return t.astype(np.int64), np.ascontiguousarray(a[:, [1, 2, 3, 4, 5, 7, 9]])


#: A CSV that is not read by columns (one bad line will do: a file cut short) is read this many rows
#: at a time: as lists of strings, all its rows took over 16 times the file's size (6 GB for a month of
#: 1s klines), where the klines take 0.7 times it.
SLOW_CSV_ROWS = 50_000


# What reading a damaged or unusual zip member raises besides BadZipFile: a corrupt deflate
# stream (zlib.error), one that ends early (EOFError), an encrypted member (RuntimeError), a
# compression method this Python lacks (NotImplementedError).
_ZIP_READ_ERRORS = (zlib.error, EOFError, RuntimeError, NotImplementedError)

#: The most a kline file, or the members of a zip together, may unpack to: five times a month of 1s
#: klines (~0.42 GB of CSV, the largest file data.binance.vision has), where parsing takes up to ten
#: times the text. A zip bomb, or an enormous file, raised MemoryError out of the whole replay.
MAX_TEXT_BYTES = 2 << 30


def _read_text(path: Path, counter: RejectCounter | None = None) -> str:
    """The text of a kline file; of a zip, its CSV members' (or its only member's) one after the
    other, in name order, each member's header row dropped but the first's. Only the first member
    was read: a zip of a month's daily files replayed one day, without a word. A member named for
    another symbol or interval than the zip's is not read (one ``malformed`` reject in ``counter``
    each). Raises ValueError for a file or members over :data:`MAX_TEXT_BYTES`, before reading."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            # not folders, nor the AppleDouble "._x.csv" files (binary metadata) macOS puts in zips
            names = [n for n in z.namelist() if not n.endswith("/") and not _mac_metadata(n)]
            members = sorted(n for n in names if n.lower().endswith(".csv")) or names[:1]
            if not members:
                raise ValueError("empty zip archive")
            members = _own_members(path, members, counter)
            if not members:
                return ""
            # file_size bounds what read() returns (zipfile stops there, and a lie fails the CRC)
            size = sum(z.getinfo(m).file_size for m in members)
            if size > MAX_TEXT_BYTES:
                what = f"{members[0]} unpacks" if len(members) == 1 else f"its {len(members)} members unpack"
                raise ValueError(f"{what} to {_too_large(size)}")
            texts = [z.read(m).decode("utf-8-sig") for m in members]
        return texts[0] if len(texts) == 1 else "\n".join(
            [texts[0].rstrip("\r\n")] + [_without_header(t).rstrip("\r\n") for t in texts[1:]]
        )
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise ValueError(_too_large(size))
    return path.read_bytes().decode("utf-8-sig")


def _too_large(size: int) -> str:
    """``size`` bytes said against :data:`MAX_TEXT_BYTES`."""
    return f"{size / 2**30:.1f} GiB, more than the {MAX_TEXT_BYTES / 2**30:.1f} GiB a kline file may hold"


def _own_members(path: Path, members: list[str], counter: RejectCounter | None) -> list[str]:
    """The ``members`` of the zip ``path`` not named for another symbol or interval than the zip
    (data.binance.vision names; others are kept). ETHUSDT-1h-2024-01.csv in BTCUSDT-1h-2024-01.zip
    was replayed as BTCUSDT's klines."""
    own = classify(path)
    keep = []
    for m in members:
        named = _VISION_RE.match(m.rsplit("/", 1)[-1])
        if own is not None and named is not None and (named.group(1), named.group(2)) != own:
            if counter is not None:
                counter.reject(
                    "malformed", 1,
                    f"{path}: member {m} holds {named.group(1)} {named.group(2)} klines, not {own[0]} {own[1]}: not read",
                )
            continue
        keep.append(m)
    return keep


def _mac_metadata(name: str) -> bool:
    """A zip member macOS adds beside each file (``__MACOSX/``, ``._name``): not data."""
    return name.startswith("__MACOSX/") or name.rsplit("/", 1)[-1].startswith("._")


def _without_header(text: str) -> str:
    """``text`` without its first line when that is a kline CSV header."""
    # lines ending in a bare CR (old Mac exports; parse_file reads them as lines): with none of
    # "\n" the whole member was its "first line", a header, and dropped without a word
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    body = text.lstrip()
    nl = body.find("\n")
    first = body if nl < 0 else body[:nl]
    if first.lstrip('"')[:1].isalpha() and "open" in first.lower() and "," in first:
        return "" if nl < 0 else body[nl + 1 :]
    return text


def parse_file(
    path: Path, sym: int, interval_ms: int, counter: RejectCounter, notes: list[str] | None = None
) -> KlineBatch:
    """One kline file (JSON rows, CSV or zipped CSV) -> KlineBatch (closed klines of one symbol).

    Unreadable, undecodable or empty files, and a ``.json`` file that is not an array,
    count one ``malformed`` reject and give an empty batch; bad rows (a first CSV line
    that is neither a kline nor a header included) are counted individually. Values are
    not validated here. Each reject names the file by its path (and a bad row by its number), so
    the operator can find and mend it. A file that holds no kline and no bad row (a CSV of only its
    header, a JSON ``[]``) counts one ``malformed`` reject too, as an empty file does. So does a
    file that unpacks to over :data:`MAX_TEXT_BYTES` (refused unread: a zip bomb) or that the memory
    free cannot hold, and each zip member named for another symbol or interval than the zip.

    A file whose rows mix ms and µs times (two exports run together) is read, each row in its own
    unit, with one WARNING saying so; its text is appended to ``notes`` (such a file is not cached,
    so the warning comes back on every load).
    """
    before = counter.total
    try:
        batch = _parse_text(path, sym, interval_ms, counter, notes)
    except MemoryError:  # under MAX_TEXT_BYTES, but more than this machine has free
        counter.reject("malformed", 1, f"{path}: unreadable (too large for the memory free){WHOLE_FILE}")
        return KlineBatch.empty(interval_ms)
    if not len(batch) and counter.total == before:  # it replayed nothing without a word
        counter.reject("malformed", 1, f"{path}: holds no kline")
    return batch


def _parse_text(
    path: Path, sym: int, interval_ms: int, counter: RejectCounter, notes: list[str] | None = None
) -> KlineBatch:
    """:func:`parse_file` but for a file that holds no kline and no bad row."""
    before = counter.total
    try:
        text = _read_text(path, counter)
    except (OSError, ValueError, zipfile.BadZipFile, UnicodeDecodeError, *_ZIP_READ_ERRORS) as e:
        counter.reject("malformed", 1, f"{path}: unreadable ({e}){WHOLE_FILE}")
        return KlineBatch.empty(interval_ms)
    stripped = text.lstrip()
    fast: tuple[np.ndarray, np.ndarray] | None
    if not stripped.strip():
        if counter.total == before:  # not a zip of only other symbols' members (each counted)
            counter.reject("malformed", 1, f"{path}: empty file")
        return KlineBatch.empty(interval_ms)
    if path.suffix.lower() == ".json" and not stripped.startswith("["):
        counter.reject("malformed", 1, f"{path}: not a JSON array of klines{WHOLE_FILE}")
        return KlineBatch.empty(interval_ms)
    if stripped.startswith("["):
        try:
            rows = json.loads(stripped)
        except (ValueError, RecursionError) as e:  # RecursionError: arrays nested thousands deep
            counter.reject("malformed", 1, f"{path}: not valid JSON ({e}){WHOLE_FILE}")
            return KlineBatch.empty(interval_ms)
        if not isinstance(rows, list):
            counter.reject("bad_type", 1, f"{path}: JSON is not an array of klines{WHOLE_FILE}")
            return KlineBatch.empty(interval_ms)
        _say_units(path, _json_units(rows), notes)
        return parse_rest_klines(rows, sym, interval_ms, counter, source=str(path))
    else:
        # CRLF, and a bare CR (old Mac exports): as LF. Dropping a bare CR joined every row into one
        # line, read as a single kline of many fields: the file's other rows vanished unreported.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        stripped = text.lstrip()
        body = stripped
        skipped = text[: len(text) - len(stripped)].count("\n")  # lines before the body, for line numbers
        lead = body[1:2] if body[:1] == '"' else body[:1]  # a quoted field (QUOTE_ALL exports): its first character
        if body and not (lead.isdigit() or lead == "-"):  # header row
            nl = body.find("\n")
            first = body if nl < 0 else body[:nl]
            if "open" not in first.lower() or "," not in first:  # not a kline header: a bad row
                counter.reject("malformed", 1, f"{path}: line {skipped + 1} is neither a kline nor a header")
            body = "" if nl < 0 else body[nl + 1 :]
            skipped += 1
        skipped += len(body) - len(body.lstrip("\n"))
        body = body.strip("\n")
        fast = _rows_from_csv_fast(body) if body else (np.empty((0, 3), dtype=np.int64), np.empty((0, 7)))
        if fast is None:
            rows, lines = [], []
            parts: list[KlineBatch] = []
            units = (0, 0)
            # its lines as a list: 1.4 times the text, where a StringIO holds 4 bytes a character
            for lineno, r, error in _csv_rows(body.split("\n")):
                if r is None:
                    counter.reject("malformed", 1, f"{path} line {skipped + lineno}: {error}")
                    continue
                if len(r) > 12:  # two rows run together (a lost line end), or not a kline file
                    counter.reject(
                        "malformed", 1, f"{path} line {skipped + lineno}: row has {len(r)} fields, expected 12"
                    )
                elif r and (len(r) > 1 or r[0].strip()):  # blank lines are skipped, but counted
                    rows.append(r)
                    lines.append(skipped + lineno)
                    if len(rows) == SLOW_CSV_ROWS:
                        units = _add(units, _row_units(rows))
                        parts.append(parse_rest_klines(rows, sym, interval_ms, counter, source=str(path),
                                                       line_numbers=lines))
                        rows, lines = [], []
            _say_units(path, _add(units, _row_units(rows)), notes)
            parts.append(parse_rest_klines(rows, sym, interval_ms, counter, source=str(path), line_numbers=lines))
            return KlineBatch.concat(parts, interval_ms)
    times, vals = fast
    if times.shape[0]:
        n_us = int(np.count_nonzero(times[:, 0] > US_THRESHOLD))
        _say_units(path, (n_us, times.shape[0] - n_us), notes)
    n = times.shape[0]
    return kline_batch_from_arrays(
        interval_ms, np.full(n, sym, dtype=np.int32), to_ms(times[:, 0]), to_ms(times[:, 1]), vals, times[:, 2]
    )


#: How many symbols the gap warning of a replay names (then "and N more").
GAP_SYMBOLS_NAMED = 5

#: Said after the reject of a file none of whose klines can be read: one reject counted, but a
#: month of klines may be gone (the "1 market-data row" read as one bad row).
WHOLE_FILE = ": the whole file left out"


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, list[str] | None, str]]:
    """``(line number, fields, "")`` of each CSV line of ``lines`` (1-based), or ``(line number,
    None, what is wrong)`` for a line that is no CSV row: one whose field is longer than csv's
    limit, and one with an unclosed quote, which csv reads on into the lines after it - up to the
    next quote, or the end of the file - as one row: those lines were lost, counted as one bad row
    (named by the last line it took). Quoted fields on one line read as csv reads them."""
    feed = _LineFeed(lines)
    base = 0  # lines done before the current reader's first
    while True:
        reader = csv.reader(feed)
        done = 0  # lines of this reader's done
        while True:
            feed.taken.clear()
            try:
                r = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # e.g. a field longer than csv's limit (a garbled line)
                if len(feed.taken) > 1:  # ... of a quote that ran on: only its first line is bad
                    yield base + done + 1, None, f"{e} (a quote opened on this line is never closed on it)"
                    break
                done = reader.line_num
                yield base + done, None, str(e)
                continue
            if len(feed.taken) > 1:  # a quoted field ran on into the next line(s)
                yield base + done + 1, None, "a quote (\") opened on this line is not closed on it"
                break
            done = reader.line_num
            yield base + done, r, ""
        feed.again(feed.taken[1:])  # the lines the quote took, read anew by a new reader
        base += done + 1


class _LineFeed:
    """The lines of an iterable, with those last taken (:attr:`taken`) and a way to put lines
    back in front (:meth:`again`), for :func:`_csv_rows`."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._rest = iter(lines)
        self._back: list[str] = []  # reversed: pop() gives the next
        self.taken: list[str] = []

    def again(self, lines: list[str]) -> None:
        self._back.extend(reversed(lines))

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = self._back.pop() if self._back else next(self._rest)
        self.taken.append(line)
        return line


def _say_gaps(kl: KlineBatch, names: Sequence[str], interval: str) -> None:
    """One WARNING naming the open times some symbols have no kline for between their first and
    last one (a halt on the exchange, rows rejected or cut out): they are replayed as they are
    (the engine counts them), but not without a word. A symbol listed later is no gap."""
    iv = int(kl.interval_ms)
    if len(kl) < 2 or iv <= 0:
        return
    order = np.lexsort((kl.open_time, kl.sym))
    s, t = kl.sym[order], kl.open_time[order]
    step = np.diff(t)
    idx = np.flatnonzero((s[1:] == s[:-1]) & (step > iv))
    if not idx.size:
        return
    g_sym, g_from, g_n = s[idx], t[idx] + iv, (step[idx] - 1) // iv
    parts = []
    for k in np.unique(g_sym).tolist():
        mine = g_sym == k
        n, where = int(g_n[mine].sum()), int(np.count_nonzero(mine))
        parts.append(f"{names[k]}: {n} in {where} gap{'s' if where > 1 else ''} from {utc_text(int(g_from[mine][0]))} UTC")
    more = f"; and {len(parts) - GAP_SYMBOLS_NAMED} more symbol(s)" if len(parts) > GAP_SYMBOLS_NAMED else ""
    log.warning(
        "replay: open times with no %s kline between a symbol's first and last (a halt, or rows rejected or "
        "missing), replayed as they are: %s%s", interval, "; ".join(parts[:GAP_SYMBOLS_NAMED]), more,
    )


def _say_short_ends(batches: Sequence[KlineBatch], names: Sequence[str], interval: str) -> None:
    """One WARNING naming the symbols whose klines start after the others' first or end before
    their last: a file missing or left out at either end of a symbol's range (a truncated last
    month) shortened its replay with no word - :func:`_say_gaps` sees only inside that range. (A
    symbol listed or delisted in the range is named too: replayed as it is.) ``batches``: the
    valid klines of each file (one symbol each)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for b in batches:
        if len(b):
            k, lo, hi = int(b.sym[0]), int(b.open_time.min()), int(b.open_time.max())
            first[k], last[k] = min(first.get(k, lo), lo), max(last.get(k, hi), hi)
    if len(first) < 2:
        return
    iv = interval_to_ms(interval)
    t0, t1 = min(first.values()), max(last.values())
    parts = []
    for k in sorted(first, key=lambda k: names[k]):
        said = []
        if first[k] > t0:
            said.append(f"starts {(first[k] - t0) // iv} open time(s) after the first, at {utc_text(first[k])} UTC")
        if last[k] < t1:
            said.append(f"ends {(t1 - last[k]) // iv} open time(s) before the last, at {utc_text(last[k])} UTC")
        if said:
            parts.append(f"{names[k]} {' and '.join(said)}")
    if parts:
        more = f"; and {len(parts) - GAP_SYMBOLS_NAMED} more symbol(s)" if len(parts) > GAP_SYMBOLS_NAMED else ""
        log.warning(
            "replay: the %s klines of some symbols do not span the replay's (%s to %s UTC): a file missing or left "
            "out, or the symbol listed or delisted in between; replayed as they are: %s%s", interval, utc_text(t0),
            utc_text(t1), "; ".join(parts[:GAP_SYMBOLS_NAMED]), more,
        )


def _say_units(path: Path, units: tuple[int, int], notes: list[str] | None) -> None:
    """One WARNING when ``units`` (rows with an open time in µs, in ms) holds both."""
    n_us, n_ms = units
    if n_us and n_ms:
        text = (
            f"replay: {path}: {n_us} row(s) with times in µs and {n_ms} in ms (two exports run together? "
            "data.binance.vision's files are in µs from 2025 on): each row read in its own unit"
        )
        log.warning("%s", text)
        if notes is not None:
            notes.append(text)


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def _row_units(rows: list) -> tuple[int, int]:
    """Rows (lists) whose open time reads as a µs and as a ms timestamp; other rows not counted."""
    n_us = n_ms = 0
    for r in rows:
        if isinstance(r, list | tuple) and r:
            t = r[0]
            if isinstance(t, str):
                t = t.strip().strip('"')
                if not t.isascii() or not t.isdigit():
                    continue
                t = int(t)
            elif not isinstance(t, int) or isinstance(t, bool):
                continue
            if t > US_THRESHOLD:
                n_us += 1
            else:
                n_ms += 1
    return n_us, n_ms


def _json_units(rows: list) -> tuple[int, int]:
    """:func:`_row_units` of JSON kline rows; (0, 0) at C speed (no row loop) for the usual file,
    whose open times are all integers in one unit."""
    try:
        firsts = list(map(itemgetter(0), rows))
        lo, hi = min(firsts), max(firsts)
        if type(lo) is int and type(hi) is int and (hi <= US_THRESHOLD or lo > US_THRESHOLD):
            return 0, 0  # all ints (min and max of ints and strings raise), all in one unit
    except (TypeError, IndexError, KeyError, ValueError):  # a row that is no list, mixed types
        pass
    return _row_units(rows)


def refuse_blacklisted_symbols(symbols: Sequence[str], blacklist: Sequence[str]) -> None:
    """:func:`~tui_trader.market.universe.refuse_blacklisted` as a :class:`ReplayError`."""
    try:
        refuse_blacklisted(symbols, blacklist)
    except ValueError as exc:
        raise ReplayError(str(exc)) from None


def drop_blacklisted_symbols(names: Sequence[str], blacklist: Sequence[str], where: str) -> list[str]:
    """:func:`~tui_trader.market.universe.drop_blacklisted` as a :class:`ReplayError`."""
    try:
        return drop_blacklisted(names, blacklist, where)
    except ValueError as exc:
        raise ReplayError(str(exc)) from None


def interval_name(ms: int) -> str:
    """Milliseconds -> the Binance interval string (3_600_000 -> "1h"), largest whole unit."""
    for unit, size in sorted(MS_PER_UNIT.items(), key=lambda kv: -kv[1]):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    raise ValueError(f"{ms} ms is not a whole number of seconds")


def load_klines(
    paths: str | Path | Sequence[str | Path],
    interval: str,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    file_cache: KlineFileCache | None | Literal["default"] = "default",
    max_price_jump: float = DEFAULT_MAX_PRICE_JUMP,
    blacklist: Sequence[str] = (),
) -> ReplayData:
    """Load, validate and merge recorded klines of one ``interval``.

    Rows out of time order in a file are replayed in time order (one warning per such file);
    a second row of the same open time in a file, or in another file, is a ``duplicate``. A file
    mixing ms and µs times is read row by row in each row's unit (one warning per such file), and
    open times a symbol has no kline for between its first and last are replayed as gaps (one
    warning for the load, naming the symbols).

    ``symbols``: keep only these (in this order; any without data are dropped with a
    warning); default: every symbol found, sorted. ``start_ms`` (inclusive) /
    ``end_ms`` (exclusive) filter on open time. ``progress(files_done, files_total)``
    is called after each file. Raises FileNotFoundError for a missing path and
    ReplayError when nothing usable is found. ``file_cache``: parsed files are taken from and
    kept in this cache (:mod:`.file_cache`; ``"default"``: :meth:`KlineFileCache.default`,
    None: no cache); the result is the same either way. ``max_price_jump``
    (``feed.max_price_jump``): a close that far from the symbol's previous one, across its files
    in time order, is rejected (``price_jump``). ``blacklist`` (``feed.universe.blacklist``): the
    files of these symbols are not loaded (one INFO line names them); ``symbols`` naming one of
    them, or a blacklist leaving no symbol, is a ReplayError.
    """
    interval_ms = interval_to_ms(interval)
    skipped: list[Path] = []
    files = discover(paths, skipped)
    if skipped:  # a symbol's folder named "btcusdt" left the symbol out of the replay without a word
        more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
        log.warning(
            "replay: %d file(s) not read, as their names tell no symbol and interval (symbols are in capitals, "
            "SYMBOL/INTERVAL/*.json or SYMBOL-INTERVAL-YYYY-MM.csv|zip): %s%s", len(skipped), sorted(skipped)[0], more
        )
    if not files:
        raise ReplayError(f"no kline files found in {paths}")
    sel = [(f, s, i) for f, s, i in files if i == interval]
    if not sel:
        have = sorted({i for _, _, i in files})
        raise ReplayError(f"no {interval} klines in {paths} (intervals found: {', '.join(have)})")
    if symbols is not None:
        refuse_blacklisted_symbols(symbols, blacklist)
        want = list(dict.fromkeys(s.strip().upper() for s in symbols))  # "btcusdt" twice: one symbol
        present = {s for _, s, _ in sel}
        missing = [s for s in want if s not in present]
        if missing:
            log.warning("replay: no %s data for %s", interval, ", ".join(missing))
        names = [s for s in want if s in present]
        sel = [x for x in sel if x[1] in set(names)]
        if not names:
            raise ReplayError(f"none of the symbols {', '.join(want)} has {interval} data in {paths}")
    else:
        names = drop_blacklisted_symbols(sorted({s for _, s, _ in sel}), blacklist, f"the {interval} klines in {paths}")
        sel = [x for x in sel if x[1] in set(names)]
    index = {s: k for k, s in enumerate(names)}

    parsed: list[tuple[str, KlineBatch]] = []
    counters: dict[str, RejectCounter] = {}
    total = len(sel)
    cache = KlineFileCache.default() if file_cache == "default" else file_cache
    for done, (f, s, _) in enumerate(sel, 1):
        c = counters[str(f)] = RejectCounter()
        entry = cache.entry(f, interval_ms) if cache is not None else None
        b = cache.load(entry, index[s], interval_ms) if cache is not None and entry is not None else None
        if b is None:
            notes: list[str] = []
            b = parse_file(f, index[s], interval_ms, c, notes)
            if cache is not None and entry is not None and c.total == 0 and not notes and len(b):
                cache.store(entry, b)
        if len(b) and (start_ms is not None or end_ms is not None):
            keep = np.ones(len(b), dtype=bool)
            if start_ms is not None:
                keep &= b.open_time >= start_ms
            if end_ms is not None:
                keep &= b.open_time < end_ms
            b = b.take(keep)
        parsed.append((str(f), b))
        if progress is not None:
            progress(done, total)

    # 1. Each file on its own (sorted by open time): value rules and duplicates inside the file.
    def first_time(item: tuple[str, KlineBatch]) -> tuple[int, int, str]:
        b = item[1]
        return (int(b.sym[0]), int(b.open_time.min()), item[0]) if len(b) else (-1, 0, item[0])

    parsed.sort(key=first_time)
    good: list[KlineBatch] = []
    file_ids: list[np.ndarray] = []
    guard = PriceGuard(len(names), max_price_jump, names=names)  # one chain per symbol over its files, in time order
    for k, (fname, b) in enumerate(parsed):
        if len(b) > 1 and np.any(np.diff(b.open_time) < 0):
            # kept, in time order: said once per file (a file out of order may be a wrong export)
            back = int(np.count_nonzero(np.diff(b.open_time) < 0))
            log.warning("replay: %s: rows not in time order (%d step(s) back); replayed in time order", fname, back)
            b = b.take(np.argsort(b.open_time, kind="stable"))
        ok = validate_kline_batch(
            b, len(names), np.full(len(names), -1, dtype=np.int64), counters[fname], source=fname, guard=guard
        )
        good.append(ok)
        file_ids.append(np.full(len(ok), k, dtype=np.int64))
    merged = KlineBatch.concat(good, interval_ms)
    # 2. Across files: the same (symbol, open time) in several files is kept once (from the file
    #    whose data starts first) and counted as a duplicate in the others; gaps between files are fine.
    if len(merged):
        fid = np.concatenate(file_ids)
        order = np.lexsort((fid, merged.open_time, merged.sym))
        s_sorted, t_sorted = merged.sym[order], merged.open_time[order]
        dup_sorted = np.zeros(len(order), dtype=bool)
        dup_sorted[1:] = (s_sorted[1:] == s_sorted[:-1]) & (t_sorted[1:] == t_sorted[:-1])
        if dup_sorted.any():
            dup_files = np.bincount(fid[order][dup_sorted], minlength=len(parsed))
            for k in np.flatnonzero(dup_files):
                fname = parsed[int(k)][0]
                counters[fname].reject("duplicate", int(dup_files[k]), f"{fname}: kline in another file")
            order = order[~dup_sorted]
        merged = merged.take(order)
        # 3. Merge order: open time, then symbol index.
        merged = merged.take(np.lexsort((merged.sym, merged.open_time)))
        _say_gaps(merged, names, interval)
        _say_short_ends(good, names, interval)
    rejects = {f: dict(c.by_reason) for f, c in counters.items() if c.total}
    held = set(np.unique(merged.sym).tolist()) if len(merged) else set()
    if held and len(held) < len(names):  # none held: the caller's "no valid klines" error says it
        lost = [s for s in names if index[s] not in held]
        log.warning("replay: no valid %s klines for %s in the selected range", interval, ", ".join(lost))
    return ReplayData(names, interval_ms, merged, rejects, [str(f) for f, _, _ in sel])


# ---------------------------------------------------------------------------
# feed
# ---------------------------------------------------------------------------


class ReplayFeed:
    """MarketFeed over recorded klines (``kind = "replay"``).

    ``data`` (already loaded) or ``path`` (default ``feed.replay.path``) with
    ``interval`` (default ``feed.interval``), ``symbols`` (default ``feed.symbols``;
    empty = all but ``feed.universe.blacklist``; naming a blacklisted one is a ReplayError),
    ``start_ms``/``end_ms`` (default ``feed.replay.start``/``end``),
    ``speed`` (default ``feed.speed``: × real time, or ``"max"``). The first
    ``warmup_klines`` open times are not replayed but served by :meth:`history`.
    ``periods_per_batch`` > 1 packs that many consecutive open times into one
    KlineBatch (sorted by open time, then symbol) for fast back-tests.
    """

    kind = "replay"

    def __init__(
        self,
        cfg: Config,
        clock: Clock,
        *,
        data: ReplayData | None = None,
        path: str | Path | Sequence[str | Path] | None = None,
        interval: str | None = None,
        speed: float | str | None = None,
        symbols: Sequence[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        warmup_klines: int = 0,
        periods_per_batch: int = 1,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self._data = data
        self.path = path if path is not None else cfg.feed.replay.path
        self.interval = interval or cfg.feed.interval
        self.interval_ms = interval_to_ms(self.interval)
        if data is not None:
            self.interval_ms = data.interval_ms
            self.interval = interval_name(data.interval_ms)
        self.speed = parse_speed(cfg.feed.speed if speed is None else speed)
        self._want_symbols = list(symbols) if symbols is not None else (list(cfg.feed.symbols) or None)
        self.start_ms = start_ms if start_ms is not None else parse_time(cfg.feed.replay.start)
        self.end_ms = end_ms if end_ms is not None else parse_time(cfg.feed.replay.end)
        self.progress = progress
        if warmup_klines < 0:
            raise ValueError(f"warmup_klines must be >= 0, got {warmup_klines}")
        if periods_per_batch < 1:
            raise ValueError(f"periods_per_batch must be >= 1, got {periods_per_batch}")
        self.warmup_klines = int(warmup_klines)
        self.periods_per_batch = int(periods_per_batch)

        self._symbols: list[str] = []
        self._klines = KlineBatch.empty(self.interval_ms)
        self._bounds = np.zeros(1, dtype=np.int64)  # row index where each open time starts (+ end)
        self._first_live = 0  # period index of the first replayed open time
        self._prepared: tuple[ReplayData, list[str], KlineBatch] | None = None  # see prepare()
        self._started = False
        self._running = False
        self._stopped = asyncio.Event()
        self.counter = RejectCounter()
        self._filters: dict[str, SymbolFilters] = {}
        self._last_event = np.empty(0, dtype=np.int64)
        self._last_event_ms = -1
        self.received = 0
        self._rate = CounterRate()

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    @property
    def data(self) -> ReplayData | None:
        return self._data

    @property
    def periods(self) -> int:
        """Number of distinct open times (warm-up included)."""
        return int(self._bounds.shape[0] - 1)

    async def prepare(self) -> None:
        """Load the data (synchronously; well under a second for a year of 1h klines of 10 symbols)
        and select its symbols and the open times replayed: a :class:`ReplayError` when none is
        left. :meth:`start` does it too (once); the engine calls it before it opens its book, so
        that a window outside the data (``feed.replay.start`` after it) leaves no new database."""
        if self._prepared is not None:
            return
        data = self._data
        black = self.cfg.feed.universe.blacklist
        if data is None:
            if not self.path:
                raise ReplayError("replay feed needs a path (feed.replay.path or --path)")
            data = load_klines(self.path, self.interval, self._want_symbols, self.start_ms, self.end_ms,
                               self.progress, max_price_jump=self.cfg.feed.max_price_jump, blacklist=black)
            self._data = data
        kl = data.klines
        names = list(data.symbols)
        want_symbols = self._want_symbols
        if want_symbols is not None:
            refuse_blacklisted_symbols(want_symbols, black)
        elif set(names) & set(black):  # data loaded elsewhere, blacklisted symbols and all
            want_symbols = drop_blacklisted_symbols(names, black, f"the {self.interval} klines in {self.path or 'the data'}")
        if want_symbols is not None:
            want = [s for s in dict.fromkeys(s.upper() for s in want_symbols) if s in names]
            if not want:
                raise ReplayError(f"none of the symbols {', '.join(want_symbols)} is in the replay data")
            if want != names:  # subset / reorder of already loaded data
                old = np.array([names.index(s) for s in want])
                remap = np.full(len(names), -1, dtype=np.int32)
                remap[old] = np.arange(len(want), dtype=np.int32)
                kl = kl.take(np.isin(kl.sym, old))
                kl.sym = remap[kl.sym]
                kl = kl.take(np.lexsort((kl.sym, kl.open_time)))
                names = want
        if self.start_ms is not None or self.end_ms is not None:
            keep = np.ones(len(kl), dtype=bool)
            if self.start_ms is not None:
                keep &= kl.open_time >= self.start_ms
            if self.end_ms is not None:
                keep &= kl.open_time < self.end_ms
            if not keep.all():
                kl = kl.take(keep)
        if not len(kl):  # a run of nothing would end at once as if it had replayed the data
            rejected = data.rejected
            why = f": {rejected} row(s) or file(s) rejected (see the warnings)" if rejected else ""
            span = ""
            if self.start_ms is not None and self.end_ms is not None:
                span = f" from {utc_text(self.start_ms)} to {utc_text(self.end_ms)} UTC"
            elif self.start_ms is not None:
                span = f" from {utc_text(self.start_ms)} UTC on"
            elif self.end_ms is not None:
                span = f" before {utc_text(self.end_ms)} UTC"
            raise ReplayError(f"no valid {self.interval} klines to replay in {self.path or 'the data'}{span}{why}")
        self._prepared = (data, names, kl)

    async def start(self) -> None:
        """:meth:`prepare` (if not yet done), then the feed's rules and its clock at the first
        open time replayed."""
        if self._started:
            return
        await self.prepare()
        assert self._prepared is not None
        data, names, kl = self._prepared
        self._symbols = names
        self._klines = kl
        if len(kl):
            starts = np.flatnonzero(np.diff(kl.open_time)) + 1
            self._bounds = np.concatenate(([0], starts, [len(kl)])).astype(np.int64)
        else:
            self._bounds = np.zeros(1, dtype=np.int64)
        self._first_live = min(self.warmup_klines, self.periods)
        for reason, n in data.rejected_by_reason().items():
            self.counter.by_reason[reason] = self.counter.by_reason.get(reason, 0) + n
            self.counter.total += n
        self._filters = {}
        n_sym = len(names)
        if len(kl):
            first = np.full(n_sym, -1, dtype=np.int64)
            _, idx = np.unique(kl.sym, return_index=True)
            first[kl.sym[idx]] = idx
            # A symbol that falls far below its first close (a crash, or a new level after a gap)
            # would be priced on a tick coarser than its price (fills at 0 or at many times it):
            # its tick is then that of its lowest low. Only the tick; decisions never read it.
            lowest = np.full(n_sym, np.inf)
            np.minimum.at(lowest, kl.sym, kl.low)
            for k, s in enumerate(names):
                if first[k] >= 0:
                    f = synthetic_filters(s, float(kl.close[first[k]]))
                    if lowest[k] < MIN_TICKS_AT_LOW * float(f.tick_size):
                        tick = synthetic_filters(s, float(lowest[k])).tick_size
                        f = dataclasses.replace(f, tick_size=tick, min_price=tick)
                    self._filters[s] = f
        self._last_event = np.full(n_sym, -1, dtype=np.int64)
        self._started = True
        self._running = True
        if self.periods:
            live_start = int(kl.open_time[self._bounds[self._first_live]]) if self._first_live < self.periods \
                else int(kl.close_time[-1]) + 1
            advance_clock(self.clock, live_start)

    async def stop(self) -> None:
        self._running = False
        self._stopped.set()

    def open_times_left(self) -> int:
        """Open times still to come."""
        return max(0, self.periods - self._first_live)

    #: What a process needs to import to unpickle :meth:`kline_source`.
    kline_source_modules = ("tui_trader.market.sources",)

    def kline_source(self) -> ReplayKlines:
        """What :meth:`events` is about to yield, as a picklable iterable (after :meth:`start`,
        before the first event)."""
        return ReplayKlines(self._klines, self._bounds, self._first_live, self.periods_per_batch)

    async def history(self, symbols: Sequence[str], interval: str, n: int) -> KlineBatch:
        """Up to ``n`` closed klines per symbol from the held-back warm-up periods
        (``warmup_klines``), sorted by open time then symbol; empty without warm-up."""
        if not self._started:
            await self.start()
        if interval_to_ms(interval) != self.interval_ms:
            raise ValueError(f"replay runs at {self.interval}, history asked for {interval}")
        k = min(int(n), self._first_live)
        if k <= 0:
            return KlineBatch.empty(self.interval_ms)
        a, b = int(self._bounds[self._first_live - k]), int(self._bounds[self._first_live])
        part = self._klines.take(slice(a, b))
        want = [self._symbols.index(s) for s in symbols if s in self._symbols]
        if len(want) != len(self._symbols):
            part = part.take(np.isin(part.sym, want))
        return part

    async def history_before_start(self, symbols: Sequence[str], n: int) -> KlineBatch:
        """Up to ``n`` klines per symbol opening before the replay's start (``feed.replay.start``),
        read from the files (empty without a start or a path): what a book resumed by a later
        window of the same data had in its market cache when it stopped. Its first periods
        scored the volatility term from no klines at all (the split replay's trades differed from
        the one replay's). Sorted by open time then symbol, in this feed's symbol numbering."""
        if not self._started:
            await self.start()
        if self.start_ms is None or not self.path or n <= 0:
            return KlineBatch.empty(self.interval_ms)
        index = {s: k for k, s in enumerate(self._symbols)}
        want = [s for s in symbols if s in index]
        lo = self.start_ms - int(n) * self.interval_ms
        try:
            data = await asyncio.to_thread(
                load_klines, self.path, self.interval, want, lo, self.start_ms,
                max_price_jump=self.cfg.feed.max_price_jump, blacklist=self.cfg.feed.universe.blacklist,
            )  # fmt: skip
        except (ReplayError, OSError) as exc:
            log.info("replay: no klines before the start for the market cache (%s)", exc)
            return KlineBatch.empty(self.interval_ms)
        kl = data.klines
        if not len(kl):
            return kl
        ours = np.array([index[s] for s in data.symbols], dtype=np.int32)
        kl.sym = ours[kl.sym]
        return kl.take(np.lexsort((kl.sym, kl.open_time)))

    def filters(self) -> dict[str, SymbolFilters]:
        """Synthetic Binance-like filters per symbol, from its first close; the tick from its lowest
        low when that lies under :data:`MIN_TICKS_AT_LOW` ticks of the first close's."""
        return dict(self._filters)

    def stats_24h(self, now_ms: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(open, quote volume)`` per symbol (:attr:`symbols` order) over the klines that closed
        in the 24 h up to ``now_ms`` (24 klines of 1h, 96 of 15m): Binance's 24 h ticker at kline
        resolution, for a feed that has none. NaN for a symbol with no such kline; None before
        :meth:`start`. Reads only klines already closed at ``now_ms`` (no look-ahead)."""
        if not self._started:
            return None
        n = len(self._symbols)
        kl = self._klines
        lo = int(np.searchsorted(kl.open_time, now_ms - MS_PER_DAY - self.interval_ms + 1, side="left"))
        hi = int(np.searchsorted(kl.open_time, now_ms - self.interval_ms + 1, side="left"))
        o24, q24 = np.full(n, np.nan), np.full(n, np.nan)
        if hi <= lo:
            return o24, q24
        sym = kl.sym[lo:hi]
        need_open = np.bincount(sym, minlength=n) > 0  # symbols with klines in the window
        q24[need_open] = np.bincount(sym, weights=kl.quote_volume[lo:hi], minlength=n)[need_open]
        # each symbol's oldest kline in the window: rows are grouped by open time (one row per
        # symbol in each group), so walk the groups from the window's start - normally the first
        # holds every symbol. O(rows), no sort: this runs on every snapshot of a moving replay.
        b = int(np.searchsorted(self._bounds, lo, side="right")) - 1
        while need_open.any() and self._bounds[b] < hi:
            a, e = int(self._bounds[b]), int(self._bounds[b + 1])
            g = kl.sym[a:e]
            take = need_open[g]
            o24[g[take]] = kl.open[a:e][take]
            need_open[g[take]] = False
            b += 1
        return o24, q24

    def health(self) -> dict[str, Any]:
        return {
            "connected": self._running,
            "streams": {"replay": {"last_event_ms": int(self._last_event_ms), "stale": False, "reconnects": 0}},
            "last_event_ms": {s: int(t) for s, t in zip(self._symbols, self._last_event.tolist(), strict=True)},
            "received": self.received,
            "rejected": self.counter.total,
            "rejected_by_reason": dict(self.counter.by_reason),
            "reconnects": 0,
            "events_per_s": self._rate.read(self.received),
        }

    async def events(self) -> AsyncIterator[KlineBatch]:
        """One KlineBatch per open time (or per ``periods_per_batch`` open times); ends with the data."""
        if not self._started:
            await self.start()
        pacer = Pacer(self.speed, self._stopped)
        for batch in self.kline_source():  # the very batches a rating worker is handed
            if not self._running:
                break
            ts = int(batch.close_time.max()) + 1
            await pacer.wait_until(ts, origin_ms=int(batch.open_time[0]))
            if not self._running:
                return
            advance_clock(self.clock, ts)
            self._last_event_ms = ts
            self._last_event[batch.sym] = ts
            self.received += len(batch)
            yield batch
        self._running = False


__all__ = [
    "ReplayData",
    "ReplayError",
    "ReplayFeed",
    "classify",
    "discover",
    "interval_name",
    "load_klines",
    "parse_file",
    "parse_time",
]
