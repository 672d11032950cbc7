"""The live Binance feed against the in-process stand-in exchange (real python-binance client).

The stand-in serves the real 2024 BTC/ETH/... klines; a :class:`SteerableClock` starting on
2024-03-01 lets the tests "live" through those hours (jumping the clock forward) while the
feed's watchdog runs on real (monotonic) time with short limits.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import aiohttp
import numpy as np
import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.market.binance import URL_LIMIT, BinanceFeed, FeedError, RestRetry, plan_connections
from tui_trader.market.feed import MarketFeed
from tui_trader.models import KlineBatch, PriceBatch

T0 = ms("2024-03-01T00:00:30")
H = 3_600_000
THREE = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def make_cfg(ex: StandinExchange, symbols: tuple[str, ...] = THREE, stale: float = 5.0, **feed: Any) -> Config:
    return Config.model_validate(
        {
            "feed": {"kind": "binance", "symbols": list(symbols), "interval": "1h", "stale_after_s": stale, **feed},
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
        }
    )


@pytest.fixture
async def ex(shared_data):
    clock = SteerableClock(T0, max_sleep_s=0.2)
    stand = await StandinExchange(clock, shared_data, extra_symbols=("BCCUSDT", "ETHBTC")).start()
    yield stand
    await stand.stop()


class Collector:
    """Consumes ``feed.events()`` in the background."""

    def __init__(self, feed: BinanceFeed) -> None:
        self.feed = feed
        self.klines: list[KlineBatch] = []
        self.prices: list[PriceBatch] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for ev in self.feed.events():
            (self.klines if isinstance(ev, KlineBatch) else self.prices).append(ev)

    def closed(self) -> list[tuple[str, int]]:
        """(symbol, open_time) of every emitted kline, in emission order."""
        syms = self.feed.symbols
        return [(syms[int(s)], int(t)) for b in self.klines for s, t in zip(b.sym, b.open_time, strict=True)]


@pytest.fixture
async def started():
    feeds: list[BinanceFeed] = []

    async def start(feed: BinanceFeed, connected: bool = True) -> Collector:
        feeds.append(feed)
        await asyncio.wait_for(feed.start(), 10)
        col = Collector(feed)
        if connected:  # streaming, so later clock jumps are "live"
            for _ in range(1000):
                if feed.health()["connected"]:
                    break
                await asyncio.sleep(0.01)
            assert feed.health()["connected"]
        return col

    yield start
    for f in feeds:
        await asyncio.wait_for(f.stop(), 10)


def assert_rows_equal(ex: StandinExchange, feed: BinanceFeed, batch: KlineBatch) -> None:
    """Every row of ``batch`` equals the stand-in's served row, field by field."""
    for i in range(len(batch)):
        sym = feed.symbols[int(batch.sym[i])]
        r = ex.row(sym, "1h", int(batch.open_time[i]))
        assert int(batch.close_time[i]) == r[6]
        got = [batch.open[i], batch.high[i], batch.low[i], batch.close[i], batch.volume[i], batch.quote_volume[i],
               batch.taker_buy_base[i]]
        want = [float(r[c]) for c in (1, 2, 3, 4, 5, 7, 9)]
        assert got == want, (sym, r[0])
        assert int(batch.trades[i]) == r[8]
        assert bool(batch.closed[i])


