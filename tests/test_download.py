"""``data download`` against the stand-in exchange: pagination, monthly files, resume, rate limits, CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

import numpy as np
import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.market import download as dl
from tui_trader.market.download import DownloadArgError, DownloadError, download_klines, main_download
from tui_trader.market.replay import load_klines

NOW = ms("2025-02-10T12:00")
JAN6, JAN20, FEB2 = ms("2025-01-06"), ms("2025-01-20"), ms("2025-02-02")
Q = 900_000  # 15 minutes


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(NOW), shared_data).start()
    yield stand
    await stand.stop()


def make_cfg(rest_url: str) -> Config:
    return Config.model_validate({"binance": {"rest_url": rest_url, "request_timeout_s": 2.0}})


class Sleeps:
    """Records requested waits without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, s: float) -> None:
        self.calls.append(s)
        await asyncio.sleep(0)


def served(ex: StandinExchange, sym: str, lo: int, hi: int) -> list[list]:
    return [r for r in ex.series(sym, "15m").rows if lo <= r[0] < hi]


def kline_requests(ex: StandinExchange, sym: str) -> list:
    """The kline pages asked for (not the one-kline probe of a symbol new to the folder)."""
    return [r for r in ex.requests if r.path == "klines" and r.params.get("symbol") == sym and "startTime" in r.params]


async def test_download_pages_by_1000_into_monthly_files_with_the_exact_rows(ex, tmp_path):
    seen: list[tuple[str, int, int]] = []
    summary = await download_klines(
        make_cfg(ex.rest_url), ["btcusdt", "ETHUSDT"], "15m", JAN6, FEB2, tmp_path,
        progress=lambda s, d, t: seen.append((s, d, t)), sleep=Sleeps(),
    )
    for sym in ("BTCUSDT", "ETHUSDT"):
        jan = tmp_path / sym / "15m" / "2025-01-01.json"
        feb = tmp_path / sym / "15m" / "2025-02-01.json"
        assert sorted(p.name for p in (tmp_path / sym / "15m").iterdir()) == ["2025-01-01.json", "2025-02-01.json"]
        assert json.loads(jan.read_text()) == served(ex, sym, JAN6, ms("2025-02-01"))
        assert json.loads(feb.read_text()) == served(ex, sym, ms("2025-02-01"), FEB2)
        assert jan.read_text().startswith("[\n  [") and jan.read_text().endswith("]\n]\n")
        reqs = kline_requests(ex, sym)
        assert [int(r.params["startTime"]) for r in reqs] == [JAN6, JAN6 + 1000 * Q, JAN6 + 2000 * Q, ms("2025-02-01")]
        assert all(r.params["limit"] == "1000" for r in reqs)
        assert summary["symbols"][sym] == {"rows": 2592, "files": 2, "resumed": 0, "months_skipped": 0, "gaps": [],
                                          "first": JAN6, "last": FEB2 - Q}
        assert [x for x in seen if x[0] == sym][-1] == (sym, 2592, 2592)
    assert summary["rows"] == 2 * 2592 and summary["files"] == 4


async def test_resume_continues_after_the_last_row_and_skips_complete_months(ex, tmp_path):
    cfg = make_cfg(ex.rest_url)
    first = await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, JAN20, tmp_path, sleep=Sleeps())
    assert first["rows"] == 14 * 96
    jan = tmp_path / "BTCUSDT" / "15m" / "2025-01-01.json"
    assert json.loads(jan.read_text()) == served(ex, "BTCUSDT", JAN6, JAN20)

    n0 = len(ex.requests)
    second = await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, FEB2, tmp_path, sleep=Sleeps())
    reqs = [r for r in ex.requests[n0:] if r.path == "klines"]
    assert int(reqs[0].params["startTime"]) == JAN20  # right after the last stored open time
    assert second["resumed"] == 14 * 96 and second["rows"] == 2592 - 14 * 96
    assert json.loads(jan.read_text()) == served(ex, "BTCUSDT", JAN6, ms("2025-02-01"))

    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")}
    n1 = len(ex.requests)
    third = await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, FEB2, tmp_path, sleep=Sleeps())
    assert [r for r in ex.requests[n1:] if r.path == "klines"] == []
    assert third["symbols"]["BTCUSDT"] == {"rows": 0, "files": 0, "resumed": 2592, "months_skipped": 2, "gaps": [],
                                         "first": JAN6, "last": FEB2 - Q}
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")} == mtimes


