"""``data download`` as an operator meets it: a start in the future, a range without klines, an IP
ban, SIGTERM / SIGHUP, a damaged month file (against the stand-in exchange)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

import numpy as np
import pytest
from exchange_standin import KlineSeries, StandinExchange, SteerableClock, ms
from test_download import make_cfg

from tui_trader.market import download as dl
from tui_trader.market.download import DownloadArgError, DownloadError, download_klines, main_download
from tui_trader.market.replay import load_klines
from tui_trader.models import KLINE_FIELDS

NOW = ms("2025-02-01T05:37")  # inside the 15m kline that opened at 05:30: not closed yet
JAN20 = ms("2025-01-20")


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(NOW), shared_data).start()
    yield stand
    await stand.stop()


async def no_sleep(_s: float) -> None:
    await asyncio.sleep(0)


def _args(out: object, **kw: object) -> argparse.Namespace:
    base = {
        "symbols": "BTCUSDT",
        "interval": "15m",
        "start": "2025-01-30",
        "end": None,
        "out": str(out),
        "retries": 2,
    }
    base.update(kw)
    return argparse.Namespace(**base)


async def test_a_start_in_the_future_is_refused_not_a_silent_success(ex, tmp_path):
    # it was "fetched 0 rows ... 0 file(s) written" and exit 0: a mistyped year looked like success
    with pytest.raises(
        DownloadArgError,
        match="start 2030-01-01 00:00 UTC is in the future: the exchange's time is 2025-02-01 05:37 UTC",
    ):
        await download_klines(make_cfg(ex.rest_url), ["BTCUSDT"], "15m", ms("2030-01-01"), None, tmp_path)
    assert not any(tmp_path.iterdir())
    assert [r.path for r in ex.requests] == ["time"]  # no kline request: the answer is known


async def test_a_start_whose_kline_has_not_closed_yet_says_nothing_to_do_yet(ex, tmp_path, capsys):
    # the 05:30 kline has opened but not closed: nothing to store yet, which is no mistake (a
    # cron job asking for "the last hour" meets it), so exit 0 with a note rather than an error
    cfg = make_cfg(ex.rest_url)
    summary = await download_klines(cfg, ["BTCUSDT"], "15m", ms("2025-02-01T05:30"), None, tmp_path)
    assert summary["rows"] == 0 and summary["symbols"] == {}
    assert summary["note"] == (
        "nothing to download yet: no 15m kline from 2025-02-01 05:30 UTC on has closed "
        "(the exchange's time is 2025-02-01 05:37 UTC)"
    )
    assert not any(tmp_path.iterdir()) and [r.path for r in ex.requests] == ["time"]
    capsys.readouterr()
    assert await asyncio.to_thread(main_download, _args(tmp_path, start="2025-02-01T05:31"), cfg) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == (
        "note: nothing to download yet: no 15m kline from 2025-02-01 05:31 UTC on has closed "
        "(the exchange's time is 2025-02-01 05:37 UTC)"
    )


async def test_the_last_closed_kline_is_still_a_valid_start(ex, tmp_path):
    summary = await download_klines(
        make_cfg(ex.rest_url), ["BTCUSDT"], "15m", ms("2025-02-01T05:15"), None, tmp_path, sleep=no_sleep
    )
    rows = json.loads((tmp_path / "BTCUSDT" / "15m" / "2025-02-01.json").read_text())
    assert summary["rows"] == 1 and [r[0] for r in rows] == [ms("2025-02-01T05:15")]


async def test_cli_says_so_when_a_symbol_has_no_kline_in_the_range(ex, tmp_path, capsys):
    # the stand-in's 15m data begins in January 2025: a 2019 range is empty, and the operator's
    # next step (replaying --data) would fail with "no kline files found" without knowing why
    cfg = make_cfg(ex.rest_url)
    code = await asyncio.to_thread(main_download, _args(tmp_path, start="2019-01-01", end="2019-03-01"), cfg)
    err = capsys.readouterr().err
    assert code == 0, err
    assert (
        "warning: no 15m kline of BTCUSDT from 2019-01-01 00:00 to 2019-03-01 00:00 UTC: not listed yet"
        in err
    )
    code = await asyncio.to_thread(main_download, _args(tmp_path), cfg)
    assert code == 0 and "warning" not in capsys.readouterr().err


async def test_an_ip_ban_says_how_long_to_wait_before_running_again(ex, tmp_path, capsys):
    ex.fail_next(
        "GET",
        "klines",
        status=418,
        code=-1003,
        msg="Way too much request weight used; IP banned",
        retry_after=7200,
    )
    with pytest.raises(DownloadError) as e:
        await download_klines(
            make_cfg(ex.rest_url), ["BTCUSDT", "ETHUSDT"], "15m", JAN20, None, tmp_path, sleep=no_sleep
        )
    msg = str(e.value)
    assert msg.startswith("BTCUSDT: the exchange has banned this IP for 2 h 0 min (HTTP 418)"), msg
    assert "do not run again before" in msg
    assert len([r for r in ex.requests if r.path == "klines"]) == 1  # not asked again during the ban


async def test_rate_limited_on_every_attempt_says_to_wait(ex, tmp_path):
    ex.fail_next("GET", "klines", status=429, code=-1003, retry_after=1, times=5)
    with pytest.raises(
        DownloadError,
        match=r"BTCUSDT: rate limited by the exchange \(HTTP 429\) on each of 2 "
        r"attempts: wait a minute before running again",
    ):
        await download_klines(
            make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN20, None, tmp_path, sleep=no_sleep, attempts=2
        )


async def test_a_ban_on_the_first_request_says_so_too(ex, tmp_path):
    ex.fail_next("GET", "time", status=418, code=-1003, retry_after=600)
    with pytest.raises(DownloadError, match=r"^the exchange has banned this IP for 10 min \(HTTP 418\)"):
        await download_klines(
            make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN20, None, tmp_path, sleep=no_sleep
        )


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX only")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
async def test_sigterm_or_sighup_keeps_the_pages_fetched_and_says_so(ex, tmp_path, sig):
    # a dropped SSH session (SIGHUP) or a service stop (SIGTERM) ended the download at once: the
    # pages fetched since the last flush (up to 9 of every 10) were lost and nothing was said
    ex.delay_next(
        "GET", "klines", 0.001, times=3
    )  # the probe and two pages (2,000 rows, not yet flushed) ...
    hold = ex.hold_next("GET", "klines")  # ... the third is on its way when the signal comes
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[binance]\nrest_url = "{ex.rest_url}"\nrequest_timeout_s = 20.0\n')
    out = tmp_path / "out"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui_trader",
        "data",
        "download",
        "--symbols",
        "BTCUSDT",
        "--interval",
        "15m",
        "--start",
        "2025-01-06",
        "--end",
        "2025-02-02",
        "--out",
        str(out),
        "--config",
        str(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TUI_TRADER_CACHE_DIR": "off"},
    )
    try:
        await asyncio.wait_for(hold.arrived.wait(), 60)
        proc.send_signal(getattr(signal, sig))
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        hold.release()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = err.decode()
    assert proc.returncode == 130, text
    assert (
        text.strip().splitlines()[-1]
        == f"interrupted ({sig}): the files written so far are complete; run the same command again to resume"
    )
    rows = json.loads((out / "BTCUSDT" / "15m" / "2025-01-01.json").read_text())
    assert [r[0] for r in rows] == [
        r[0] for r in ex.series("BTCUSDT", "15m").rows if r[0] >= ms("2025-01-06")
    ][:2000]
    assert [p.name for p in (out / "BTCUSDT" / "15m").iterdir()] == ["2025-01-01.json"]  # no temp file left


async def test_a_torn_month_file_is_named_with_what_to_do_and_left_as_it_was(ex, tmp_path, capsys):
    # a month file cut short (a copy that ran out of disk, an old non-atomic writer) stops the
    # run naming the file and the way out, rather than a bare JSON parser message
    cfg = make_cfg(ex.rest_url)
    assert await asyncio.to_thread(main_download, _args(tmp_path, start="2025-01-20"), cfg) == 0
    jan = tmp_path / "BTCUSDT" / "15m" / "2025-01-01.json"
    torn = jan.read_bytes()[:5000]
    jan.write_bytes(torn)
    capsys.readouterr()
    assert await asyncio.to_thread(main_download, _args(tmp_path, start="2025-01-20"), cfg) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"download failed: cannot read {jan}: it is not valid JSON ("
    ), err
    assert err[0].endswith("move it away (or delete it) and run again to download that month anew")
    assert jan.read_bytes() == torn


def test_writing_a_long_month_costs_a_few_times_its_size_not_its_square(tmp_path, monkeypatch):
    # 1s klines: a month is 2,678 pages. Rewriting the whole month file every 10 pages wrote
    # ~360 million rows (~60 GB) for a 2.7 million row file; these 100 pages wrote 550,000 rows.
    written: list[int] = []
    real_write = dl.write_rows_atomic

    def count(path, rows):  # noqa: ANN001, ANN202
        written.append(len(rows))
        real_write(path, rows)

    monkeypatch.setattr(dl, "write_rows_atomic", count)
    iv, lo, pages = 1000, ms("2025-01-01"), 100
    month = dl._Month(tmp_path / "m.json", lo, lo + pages * 1000 * iv, now=lo + 10**12)
    done = 0
    for p in range(pages):
        t0 = lo + p * 1000 * iv
        page = [
            [t0 + k * iv, "1", "1", "1", "1", "1", t0 + (k + 1) * iv - 1, "1", 1, "1", "1", "0"]
            for k in range(1000)
        ]
        assert month.add_page(page) == 1000
        done += 1000
        # what a kill -9 could lose stays bounded: 9 pages, or a third of the month so far
        assert done - (written[-1] if written else 0) <= max(9_000, done // 3), (p, written)
    month.flush()
    assert written[0] == 10_000 and written[-1] == pages * 1000
    assert len(json.loads((tmp_path / "m.json").read_text())) == pages * 1000
    assert sum(written) <= 3 * pages * 1000, written


async def test_a_second_download_of_the_same_series_is_refused_while_the_first_runs(ex, tmp_path):
    # two runs over one month file each kept what they had read at the start and wrote it back
    # over the other's: both said "fetched 672 rows", the file held 672, not 1,344
    cfg = make_cfg(ex.rest_url)
    ex.delay_next("GET", "klines", 0.001)  # the symbol's probe; then its first page is held
    hold = ex.hold_next("GET", "klines")
    first = asyncio.create_task(
        download_klines(cfg, ["BTCUSDT"], "15m", ms("2025-01-06"), ms("2025-01-13"), tmp_path, sleep=no_sleep)
    )
    await asyncio.wait_for(hold.arrived.wait(), 10)
    with pytest.raises(DownloadArgError) as e:
        await download_klines(
            cfg, ["ETHUSDT", "BTCUSDT"], "15m", JAN20, ms("2025-01-27"), tmp_path, sleep=no_sleep
        )
    folder = tmp_path / "BTCUSDT" / "15m"
    assert (
        str(e.value)
        == f"{folder} is being downloaded by another tui-trader (pid {os.getpid()}): wait for it to end"
    )
    hold.release()
    assert (await first)["rows"] == 7 * 96
    again = await download_klines(cfg, ["BTCUSDT"], "15m", JAN20, ms("2025-01-27"), tmp_path, sleep=no_sleep)
    assert again["rows"] == 7 * 96
    rows = json.loads((folder / "2025-01-01.json").read_text())
    assert len(rows) == 2 * 7 * 96
    # a symbol without data leaves no folder behind for its lock
    with pytest.raises(DownloadArgError, match="unknown symbol NOPEUSDT"):
        await download_klines(cfg, ["NOPEUSDT"], "15m", JAN20, None, tmp_path, sleep=no_sleep)
    assert not (tmp_path / "NOPEUSDT").exists()


def _with_halt(ex: StandinExchange, symbol: str, lo: int, hi: int) -> None:
    """The stand-in's 15m klines of ``symbol`` without those opening in ``[lo, hi)`` (a halt)."""
    s = ex.series(symbol, "15m")
    rows = [r for r in s.rows if not lo <= r[0] < hi]
    gapped = KlineSeries(s.interval_ms, rows, np.array([r[0] for r in rows], dtype=np.int64))
    real = ex.series
    ex.series = lambda sym, iv: gapped if (sym, iv) == (symbol, "15m") else real(sym, iv)  # type: ignore[method-assign]


