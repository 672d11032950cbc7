"""Historical kline files a follow-up review found mishandled: upper-case extensions, a zip's
member of another symbol, members too large to unpack, µs times between milliseconds."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tui_trader.market import replay
from tui_trader.market.replay import load_klines, parse_file
from tui_trader.market.validation import RejectCounter

H1 = 3_600_000
JAN1_2024 = 1_704_067_200_000
JAN1_2025 = 1_735_689_600_000


def csv_rows(n: int = 3, t0: int = JAN1_2024, close0: float = 100.0) -> str:
    """``n`` sound 1h klines as data.binance.vision CSV lines (times in ms)."""
    out = []
    for i in range(n):
        t = t0 + i * H1
        c = close0 + i
        out.append(f"{t},{c},{c + 1},{c - 1},{c},10,{t + H1 - 1},1000,7,5,500,0\n")
    return "".join(out)


def test_upper_case_csv_and_zip_extensions_are_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "BTCUSDT-1h-2024-01.CSV").write_text(csv_rows(3))
    with zipfile.ZipFile(tmp_path / "ETHUSDT-1h-2024-01.ZIP", "w") as z:
        z.writestr("ETHUSDT-1h-2024-01.CSV", csv_rows(4, close0=2000.0))
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        data = load_klines(tmp_path, "1h", file_cache=None)
    assert data.symbols == ["BTCUSDT", "ETHUSDT"]
    per_symbol = np.bincount(data.klines.sym, minlength=2).tolist()
    assert per_symbol == [3, 4]
    assert float(data.klines.close[data.klines.sym == 1].max()) == 2003.0
    assert not data.rejects
    assert not [r for r in caplog.records if "not read" in r.getMessage()]


def test_a_zip_member_of_another_symbol_is_rejected_not_read_as_the_zips(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    z_path = tmp_path / "BTCUSDT-1h-2024-01.zip"
    with zipfile.ZipFile(z_path, "w") as z:
        z.writestr("BTCUSDT-1h-2024-01-01.csv", csv_rows(2))
        z.writestr("ETHUSDT-1h-2024-01-02.csv", csv_rows(2, t0=JAN1_2024 + 24 * H1, close0=2000.0))
        z.writestr("BTCUSDT-1m-2024-01-03.csv", csv_rows(2, t0=JAN1_2024 + 48 * H1))  # another interval
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        data = load_klines(tmp_path, "1h", file_cache=None)
    assert data.symbols == ["BTCUSDT"]
    assert data.klines.open_time.tolist() == [JAN1_2024, JAN1_2024 + H1]  # only the zip's own member
    assert data.rejects == {str(z_path): {"malformed": 2}}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        parse_file(z_path, 0, H1, RejectCounter(log_interval_s=0))  # every reject's line
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and all(str(z_path) in m for m in said)
    assert "member BTCUSDT-1m-2024-01-03.csv holds BTCUSDT 1m klines, not BTCUSDT 1h" in said[0]
    assert "member ETHUSDT-1h-2024-01-02.csv holds ETHUSDT 1h klines, not BTCUSDT 1h" in said[1]


def test_a_zip_of_only_another_symbols_member_counts_that_member_once(tmp_path: Path) -> None:
    z_path = tmp_path / "BTCUSDT" / "1h" / "2024-01.zip"  # its symbol from the folders
    z_path.parent.mkdir(parents=True)
    with zipfile.ZipFile(z_path, "w") as z:
        z.writestr("data/ETHUSDT-1h-2024-01.csv", csv_rows(3, close0=2000.0))
    counter = RejectCounter()
    batch = parse_file(z_path, 0, H1, counter)
    assert len(batch) == 0
    assert counter.by_reason == {"malformed": 1} and counter.total == 1


def test_a_zip_member_with_no_data_binance_vision_name_is_still_read(tmp_path: Path) -> None:
    z_path = tmp_path / "BTCUSDT-1h-2024-01.zip"
    with zipfile.ZipFile(z_path, "w") as z:
        z.writestr("klines.csv", csv_rows(3))
    counter = RejectCounter()
    assert len(parse_file(z_path, 0, H1, counter)) == 3 and counter.total == 0


def _bomb(path: Path, member: str, size: int) -> Path:
    """A zip of one member of ``size`` zeros (a few KB on disk per MB)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open(member, "w") as f:
        f.write(b"0" * size)
    return path


