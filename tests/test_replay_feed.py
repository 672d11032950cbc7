"""Replay: loading the real 2024 klines and CSV/zip/µs inputs, filters, merge order, the feed."""

from __future__ import annotations

import csv
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.market.factory import build_feed
from tui_trader.market.feed import MarketFeed
from tui_trader.market.replay import (
    ReplayData,
    ReplayError,
    ReplayFeed,
    classify,
    interval_name,
    load_klines,
    parse_time,
)
from tui_trader.models import KlineBatch

H1 = 3_600_000
JAN1 = 1704067200000  # 2024-01-01T00:00Z
SYMS = ["ADAUSDT", "AVAXUSDT", "BNBUSDT", "BTCUSDT", "DOGEUSDT", "DOTUSDT", "ETHUSDT", "LINKUSDT", "SOLUSDT", "XRPUSDT"]
HEADER = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
          "taker_buy_volume", "taker_buy_quote_volume", "ignore"]


@pytest.fixture(scope="module")
def year(klines_dir: Path):
    return load_klines(klines_dir, "1h")


def real_rows(klines_dir: Path, sym: str = "BTCUSDT", n: int = 5, month: str = "2024-01-01") -> list[list]:
    return json.loads((klines_dir / sym / "1h" / f"{month}.json").read_text())[:n]


def write_csv(path: Path, rows: list[list], header: bool = False, us: bool = False) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(HEADER)
        for r in rows:
            r = list(r)
            if us:
                r[0] = r[0] * 1000
                r[6] = r[6] * 1000 + 999
            w.writerow(r)
    return path


def zip_csv(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(src, arcname=src.name)
    return dst


# ---------------------------------------------------------------- the real 2024 data


def test_real_year_loads_completely_without_rejects(year) -> None:
    assert year.symbols == SYMS
    assert year.interval_ms == H1
    assert len(year.klines) == 87_840 and year.rejected == 0 and year.rejects == {}
    assert len(year.files) == 120
    assert np.bincount(year.klines.sym).tolist() == [8_784] * 10
    assert year.klines.closed.all()


def test_real_year_first_btc_kline(year) -> None:
    k = year.klines
    btc = SYMS.index("BTCUSDT")
    i = int(np.flatnonzero(k.sym == btc)[0])
    assert k.open_time[i] == JAN1 and k.open[i] == 42283.58 and k.close_time[i] == JAN1 + H1 - 1
    assert k.high[i] == 42554.57 and k.low[i] == 42261.02 and k.close[i] == 42475.23 and k.trades[i] == 47134


def test_merged_order_open_time_then_symbol(year) -> None:
    k = year.klines
    assert np.all(np.diff(k.open_time) >= 0)
    same = np.diff(k.open_time) == 0
    assert np.all(np.diff(k.sym)[same] > 0)
    assert k.open_time[0] == JAN1 and k.open_time[-1] == JAN1 + 8_783 * H1
    assert k.sym[:10].tolist() == list(range(10))


def test_filters_by_symbol_time_range_and_interval(klines_dir: Path) -> None:
    d = load_klines(klines_dir, "1h", symbols=["ethusdt", "BTCUSDT", "NOPEUSDT"],
                    start_ms=parse_time("2024-03-01"), end_ms=parse_time("2024-03-02T12:00Z"))
    assert d.symbols == ["ETHUSDT", "BTCUSDT"]
    assert len(d.klines) == 2 * 36 and d.klines.open_time.min() == parse_time("2024-03-01")
    assert d.klines.open_time.max() == parse_time("2024-03-02T11:00:00+00:00")
    assert d.klines.sym[:2].tolist() == [0, 1]  # in the requested order
    q = load_klines(klines_dir, "15m", symbols=["SOLUSDT"])
    assert q.interval_ms == 900_000 and len(q.klines) == 2_688 and len(q.files) == 4
    assert np.all(np.diff(q.klines.open_time) == 900_000)
    with pytest.raises(ReplayError, match="intervals found"):
        load_klines(klines_dir, "4h")
    with pytest.raises(ReplayError, match="none of the symbols"):
        load_klines(klines_dir, "1d", symbols=["NOPEUSDT"])


def test_progress_is_reported(klines_dir: Path) -> None:
    calls: list[tuple[int, int]] = []
    load_klines(klines_dir, "1d", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 10) for i in range(1, 11)]