async def test_a_halt_on_the_exchange_is_reported_and_the_bar_completes(ex, tmp_path, capsys):
    # an exchange halt (no klines for 4 hours) was stored correctly but said nowhere, and the
    # progress bar stopped at 2,502 of 2,518: the operator could not tell a halt from a failure
    _with_halt(ex, "BTCUSDT", ms("2025-01-10T02:00"), ms("2025-01-10T06:00"))
    seen: list[tuple[str, int, int]] = []
    cfg = make_cfg(ex.rest_url)
    summary = await download_klines(
        cfg,
        ["BTCUSDT", "ETHUSDT"],
        "15m",
        ms("2025-01-06"),
        None,
        tmp_path,
        progress=lambda *a: seen.append(a),
        sleep=no_sleep,
    )
    assert summary["symbols"]["BTCUSDT"]["rows"] == 2518 - 16
    assert summary["symbols"]["BTCUSDT"]["gaps"] == [(ms("2025-01-10T02:00"), 16)]
    assert summary["symbols"]["ETHUSDT"]["gaps"] == []
    assert [x for x in seen if x[0] == "BTCUSDT"][-1] == ("BTCUSDT", 2502, 2502)
    capsys.readouterr()
    assert (
        await asyncio.to_thread(
            main_download, _args(tmp_path, symbols="BTCUSDT,ETHUSDT", start="2025-01-06"), cfg
        )
        == 0
    )
    err = capsys.readouterr().err
    assert (
        "note: BTCUSDT: the exchange has no 15m kline for 16 open times in 1 gap (a halt or maintenance): "
        "from 2025-01-10 02:00 UTC (16)" in err
    ), err
    assert "ETHUSDT:" not in err


