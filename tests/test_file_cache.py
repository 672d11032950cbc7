"""The disk cache of parsed kline files: same result as parsing, invalidated by any change of a
source file, and never an error when the cache itself is broken or unwritable."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tui_trader.market.file_cache import CACHE_ENV, KlineFileCache
from tui_trader.market.replay import ReplayData, load_klines
from tui_trader.models import KLINE_FIELDS

SYMS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


@pytest.fixture
def data(tmp_path: Path, klines_dir: Path) -> Path:
    """Three symbols x two months of the real 1h data, in a folder the test may change."""
    root = tmp_path / "data"
    for s in SYMS:
        (root / s / "1h").mkdir(parents=True)
        for month in ("2024-01-01", "2024-02-01"):
            shutil.copy(klines_dir / s / "1h" / f"{month}.json", root / s / "1h" / f"{month}.json")
    return root


def same(a: ReplayData, b: ReplayData) -> None:
    assert a.symbols == b.symbols and a.files == b.files and a.rejects == b.rejects
    for f in ("sym", *KLINE_FIELDS, "closed"):
        x, y = getattr(a.klines, f), getattr(b.klines, f)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f


def test_a_cached_load_equals_the_parsed_one(tmp_path: Path, data: Path) -> None:
    cache = KlineFileCache(tmp_path / "cache")
    first = load_klines(data, "1h", file_cache=cache)
    assert (cache.hits, cache.misses) == (0, 6) and len(list((tmp_path / "cache").glob("*.npy"))) == 6
    second = load_klines(data, "1h", file_cache=cache)
    assert (cache.hits, cache.misses) == (6, 6)
    same(first, second)
    same(first, load_klines(data, "1h", file_cache=None))
    # another symbol selection maps the cached rows to its own symbol indices
    sub = load_klines(data, "1h", symbols=["SOLUSDT", "BTCUSDT"], file_cache=cache)
    same(sub, load_klines(data, "1h", symbols=["SOLUSDT", "BTCUSDT"], file_cache=None))
    assert cache.hits == 6 + 4


def test_a_changed_source_file_is_parsed_again(tmp_path: Path, data: Path) -> None:
    cache = KlineFileCache(tmp_path / "cache")
    load_klines(data, "1h", file_cache=cache)
    f = data / "ETHUSDT" / "1h" / "2024-02-01.json"
    rows = json.loads(f.read_text())
    rows[0][5] = str(float(rows[0][5]) * 1.5)  # another volume
    f.write_text(json.dumps(rows))
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000))
    before = {e.name for e in (tmp_path / "cache").glob("*.npy")}
    hits = cache.hits
    got = load_klines(data, "1h", file_cache=cache)
    assert cache.hits == hits + 5  # the other five files come from the cache
    after = {e.name for e in (tmp_path / "cache").glob("*.npy")}
    # the new version replaced the old one's entry: still one entry per source file
    assert len(after) == 6 and len(after - before) == 1 and len(before - after) == 1
    assert (after - before).pop().split("-")[0] == (before - after).pop().split("-")[0]
    same(got, load_klines(data, "1h", file_cache=None))
    k = got.klines
    i = np.flatnonzero((k.sym == got.symbols.index("ETHUSDT")) & (k.open_time == rows[0][0]))
    assert k.volume[i].tolist() == [float(rows[0][5])]


def test_a_corrupt_cache_file_is_ignored_and_rewritten(tmp_path: Path, data: Path) -> None:
    cache = KlineFileCache(tmp_path / "cache")
    ref = load_klines(data, "1h", file_cache=cache)
    for p in (tmp_path / "cache").glob("*.npy"):
        p.write_bytes(b"\x93NUMPY garbage")
    again = KlineFileCache(tmp_path / "cache")
    same(ref, load_klines(data, "1h", file_cache=again))
    assert again.hits == 0
    third = KlineFileCache(tmp_path / "cache")
    same(ref, load_klines(data, "1h", file_cache=third))
    assert third.hits == 6  # rewritten by the previous load


def test_files_with_rejected_rows_are_not_cached(tmp_path: Path, data: Path) -> None:
    f = data / "BTCUSDT" / "1h" / "2024-01-01.json"
    rows = json.loads(f.read_text())
    rows[3][2] = "oops"  # unparsable: rejected while parsing
    f.write_text(json.dumps(rows))
    cache = KlineFileCache(tmp_path / "cache")
    first = load_klines(data, "1h", file_cache=cache)
    second = load_klines(data, "1h", file_cache=cache)
    assert first.rejects[str(f)] == {"malformed": 1} == second.rejects[str(f)]  # counted on every load
    assert cache.hits == 5
    same(first, second)


def test_an_unwritable_cache_never_fails_a_load(tmp_path: Path, data: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    cache = KlineFileCache(blocker)
    same(load_klines(data, "1h", file_cache=cache), load_klines(data, "1h", file_cache=None))
    assert cache.hits == 0


def test_the_default_cache_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "here"))
    c = KlineFileCache.default()
    assert c is not None and c.root == tmp_path / "here"
    monkeypatch.setenv(CACHE_ENV, "off")
    assert KlineFileCache.default() is None


def test_entries_unused_for_a_month_are_deleted_and_used_ones_kept(tmp_path: Path, data: Path) -> None:
    # the entries of a deleted source file (or of an older cache format) are never loaded again:
    # the first store of a later process deletes them once they are UNUSED_DAYS old
    from tui_trader.market.file_cache import UNUSED_DAYS

    root = tmp_path / "cache"
    load_klines(data, "1h", file_cache=KlineFileCache(root))
    h1 = 3_600_000
    files = {s: sorted((data / s / "1h").glob("*.json")) for s in SYMS}
    sol = {KlineFileCache(root).entry(f, h1).name for f in files["SOLUSDT"]}
    assert len(sol) == 2 and sol <= {e.name for e in root.glob("*.npy")}
    old = (UNUSED_DAYS + 1) * 86_400
    for e in root.glob("*.npy"):  # a month and a day without use
        st = e.stat()
        os.utime(e, (st.st_atime - old, st.st_mtime - old))
    shutil.rmtree(data / "SOLUSDT")  # two entries now belong to deleted files
    later = KlineFileCache(root)
    load_klines(data, "1h", symbols=["BTCUSDT"], file_cache=later)  # loading marks BTCUSDT's two used
    assert (later.hits, later.misses) == (2, 0)
    assert all(time.time() - (root / later.entry(f, h1).name).stat().st_mtime < 3600 for f in files["BTCUSDT"])
    (data / "ETHUSDT" / "1h" / "2024-01-01.json").touch()  # changed: parsed and stored again -> prune
    load_klines(data, "1h", file_cache=later)
    live = {later.entry(f, h1).name for s in ("BTCUSDT", "ETHUSDT") for f in files[s]}
    assert {e.name for e in root.glob("*.npy")} == live  # SOLUSDT's entries went with their files
    assert later.prune_unused() == 0  # and nothing in use is old