# ---------------------------------------------------------------- CSV / zip / µs inputs


def test_csv_zip_and_microsecond_inputs_match_the_json(tmp_path: Path, klines_dir: Path) -> None:
    rows = real_rows(klines_dir, n=6)
    ref = load_klines(klines_dir / "BTCUSDT" / "1h" / "2024-01-01.json", "1h", end_ms=JAN1 + 6 * H1).klines
    (tmp_path / "h").mkdir()
    variants = {
        "plain": write_csv(tmp_path / "BTCUSDT-1h-2024-01.csv", rows),
        "header": write_csv(tmp_path / "h" / "BTCUSDT-1h-2024-01.csv", rows, header=True),
        "us": write_csv(tmp_path / "BTCUSDT-1h-2025-01.csv", rows, us=True),
    }
    variants["zip"] = zip_csv(variants["plain"], tmp_path / "BTCUSDT-1h-2024-01.zip")
    for name, path in variants.items():
        d = load_klines(path, "1h")
        assert d.symbols == ["BTCUSDT"] and d.rejected == 0, name
        for f in ("open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume", "trades",
                  "taker_buy_base"):
            assert np.array_equal(getattr(d.klines, f), getattr(ref, f)), (name, f)


def test_folder_of_vision_files_filtered_by_interval(tmp_path: Path, klines_dir: Path) -> None:
    write_csv(tmp_path / "BTCUSDT-1h-2024-01.csv", real_rows(klines_dir, "BTCUSDT", 4))
    write_csv(tmp_path / "ETHUSDT-1h-2024-01-01.csv", real_rows(klines_dir, "ETHUSDT", 3), header=True)
    zip_csv(write_csv(tmp_path / "x.csv", real_rows(klines_dir, "SOLUSDT", 2)), tmp_path / "SOLUSDT-1h-2024-01.zip")
    day = json.loads((klines_dir / "BTCUSDT" / "1d" / "2024-01-01.json").read_text())[:3]
    write_csv(tmp_path / "BTCUSDT-1d-2024-01.csv", day)
    (tmp_path / "notes.txt").write_text("not klines")
    d = load_klines(tmp_path, "1h")
    assert d.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert np.bincount(d.klines.sym).tolist() == [4, 3, 2]
    assert load_klines(tmp_path, "1d").symbols == ["BTCUSDT"]
    both = load_klines([tmp_path / "BTCUSDT-1h-2024-01.csv", tmp_path / "SOLUSDT-1h-2024-01.zip"], "1h")
    assert both.symbols == ["BTCUSDT", "SOLUSDT"] and len(both.klines) == 6


def test_bad_rows_and_overlaps_are_rejected_per_file(tmp_path: Path, klines_dir: Path, caplog) -> None:
    rows = real_rows(klines_dir, n=6)
    bad = [list(r) for r in rows]
    bad[2][2] = "oops"  # unparsable high
    bad[3][3] = str(float(bad[3][2]) + 1000)  # low above high
    write_csv(tmp_path / "BTCUSDT-1h-2024-01.csv", bad)
    # a second file overlapping the last 2 klines, plus one new one
    nxt = [list(r) for r in rows[4:]] + [list(real_rows(klines_dir, n=7)[6])]
    write_csv(tmp_path / "BTCUSDT-1h-2024-01-05.csv", nxt)
    d = load_klines(tmp_path, "1h")
    assert len(d.klines) == 5  # 6 - 2 bad + 1 new
    first = str(tmp_path / "BTCUSDT-1h-2024-01.csv")
    second = str(tmp_path / "BTCUSDT-1h-2024-01-05.csv")
    assert d.rejects[first] == {"malformed": 1, "high_below_low": 1}
    assert d.rejects[second] == {"duplicate": 2}
    assert d.rejected == 4 and d.rejected_by_reason() == {"malformed": 1, "high_below_low": 1, "duplicate": 2}
    assert np.all(np.diff(d.klines.open_time) > 0)
    # the log says where: the file's path, the row's line and the column's name
    assert f"{first} line 3: col 2 (high): 'oops'" in caplog.text
    assert f"{second}: kline in another file" in caplog.text
    # a value rule names the file and the open time of its first bad row, not just "kline"
    assert f"high_below_low: {first}: kline(s), the first opening 2024-01-01 03:00 UTC ({rows[3][0]})" in caplog.text