RESTRICTED = (
    "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you received this message "
    "in error."
)


async def test_a_restricted_location_is_named_not_an_unreadable_body(ex, tmp_path, capsys):
    # Binance answers every request from some countries and cloud regions (the US) with HTTP 451
    # and code 0: this said "cannot reach the exchange: HTTP 451, unreadable body"
    ex.fail_next("GET", "time", status=451, code=0, msg=RESTRICTED)
    code = await asyncio.to_thread(main_download, _args(tmp_path), make_cfg(ex.rest_url))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0] == (
        "download failed: the exchange refuses requests from this location (HTTP 451: Binance is not available "
        "in this country or cloud region); the monthly kline files of data.binance.vision, which --data reads, "
        "are another way"
    )
    assert [r.path for r in ex.requests] == ["time"]  # not retried


async def test_a_firewall_refusal_says_to_wait(ex, tmp_path):
    ex.respond_next_html("GET", "klines", 403, "<html><body>403 Forbidden</body></html>")
    with pytest.raises(DownloadError) as e:
        await download_klines(
            make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN20, None, tmp_path, sleep=no_sleep
        )
    assert str(e.value) == (
        "BTCUSDT: the exchange's firewall refused the request (HTTP 403, its request rate limit): wait a few "
        "minutes before running again; the files written so far are kept"
    )


