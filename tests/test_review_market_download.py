"""``data download`` of a symbol the exchange no longer knows (delisted) while ``OUT`` holds its
month files: the refusal says so and that the files are kept, not that the symbol is a typo."""

from __future__ import annotations

import json

import pytest
from test_download import make_cfg
from test_download_edges import ex, ms, no_sleep  # noqa: F401 - the stand-in exchange at 2025-02-01 05:37

from tui_trader.market.download import DownloadArgError, download_klines


async def test_a_delisted_symbol_with_files_is_named_as_such_and_its_files_kept(ex, tmp_path):  # noqa: F811
    folder = tmp_path / "FTTUSDT" / "15m"
    folder.mkdir(parents=True)
    t = ms("2025-01-06")
    row = [t, "1.0", "1.1", "0.9", "1.0", "10", t + 899_999, "10", 5, "5", "5", "0"]
    month = folder / "2025-01-01.json"
    month.write_text(json.dumps([row]))
    before = month.read_bytes()
    with pytest.raises(DownloadArgError) as e:
        await download_klines(make_cfg(ex.rest_url), ["FTTUSDT"], "15m", ms("2025-01-30"), None, tmp_path, sleep=no_sleep)
    text = str(e.value)
    assert "FTTUSDT" in text and "no longer" in text and "delisted" in text and str(folder) in text, text
    assert month.read_bytes() == before


async def test_an_unknown_symbol_without_files_is_still_called_unknown(ex, tmp_path):  # noqa: F811
    with pytest.raises(DownloadArgError, match="^unknown symbol FTTUSDX on the exchange$"):
        await download_klines(make_cfg(ex.rest_url), ["FTTUSDX"], "15m", ms("2025-01-30"), None, tmp_path, sleep=no_sleep)
