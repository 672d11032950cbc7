"""A disk cache of parsed kline files, so that replaying or backtesting the same data again
skips the JSON/CSV parsing (most of the load time: 0.27 s of the 0.30 s for the 120 files of a
year of 1h klines of ten symbols; the cached load takes a few milliseconds per file).

One ``.npy`` file (a structured array, no pickles) per parsed source file and interval, named
``<source>-<version>.npy``: ``<source>`` hashes the cache format, the source's absolute path and
the kline interval, ``<version>`` its size, modification time, inode change time (ns) and inode.
An edited, replaced or touched source file is parsed again - also one whose size and modification
time were kept or put back (``cp -p``, ``touch -r``, ``rsync -t``; the inode change time cannot be
set) - and storing its new version deletes the entries of its older versions, so the cache holds
at most one entry per source file. A source changed less than :data:`RACY_S` seconds before it is
stored (file times move in steps of a few ms, 2 s on FAT: a same-size rewrite within one step keeps
every stat field) has its content's CRC-32 kept in the entry, and checked on each load until a load
finds the source settled (changed over RACY_S before): the entry is then written again without it. Each entry
ends in a trailer with the CRC-32 of the rest: an entry damaged on disk (cut short, emptied, a bit
flipped) is parsed again and rewritten, never trusted. A load marks its entry used
(modification time); entries unused for :data:`UNUSED_DAYS` days - of deleted or moved source
files, or of an older cache format - are deleted by the first store of a process, and so are the
temporary files that old of a store cut short (a process killed while writing). Only files that
parsed without a single rejected row are cached, so warnings about bad rows are logged on every load.

Location: ``$TUI_TRADER_CACHE_DIR`` if set (``off`` disables the cache), otherwise
``klines/`` in the platform cache directory (``platformdirs.user_cache_dir("tui-trader")``).
The cache is safe to delete at any time. Any problem reading or writing it (corrupt file, full
or read-only disk) falls back to parsing, never to an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import struct
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from tui_trader.models import KLINE_FIELDS, KlineBatch

__all__ = ["CACHE_ENV", "KlineFileCache"]

log = logging.getLogger(__name__)

#: Environment variable: the cache folder, or ``off`` to disable the cache.
CACHE_ENV = "TUI_TRADER_CACHE_DIR"
#: Part of every key: bump it when parsing changes what a file yields (2: a CSV whose first line is
#: neither a kline nor a header counts a reject, so such a file is no longer cached; 3: a CSV whose
#: rows hold 11 and 13 fields is read row by row, no longer with its columns shifted; 4: a CSV whose
#: lines end in a bare CR is read line by line, no longer as one kline; 5: a CSV row of more than 12
#: fields is a reject, no longer a kline; 6: a zip's every CSV member is read, no longer its first;
#: 7: a zip member with bare-CR line ends is no longer dropped, nor macOS's "._x.csv" read; 8: a zip
#: member named for another symbol or interval is a reject, no longer read as the zip's; 9: a trailer
#: with the entry's CRC-32 and, for a source changed just before, the source's).
CACHE_FORMAT = 9
#: A source changed (inode change time) less than this many seconds before it is cached has its
#: content's CRC-32 kept in the entry and checked on each load until it settled (see the module docs).
RACY_S = 3.0
#: After an entry's npy bytes: ``<flags: 1 = source CRC present> <source CRC-32> <CRC-32 of the npy
#: bytes and the two fields before> <magic>``.
_TRAILER = struct.Struct("<BII8s")
_MAGIC = b"TTKLINE9"
_CHUNK = 1 << 20
#: Entries not loaded or stored for this many days are deleted (see the module docs).
UNUSED_DAYS = 30.0
_INT_FIELDS = {"open_time", "close_time", "trades"}
_DTYPE = np.dtype(
    [(f, "<i8" if f in _INT_FIELDS else "<f8") for f in KLINE_FIELDS] + [("closed", "?")]
)


class KlineFileCache:
    """Parsed klines of source files, stored under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._write_failed = False
        self._pruned = False
        # entry -> the CRC-32 of its source's content, for sources changed within RACY_S when
        # :meth:`entry` looked at them (taken before the source is parsed, never after)
        self._source_crc: dict[Path, int] = {}
        self._sources: dict[Path, str] = {}  # entry -> its source's absolute path

    @classmethod
    def default(cls) -> KlineFileCache | None:
        """The cache at ``$TUI_TRADER_CACHE_DIR`` or in the platform cache directory; None if
        the variable says ``off``."""
        env = os.environ.get(CACHE_ENV, "").strip()
        if env.lower() in ("off", "0", "none", "false"):
            return None
        if env:
            return cls(env)
        import platformdirs

        return cls(Path(platformdirs.user_cache_dir("tui-trader")) / "klines")

    def entry(self, source: Path, interval_ms: int) -> Path | None:
        """The cache file for ``source`` as it is now (None if it cannot be stat'ed, or read when it
        changed within :data:`RACY_S`): its name hashes the source's absolute path and the interval,
        then its size, modification and inode change times, device and inode."""
        try:
            path = os.path.abspath(source)
            st = os.stat(path)
        except OSError:
            return None
        source = hashlib.sha256(f"{CACHE_FORMAT}|{path}|{int(interval_ms)}".encode()).hexdigest()[:24]
        stamp = f"{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_dev}|{st.st_ino}"
        version = hashlib.sha256(stamp.encode()).hexdigest()[:12]
        entry = self.root / f"{source}-{version}.npy"
        self._sources[entry] = path
        self._source_crc.pop(entry, None)
        if _racy(st):
            crc = _file_crc(path)
            if crc is None:
                return None
            self._source_crc[entry] = crc
        return entry

    def load(self, entry: Path, sym: int, interval_ms: int) -> KlineBatch | None:
        """The klines cached in ``entry`` (all rows of symbol index ``sym``), or None: also for an
        entry damaged on disk, and for one whose source's content no longer matches."""
        try:
            raw = entry.read_bytes()
            if len(raw) < _TRAILER.size:
                raise ValueError(f"{len(raw)} bytes, no trailer")
            flags, src_crc, crc, magic = _TRAILER.unpack_from(raw, len(raw) - _TRAILER.size)
            body = memoryview(raw)[: len(raw) - 4 - 8]
            if magic != _MAGIC or zlib.crc32(body) != crc:
                raise ValueError("damaged (its checksum does not match)")
            if flags & 1:  # stored just after its source changed: the content must still match
                now = self._source_crc.get(entry)
                if now is None:
                    now = _file_crc(self._sources.get(entry))
                    if now is None:
                        raise ValueError("its source cannot be read")
                if now != src_crc:
                    raise ValueError("its source was rewritten since")
            arr = np.load(io.BytesIO(body[: len(body) - 5]), allow_pickle=False)
            if arr.dtype != _DTYPE or arr.ndim != 1 or not arr.shape[0]:
                raise ValueError(f"unexpected layout {arr.dtype} {arr.shape}")
            if flags & 1 and entry not in self._source_crc:
                # its source has not changed since it settled (no rewrite can keep its stat now):
                # written again without the source's CRC, so later loads do not read the source
                self._write(entry, arr)
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, EOFError, struct.error) as exc:
            log.debug("kline cache: %s unusable (%s); parsing again", entry.name, exc)
            self.misses += 1
            return None
        self.hits += 1
        with contextlib.suppress(OSError):
            os.utime(entry)  # used now: not pruned for another UNUSED_DAYS
        cols = {f: np.ascontiguousarray(arr[f]) for f in (*KLINE_FIELDS, "closed")}
        return KlineBatch(interval_ms=int(interval_ms), sym=np.full(arr.shape[0], sym, dtype=np.int32), **cols)

    def store(self, entry: Path, batch: KlineBatch) -> None:
        """Keep the parsed klines of one source file (one symbol's rows) in ``entry``. Never raises."""
        if self._write_failed:
            return
        arr = np.empty(len(batch), dtype=_DTYPE)
        for f in (*KLINE_FIELDS, "closed"):
            arr[f] = getattr(batch, f)
        self._write(entry, arr)

    def _write(self, entry: Path, arr: np.ndarray) -> None:
        """``arr`` into ``entry`` with its trailer (the source's CRC if :meth:`entry` took one). Never raises."""
        if self._write_failed:
            return
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        src_crc = self._source_crc.get(entry)
        buf.write(bytes([0 if src_crc is None else 1]) + struct.pack("<I", src_crc or 0))
        buf.write(struct.pack("<I", zlib.crc32(buf.getbuffer())) + _MAGIC)
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getbuffer())
            os.replace(tmp, entry)  # atomic: a concurrent reader sees the old file or the whole new one
            tmp = None
            self._drop_older_versions(entry)
            if not self._pruned:
                self._pruned = True
                self.prune_unused()
        except OSError as exc:
            self._write_failed = True  # e.g. a read-only or full disk: stop trying for this load
            log.info("kline cache: cannot write to %s (%s); loads will parse the files", self.root, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def prune_unused(self, days: float = UNUSED_DAYS) -> int:
        """Delete the entries not loaded or stored for ``days`` days, and the temporary files of stores
        that never ended (a process killed while writing) as old; returns how many. Never raises."""
        cutoff = time.time() - days * 86_400.0
        removed = 0
        try:
            for old in [*self.root.glob("*.npy"), *self.root.glob("tmp*.tmp")]:
                try:
                    if old.stat().st_mtime < cutoff:
                        old.unlink()
                        removed += 1
                except OSError:
                    continue
        except OSError as exc:
            log.debug("kline cache: cannot prune %s (%s)", self.root, exc)
        if removed:
            log.info("kline cache: deleted %d entr%s unused for %g days", removed, "y" if removed == 1 else "ies", days)
        return removed

    def _drop_older_versions(self, entry: Path) -> None:
        """Delete the entries of the same source file and interval other than ``entry``."""
        source = entry.name.split("-", 1)[0]
        try:
            for old in self.root.glob(f"{source}-*.npy"):
                if old.name != entry.name:
                    old.unlink(missing_ok=True)
        except OSError as exc:
            log.debug("kline cache: cannot delete an older entry of %s (%s)", entry.name, exc)


def _racy(st: os.stat_result) -> bool:
    """Whether a file of stat ``st`` changed so recently that a rewrite of the same size could
    still keep every stat field (its times move in steps of a few ms; of 2 s on FAT). A time
    ahead of this clock (a file server's clock ahead, a touch into the future) counts as recent."""
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_S * 1e9


def _file_crc(path: str | None) -> int | None:
    """The CRC-32 of the file ``path``'s content; None when it cannot be read."""
    if path is None:
        return None
    crc = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                crc = zlib.crc32(chunk, crc)
    except OSError:
        return None
    return crc