async def test_a_hole_inside_a_month_file_is_fetched_on_the_next_run(ex, tmp_path):
    # two runs over separate parts of January leave a hole between them in the month's file;
    # a third run over the whole month fills the hole, not just what lies past its ends
    cfg = make_cfg(ex.rest_url)
    jan13 = ms("2025-01-13")
    await download_klines(cfg, ["BTCUSDT"], "15m", JAN20, FEB2, tmp_path, sleep=Sleeps())
    await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, jan13, tmp_path, sleep=Sleeps())
    jan = tmp_path / "BTCUSDT" / "15m" / "2025-01-01.json"
    on_disk = json.loads(jan.read_text())
    assert on_disk == served(ex, "BTCUSDT", JAN6, jan13) + served(ex, "BTCUSDT", JAN20, ms("2025-02-01"))

    n0 = len(ex.requests)
    third = await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, FEB2, tmp_path, sleep=Sleeps())
    reqs = [r for r in ex.requests[n0:] if r.path == "klines"]
    assert [int(r.params["startTime"]) for r in reqs] == [jan13]  # the hole, nothing else
    assert third["rows"] == 7 * 96 and third["resumed"] == 2592 - 7 * 96
    assert json.loads(jan.read_text()) == served(ex, "BTCUSDT", JAN6, ms("2025-02-01"))


async def test_interrupted_download_keeps_whole_pages_and_a_rerun_completes(ex, tmp_path):
    cfg = make_cfg(ex.rest_url)

    def break_after_first_page(sym: str, done: int, total: int) -> None:
        if done == 1000:
            ex.fail_next("GET", "klines", status=500, code=-1001, msg="Internal error", times=50)

    with pytest.raises(DownloadError, match="BTCUSDT"):
        await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, FEB2, tmp_path, progress=break_after_first_page,
                              sleep=Sleeps(), attempts=3)
    jan = tmp_path / "BTCUSDT" / "15m" / "2025-01-01.json"
    assert json.loads(jan.read_text()) == served(ex, "BTCUSDT", JAN6, JAN6 + 1000 * Q)
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".json"] == []  # no temp files

    ex.clear_faults()
    again = await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, FEB2, tmp_path, sleep=Sleeps())
    assert again["resumed"] == 1000 and again["rows"] == 2592 - 1000
    assert json.loads(jan.read_text()) == served(ex, "BTCUSDT", JAN6, ms("2025-02-01"))


@pytest.mark.parametrize("where", [3, -1])  # inside the page, or its last row
async def test_a_page_with_a_row_that_is_not_a_kline_fails_clearly_and_keeps_nothing_of_it(ex, tmp_path, where):
    cfg = make_cfg(ex.rest_url)
    page = [list(r) for r in served(ex, "BTCUSDT", JAN6, JAN6 + 96 * Q)]
    page[where] = {"oops": 1} if where == 3 else ["garbage"]
    ex.delay_next("GET", "klines", 0.001)  # the symbol's probe
    ex.respond_next("GET", "klines", page)
    with pytest.raises(DownloadError, match=r"BTCUSDT: the exchange sent a malformed page of klines \(row "):
        await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, JAN20, tmp_path, sleep=Sleeps())
    assert list(tmp_path.rglob("*.json")) == []  # neither the bad row nor its page was written
    again = await download_klines(cfg, ["BTCUSDT"], "15m", JAN6, JAN20, tmp_path, sleep=Sleeps())
    assert again["rows"] == 14 * 96
    assert json.loads((tmp_path / "BTCUSDT" / "15m" / "2025-01-01.json").read_text()) == served(
        ex, "BTCUSDT", JAN6, JAN20
    )


@pytest.mark.parametrize(
    "text, why",
    [("{not json", "cannot read"), ("[" * 100_000 + "]" * 100_000, "cannot read"), ('{"a": 1}', "not a JSON array"),
     # a row whose open time is no integer: the resume's int() of it was a ValueError traceback
     ('[["abc", "1", "1", "1", "1", "1", 1, "1", 1, "1", "1", "0"]]', "not a JSON array")],
)
def test_a_month_file_that_cannot_be_read_is_a_clear_error(tmp_path, text: str, why: str) -> None:
    # a file in the way of a resume (garbled, nested too deep for json, not kline rows) stops the
    # run naming it, instead of a traceback or of being overwritten
    path = tmp_path / "2024-01-01.json"
    path.write_text(text)
    with pytest.raises(DownloadError, match=why) as e:
        dl.read_rows(path)
    assert str(path) in str(e.value)


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "BTCUSDT" / "1h" / "2024-01-01.json"
    dl.write_rows_atomic(path, [[1, "2"]])
    before = path.read_bytes()

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(dl.os, "replace", boom)
    with pytest.raises(DownloadError, match=f"cannot write {path}: disk full"):
        dl.write_rows_atomic(path, [[1, "2"], [2, "3"]])
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["2024-01-01.json"]


async def test_retry_after_and_used_weight_are_honoured(ex, tmp_path):
    sleeps = Sleeps()
    ex.fail_next("GET", "klines", status=429, code=-1003, retry_after=3)
    ex.used_weight_offset = 5000  # above 80 % of 6000: pause until the next minute
    summary = await download_klines(make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN6, JAN20, tmp_path, sleep=sleeps)
    assert summary["rows"] == 14 * 96
    assert 3.0 in sleeps.calls  # Retry-After
    assert summary["pauses"] >= 2
    # A weight pause lasts until the next minute (61 s minus the Date header's second), so it can
    # itself be 3 s: take out exactly one Retry-After sleep, not every 3 s sleep.
    weight_waits = list(sleeps.calls)
    weight_waits.remove(3.0)
    assert weight_waits and all(1.0 <= s <= 61.0 for s in weight_waits)
    assert [r.status for r in ex.requests if r.path == "klines"][:2] == [429, 200]  # the probe, asked again


