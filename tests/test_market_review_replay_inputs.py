"""Replay inputs a fresh review found handled badly: kline files whose folder or name tells no
symbol, and files that hold no kline."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tui_trader.market.replay import ReplayError, load_klines

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