def test_a_reject_inside_a_file_names_the_file_and_the_row_s_open_time(tmp_path: Path, klines_dir: Path, caplog) -> None:
    rows = [list(r) for r in real_rows(klines_dir, n=5)]
    rows[1][1] = "nan"  # a non-finite open
    rows[4] = list(rows[2])  # a duplicate of the third kline
    path = write_csv(tmp_path / "BTCUSDT-1h-2024-01.csv", rows)
    d = load_klines(tmp_path, "1h", file_cache=None)
    assert d.rejects == {str(path): {"non_finite": 1, "duplicate": 1}}
    assert f"non_finite: {path}: kline(s), the first opening 2024-01-01 01:00 UTC ({rows[1][0]})" in caplog.text
    assert f"duplicate: {path}: kline(s), the first opening 2024-01-01 02:00 UTC ({rows[2][0]})" in caplog.text


def test_a_bad_csv_row_is_named_by_its_line_in_the_file(tmp_path: Path, klines_dir: Path, caplog) -> None:
    # a header, a blank line, CRLF endings, a line of spaces: the reject names the line an editor
    # shows, not the row's place among the klines
    rows = [",".join(map(str, r)) for r in real_rows(klines_dir, n=4)]
    rows[2] = rows[2].replace(".", "x", 1)  # unparsable open
    text = "\r\n".join([",".join(HEADER), rows[0], "", rows[1], "   ", rows[2], rows[3], "", ""])
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text("\n" + text)  # and a blank first line
    d = load_klines(tmp_path, "1h", file_cache=None)
    assert d.rejects == {str(path): {"malformed": 1}} and len(d.klines) == 3
    assert f"{path} line 7: col 1 (open)" in caplog.text


def test_a_garbled_line_longer_than_csv_s_field_limit_is_one_bad_line(tmp_path: Path, klines_dir: Path, caplog) -> None:
    # 200,000 characters without a comma (a line overwritten by a binary blob): csv.Error, which
    # escaped as a traceback; it is one malformed line and the lines around it still load
    rows = [",".join(map(str, r)) for r in real_rows(klines_dir, n=3)]
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text("\n".join([rows[0], "x" * 200_000, rows[1], rows[2]]) + "\n")
    d = load_klines(tmp_path, "1h", file_cache=None)
    assert d.rejects == {str(path): {"malformed": 1}}
    assert d.klines.open_time.tolist() == [r[0] for r in real_rows(klines_dir, n=3)]
    assert f"{path} line 2: field larger than field limit" in caplog.text


@pytest.mark.parametrize("header", [False, True])
def test_a_csv_whose_lines_end_in_a_bare_cr_loads_every_row(tmp_path: Path, klines_dir: Path, header: bool) -> None:
    # old Mac / spreadsheet exports end lines in CR alone: dropping it joined the rows into one
    # line of 60 fields, read as ONE kline - the other four vanished without a reject
    rows = real_rows(klines_dir, n=5)
    lines = [",".join(HEADER)] * header + [",".join(map(str, r)) for r in rows]
    (tmp_path / "BTCUSDT-1h-2024-01.csv").write_bytes(("\r".join(lines) + "\r").encode())
    d = load_klines(tmp_path, "1h", file_cache=None)
    assert d.rejected == 0
    assert d.klines.open_time.tolist() == [r[0] for r in rows]
    assert d.klines.close.tolist() == [float(r[4]) for r in rows]


