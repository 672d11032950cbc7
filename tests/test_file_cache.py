"""The disk cache of parsed kline files: same result as parsing, invalidated by any change of a
source file, and never an error when the cache itself is broken or unwritable."""

from __future__ import annotations

import json
import os
import shutil
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