async def test_history_live_klines_and_prices_match_served_payloads(ex, started):
    # A long grace: the batch must be emitted because every symbol reported, not by timeout.
    feed = BinanceFeed(make_cfg(ex), ex.clock, close_grace_s=5.0, backoff_base_s=0.05)
    assert isinstance(feed, MarketFeed)
    col = await started(feed)
    assert feed.symbols == list(THREE)
    assert feed.filters()["BTCUSDT"].tick_size == Decimal("0.01")
    assert feed.filters()["BTCUSDT"].min_notional == Decimal("5")  # NOTIONAL filter of the ccxt extract

    hist = await feed.history(feed.symbols, "1h", 5)
    # 00:00 is still open at 00:00:30: the 5 closed ones are 19:00..23:00 of Feb 29, per symbol.
    want_times = [ms("2024-02-29T19:00") + k * H for k in range(5)]
    assert hist.open_time.tolist() == [t for t in want_times for _ in THREE]
    assert hist.sym.tolist() == [0, 1, 2] * 5
    assert_rows_equal(ex, feed, hist)

    ex.clock.jump_to(ms("2024-03-01T01:00:01"))
    for s in THREE:
        assert await ex.push_kline(s, "1h", ms("2024-03-01T00:00")) == 1
    await ex.wait_until(lambda: len(col.closed()) == 3, 5, "the closed 00:00 klines")
    assert len(col.klines) == 1  # one batch for the interval: all three symbols reported
    assert col.closed() == [(s, ms("2024-03-01T00:00")) for s in THREE]
    assert_rows_equal(ex, feed, col.klines[0])

    await ex.wait_until(lambda: len(col.prices) >= 2, 5, "mini-ticker prices")
    for pb in col.prices:
        assert sorted(pb.sym.tolist()) == [0, 1, 2]  # only our symbols out of the whole array
        for s, t, p in zip(pb.sym, pb.event_time, pb.price, strict=True):
            series = ex.series(THREE[int(s)], "1h")
            assert p == float(series.rows[series.index_at(int(t))][4])
    h = feed.health()
    assert h["connected"] and h["reconnects"] == 0 and h["rejected"] == 0
    assert set(h["streams"]) == {"!miniTicker@arr", "btcusdt@kline_1h", "ethusdt@kline_1h", "solusdt@kline_1h"}
    assert set(h["last_event_ms"]) == set(THREE)


async def test_klines_queued_before_history_are_not_delivered_twice(ex):
    feed = BinanceFeed(make_cfg(ex), ex.clock, close_grace_s=5.0)
    await asyncio.wait_for(feed.start(), 10)
    try:
        await ex.wait_until(lambda: feed.health()["connected"], 5, "connected")
        ex.clock.jump_to(ms("2024-03-01T01:00:01"))
        for s in THREE:  # closes before the engine asked for history: queued, not consumed
            await ex.push_kline(s, "1h", ms("2024-03-01T00:00"))
        await ex.wait_until(lambda: feed._out.qsize() > 0 and feed.health()["received"] > 3, 5, "queued close")
        hist = await feed.history(feed.symbols, "1h", 2)
        assert hist.open_time.max() == ms("2024-03-01T00:00")
        col = Collector(feed)
        ex.clock.jump_to(ms("2024-03-01T02:00:01"))
        for s in THREE:
            await ex.push_kline(s, "1h", ms("2024-03-01T01:00"))
        await ex.wait_until(lambda: len(col.closed()) >= 3, 5, "01:00")
        await asyncio.sleep(0.1)
        assert col.closed() == [(s, ms("2024-03-01T01:00")) for s in THREE]
        assert feed.health()["duplicates_dropped"] == 3
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_silent_stall_is_detected_marked_stale_and_recovered(ex, started):
    feed = BinanceFeed(make_cfg(ex, stale=0.5), ex.clock, backoff_base_s=0.4, close_grace_s=0.2,
                       rng=random.Random(1))
    col = await started(feed)
    await ex.wait_until(lambda: feed.health()["received"] > 5, 5, "first messages")
    first = ex.open_connections()
    assert len(first) == 1
    base = feed.health()["reconnects"]
    ex.stall()  # stays connected, answers pings, sends nothing
    await ex.wait_until(lambda: any(s["stale"] for s in feed.health()["streams"].values()), 5, "stale flag")
    await ex.wait_until(lambda: feed.health()["reconnects"] > base and feed.health()["connected"], 5, "reconnect")
    h = feed.health()
    assert h["connections"][0]["last_reason"].startswith("stale")
    assert not any(s["stale"] for s in h["streams"].values())
    assert first[0].closed or first[0].ws.closed  # the feed dropped the stalled socket
    new = ex.open_connections()
    assert len(new) == 1 and new[0] is not first[0]

    ex.clock.jump_to(ms("2024-03-01T01:00:01"))
    for s in THREE:
        await ex.push_kline(s, "1h", ms("2024-03-01T00:00"))
    await ex.wait_until(lambda: len(col.closed()) == 3, 5, "events after recovery")