def test_a_short_row_and_a_long_row_do_not_shift_each_other_s_columns(tmp_path: Path, klines_dir: Path) -> None:
    # one row without its trailing 'ignore' field (a kline), a later one with an extra field (a
    # malformed row): twelve fields a row on average, but each row is read on its own
    rows = [list(r) for r in real_rows(klines_dir, n=4)]
    # whole numbers where the shifted row would look for its times (open, quote volume,
    # taker-buy base): a shift must not pass for integral open/close times and a trade count
    rows[2][1], rows[2][7], rows[2][9] = "42613.00000000", "29167377.00000000", "288.00000000"
    lines = [",".join(map(str, r)) for r in rows]
    lines[1] = lines[1].rsplit(",", 1)[0]
    lines[2] += ",extra"
    (tmp_path / "BTCUSDT-1h-2024-01.csv").write_text("\n".join(lines) + "\n")
    lines[2] = lines[2].replace(",extra", ",7")  # the same with a number as the extra field
    (tmp_path / "ETHUSDT-1h-2024-01.csv").write_text("\n".join(lines) + "\n")
    d = load_klines(tmp_path, "1h", file_cache=None)
    assert d.rejected_by_reason() == {"malformed": 2}, d.rejects  # the 13-field row of each file
    for s in (0, 1):
        k = d.klines.take(d.klines.sym == s)
        assert k.open_time.tolist() == [r[0] for i, r in enumerate(rows) if i != 2]
        assert k.close.tolist() == [float(r[4]) for i, r in enumerate(rows) if i != 2]


def test_two_rows_run_together_are_one_malformed_line_not_one_kline(tmp_path: Path, klines_dir: Path, caplog) -> None:
    # a row cut after its taker-buy volume, its line end lost, runs into the next: 21 fields, read
    # as one kline (the first 12) without a reject - the next row vanished unreported
    rows = [",".join(map(str, r)) for r in real_rows(klines_dir, n=4)]
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text("\n".join([rows[0], rows[1].rsplit(",", 2)[0] + rows[2], rows[3]]) + "\n")
    d = load_klines(tmp_path, "1h", file_cache=None)
    assert d.rejects == {str(path): {"malformed": 1}}
    assert d.klines.open_time.tolist() == [real_rows(klines_dir, n=4)[k][0] for k in (0, 3)]
    assert f"{path} line 2: row has " in caplog.text


def test_files_with_interleaved_ranges_fill_each_others_gaps(tmp_path: Path, klines_dir: Path) -> None:
    rows = real_rows(klines_dir, n=11)
    write_csv(tmp_path / "BTCUSDT-1h-2024-01-01.csv", rows[:3] + rows[8:])
    write_csv(tmp_path / "BTCUSDT-1h-2024-01-04.csv", rows[3:8])
    d = load_klines(tmp_path, "1h")
    assert d.rejected == 0 and len(d.klines) == 11
    assert np.all(np.diff(d.klines.open_time) == H1)


def test_unusable_inputs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_klines(tmp_path / "missing", "1h")
    (tmp_path / "klines.json").write_text("[]")
    with pytest.raises(ReplayError, match="cannot tell the symbol"):
        load_klines(tmp_path / "klines.json", "1h")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReplayError, match="no kline files"):
        load_klines(tmp_path / "empty", "1h")
    # a corrupt zip and a truncated JSON count as malformed files, not crashes
    (tmp_path / "BTCUSDT-1h-2024-01.zip").write_bytes(b"PK\x03\x04garbage")
    d = tmp_path / "ETHUSDT" / "1h"
    d.mkdir(parents=True)
    (d / "2024-01-01.json").write_text('[[1704067200000,"1"')
    (d / "2024-01-02.json").write_text("[" * 100_000 + "]" * 100_000)  # too deep for json: RecursionError
    out = load_klines(tmp_path, "1h")
    assert len(out.klines) == 0 and out.rejected == 3
    assert set(out.rejects) == {
        str(tmp_path / "BTCUSDT-1h-2024-01.zip"), str(d / "2024-01-01.json"), str(d / "2024-01-02.json")
    }
    assert all(r == {"malformed": 1} for r in out.rejects.values())


def test_a_zip_with_a_damaged_member_counts_as_malformed_not_a_traceback(tmp_path: Path, klines_dir: Path) -> None:
    # the archive's directory is intact but the deflated bytes are not (a bad disk, a half-overwritten
    # download): zipfile raises zlib.error, not BadZipFile; it is one malformed file, and the
    # other symbol's file still loads
    src = write_csv(tmp_path / "src.csv", real_rows(klines_dir, "BTCUSDT", 5) * 200)
    good = zip_csv(src, tmp_path / "good.zip").read_bytes()
    member = zipfile.ZipFile(tmp_path / "good.zip").infolist()[0]
    start = member.header_offset + 30 + len(member.filename)  # local header, then the deflated data
    bad = bytearray(good)
    for i in range(start + 10, start + 200):
        bad[i] ^= 0x55
    d = tmp_path / "data"
    d.mkdir()
    (d / "BTCUSDT-1h-2024-01.zip").write_bytes(bytes(bad))
    write_csv(d / "ETHUSDT-1h-2024-01.csv", real_rows(klines_dir, "ETHUSDT", 3))
    out = load_klines(d, "1h", file_cache=None)
    assert out.rejects == {str(d / "BTCUSDT-1h-2024-01.zip"): {"malformed": 1}}
    assert out.symbols == ["BTCUSDT", "ETHUSDT"] and len(out.klines) == 3
    assert out.klines.sym.tolist() == [1, 1, 1]


