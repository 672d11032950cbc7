"""Replay inputs a fresh review found handled badly: kline files whose folder or name tells no
symbol, and files that hold no kline."""

from __future__ import annotations

import json
import logging
import tracemalloc
from pathlib import Path

import pytest

from tui_trader.market import replay
from tui_trader.market.replay import ReplayError, load_klines, parse_file
from tui_trader.market.validation import RejectCounter
from tui_trader.models import KlineBatch

H1 = 3_600_000
JAN1_2025 = 1_735_689_600_000


def rows(n: int = 3, t0: int = JAN1_2025) -> list[list]:
    """``n`` sound 1h klines in the REST layout."""
    out = []
    for i in range(n):
        t = t0 + i * H1
        out.append(
            [t, "100.0", "110.0", "90.0", "105.0", "10.0", t + H1 - 1, "1000.0", 7, "5.0", "500.0", "0"]
        )
    return out


def csv_text(rs: list[list]) -> str:
    return "".join(",".join(str(x) for x in r) + "\n" for r in rs)


def put(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "misnamed",
    ["ethusdt/1h/2025-01-01.json", "ETH-USDT/1h/2025-01-01.json", "ethusdt-1h-2025-01.csv"],
)
def test_a_kline_file_whose_name_tells_no_symbol_is_named_not_dropped_silently(
    tmp_path: Path, misnamed: str, caplog: pytest.LogCaptureFixture
) -> None:
    put(tmp_path / "BTCUSDT" / "1h" / "2025-01-01.json", json.dumps(rows()))
    body = json.dumps(rows()) if misnamed.endswith(".json") else csv_text(rows())
    bad = put(tmp_path / misnamed, body)
    put(tmp_path / "notes.json", "{}")  # not a kline file's place: not named
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        data = load_klines(tmp_path, "1h", file_cache=None)
    assert data.symbols == ["BTCUSDT"]
    said = [r.getMessage() for r in caplog.records if "not read" in r.getMessage()]
    assert len(said) == 1, said
    assert str(bad) in said[0] and "1 file(s)" in said[0] and "capitals" in said[0]
    assert "notes.json" not in said[0]


def test_a_folder_of_only_misnamed_files_says_why_it_found_none(tmp_path: Path, caplog) -> None:
    put(tmp_path / "btcusdt" / "1h" / "2025-01-01.json", json.dumps(rows()))
    with (
        caplog.at_level(logging.WARNING, logger="tui_trader.market"),
        pytest.raises(ReplayError, match="no kline"),
    ):
        load_klines(tmp_path, "1h", file_cache=None)
    assert any("btcusdt" in r.getMessage() and "not read" in r.getMessage() for r in caplog.records)


def test_sound_files_raise_no_misnamed_warning(tmp_path: Path, caplog) -> None:
    put(tmp_path / "BTCUSDT" / "1h" / "2025-01-01.json", json.dumps(rows()))
    put(tmp_path / "ETHUSDT-1h-2025-01.csv", csv_text(rows()))
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        data = load_klines(tmp_path, "1h", file_cache=None)
    assert data.symbols == ["BTCUSDT", "ETHUSDT"] and len(data.klines) == 6
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def one_second_csv(n: int) -> str:
    """``n`` 1s klines from 2025-01-01 as data.binance.vision's CSV, times in µs as from 2025 on."""
    t0 = JAN1_2025 * 1000
    return "".join(
        f"{t0 + i * 1_000_000},94591.79,94591.8,94591.78,94591.79,0.12345,{t0 + i * 1_000_000 + 999_999},"
        "11677.4928134,42,0.061,5770.0987852,0\n"
        for i in range(n)
    )