async def test_gap_after_reconnect_is_backfilled_in_order_without_duplicates(ex, started):
    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, backoff_base_s=0.05, close_grace_s=0.3)
    col = await started(feed)
    t = [ms("2024-03-01T00:00") + k * H for k in range(5)]
    ex.clock.jump_to(t[1] + 1000)
    for s in THREE:
        await ex.push_kline(s, "1h", t[0])
    await ex.wait_until(lambda: len(col.closed()) == 3, 5, "00:00")

    # The connection drops; 01:00, 02:00 and 03:00 close while the feed is away (never pushed live).
    ex.clock.jump_to(t[4] + 1000)
    assert await ex.close_sockets() == 1
    await ex.wait_until(lambda: len(col.closed()) == 12, 5, "gap fill")
    assert feed.health()["backfilled"] == 9
    assert feed.health()["reconnects"] == 1
    # Binance re-sends 03:00 live after the reconnect (a duplicate), then 04:00 closes.
    await ex.wait_until(lambda: len(ex.open_connections()) == 1, 5, "new connection")
    for s in THREE:
        await ex.push_kline(s, "1h", t[3])
    ex.clock.jump_to(t[4] + H + 1000)
    for s in THREE:
        await ex.push_kline(s, "1h", t[4])
    await ex.wait_until(lambda: len(col.closed()) >= 15, 5, "04:00")
    await asyncio.sleep(0.4)  # past the close grace: nothing else may come

    for s in THREE:
        assert [ot for sym, ot in col.closed() if sym == s] == t  # every hour once, in order
    assert [ot for _, ot in col.closed()] == sorted(ot for _, ot in col.closed())
    assert feed.health()["duplicates_dropped"] == 3
    assert feed.health()["rejected"] == 0
    for b in col.klines:
        assert_rows_equal(ex, feed, b)
    backfill_reqs = [r for r in ex.requests if r.path == "klines" and "startTime" in r.params]
    assert sorted(int(r.params["startTime"]) for r in backfill_reqs) == [t[1]] * 3


async def test_garbage_is_rejected_counted_and_never_raised(ex, started):
    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, backoff_base_s=0.05, close_grace_s=0.2)
    col = await started(feed)
    await ex.wait_until(lambda: feed.health()["received"] > 3, 5, "first messages")
    ex.clock.jump_to(ms("2024-03-01T01:00:01"))
    t0 = ms("2024-03-01T00:00")
    stream = "btcusdt@kline_1h"

    good = ex.kline_event("BTCUSDT", "1h", t0, closed=True)
    wrong_type = ex.kline_event("BTCUSDT", "1h", t0, closed=True)
    wrong_type["k"]["o"] = True
    no_k = {key: v for key, v in good.items() if key != "k"}
    inverted = ex.kline_event("BTCUSDT", "1h", t0, closed=True)
    inverted["k"]["h"], inverted["k"]["l"] = inverted["k"]["l"], inverted["k"]["h"]
    mini_bad = ex.mini_ticker_array()
    mini_bad[0]["c"] = "not-a-number"
    mini_neg = ex.mini_ticker_array()
    mini_neg[1]["c"] = "-3.5"

    await ex.push_raw(stream, "this is {not json")
    await ex.push_raw(stream, 42)
    await ex.push_raw(stream, wrong_type)
    await ex.push_raw(stream, no_k)
    await ex.push_raw(stream, inverted)
    await ex.push_raw(stream, {"stream": "nosuch@kline_1h", "data": good}, envelope=False)
    await ex.push_raw("!miniTicker@arr", mini_bad)
    await ex.push_raw("!miniTicker@arr", mini_neg)
    # non-JSON, no "k", unknown stream, unparsable price | an int payload, a bool price
    want = {"malformed": 4, "bad_type": 2, "high_below_low": 1, "non_positive_price": 1}
    await ex.wait_until(lambda: feed.health()["rejected"] >= 8, 5, "rejections")
    h = feed.health()
    assert h["rejected_by_reason"] == want
    assert h["rejected"] == 8
    assert h["reconnects"] == 0 and h["connected"]  # garbage does not cost the connection

    # A valid close of the same candle still goes through afterwards.
    for s in THREE:
        await ex.push_kline(s, "1h", t0)
    await ex.wait_until(lambda: len(col.closed()) == 3, 5, "valid klines after garbage")
    assert_rows_equal(ex, feed, col.klines[0])