def test_files_with_nothing_readable_count_as_malformed_not_as_empty(tmp_path: Path, klines_dir: Path) -> None:
    # a truncated download, a .json that is not an array, a CSV whose first line is neither a
    # kline nor a header: each is counted (and logged) once; the readable rows after it still load
    d = tmp_path / "BTCUSDT" / "1h"
    d.mkdir(parents=True)
    (d / "2024-01-01.json").write_text("garbage\n")
    (d / "2024-01-02.json").write_text("")
    (d / "2024-01-03.csv").write_text("   \n")
    rows = real_rows(klines_dir, "BTCUSDT", 3)
    body = (tmp_path / "rows.csv")
    write_csv(body, rows)
    (d / "2024-01-04.csv").write_text("not,a,kline\n" + body.read_text())
    write_csv(d / "2024-01-05.csv", real_rows(klines_dir, "BTCUSDT", 5)[3:], header=True)  # a real header
    out = load_klines(tmp_path, "1h", file_cache=None)
    assert {Path(f).name: r for f, r in out.rejects.items()} == {
        "2024-01-01.json": {"malformed": 1}, "2024-01-02.json": {"malformed": 1},
        "2024-01-03.csv": {"malformed": 1}, "2024-01-04.csv": {"malformed": 1},
    }
    assert out.klines.open_time.tolist() == [r[0] for r in real_rows(klines_dir, "BTCUSDT", 5)]


def test_interval_name() -> None:
    assert [interval_name(x) for x in (H1, 900_000, 86_400_000, 1_000, 7 * 86_400_000)] == ["1h", "15m", "1d", "1s", "1w"]
    with pytest.raises(ValueError):
        interval_name(1_500)


def test_classify_and_parse_time() -> None:
    assert classify(Path("BTCUSDT-1h-2024-01.zip")) == ("BTCUSDT", "1h")
    assert classify(Path("ETHUSDT-15m-2025-01-06.csv")) == ("ETHUSDT", "15m")
    assert classify(Path("data/BNBUSDT/1d/2024-01-01.json")) == ("BNBUSDT", "1d")
    assert classify(Path("data/readme.json")) is None
    assert parse_time("") is None and parse_time("2024-01-01") == JAN1
    assert parse_time("2024-01-01T01:00:00+01:00") == JAN1 and parse_time(str(JAN1)) == JAN1
    with pytest.raises(ValueError, match="bad time"):
        parse_time("yesterday")


# ---------------------------------------------------------------- the feed


async def test_replay_feed_at_max_speed_ends_and_drives_the_clock(year) -> None:
    clock = ManualClock()
    feed = ReplayFeed(Config(), clock, data=year, speed="max")
    assert isinstance(feed, MarketFeed) and feed.kind == "replay"
    await feed.start()
    assert feed.symbols == SYMS and clock.now_ms() == JAN1
    n = batches = 0
    prev = -1
    async for b in feed.events():
        assert isinstance(b, KlineBatch) and b.closed.all()
        assert (b.open_time == b.open_time[0]).all() and b.open_time[0] > prev
        assert clock.now_ms() == int(b.close_time.max()) + 1
        prev = int(b.open_time[0])
        n += len(b)
        batches += 1
    assert n == 87_840 and batches == 8_784
    assert clock.now_ms() == JAN1 + 8_784 * H1
    h = feed.health()
    assert h["received"] == 87_840 and h["rejected"] == 0 and h["connected"] is False
    assert h["last_event_ms"]["BTCUSDT"] == JAN1 + 8_784 * H1
    f = feed.filters()
    assert f["BTCUSDT"].tick_size == Decimal("0.01") and f["DOGEUSDT"].step_size == Decimal(1)


