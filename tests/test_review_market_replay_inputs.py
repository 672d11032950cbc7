"""Replay inputs that were read without a word: a file mixing ms and µs timestamps (two exports run
together), and open times a symbol has no kline for (a halt, a row cut out). Both are read as
before - each time in its own unit, the gap left as it is - but now said once in the log."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import pytest

from tui_trader.market.file_cache import KlineFileCache
from tui_trader.market.replay import load_klines
from tui_trader.market.validation import RejectCounter

H1 = 3_600_000
T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def _row(i: int, us: bool = False) -> list:
    t = T0 + i * H1
    ot, ct = (t * 1000, (t + H1) * 1000 - 1) if us else (t, t + H1 - 1)
    return [ot, "1.0", "1.1", "0.9", "1.05", "10", ct, "10.5", 5, "5", "5.2", "0"]


def _csv(rows: list[list]) -> str:
    return "".join(",".join(str(x) for x in r) + "\n" for r in rows)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("kind", ["csv", "json", "zip", "csv-slow"])
def test_a_file_mixing_ms_and_us_timestamps_is_read_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    rows = [_row(i, us=i >= 3) for i in range(6)]  # December's ms export and January's µs one run together
    if kind == "csv-slow":
        rows.insert(1, ["not", "a", "row"])  # read row by row
    if kind == "json":
        f = tmp_path / "BTCUSDT" / "1h" / "2025-01-01.json"
        f.parent.mkdir(parents=True)
        f.write_text(json.dumps(rows))
    elif kind == "zip":
        f = tmp_path / "BTCUSDT-1h-2025-01.zip"
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("BTCUSDT-1h-2025-01.csv", _csv(rows))
    else:
        f = tmp_path / "BTCUSDT-1h-2025-01.csv"
        f.write_text(_csv(rows))
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(tmp_path, "1h", file_cache=None)
    assert got.klines.open_time.tolist() == [T0 + i * H1 for i in range(6)]  # each in its own unit, as before
    said = [w for w in _warnings(caplog) if "µs" in w and str(f) in w]
    assert len(said) == 1, _warnings(caplog)
    assert "3 row(s)" in said[0] and "ms" in said[0]


def test_a_file_in_one_unit_says_nothing_of_units(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "BTCUSDT-1h-2025-01.csv").write_text(_csv([_row(i, us=True) for i in range(4)]))
    (tmp_path / "ETHUSDT-1h-2025-01.csv").write_text(_csv([_row(i) for i in range(4)]))
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(tmp_path, "1h", file_cache=None)
    assert len(got.klines) == 8 and _warnings(caplog) == []


def test_open_times_a_symbol_has_no_kline_for_are_named_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "BTCUSDT-1h-2025-01.csv").write_text(_csv([_row(i) for i in (0, 1, 4, 5, 7)]))  # 2 + 1 missing
    (tmp_path / "ETHUSDT-1h-2025-01.csv").write_text(_csv([_row(i) for i in range(8)]))  # complete
    (tmp_path / "SOLUSDT-1h-2025-01.csv").write_text(_csv([_row(i) for i in range(3, 8)]))  # listed later: no gap
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(tmp_path, "1h", file_cache=None)
    assert len(got.klines) == 5 + 8 + 5 and got.rejected == 0  # replayed as they are
    said = [w for w in _warnings(caplog) if "gap" in w]
    assert len(said) == 1, _warnings(caplog)
    assert "BTCUSDT: 3 in 2 gaps from 2025-01-01 02:00 UTC" in said[0]
    assert "ETHUSDT" not in said[0] and "SOLUSDT" not in said[0]


def test_symbols_whose_klines_stop_short_of_the_others_are_named_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a symbol's last file left out (truncated) or missing shortened its replay without a word: the
    # gap warning looks only between a symbol's first and last kline
    (tmp_path / "BTCUSDT-1h-2025-01.csv").write_text(_csv([_row(i) for i in range(5)]))  # ends 3 short
    (tmp_path / "ETHUSDT-1h-2025-01.csv").write_text(_csv([_row(i) for i in range(8)]))  # complete
    (tmp_path / "SOLUSDT-1h-2025-01.csv").write_text(_csv([_row(i) for i in range(2, 8)]))  # starts 2 late
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(tmp_path, "1h", file_cache=None)
    assert len(got.klines) == 5 + 8 + 6 and got.rejected == 0  # replayed as they are
    said = [w for w in _warnings(caplog) if "do not span" in w]
    assert len(said) == 1, _warnings(caplog)
    assert "(2025-01-01 00:00 to 2025-01-01 07:00 UTC)" in said[0]
    assert "BTCUSDT ends 3 open time(s) before the last, at 2025-01-01 04:00 UTC" in said[0]
    assert "SOLUSDT starts 2 open time(s) after the first, at 2025-01-01 02:00 UTC" in said[0]
    assert "ETHUSDT" not in said[0]


def test_a_file_none_of_whose_klines_can_be_read_is_said_to_be_left_out_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # "rejected 1 market-data row(s): malformed: ...json: not valid JSON": a month of klines gone, said as one row
    for sym, cut in (("BTCUSDT", -20), ("ETHUSDT", None)):
        (tmp_path / sym / "1h").mkdir(parents=True)
        (tmp_path / sym / "1h" / "2025-01-01.json").write_text(json.dumps([_row(i) for i in range(4)])[:cut])
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(tmp_path, "1h", file_cache=None)
    assert got.rejected == 1 and len(got.klines) == 4
    assert any("not valid JSON" in w and w.endswith("the whole file left out") for w in _warnings(caplog)), (
        _warnings(caplog))


def test_the_real_data_has_no_gap_and_no_mixed_units(klines_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(klines_dir, "15m", file_cache=None)
    assert len(got.klines) == 10 * 2688 and _warnings(caplog) == []


@pytest.mark.parametrize("where", [1, 3])
def test_a_stray_quote_costs_its_own_line_not_the_lines_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: int
) -> None:
    # a '"' left in a field opened a quoted field that ran to the next '"' or the end of the file:
    # every line after it was swallowed into one bad row, counted once, the good klines lost unsaid
    lines = [",".join(str(x) for x in _row(i)) for i in range(6)]
    lines[where] = lines[where].replace(",5,", ',"5,', 1)
    f = tmp_path / "BTCUSDT-1h-2025-01.csv"
    f.write_text("\n".join(lines) + "\n")
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(tmp_path, "1h", file_cache=None)
    assert got.rejects == {str(f): {"malformed": 1}}
    assert got.klines.open_time.tolist() == [T0 + i * H1 for i in range(6) if i != where]
    assert f"{f} line {where + 1}" in caplog.text


def test_quoted_fields_and_a_garbled_long_line_still_read_as_before(tmp_path: Path) -> None:
    lines = [",".join(f'"{x}"' for x in _row(i)) for i in range(4)]
    lines.insert(2, "x" * 200_000)
    f = tmp_path / "BTCUSDT-1h-2025-01.csv"
    f.write_text("\n".join(lines) + "\n")
    got = load_klines(tmp_path, "1h", file_cache=None)
    assert got.rejects == {str(f): {"malformed": 1}}
    assert got.klines.open_time.tolist() == [T0 + i * H1 for i in range(4)]


def test_a_kline_file_linked_to_a_file_gone_is_counted_not_left_out_unsaid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # month files linked in from another disk, one of them gone (the disk not mounted, the file
    # moved): the month was left out of the replay without a word, as if it had never been there
    data = tmp_path / "data"
    data.mkdir()
    (data / "BTCUSDT-1h-2025-01.csv").write_text(_csv([_row(i) for i in range(3)]))
    gone = data / "BTCUSDT-1h-2025-02.csv"
    gone.symlink_to(tmp_path / "elsewhere" / "BTCUSDT-1h-2025-02.csv")
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(data, "1h", file_cache=None)
    assert len(got.klines) == 3
    assert got.rejects == {str(gone): {"malformed": 1}}
    assert str(gone) in caplog.text


def test_a_file_mixing_units_is_not_cached_so_its_warning_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    f = data / "BTCUSDT-1h-2025-01.csv"
    f.write_text(_csv([_row(i, us=i >= 3) for i in range(6)]))
    caplog.set_level(logging.WARNING, "tui_trader.market")
    for _ in range(2):
        caplog.clear()
        cache = KlineFileCache(tmp_path / "cache")
        got = load_klines(data, "1h", file_cache=cache)
        assert got.klines.open_time.tolist() == [T0 + i * H1 for i in range(6)] and cache.hits == 0
        assert len([w for w in _warnings(caplog) if "µs" in w and str(f) in w]) == 1, _warnings(caplog)


def test_two_stray_quotes_and_blank_lines_cost_their_own_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [",".join(str(x) for x in _row(i)) for i in range(7)]
    for k in (1, 4, 6):  # the last one runs to the end of the file: its fields run together
        lines[k] = lines[k].replace(",5,", ',"5,', 1)
    lines.insert(3, "")
    f = tmp_path / "BTCUSDT-1h-2025-01.csv"
    f.write_text("\n".join(lines) + "\n")
    said: list[str] = []  # every reject's text (the log says the first of a burst)
    real = RejectCounter.reject
    monkeypatch.setattr(RejectCounter, "reject", lambda self, reason, n=1, detail="": (said.append(detail),
                                                                                      real(self, reason, n, detail)))
    got = load_klines(tmp_path, "1h", file_cache=None)
    assert got.klines.open_time.tolist() == [T0 + i * H1 for i in (0, 2, 3, 5)]
    assert got.rejects == {str(f): {"malformed": 3}}
    assert [d.split(": ")[0] for d in said] == [f"{f} line 2", f"{f} line 6", f"{f} line 8"], said
    assert "quote" in said[0] and "quote" in said[1]


@pytest.mark.parametrize("linked", ["BTCUSDT", "BTCUSDT/1h"])
def test_a_symbol_or_interval_folder_linked_to_one_gone_is_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, linked: str
) -> None:
    # a7ab11d's sibling: a symbol's folder (or its interval folder) linked in from a disk not mounted
    # left the whole symbol out of the replay without a word
    data = tmp_path / "data"
    (data / "ETHUSDT" / "1h").mkdir(parents=True)
    (data / "ETHUSDT" / "1h" / "2025-01-01.json").write_text(json.dumps([_row(i) for i in range(3)]))
    link = data / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(tmp_path / "elsewhere" / linked)
    caplog.set_level(logging.WARNING, "tui_trader.market")
    got = load_klines(data, "1h", file_cache=None)
    assert got.symbols == ["ETHUSDT"] and len(got.klines) == 3
    said = [w for w in _warnings(caplog) if str(link) in w]
    assert len(said) == 1 and "not there" in said[0], _warnings(caplog)