async def test_numbers_beyond_int64_are_rejected_without_costing_the_connection(ex, started):
    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, backoff_base_s=0.05, close_grace_s=0.2)
    col = await started(feed)
    await ex.wait_until(lambda: feed.health()["received"] > 3, 5, "first messages")
    ex.clock.jump_to(ms("2024-03-01T01:00:01"))
    t0 = ms("2024-03-01T00:00")
    # ... and integers beyond any float (a JSON number of 400 digits) in a price, a count, a time
    for key, value in (("n", 10**30), ("t", "1e19"), ("T", 1e20), ("o", 10**400), ("n", 10**400), ("t", 10**400)):
        bad = ex.kline_event("BTCUSDT", "1h", t0, closed=True)
        bad["k"][key] = value
        await ex.push_raw("btcusdt@kline_1h", bad)
    for key in ("c", "E"):
        mini = ex.mini_ticker_array()
        mini[0][key] = 10**400
        await ex.push_raw("!miniTicker@arr", mini)
    await ex.wait_until(lambda: feed.health()["rejected"] >= 8, 5, "rejections")
    h = feed.health()
    assert h["rejected_by_reason"] == {"malformed": 8}
    assert h["reconnects"] == 0 and h["connected"]
    for s in THREE:
        await ex.push_kline(s, "1h", t0)
    await ex.wait_until(lambda: len(col.closed()) == 3, 5, "valid klines after the bad ones")
    assert feed.health()["reconnects"] == 0


