"""Historical kline files a follow-up review found mishandled: upper-case extensions, a zip's
member of another symbol, members too large to unpack, µs times between milliseconds."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tui_trader.market.replay import load_klines

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
