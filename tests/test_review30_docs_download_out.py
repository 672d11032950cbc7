"""A download that writes no month file leaves no folder it made behind, `--out` itself included:
a first `data download --out data/klines` that could not reach the exchange (or whose symbol was
unknown) removed `data/klines/BTCUSDT/1h` and `BTCUSDT` but left `data/klines` (and `data`) empty."""

from __future__ import annotations

import argparse
import asyncio

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms
from test_download import make_cfg

from tui_trader.market import download


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(ms("2025-02-10T12:00")), shared_data).start()
    yield stand
    await stand.stop()


def _args(out: object) -> argparse.Namespace:
    return argparse.Namespace(
        symbols="BTCUSDT", interval="15m", start="2025-01-30", end=None, out=str(out), retries=1
    )


async def test_the_cli_removes_the_out_folder_it_made_for_a_run_that_failed(ex, tmp_path, capsys):
    # the CLI makes --out up front, to check it takes files before any request: a run that then
    # failed (here the exchange's time answer is another service's) left it behind, empty
    ex.respond_next("GET", "time", {"foo": 1})
    out = tmp_path / "data" / "klines"
    code = await asyncio.to_thread(download.main_download, _args(out), make_cfg(ex.rest_url))
    assert code == 1 and "download failed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    # a run that writes files keeps them, and the folders above them
    code = await asyncio.to_thread(download.main_download, _args(out), make_cfg(ex.rest_url))
    assert code == 0 and list((out / "BTCUSDT" / "15m").glob("*.json"))


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
