"""A disk cache of parsed kline files, so that replaying or backtesting the same data again
skips the JSON/CSV parsing (most of the load time: 0.27 s of the 0.30 s for the 120 files of a
year of 1h klines of ten symbols; the cached load takes a few milliseconds per file).

One ``.npy`` file (a structured array, no pickles) per parsed source file and interval, named
``<source>-<version>.npy``: ``<source>`` hashes the cache format, the source's absolute path and
the kline interval, ``<version>`` its size and modification time (ns). An edited, replaced or
touched source file is parsed again, and storing its new version deletes the entries of its older
versions, so the cache holds at most one entry per source file. A load marks its entry used
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
import logging
import os
import tempfile
import time
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
#: member named for another symbol or interval is a reject, no longer read as the zip's).
CACHE_FORMAT = 8
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
        """The cache file for ``source`` as it is now (None if it cannot be stat'ed): its name
        hashes the source's absolute path, size and modification time and the interval."""
        try:
            path = os.path.abspath(source)
            st = os.stat(path)
        except OSError:
            return None
        source = hashlib.sha256(f"{CACHE_FORMAT}|{path}|{int(interval_ms)}".encode()).hexdigest()[:24]
        version = hashlib.sha256(f"{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
        return self.root / f"{source}-{version}.npy"

    def load(self, entry: Path, sym: int, interval_ms: int) -> KlineBatch | None:
        """The klines cached in ``entry`` (all rows of symbol index ``sym``), or None."""
        try:
            arr = np.load(entry, allow_pickle=False)
            if arr.dtype != _DTYPE or arr.ndim != 1:
                raise ValueError(f"unexpected layout {arr.dtype}")
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError) as exc:
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
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
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
