"""Fresh-eyes review of the live Binance feed's kline stream against the stand-in exchange: a
candle's in-progress updates (``x: false``) then its close, a close sent twice, event times out of
order, a close older than the newest one emitted, and a symbol written in lower case."""

from __future__ import annotations

import asyncio
import copy

import pytest
from exchange_standin import HOUR_MS, StandinExchange, SteerableClock, ms
from test_live27_feed import Collector, make_cfg

from tui_trader.market.binance import BinanceFeed

T0 = ms("2024-03-01T00:00:30")
C0 = ms("2024-03-01T00:00")  # the candle pushed here
STREAM = "btcusdt@kline_1h"


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.05), shared_data, tick_s=0.02).start()
    yield stand
    await stand.stop()


async def _started(ex: StandinExchange) -> tuple[BinanceFeed, Collector]:
    feed = BinanceFeed(make_cfg(ex, symbols=["BTCUSDT"]), ex.clock, close_grace_s=0.05, backoff_base_s=0.01)
    await asyncio.wait_for(feed.start(), 10)
    col = Collector(feed)
    await ex.wait_until(lambda: feed.health()["connected"] and len(col.prices) > 0, 10, "streaming")
    return feed, col


def _rows(col: Collector) -> list[tuple[int, int, float]]:
    return [(int(s), int(t), float(v)) for b in col.klines for s, t, v in zip(b.sym, b.open_time, b.taker_buy_base,
                                                                              strict=True)]