async def test_bad_arguments_raise_download_arg_error(ex, tmp_path):
    cfg = make_cfg(ex.rest_url)
    with pytest.raises(DownloadArgError, match="interval"):
        await download_klines(cfg, ["BTCUSDT"], "7m", JAN6, FEB2, tmp_path)
    with pytest.raises(DownloadArgError, match="after --start"):
        await download_klines(cfg, ["BTCUSDT"], "15m", FEB2, JAN6, tmp_path)
    with pytest.raises(DownloadArgError, match="NOPEUSDT"):
        await download_klines(cfg, ["NOPEUSDT"], "15m", JAN6, FEB2, tmp_path, sleep=Sleeps())
    assert not (tmp_path / "NOPEUSDT").exists() or not any((tmp_path / "NOPEUSDT").rglob("*.json"))


@pytest.mark.parametrize("out", ["/sys/tui-trader-dl", "/proc/tui-trader-dl"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_request(out, tmp_path, capsys):
    from tui_trader.cli import main

    # nothing listens on the discard port: had it tried the network, it would say "download failed"
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[binance]\nrest_url = "http://127.0.0.1:9"\nrequest_timeout_s = 2.0\n')
    code = main(["data", "download", "--symbols", "BTCUSDT", "--interval", "1h", "--start", "2024-01-01",
                 "--end", "2024-01-02", "--out", out, "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"error: --out: cannot write to {out}" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and "download failed" not in err


def _args(**kw: object) -> argparse.Namespace:
    base = {"symbols": "BTCUSDT,ETHUSDT", "interval": "15m", "start": "2025-01-27", "end": "2025-02-02", "out": None,
            "retries": 1}
    base.update(kw)
    return argparse.Namespace(**base)


async def test_main_download_exit_codes_and_summary(ex, tmp_path, capsys):
    cfg = make_cfg(ex.rest_url)
    run = lambda **kw: asyncio.to_thread(main_download, _args(out=str(tmp_path), **kw), cfg)  # noqa: E731

    assert await run(interval="7m") == 2
    err = capsys.readouterr().err
    assert "unknown interval" in err and len(err.strip().splitlines()) == 1
    assert await run(start="2025-13-01") == 2
    assert "error: --start: bad time '2025-13-01'" in capsys.readouterr().err
    assert await run(start="2025-02-02", end="2025-01-01") == 2
    assert await run(symbols="BTCUSDT,NOPEUSDT") == 2
    assert "unknown symbol NOPEUSDT" in capsys.readouterr().err

    assert await run() == 0
    out = capsys.readouterr().out
    assert "fetched" in out and "ETHUSDT" in out
    assert (tmp_path / "ETHUSDT" / "15m" / "2025-02-01.json").is_file()

    gone = make_cfg("http://127.0.0.1:9")  # nothing listens on the discard port
    assert await asyncio.to_thread(main_download, _args(out=str(tmp_path)), gone) == 1
    err = capsys.readouterr().err
    # the retries' warnings (as logged), then one line saying why it failed - no traceback
    assert err.strip().splitlines()[-1].startswith("download failed: cannot reach the exchange")
    assert "cannot connect to 127.0.0.1:9 (" in err and "Traceback" not in err


async def test_output_is_readable_by_the_replay_loader(ex, tmp_path):
    await download_klines(make_cfg(ex.rest_url), ["BTCUSDT", "ETHUSDT"], "15m", JAN6, FEB2, tmp_path, sleep=Sleeps())
    data = load_klines(tmp_path, "15m", ["BTCUSDT", "ETHUSDT"])
    assert data.symbols == ["BTCUSDT", "ETHUSDT"] and data.rejected == 0
    assert len(data.klines) == 2 * 2592
    btc = data.klines.take(data.klines.sym == 0)
    rows = served(ex, "BTCUSDT", JAN6, FEB2)
    assert btc.open_time.tolist() == [r[0] for r in rows]
    assert np.array_equal(btc.close, np.array([float(r[4]) for r in rows]))


def test_month_helpers():
    assert dl.month_start(ms("2024-02-29T23:59")) == ms("2024-02-01")
    assert dl.next_month(ms("2024-12-15")) == ms("2025-01-01")
    assert dl.month_file(Path("o"), "BTCUSDT", "1h", ms("2024-07-01")) == Path("o/BTCUSDT/1h/2024-07-01.json")
    assert dl.parse_date_ms("2024-01-01", "start") == ms("2024-01-01")
    assert dl.parse_date_ms("2024-01-01T05:30Z", "start") == ms("2024-01-01T05:30")
    with pytest.raises(DownloadArgError):
        dl.parse_date_ms("yesterday", "start")