def parse_measured(path: Path, counter: RejectCounter) -> tuple[KlineBatch, int]:
    """:func:`parse_file` of ``path`` (1s klines) and the peak of memory it took (tracemalloc sees
    numpy's arrays)."""
    tracemalloc.start()
    try:
        batch = parse_file(path, 0, 1000, counter)
        return batch, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_csv_is_parsed_in_a_few_times_its_size_of_memory(tmp_path: Path) -> None:
    """A month of 1s klines is ~420 MB of CSV: counting each line's commas with a running count of
    every byte (8 bytes a byte) took ~20 times the file's size, 8 GB at its peak, where the
    klines themselves take 0.7 times it. Memory is measured (tracemalloc sees numpy's arrays)."""
    n = 20_000
    path = tmp_path / "BTCUSDT-1s-2025-01.csv"
    path.write_text(one_second_csv(n))
    counter = RejectCounter()
    batch, peak = parse_measured(path, counter)
    assert counter.total == 0 and len(batch) == n
    assert batch.open_time[-1] == JAN1_2025 + (n - 1) * 1000 and batch.close[0] == 94591.79
    assert peak < 10 * path.stat().st_size, f"{peak / path.stat().st_size:.1f} times the file's size"


HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n"
)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("BTCUSDT-1h-2025-02.csv", HEADER),
        ("BTCUSDT/1h/2025-02-01.json", "[]"),
        ("BTCUSDT/1h/2025-02-01.json", "[\n]\n"),
    ],
)
def test_a_file_holding_no_kline_is_counted_as_an_empty_one_is(
    tmp_path: Path, name: str, text: str, caplog
) -> None:
    # an empty file was one malformed reject, logged; a header alone (or "[]") replayed nothing unsaid
    put(tmp_path / "BTCUSDT-1h-2025-01.csv", csv_text(rows()))
    bad = put(tmp_path / name, text)
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        data = load_klines(tmp_path, "1h", file_cache=None)
    assert len(data.klines) == 3
    assert data.rejects == {str(bad): {"malformed": 1}}
    assert any(f"{bad}: holds no kline" in r.getMessage() for r in caplog.records)


def test_a_large_csv_cut_short_is_read_in_chunks_not_all_as_lists_of_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bad line (a file cut short) sends a CSV to the row-by-row reader: all its rows as lists
    of strings took ~18 times the file's size (6 GB for a month of 1s klines). Read a chunk of rows
    at a time (chunks made small here, so that a small file has several), every good row is kept,
    the bad one named by its line, in a few times the file's size."""
    monkeypatch.setattr(replay, "SLOW_CSV_ROWS", 1_000, raising=False)
    n = 10_000
    path = tmp_path / "BTCUSDT-1s-2025-01.csv"
    path.write_text(one_second_csv(n)[:-30])  # the last line cut short
    counter = RejectCounter()
    batch, peak = parse_measured(path, counter)
    assert counter.by_reason == {"malformed": 1} and len(batch) == n - 1
    assert batch.open_time.tolist() == [JAN1_2025 + i * 1000 for i in range(n - 1)]
    assert peak < 10 * path.stat().st_size, f"{peak / path.stat().st_size:.1f} times the file's size"


def test_a_symbol_folder_linked_in_is_read_and_a_link_back_up_ends(tmp_path: Path) -> None:
    # rglob does not follow symlinked folders: BTCUSDT, linked in from a larger disk, was left
    # out of the replay without a word
    put(tmp_path / "disk" / "BTCUSDT" / "1h" / "2025-01-01.json", json.dumps(rows()))
    data = tmp_path / "data"
    put(data / "ETHUSDT" / "1h" / "2025-01-01.json", json.dumps(rows()))
    (data / "BTCUSDT").symlink_to(tmp_path / "disk" / "BTCUSDT", target_is_directory=True)
    (data / "BTC2").symlink_to(tmp_path / "disk", target_is_directory=True)  # the same folder again
    (data / "ETHUSDT" / "1h" / "up").symlink_to(data, target_is_directory=True)  # a loop
    out = load_klines(data, "1h", file_cache=None)
    assert out.symbols == ["BTCUSDT", "ETHUSDT"] and len(out.klines) == 6
    assert out.rejects == {} and len(out.files) == 2  # each file read once