async def test_updates_then_a_close_sent_twice_emit_the_candle_once(ex):
    feed, col = await _started(ex)
    try:
        for k in range(3):  # the candle in progress, as Binance sends it every second or two
            ev = ex.kline_event("BTCUSDT", "1h", C0, False, ex.clock.now_ms() + k)
            assert await ex.push_raw(STREAM, ev) == 1
        await asyncio.sleep(0.1)
        assert _rows(col) == []  # no in-progress candle is emitted
        ex.clock.jump_to(C0 + HOUR_MS + 2_000)
        closed = ex.kline_event("BTCUSDT", "1h", C0, True)
        await ex.push_raw(STREAM, closed)
        await ex.wait_until(lambda: len(_rows(col)) >= 1, 5, "the closed candle")
        await ex.push_raw(STREAM, closed)  # the same close again
        older = copy.deepcopy(closed)
        older["E"] -= 500  # and again, stamped before the first
        await ex.push_raw(STREAM, older)
        await ex.wait_until(lambda: feed.duplicates_dropped >= 2, 5, "the copies dropped")
        row = ex.row("BTCUSDT", "1h", C0)
        assert _rows(col) == [(0, C0, float(row[9]))]  # k.V: the taker-buy base volume
        assert feed.counter.total == 0
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_a_close_older_than_the_newest_emitted_is_counted_late(ex):
    feed, col = await _started(ex)
    try:
        ex.clock.jump_to(C0 + HOUR_MS + 2_000)
        await ex.push_raw(STREAM, ex.kline_event("BTCUSDT", "1h", C0, True))
        await ex.wait_until(lambda: len(_rows(col)) >= 1, 5, "the closed candle")
        await ex.push_raw(STREAM, ex.kline_event("BTCUSDT", "1h", C0 - HOUR_MS, True))
        await ex.wait_until(lambda: feed.late_dropped >= 1, 5, "the late close counted")
        assert [t for _, t, _ in _rows(col)] == [C0]
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_a_kline_whose_symbol_is_in_lower_case_is_read(ex):
    feed, col = await _started(ex)
    try:
        ex.clock.jump_to(C0 + HOUR_MS + 2_000)
        ev = ex.kline_event("BTCUSDT", "1h", C0, True)
        ev["s"] = ev["k"]["s"] = "btcusdt"
        await ex.push_raw(STREAM, ev)
        await ex.wait_until(lambda: len(_rows(col)) >= 1, 5, "the closed candle")
        assert [t for _, t, _ in _rows(col)] == [C0]
        assert feed.counter.total == 0
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_a_gap_fill_answered_with_an_object_is_tried_again_not_taken_for_no_klines(ex):
    """A JSON object instead of the kline list (HTTP 200: a proxy's or gateway's answer, or ``{}``,
    which python-binance makes of an empty body) ended the gap fill as if the exchange had no
    klines there: the hours closed while the feed was away were never emitted, and the live
    klines went on after the hole. The downloader refused such a page; the feed now does too:
    the request is retried, and the gap is filled."""
    feed, col = await _started(ex)
    try:
        ex.clock.jump_to(C0 + HOUR_MS + 2_000)
        await ex.push_raw(STREAM, ex.kline_event("BTCUSDT", "1h", C0, True))
        await ex.wait_until(lambda: len(_rows(col)) >= 1, 5, "00:00")
        ex.clock.jump_to(C0 + 4 * HOUR_MS + 2_000)  # 01:00, 02:00 and 03:00 close while away
        ex.respond_next("GET", "klines", {})
        assert await ex.close_sockets() == 1
        await ex.wait_until(lambda: len(_rows(col)) >= 4, 10, "the gap filled")
        assert [t for _, t, _ in _rows(col)] == [C0 + k * HOUR_MS for k in range(4)]
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_history_answered_with_an_object_is_tried_again(ex):
    feed, _ = await _started(ex)
    try:
        ex.respond_next("GET", "klines", {"code": 0})
        hist = await asyncio.wait_for(feed.history(["BTCUSDT"], "1h", 5), 10)
        assert hist.open_time.tolist() == [C0 - k * HOUR_MS for k in range(5, 0, -1)]
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_one_silent_stream_among_flowing_ones_is_recreated_with_a_growing_back_off(ex):
    """A connection whose other streams flow but one kline stream is silent (a halted symbol) is
    recreated with a growing back-off (``stale_after_s * 2**strikes``), so one halted symbol does
    not make its connection - up to 1024 streams - churn. But every reconnect made each stream look
    fresh, and the watchdog took that for health and started the back-off over: the connection was
    recreated every ``stale_after_s`` for as long as the symbol stayed halted."""
    ex.muted.add("ethusdt@kline_1h")
    feed = BinanceFeed(make_cfg(ex, stale=0.2), ex.clock, close_grace_s=0.05, backoff_base_s=0.01)
    await asyncio.wait_for(feed.start(), 10)
    try:
        await ex.wait_until(lambda: feed.reconnects >= 3, 20, "three reconnects")
        conn = feed._conns[0]
        assert conn.last_reason.startswith("stale: 1 of 4 streams silent"), conn.last_reason
        assert conn.partial_strikes >= 3  # 0.2 s, then 0.4 s, then 0.8 s ...
        ex.muted.clear()  # the symbol trades again: a healthy connection starts over
        await ex.wait_until(lambda: conn.partial_strikes == 0, 10, "the back-off started over")
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_a_24h_ticker_answer_that_is_no_list_is_asked_again_not_an_empty_universe(ex):
    """Without a symbol list the feed ranks the 24 h tickers. A JSON object in their place (``{}``,
    python-binance's answer to an empty body) gave no tickers: the feed refused to start, the
    universe "empty", with the exchange's answer never asked for again."""
    ex.respond_next("GET", "ticker/24hr", {})
    feed = BinanceFeed(make_cfg(ex, symbols=[], universe={"top_n": 3, "quote_asset": "USDT"}), ex.clock,
                       backoff_base_s=0.01)
    try:
        await asyncio.wait_for(feed.start(), 10)
        assert len(feed.symbols) == 3
        assert len([r for r in ex.requests if r.path == "ticker/24hr"]) == 2
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_an_exchange_info_answer_without_symbols_is_asked_again(ex):
    """``{}`` for exchangeInfo (an empty body) made the feed refuse to start at once."""
    ex.respond_next("GET", "exchangeInfo", {})
    feed = BinanceFeed(make_cfg(ex, symbols=["BTCUSDT"]), ex.clock, backoff_base_s=0.01)
    try:
        await asyncio.wait_for(feed.start(), 10)
        assert feed.symbols == ["BTCUSDT"] and "BTCUSDT" in feed.filters()
        assert len([r for r in ex.requests if r.path == "exchangeInfo"]) == 2
    finally:
        await asyncio.wait_for(feed.stop(), 10)