async def test_a_closed_kline_from_the_future_is_rejected_and_does_not_block_the_symbol(ex, started):
    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, backoff_base_s=0.05, close_grace_s=0.2)
    col = await started(feed)
    await ex.wait_until(lambda: feed.health()["received"] > 3, 5, "first messages")
    t0 = ms("2024-03-01T00:00")
    ex.clock.jump_to(t0 + H + 1000)
    future = ex.kline_event("BTCUSDT", "1h", t0, closed=True)
    future["k"]["t"], future["k"]["T"] = t0 + 1000 * H, t0 + 1001 * H - 1  # ~41 days ahead, otherwise valid
    off_grid = ex.kline_event("BTCUSDT", "1h", t0, closed=True)
    off_grid["k"]["t"] += 1000  # not on the hour
    short = ex.kline_event("BTCUSDT", "1h", t0, closed=True)
    short["k"]["T"] -= 60_000  # closes before the hour is over
    for bad in (future, off_grid, short):
        await ex.push_raw("btcusdt@kline_1h", bad)
    await ex.wait_until(lambda: feed.health()["rejected"] >= 3, 5, "rejections")
    assert feed.health()["rejected_by_reason"] == {"bad_time": 3}
    for k in range(3):
        ex.clock.jump_to(t0 + (k + 1) * H + 1000)
        for s in THREE:
            await ex.push_kline(s, "1h", t0 + k * H)
        await ex.wait_until(lambda k=k: len(col.closed()) == 3 * (k + 1), 5, f"hour {k}")
    assert [ot for sym, ot in col.closed() if sym == "BTCUSDT"] == [t0, t0 + H, t0 + 2 * H]
    h = feed.health()
    assert h["rejected"] == 3 and h["duplicates_dropped"] == 0 and h["late_dropped"] == 0
    # A real kline that arrives after a newer one was emitted is counted, not silently dropped.
    await ex.push_kline("BTCUSDT", "1h", t0)
    await ex.wait_until(lambda: feed.health()["late_dropped"] == 1, 5, "late kline counted")
    assert [ot for sym, ot in col.closed() if sym == "BTCUSDT"] == [t0, t0 + H, t0 + 2 * H]


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (418, 2)])
async def test_rest_rate_limit_waits_retry_after_then_succeeds(ex, started, status, retry_after):
    feed = BinanceFeed(make_cfg(ex), ex.clock, backoff_base_s=0.05)
    await started(feed)
    ex.fail_next("GET", "klines", status=status, code=-1003, retry_after=retry_after)
    n_sleeps = len(ex.clock.sleeps)
    hist = await feed.history(["BTCUSDT"], "1h", 3)
    assert len(hist) == 3
    assert_rows_equal(ex, feed, hist)
    kl = [r for r in ex.requests if r.path == "klines"]
    assert [r.status for r in kl] == [status, 200]
    assert float(retry_after) in ex.clock.sleeps[n_sleeps:]
    h = feed.health()
    assert h["rate_limited"] == 1 and h["last_retry_after_s"] == float(retry_after)


async def test_ip_ban_is_not_retried_and_blocks_requests_until_it_ends(ex, started):
    feed = BinanceFeed(make_cfg(ex), ex.clock, backoff_base_s=0.05)
    await started(feed)
    ex.fail_next("GET", "klines", status=418, code=-1003, msg="Way too many requests; IP banned.", retry_after=900)
    with pytest.raises(FeedError, match="418"):
        await feed.history(["BTCUSDT"], "1h", 3)
    n = len(ex.requests)
    with pytest.raises(FeedError, match="banned"):
        await feed.history(["BTCUSDT"], "1h", 3)
    assert len(ex.requests) == n  # nothing sent while banned
    assert 900.0 not in ex.clock.sleeps


async def test_unreachable_exchange_fails_start_with_a_clear_error(ex):
    cfg = make_cfg(ex)
    cfg.binance.rest_url = "http://127.0.0.1:9"  # nothing listens there
    feed = BinanceFeed(cfg, ex.clock, rest_attempts=1)
    with pytest.raises(FeedError, match="cannot start the Binance feed") as err:
        await asyncio.wait_for(feed.start(), 10)
    # what failed, and where: the host and port and the system's reason (no URL: they carry signatures)
    assert "cannot connect to 127.0.0.1:9 (" in str(err.value), err.value


async def test_streams_split_across_connections_at_the_limit(shared_data, started):
    clock = SteerableClock(T0, max_sleep_s=0.2)
    five = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT")
    async with StandinExchange(clock, shared_data, max_streams=3) as ex:
        feed = BinanceFeed(make_cfg(ex, five, stale=5.0), clock, max_streams_per_connection=3, close_grace_s=5.0)
        col = await started(feed)
        await ex.wait_until(lambda: len(ex.open_connections()) == 2, 5, "two connections")
        conns = ex.open_connections()
        assert all(len(c.streams) <= 3 for c in conns)
        assert sorted(s for c in conns for s in c.streams) == sorted(
            ["!miniTicker@arr"] + [f"{s.lower()}@kline_1h" for s in five]
        )
        clock.jump_to(ms("2024-03-01T01:00:01"))
        for s in five:
            assert await ex.push_kline(s, "1h", ms("2024-03-01T00:00")) == 1
        await ex.wait_until(lambda: len(col.closed()) == 5, 5, "klines from both connections")
        assert len(col.klines) == 1  # grouped across connections
        assert_rows_equal(ex, feed, col.klines[0])
        await asyncio.wait_for(feed.stop(), 10)