async def test_round_trip_the_replay_reads_exactly_the_exchanges_klines(ex, tmp_path, shared_data):
    # what `run --feed replay --data OUT` and `backtest --data OUT` load from a download is what
    # they load from Binance's own files for the same open times: every price, volume and count
    await download_klines(
        make_cfg(ex.rest_url), ["BTCUSDT", "ETHUSDT"], "15m", ms("2025-01-06"), None, tmp_path, sleep=no_sleep
    )
    got = load_klines(tmp_path, "15m", ["BTCUSDT", "ETHUSDT"], file_cache=None)
    ref = load_klines(
        shared_data / "binance_spot_klines",
        "15m",
        ["BTCUSDT", "ETHUSDT"],
        ms("2025-01-06"),
        ms("2025-02-01T05:30"),
        file_cache=None,
    )
    assert got.rejected == 0 and len(got.klines) == 2 * 2518  # up to the last closed kline, 05:15
    assert int(got.klines.open_time.max()) == ms("2025-02-01T05:15")
    for f in ("sym", *KLINE_FIELDS, "closed"):
        assert np.array_equal(getattr(got.klines, f), getattr(ref.klines, f)), f


@pytest.mark.parametrize("body", [{"foo": 1}, [], {"serverTime": "abc"}, {"serverTime": None}])
async def test_a_server_time_answer_that_is_not_binances_is_a_clear_failure(ex, tmp_path, capsys, body):
    # a rest_url pointing at another service, or a proxy's own JSON: this was a KeyError,
    # TypeError or ValueError traceback
    ex.respond_next("GET", "time", body)
    code = await asyncio.to_thread(main_download, _args(tmp_path), make_cfg(ex.rest_url))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(
        "download failed: cannot reach the exchange: its answer to the time request is not "
    )
    assert "check binance.rest_url" in err[0]