async def test_warmup_history_and_multi_period_batches(year) -> None:
    clock = ManualClock()
    feed = ReplayFeed(Config(), clock, data=year, speed="max", warmup_klines=48, periods_per_batch=1000,
                      symbols=["BTCUSDT", "ETHUSDT"], end_ms=JAN1 + 100 * H1)
    await feed.start()
    assert feed.symbols == ["BTCUSDT", "ETHUSDT"] and clock.now_ms() == JAN1 + 48 * H1
    h = await feed.history(["ETHUSDT"], "1h", 10)
    assert len(h) == 10 and (h.sym == 1).all()
    assert h.open_time[0] == JAN1 + 38 * H1 and h.open_time[-1] == JAN1 + 47 * H1
    assert len(await feed.history(feed.symbols, "1h", 500)) == 96
    evs = [b async for b in feed.events()]
    assert len(evs) == 1 and len(evs[0]) == 2 * 52
    assert evs[0].open_time[0] == JAN1 + 48 * H1 and clock.now_ms() == JAN1 + 100 * H1
    with pytest.raises(ValueError, match="runs at 1h, history asked for 15m"):
        await feed.history(feed.symbols, "15m", 5)
    plain = ReplayFeed(Config(), ManualClock(), data=year, speed="max")
    assert len(await plain.history(SYMS, "1h", 10)) == 0


async def test_stats_24h_are_the_last_days_klines_without_look_ahead(year, klines_dir: Path) -> None:
    """A replay has no ticker: its 24 h open and quote volume come from the klines that closed in
    the day up to now, checked here against the raw files."""
    clock = ManualClock()
    feed = ReplayFeed(Config(), clock, data=year, speed="max", symbols=["BTCUSDT", "ETHUSDT"])
    assert feed.stats_24h(JAN1) is None  # not started
    await feed.start()
    now = JAN1 + 50 * H1 + 1  # 1 ms after the kline opened at 49 h closed; the 50 h one is open
    o24, q24 = feed.stats_24h(now)
    for k, sym in enumerate(["BTCUSDT", "ETHUSDT"]):
        rows = real_rows(klines_dir, sym, n=60)
        due = [r for r in rows if now - 24 * H1 <= r[6] < now]
        assert [r[0] for r in due] == [JAN1 + h * H1 for h in range(26, 50)]  # 24 klines: 26 h..49 h
        assert o24[k] == float(due[0][1])
        assert q24[k] == pytest.approx(sum(float(r[7]) for r in due), rel=1e-12)
    # the first hour: one kline closed, none yet at the very start
    first = real_rows(klines_dir, "BTCUSDT", 1)[0]
    o1, q1 = feed.stats_24h(JAN1 + H1)
    assert o1[0] == float(first[1]) and q1[0] == float(first[7])
    o0, q0 = feed.stats_24h(JAN1 + H1 - 1)  # the first kline has not closed
    assert np.isnan(o0).all() and np.isnan(q0).all()
    # a symbol missing at the window's start: its 24 h open is that of its oldest kline inside
    btc = SYMS.index("BTCUSDT")
    kl = year.klines
    gap = ~((kl.sym == btc) & (kl.open_time >= JAN1 + 26 * H1) & (kl.open_time < JAN1 + 29 * H1))
    holed = ReplayFeed(Config(), ManualClock(), speed="max", symbols=["BTCUSDT", "ETHUSDT"],
                       data=ReplayData(year.symbols, year.interval_ms, kl.take(gap)))
    await holed.start()
    oh, qh = holed.stats_24h(now)
    rows = real_rows(klines_dir, "BTCUSDT", n=60)
    assert oh[0] == float(rows[29][1]) and oh[1] == o24[1]
    assert qh[0] == pytest.approx(sum(float(r[7]) for r in rows[29:50]), rel=1e-12)