async def test_stop_is_bounded_with_a_stalled_socket_and_a_hanging_rest_call(ex):
    feed = BinanceFeed(make_cfg(ex, stale=0.3), ex.clock, backoff_base_s=0.05)
    await asyncio.wait_for(feed.start(), 10)
    col = Collector(feed)
    await ex.wait_until(lambda: feed.health()["received"] > 3, 5, "first messages")
    # The next gap fill hangs (REST answers after 30 s); the socket goes silent.
    ex.clock.jump_to(ms("2024-03-01T03:00:01"))
    ex.delay_next("GET", "klines", 30.0, times=10)
    ex.stall()
    await ex.wait_until(lambda: feed.health()["connections"][0]["state"] == "backfilling", 5, "hanging gap fill")
    await asyncio.wait_for(feed.stop(), 6.0)
    await asyncio.wait_for(col.task, 2.0)  # events() ends after stop
    assert feed.health()["connections"][0]["state"] == "stopped"
    await asyncio.wait_for(feed.stop(), 1.0)  # idempotent


async def test_universe_is_the_top_tradable_quote_pairs_by_volume(ex, started):
    cfg = make_cfg(ex, symbols=(), universe={"top_n": 3, "quote_asset": "USDT"})
    feed = BinanceFeed(cfg, ex.clock)
    await started(feed)
    async with aiohttp.ClientSession() as s, s.get(ex.rest_url + "/api/v3/ticker/24hr") as r:
        tickers = await r.json()
    usdt_trading = [t for t in tickers if t["symbol"] in ex.symbols]
    want = [t["symbol"] for t in sorted(usdt_trading, key=lambda t: -float(t["quoteVolume"]))[:3]]
    assert feed.symbols == want
    # BCCUSDT (status BREAK) and ETHBTC (other quote) have the largest volumes but are excluded.
    top_any = max(tickers, key=lambda t: float(t["quoteVolume"]))["symbol"]
    assert top_any in ("BCCUSDT", "ETHBTC") and top_any not in feed.symbols


async def test_unknown_explicit_symbol_fails_start_clearly(ex):
    feed = BinanceFeed(make_cfg(ex, ("BTCUSDT", "NOPEUSDT")), ex.clock)
    with pytest.raises(FeedError, match="NOPEUSDT"):
        await asyncio.wait_for(feed.start(), 10)


async def test_refused_handshakes_reconnect_with_exponential_backoff(ex, started):
    ex.refuse_ws(3)
    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, backoff_base_s=0.05, rng=random.Random(3))
    await started(feed, connected=False)
    await ex.wait_until(lambda: feed.health()["connected"], 10, "connection after refusals")
    assert ex.handshakes == 4
    waits = ex.clock.sleeps[:3]
    for k, w in enumerate(waits):
        assert 0.05 * 2**k * 0.5 <= w <= 0.05 * 2**k  # full-range jitter on an exponential base
    assert waits[2] > waits[0]


async def test_planned_reconnect_before_the_connection_age_limit(ex, started):
    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, max_connection_age_s=0.5, backoff_base_s=0.05)
    await started(feed)
    await ex.wait_until(lambda: feed.health()["planned_reconnects"] >= 1 and feed.health()["connected"], 5,
                        "planned reconnect")
    assert feed.health()["connections"][0]["last_reason"] == "connection age limit"
    assert ex.handshakes >= 2
    assert 0.0 in ex.clock.sleeps  # no back-off for a planned reconnect


