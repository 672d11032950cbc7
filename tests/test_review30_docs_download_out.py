"""A download that writes no month file leaves no folder it made behind, `--out` itself included:
a first `data download --out data/klines` that could not reach the exchange (or whose symbol was
unknown) removed `data/klines/BTCUSDT/1h` and `BTCUSDT` but left `data/klines` (and `data`) empty."""

from __future__ import annotations

from tui_trader.market import download


def test_the_out_folder_a_fruitless_run_made_goes_too(tmp_path) -> None:
    out = tmp_path / "data" / "klines"
    with download.series_lock(out / "BTCUSDT" / "1h"):
        assert (out / "BTCUSDT" / "1h").is_dir()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_was_there_stays_and_one_with_a_month_file_stays(tmp_path) -> None:
    out = tmp_path / "klines"
    out.mkdir()
    with download.series_lock(out / "ETHUSDT" / "1h"):
        pass
    assert out.is_dir() and list(out.iterdir()) == []  # there before the run: kept
    folder = out / "BTCUSDT" / "1h"
    with download.series_lock(folder):
        (folder / "2024-01-01.json").write_text("[]")
    assert (folder / "2024-01-01.json").is_file()  # and the folders above it


def test_another_symbols_folder_keeps_the_out_folder(tmp_path) -> None:
    out = tmp_path / "klines"
    with download.series_lock(out / "BTCUSDT" / "1h"):
        (out / "ETHUSDT" / "1h").mkdir(parents=True)  # a second run's, meanwhile
    assert (out / "ETHUSDT" / "1h").is_dir() and not (out / "BTCUSDT").exists()