@pytest.mark.parametrize("as_json", [False, True], ids=["html", "json-type"])
async def test_a_page_answered_for_the_time_request_is_said_as_such(ex, tmp_path, capsys, as_json):
    # a proxy or portal answering 200 with its page: "cannot reach the exchange:
    # BinanceRequestException" (or ContentTypeError), after six tries each said the same way
    for _ in range(3):  # the first try and the two retries of _args
        if as_json:  # a page sent as application/json: python-binance's "Invalid Response: <page>"
            ex.rewrite_next("GET", "time", lambda _a: "<html><body>Please log in</body></html>")
        else:
            ex.respond_next_html("GET", "time", 200, "<html><body>Please log in</body></html>")
    code = await asyncio.to_thread(main_download, _args(tmp_path, retries=2), make_cfg(ex.rest_url))
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.strip().splitlines()[-1] == (
        "download failed: cannot reach the exchange: an answer that is not Binance's JSON (a proxy's or a login "
        "page?); check binance.rest_url"
    )
    assert "log in" not in err and "BinanceRequestException" not in err


async def test_a_kline_answer_that_is_not_a_list_fails_instead_of_skipping_the_month(ex, tmp_path):
    # a JSON object with HTTP 200 ended the month's paging as if it were empty: the run said
    # "fetched 96 rows" with the month before the last one missing, and exit 0
    ex.respond_next("GET", "klines", {"code": 0, "msg": "proxy says no"})
    with pytest.raises(
        DownloadError, match=r"^BTCUSDT: the exchange sent a malformed page of klines \(a dict"
    ):
        await download_klines(
            make_cfg(ex.rest_url), ["BTCUSDT"], "15m", ms("2025-01-31"), None, tmp_path, sleep=no_sleep
        )
    assert not (tmp_path / "BTCUSDT").exists()


async def test_rows_repeated_in_a_page_are_counted_once(ex, tmp_path):
    # "fetched 1470 rows" with 1464 in the files: a row repeated in a page was kept once but counted twice
    for _ in range(3):  # (the download's first request may probe where the symbol's klines begin)
        ex.rewrite_next("GET", "klines", lambda rows: rows + rows[:6])
    summary = await download_klines(
        make_cfg(ex.rest_url), ["BTCUSDT"], "15m", ms("2025-01-31"), ms("2025-02-01"), tmp_path, sleep=no_sleep
    )
    got = load_klines(tmp_path, "15m", ["BTCUSDT"], file_cache=None)
    assert len(got.klines) == 96 and got.rejected == 0
    assert summary["rows"] == summary["symbols"]["BTCUSDT"]["rows"] == 96


async def test_a_network_failure_midway_says_the_files_are_kept_and_how_to_resume(ex, tmp_path, capsys):
    cfg = make_cfg(ex.rest_url)
    ex.drop_next("GET", "klines", times=10)  # the connection closed unanswered, every time
    code = await asyncio.to_thread(main_download, _args(tmp_path, retries=2), cfg)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1, err
    assert err[-1] == (
        "download failed: BTCUSDT: network failure after 2 attempts (ServerDisconnectedError); the files written "
        "so far are kept: run the same command again to resume"
    )


@pytest.mark.parametrize("n, pages", [(999, 1), (1000, 1), (1001, 2), (2000, 2)])
async def test_pages_of_1000_end_on_the_range_not_one_request_later(ex, tmp_path, n, pages):
    start = ms("2025-01-06")
    summary = await download_klines(
        make_cfg(ex.rest_url), ["BTCUSDT"], "15m", start, start + n * 900_000, tmp_path, sleep=no_sleep
    )
    reqs = [r for r in ex.requests if r.path == "klines" and "startTime" in r.params]  # not the probe
    assert [int(r.params["startTime"]) for r in reqs] == [start + k * 1000 * 900_000 for k in range(pages)]
    assert {int(r.params["endTime"]) for r in reqs} == {start + n * 900_000 - 1}
    rows = json.loads((tmp_path / "BTCUSDT" / "15m" / "2025-01-01.json").read_text())
    assert summary["rows"] == n and [r[0] for r in rows] == [start + k * 900_000 for k in range(n)]


async def test_a_folder_that_cannot_be_locked_is_downloaded_without_the_lock(
    ex, tmp_path, monkeypatch, caplog
):
    # some network and FUSE file systems refuse flock (ENOLCK, EOPNOTSUPP): a traceback would
    # stop every download there, for a guard against a rare second run
    import errno

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(dl.fcntl, "flock", no_locks)
    summary = await download_klines(
        make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN20, None, tmp_path, sleep=no_sleep
    )
    assert summary["rows"] > 0
    assert "cannot lock" in caplog.text and "No locks available" in caplog.text
    names = sorted(p.name for p in (tmp_path / "BTCUSDT" / "15m").iterdir())
    assert names == ["2025-01-01.json", "2025-02-01.json"]  # and no lock file left