async def test_queue_overflow_during_gap_fill_recreates_the_socket(ex, started):
    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, max_queue_size=3, backoff_base_s=0.05,
                       close_grace_s=0.2)
    col = await started(feed)
    await ex.wait_until(lambda: feed.health()["connected"], 5, "connected")
    ex.clock.jump_to(ms("2024-03-01T02:00:01"))
    ex.delay_next("GET", "klines", 0.6, times=3)  # python-binance's queue fills while we backfill
    await ex.close_sockets()
    await ex.wait_until(lambda: feed.health()["reconnects"] >= 2, 8, "recreate after overflow")
    assert "read loop closed" in [c["last_reason"] for c in feed.health()["connections"]]
    await ex.wait_until(lambda: feed.health()["connected"], 8, "recovered")
    await ex.wait_until(lambda: len(col.closed()) == 6, 5, "gap fill of 00:00 and 01:00")
    assert sorted(col.closed()) == sorted((s, ms("2024-03-01T00:00") + k * H) for s in THREE for k in range(2))
    assert np.all(np.diff([ot for _, ot in col.closed()]) >= 0)


async def test_a_price_stamped_in_the_future_is_rejected_and_does_not_freeze_the_symbol(ex, started):
    # a price is kept only if no newer one is held: one stamped years ahead (a garbled event
    # time) would have outranked every real price of its symbol after it
    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, backoff_base_s=0.05, close_grace_s=0.2)
    col = await started(feed)
    await ex.wait_until(lambda: len(col.prices) > 0, 5, "first prices")
    now = ex.clock.now_ms()
    bad = ex.mini_ticker_array()
    btc = next(i for i, it in enumerate(bad) if it["s"] == "BTCUSDT")
    bad[btc]["E"] = now + 10 * 365 * 86_400_000
    bad[btc]["c"] = "1.00"
    await ex.push_raw("!miniTicker@arr", bad)
    await ex.wait_until(lambda: feed.health()["rejected"] >= 1, 5, "rejection")
    assert feed.health()["rejected_by_reason"] == {"bad_time": 1}
    seen = len(col.prices)
    await ex.push_raw("!miniTicker@arr", ex.mini_ticker_array())
    await ex.wait_until(lambda: len(col.prices) > seen, 5, "the next prices")
    i = feed.symbols.index("BTCUSDT")
    got = [(int(t), float(p)) for b in col.prices for s, t, p in zip(b.sym, b.event_time, b.price, strict=True)
           if s == i]
    assert all(t <= now + 600_000 for t, _ in got) and 1.0 not in [p for _, p in got]
    assert feed.health()["reconnects"] == 0


def test_back_off_after_hours_of_failed_reconnects_stays_at_its_cap():
    # 2**attempt passed the largest float after ~1024 failures in a row (8.5 h of an outage at
    # 30 s each): OverflowError ended the connection's supervisor, which never reconnected again
    cfg = Config.model_validate({"feed": {"kind": "binance", "symbols": ["BTCUSDT"]}})
    feed = BinanceFeed(cfg, SteerableClock(0), backoff_base_s=0.5, backoff_max_s=30.0, rng=random.Random(3))
    for attempt in (0, 6, 1023, 1024, 5000, 10**6):
        delay = feed._backoff(attempt)
        assert (0.25 <= delay <= 0.5) if attempt == 0 else (15.0 <= delay <= 30.0), (attempt, delay)
    retry = RestRetry(asyncio.sleep, attempts=2000, base_s=0.5, max_s=30.0, rng=random.Random(3))
    assert 15.0 <= retry.backoff(1999) <= 30.0  # `data download --retries 2000`


def test_connection_plan_respects_stream_count_and_url_length():
    streams = ["!miniTicker@arr"] + [f"sym{i:04d}usdt@kline_1m" for i in range(2000)]
    plan = plan_connections(streams, 1024)
    assert [s for c in plan for s in c] == streams  # order kept, nothing lost
    for c in plan:
        assert len(c) <= 1024
        assert len("wss://stream.binance.com:9443/stream?streams=" + "/".join(c)) <= URL_LIMIT
    assert len(plan) > 2  # the URL limit, not the 1024 count, decided here
    assert plan_connections(streams[:7], 3) == [streams[0:3], streams[3:6], streams[6:7]]
