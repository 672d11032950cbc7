"""The README says what `data download` does beyond fetching: the up-front symbol check, the lock
per folder, the signals that keep what was fetched, the gap notes and the 451/403 refusals; and
what it quotes or names is what the code has."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from tui_trader.market import download

README = Path(__file__).resolve().parent.parent / "README.md"


def _paragraph() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("`data download` writes closed klines")
    return " ".join(text[start : text.index("\n\n", start)].split())


def test_the_readme_says_what_a_download_does_beyond_fetching() -> None:
    par = _paragraph()
    for claim in (
        "each symbol with no file in `OUT` yet is looked up, so an unknown one (a typo) is refused with exit 2",
        "One download at a time per `OUT/SYMBOL/INTERVAL` folder",
        "Ctrl-C, SIGTERM and SIGHUP",
        "exit 130",
        "a halt or maintenance",
        "HTTP 451",
        "HTTP 403",
    ):
        assert claim in par, claim


def test_what_the_readme_quotes_and_names_is_the_code_s() -> None:
    par = _paragraph()
    source = inspect.getsource(download)
    (quoted,) = re.findall(r'"([^"]+)"', par)
    assert quoted in source  # the interruption's advice, word for word
    assert {s.name for s in download.STOP_SIGNALS} == {"SIGTERM", "SIGHUP"}  # plus Ctrl-C
    assert "return 130" in inspect.getsource(download.main_download)
    assert "(a halt or maintenance)" in source and "HTTP 451" in source and "HTTP 403" in source
    assert "unknown symbols on the exchange" in inspect.getsource(download._check_symbols)


def test_a_second_download_of_a_folder_is_an_argument_error_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "BTCUSDT" / "1h"
    with (
        download.series_lock(folder),
        pytest.raises(download.DownloadArgError, match="is being downloaded by another tui-trader"),
        download.series_lock(folder),
    ):
        pass
    assert "except DownloadArgError" in inspect.getsource(download.main_download)
