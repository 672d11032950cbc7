"""The parsed-kline cache's retention: what a store cut short leaves behind is pruned too."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tui_trader.market.file_cache import UNUSED_DAYS, KlineFileCache


def test_a_store_cut_short_leaves_no_temporary_file_for_ever(tmp_path: Path) -> None:
    # a process killed while writing an entry (Ctrl-C in a long load, an OOM kill) left its
    # tmpXXXX.tmp, as large as the parsed file, which no prune ever deleted: only *.npy were
    stale = tmp_path / "tmpdead0001.tmp"
    stale.write_bytes(b"\0" * 4096)
    fresh = tmp_path / "tmpbusy0002.tmp"  # another process writing now: kept
    fresh.write_bytes(b"\0" * 4096)
    other = tmp_path / "notes.tmp"  # not a name the cache makes: kept
    other.write_bytes(b"x")
    old = time.time() - (UNUSED_DAYS + 1) * 86_400
    for f in (stale, other):
        os.utime(f, (old, old))
    assert KlineFileCache(tmp_path).prune_unused() == 1
    assert not stale.exists() and fresh.exists() and other.exists()