async def test_unknown_symbols_are_refused_before_any_symbol_is_downloaded(ex, tmp_path):
    # a typo in the last of several symbols came out after the others had downloaded (hours of
    # 1m klines), and only the first unknown one was named
    with pytest.raises(DownloadArgError, match=r"^unknown symbols on the exchange: NOPEUSDT, XYZUSDT$"):
        await download_klines(
            make_cfg(ex.rest_url),
            ["BTCUSDT", "NOPEUSDT", "XYZUSDT"],
            "15m",
            JAN20,
            None,
            tmp_path,
            sleep=no_sleep,
        )
    assert list(tmp_path.iterdir()) == []
    probes = [r.params for r in ex.requests if r.path == "klines"]
    assert [p["symbol"] for p in probes] == ["BTCUSDT", "NOPEUSDT", "XYZUSDT"] and {
        p["limit"] for p in probes
    } == {"1"}


async def test_a_symbol_with_month_files_is_not_probed_again(ex, tmp_path):
    # the probe is for symbols new to the folder: a complete resume still makes no kline request
    cfg = make_cfg(ex.rest_url)
    await download_klines(cfg, ["BTCUSDT"], "15m", JAN20, ms("2025-01-27"), tmp_path, sleep=no_sleep)
    n0 = len(ex.requests)
    again = await download_klines(cfg, ["BTCUSDT"], "15m", JAN20, ms("2025-01-27"), tmp_path, sleep=no_sleep)
    assert again["resumed"] == 7 * 96 and [r.path for r in ex.requests[n0:]] == ["time"]


async def test_an_http_408_from_the_exchange_is_retried_as_the_timeout_it_is(ex, tmp_path):
    # Binance answers 408 when its backend timed out: a read to try again, not "exchange error"
    ex.fail_next(
        "GET", "klines", status=408, code=-1007, msg="Timeout waiting for response from backend server."
    )
    summary = await download_klines(
        make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN20, ms("2025-01-27"), tmp_path, sleep=no_sleep
    )
    assert summary["rows"] == 7 * 96
    assert [r.status for r in ex.requests if r.path == "klines"][:2] == [408, 200]


async def test_a_temp_file_left_by_a_killed_run_is_cleared_by_the_next(ex, tmp_path):
    # kill -9 in the middle of a month's write leaves its temp file (named after that process):
    # each such run added one for good
    folder = tmp_path / "BTCUSDT" / "15m"
    folder.mkdir(parents=True)
    stale = folder / ".2025-01-01.json.999999.part"
    stale.write_text('[\n  [1736121600000,"98363.61')
    other = folder / "notes.part"  # not ours: left alone
    other.write_text("keep")
    await download_klines(make_cfg(ex.rest_url), ["BTCUSDT"], "15m", JAN20, ms("2025-01-27"), tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["2025-01-01.json", "notes.part"]


async def test_klines_that_begin_after_the_start_or_end_before_the_end_are_noted(ex, tmp_path, capsys):
    # asking from 2024-12-01 for a series that begins 2025-01-06 (a later listing) or ends early
    # (a delisting) gave a bar estimated at 5,975 that completed at 2,519 and no word of why
    _with_halt(ex, "ETHUSDT", ms("2025-01-31"), ms("2025-03-01"))
    cfg = make_cfg(ex.rest_url)
    summary = await download_klines(cfg, ["BTCUSDT", "ETHUSDT"], "15m", ms("2024-12-01"), None, tmp_path)
    assert summary["symbols"]["BTCUSDT"]["first"] == ms("2025-01-06")
    assert summary["symbols"]["ETHUSDT"]["last"] == ms("2025-01-30T23:45")
    capsys.readouterr()
    assert (
        await asyncio.to_thread(
            main_download, _args(tmp_path, symbols="BTCUSDT,ETHUSDT", start="2024-12-01"), cfg
        )
        == 0
    )
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: the exchange has no 15m kline of BTCUSDT before 2025-01-06 00:00 UTC (listed then?)",
        "note: the exchange has no 15m kline of ETHUSDT before 2025-01-06 00:00 UTC (listed then?)",
        "note: the exchange has no 15m kline of ETHUSDT after 2025-01-30 23:45 UTC (delisted, or halted since?)",
    ]