def test_a_zip_member_unpacking_past_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "MAX_TEXT_BYTES", 1 << 20)
    z_path = _bomb(tmp_path / "BTCUSDT-1h-2024-01.zip", "BTCUSDT-1h-2024-01.csv", 3 << 20)
    assert z_path.stat().st_size < 64 << 10  # a bomb: far smaller than it unpacks to

    def no_read(*_a: object, **_k: object) -> bytes:
        raise AssertionError("the member was read")

    monkeypatch.setattr(zipfile.ZipFile, "read", no_read)
    counter = RejectCounter()
    assert len(parse_file(z_path, 0, H1, counter)) == 0
    assert counter.by_reason == {"malformed": 1}


def test_zip_members_together_past_the_limit_are_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(replay, "MAX_TEXT_BYTES", 1 << 20)
    z_path = tmp_path / "BTCUSDT-1h-2024-01.zip"
    with zipfile.ZipFile(z_path, "w", zipfile.ZIP_DEFLATED) as z:
        for day in (1, 2, 3):
            z.writestr(f"BTCUSDT-1h-2024-01-0{day}.csv", b"0" * (400 << 10))  # each under the limit
    (tmp_path / "BTCUSDT-1h-2024-02.csv").write_text(csv_rows(2, t0=JAN1_2024 + 31 * 24 * H1))
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        data = load_klines(tmp_path, "1h", file_cache=None)
    assert len(data.klines) == 2  # the other file replays
    assert data.rejects == {str(z_path): {"malformed": 1}}
    said = [r.getMessage() for r in caplog.records if str(z_path) in r.getMessage()]
    assert len(said) == 1 and "its 3 members unpack to" in said[0] and "may hold" in said[0]


def test_a_plain_file_past_the_limit_is_refused_and_one_at_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = csv_rows(3)
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text(text)
    monkeypatch.setattr(replay, "MAX_TEXT_BYTES", len(text))
    counter = RejectCounter()
    assert len(parse_file(path, 0, H1, counter)) == 3 and counter.total == 0
    monkeypatch.setattr(replay, "MAX_TEXT_BYTES", len(text) - 1)
    assert len(parse_file(path, 0, H1, counter)) == 0 and counter.by_reason == {"malformed": 1}


def test_running_out_of_memory_on_a_file_is_a_reject_naming_it_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "BTCUSDT-1h-2024-01.csv"
    path.write_text(csv_rows(3))

    def out_of_memory(*_a: object, **_k: object) -> str:
        raise MemoryError

    monkeypatch.setattr(replay, "_read_text", out_of_memory)
    counter = RejectCounter()
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        assert len(parse_file(path, 0, H1, counter)) == 0
    assert counter.by_reason == {"malformed": 1}
    assert any(str(path) in r.getMessage() and "memory" in r.getMessage() for r in caplog.records)


def _us_rows(offsets_us: list[int]) -> list[list]:
    """1h klines of January 2025 in µs (data.binance.vision's unit from 2025 on), the close time as
    the exchange writes it (999 µs past its last millisecond), each open time ``offsets_us[i]`` µs
    past its hour."""
    out = []
    for i, off in enumerate(offsets_us):
        t_us = (JAN1_2025 + i * H1) * 1000
        out.append(
            [t_us + off, "100", "101", "99", "100", "10", t_us + H1 * 1000 - 1, "1000", 7, "5", "500", "0"]
        )
    return out


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_us_times_are_floored_to_the_millisecond_and_then_checked(
    tmp_path: Path, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Documented choice (module doc of replay): µs times are floored to whole ms, not rejected for
    being between milliseconds - every real close time is. An open time a few µs past the hour is
    that hour's kline; one 1.5 ms past it is off the grid, a counted ``bad_time``."""
    rows = _us_rows([0, 123, 999, 1500])
    if fmt == "csv":
        path = tmp_path / "BTCUSDT-1h-2025-01.csv"
        path.write_text("".join(",".join(str(x) for x in r) + "\n" for r in rows))
    else:
        path = tmp_path / "BTCUSDT" / "1h" / "2025-01-01.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(rows))
    with caplog.at_level(logging.WARNING, logger="tui_trader.market"):
        data = load_klines(tmp_path, "1h", file_cache=None)
    kl = data.klines
    assert kl.open_time.tolist() == [JAN1_2025, JAN1_2025 + H1, JAN1_2025 + 2 * H1]
    assert (kl.close_time == kl.open_time + H1 - 1).all()
    assert data.rejects == {str(path): {"bad_time": 1}}
    assert any(str(JAN1_2025 + 3 * H1 + 1) in r.getMessage() for r in caplog.records)  # the floored time
