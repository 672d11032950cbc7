"""The parsed-kline cache is never trusted over the source file: a source whose content changed
while its size and modification time stayed (``cp -p``, ``touch -r``, a same-size rewrite in the
same clock tick) is parsed again, and a cache entry damaged on disk is parsed again and rewritten."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tui_trader.market import file_cache
from tui_trader.market.file_cache import KlineFileCache
from tui_trader.market.replay import load_klines

H1 = 3_600_000


@pytest.fixture
def one_file(tmp_path: Path, klines_dir: Path) -> Path:
    root = tmp_path / "data"
    (root / "BTCUSDT" / "1h").mkdir(parents=True)
    shutil.copy(klines_dir / "BTCUSDT" / "1h" / "2024-01-01.json", root / "BTCUSDT" / "1h" / "2024-01-01.json")
    return root


def _restate_first_open(f: Path) -> None:
    """Binance restates a candle: the first open 42283.58 -> 42283.59, the file's size unchanged,
    its modification time put back as it was (``touch -r``, ``cp -p`` or ``rsync -t`` of a copy)."""
    st = f.stat()
    text = f.read_text()
    new = text.replace('"42283.58000000"', '"42283.59000000"', 1)
    assert new != text and len(new) == len(text)
    f.write_text(new)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (f.stat().st_size, f.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_a_same_size_same_time_edit_of_the_source_is_parsed_again(
    tmp_path: Path, one_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_cache, "RACY_S", 0.0)  # the stat fields alone tell the edit
    cache = KlineFileCache(tmp_path / "cache")
    first = load_klines(one_file, "1h", file_cache=cache)
    assert first.klines.open[0] == 42283.58
    _restate_first_open(one_file / "BTCUSDT" / "1h" / "2024-01-01.json")
    again = load_klines(one_file, "1h", file_cache=cache)
    assert again.klines.open[0] == 42283.59  # was 42283.58: the old version, from the cache
    assert again.klines.open[0] == load_klines(one_file, "1h", file_cache=None).klines.open[0]


def test_a_same_size_rewrite_in_the_same_clock_tick_is_parsed_again(
    tmp_path: Path, one_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ext4 and tmpfs stamp times from a clock that moves every few ms (FAT every 2 s): a rewrite
    # just after a load can keep every stat field. Simulated here: the same stat for both versions.
    f = one_file / "BTCUSDT" / "1h" / "2024-01-01.json"
    real_stat = os.stat
    frozen = real_stat(f)

    def stat(path: object, *a: object, **k: object) -> os.stat_result:
        return frozen if os.path.abspath(str(path)) == str(f) else real_stat(path, *a, **k)  # type: ignore[arg-type]

    cache = KlineFileCache(tmp_path / "cache")
    monkeypatch.setattr(file_cache, "RACY_S", 1e9)  # however slowly this test runs, the rewrite is "just now"
    monkeypatch.setattr(os, "stat", stat)
    assert load_klines(one_file, "1h", file_cache=cache).klines.open[0] == 42283.58
    text = f.read_text()
    f.write_text(text.replace('"42283.58000000"', '"42283.59000000"', 1))
    assert load_klines(one_file, "1h", file_cache=cache).klines.open[0] == 42283.59
    assert cache.hits == 0
    # unchanged since: the entry is used
    assert load_klines(one_file, "1h", file_cache=cache).klines.open[0] == 42283.59
    assert cache.hits == 1


def test_a_damaged_cache_entry_is_not_trusted_but_rebuilt(tmp_path: Path, one_file: Path) -> None:
    cache = KlineFileCache(tmp_path / "cache")
    ref = load_klines(one_file, "1h", file_cache=cache)
    (entry,) = (tmp_path / "cache").glob("*.npy")
    raw = bytearray(entry.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit flipped in the middle of the rows (a bad sector, a bad copy)
    entry.write_bytes(bytes(raw))
    second = KlineFileCache(tmp_path / "cache")
    got = load_klines(one_file, "1h", file_cache=second)
    assert second.hits == 0
    for f in ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_base", "trades"):
        assert getattr(got.klines, f).tobytes() == getattr(ref.klines, f).tobytes(), f
    third = KlineFileCache(tmp_path / "cache")  # the damaged entry was written anew
    load_klines(one_file, "1h", file_cache=third)
    assert third.hits == 1


def test_a_cache_entry_cut_short_or_emptied_is_rebuilt(tmp_path: Path, one_file: Path) -> None:
    cache = KlineFileCache(tmp_path / "cache")
    ref = load_klines(one_file, "1h", file_cache=cache)
    (entry,) = (tmp_path / "cache").glob("*.npy")
    raw = entry.read_bytes()
    for damaged in (raw[: len(raw) // 2], raw[:-1], b""):
        entry.write_bytes(damaged)
        c = KlineFileCache(tmp_path / "cache")
        got = load_klines(one_file, "1h", file_cache=c)
        assert c.hits == 0 and len(got.klines) == len(ref.klines) == 744


class _StatAhead:
    """A file's stat with its times an hour ahead of this clock (a file server's clock ahead)."""

    def __init__(self, real: os.stat_result, ahead_ns: int) -> None:
        self._real, self.st_mtime_ns, self.st_ctime_ns = real, ahead_ns, ahead_ns

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_a_source_stamped_ahead_of_this_clock_is_checked_by_its_content(
    tmp_path: Path, one_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file server whose clock is an hour ahead stamps both times there: a same-size rewrite within
    # its clock's tick keeps every stat field, yet the file looked an hour old (|now - time| > 3 s)
    f = one_file / "BTCUSDT" / "1h" / "2024-01-01.json"
    real_stat = os.stat
    ahead = _StatAhead(real_stat(f), time.time_ns() + 3_600 * 10**9)

    def stat(path: object, *a: object, **k: object) -> object:
        return ahead if os.path.abspath(str(path)) == str(f) else real_stat(path, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    cache = KlineFileCache(tmp_path / "cache")
    assert load_klines(one_file, "1h", file_cache=cache).klines.open[0] == 42283.58
    f.write_text(f.read_text().replace('"42283.58000000"', '"42283.59000000"', 1))
    assert load_klines(one_file, "1h", file_cache=cache).klines.open[0] == 42283.59
    assert cache.hits == 0


def test_an_entry_stored_just_after_its_source_changed_stops_reading_the_source_once_it_settled(
    tmp_path: Path, one_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `data download` then a replay at once: every entry kept its source's CRC, and every load after
    # that read each source file whole to check it (hundreds of MB for a year of 1m klines)
    monkeypatch.setattr(file_cache, "RACY_S", 1e9)  # the source changed "just now" when it is stored
    load_klines(one_file, "1h", file_cache=KlineFileCache(tmp_path / "cache"))
    monkeypatch.setattr(file_cache, "RACY_S", 0.0)  # settled since
    read: list[object] = []
    real_crc = file_cache._file_crc
    monkeypatch.setattr(file_cache, "_file_crc", lambda path: (read.append(path), real_crc(path))[1])
    for _ in range(3):  # checked once more, then written again without the source's CRC
        cache = KlineFileCache(tmp_path / "cache")
        assert load_klines(one_file, "1h", file_cache=cache).klines.open[0] == 42283.58
        assert cache.hits == 1 and len(read) == 1