async def test_the_prices_view_of_a_replay_shows_24h_change_and_volume(klines_dir: Path) -> None:
    """The engine's snapshot takes the replay's kline-made 24 h figures (a sim or live feed's come
    from its ticker): the console's 24h % and Volume columns are not blank in a replay."""
    from tui_trader.runtime import build_engine

    cfg = Config.model_validate({"feed": {"kind": "replay", "interval": "1h", "speed": "max"}})
    data = load_klines(klines_dir, "1h", end_ms=JAN1 + 72 * H1)
    engine = build_engine(cfg, persist=False, autostart=True, kind="replay", data=data, warmup_klines=24)
    await engine.start_up()
    await engine.run()
    assert engine.clock.now_ms() == JAN1 + 72 * H1
    market = engine.snapshot().market
    await engine.stop()
    rows = real_rows(klines_dir, "BTCUSDT", n=72)  # the day up to now: the klines opened at 48..71 h
    btc = SYMS.index("BTCUSDT")
    assert market.price[btc] == float(rows[71][4])
    assert market.change_pct[btc] == pytest.approx((float(rows[71][4]) / float(rows[48][1]) - 1) * 100, rel=1e-12)
    assert market.quote_volume[btc] == pytest.approx(sum(float(r[7]) for r in rows[48:]), rel=1e-12)
    assert np.isfinite(market.change_pct).all() and (market.quote_volume > 0).all()


async def test_factory_builds_replay_from_config(klines_dir: Path) -> None:
    cfg = Config.model_validate(
        {"feed": {"kind": "replay", "interval": "1d", "speed": "max",
                  "replay": {"path": str(klines_dir), "start": "2025-12-01", "end": ""}}}
    )
    feed = build_feed(cfg, ManualClock())
    assert isinstance(feed, ReplayFeed)
    await feed.start()
    evs = [b async for b in feed.events()]
    assert len(evs) == 31 and all(len(b) == 10 for b in evs)
    with pytest.raises(ReplayError, match="path"):
        await build_feed(Config.model_validate({"feed": {"kind": "replay"}}), ManualClock()).start()


async def test_a_replay_with_no_valid_kline_to_play_is_an_error_not_an_empty_run(tmp_path: Path, klines_dir: Path) -> None:
    # files that hold nothing valid, or a start after the data's end: the run would end at once,
    # as if it had replayed the data, so start() says why instead
    (tmp_path / "BTCUSDT-1h-2024-01.csv").write_bytes(b"\x00\xff garbage")
    (tmp_path / "ETHUSDT-1h-2024-01.csv").write_text("1704067200000,1,1,1,1,1,1704067259999,1,1,1,1,0\n")  # 1m times
    cfg = Config.model_validate({"feed": {"kind": "replay", "interval": "1h", "speed": "max"}})
    with pytest.raises(ReplayError, match=r"^no valid 1h klines to replay in .+: 2 row\(s\) or file\(s\) rejected"):
        await ReplayFeed(cfg, ManualClock(), path=tmp_path).start()
    late = ReplayFeed(cfg, ManualClock(), path=klines_dir, start_ms=parse_time("2030-01-01"))
    with pytest.raises(ReplayError, match="no valid 1h klines to replay in .+ from 2030-01-01 00:00 UTC on$"):
        await late.start()
    # data that holds klines still starts, whatever was rejected beside them
    feed = ReplayFeed(cfg, ManualClock(), path=klines_dir, end_ms=parse_time("2024-01-01T03:00"))
    await feed.start()
    assert feed.periods == 3


async def test_replay_stop_while_paced(year) -> None:
    import asyncio

    feed = ReplayFeed(Config(), ManualClock(), data=year, speed=1.0)  # an hour between batches
    await feed.start()
    got = []

    async def consume() -> None:
        async for b in feed.events():
            got.append(b)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    await feed.stop()
    await asyncio.wait_for(task, timeout=5)
    assert len(got) <= 1


@pytest.mark.parametrize("per_batch", [1, 7])
async def test_the_kline_source_is_what_events_will_yield(year, per_batch: int) -> None:
    """kline_source() (pickled to the rating worker) yields the batches events() then yields."""
    import pickle

    feed = ReplayFeed(Config(), ManualClock(), data=year, speed="max", warmup_klines=48,
                      periods_per_batch=per_batch)
    await feed.start()
    assert feed.open_times_left() == feed.periods - 48
    source = pickle.loads(pickle.dumps(feed.kline_source()))
    assert source.open_times == feed.periods - 48
    events = [ev async for ev in feed.events()]
    batches = list(source)
    assert len(batches) == len(events) == -(-(feed.periods - 48) // per_batch)
    for a, b in zip(batches, events, strict=True):
        for col in ("sym", "open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
                    "trades", "taker_buy_base", "closed"):
            np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
