"""The live Binance feed's REST reads against the stand-in exchange: Binance's "execution status
unknown" answers with HTTP 400 are retried, and the end of an IP ban given in Binance's message is
read on the exchange's clock when the broker's clock check measured it."""

from __future__ import annotations

import asyncio
import os

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.market.binance import BinanceFeed, FeedError

T0 = ms("2024-03-01T00:00:30")


def make_cfg(ex: StandinExchange) -> Config:
    return Config.model_validate(
        {
            "feed": {"kind": "binance", "symbols": ["BTCUSDT"], "interval": "1h", "stale_after_s": 5.0},
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
        }
    )


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0, max_sleep_s=0.2), shared_data).start()
    yield stand
    await stand.stop()


@pytest.mark.parametrize(
    ("code", "msg"),
    [
        (
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
        (-1006, "An unexpected response was received from the message bus. Execution status unknown."),
    ],
)
async def test_an_unknown_outcome_answer_with_http_400_is_retried_for_a_read(ex, code, msg):
    feed = BinanceFeed(make_cfg(ex), ex.clock, backoff_base_s=0.05)
    await asyncio.wait_for(feed.start(), 10)
    try:
        ex.fail_next("GET", "klines", status=400, code=code, msg=msg)
        hist = await feed.history(["BTCUSDT"], "1h", 3)
        assert len(hist) == 3
        assert [r.status for r in ex.requests if r.path == "klines"] == [400, 200]
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_other_http_400_answers_are_not_retried(ex):
    feed = BinanceFeed(make_cfg(ex), ex.clock, backoff_base_s=0.05)
    await asyncio.wait_for(feed.start(), 10)
    try:
        ex.fail_next("GET", "klines", status=400, code=-1121, msg="Invalid symbol.")
        with pytest.raises(FeedError, match="-1121"):
            await feed.history(["BTCUSDT"], "1h", 3)
        assert [r.status for r in ex.requests if r.path == "klines"] == [400]
    finally:
        await asyncio.wait_for(feed.stop(), 10)


AHEAD_MS = 500_000  # this machine's clock runs 500 s ahead of the exchange's


async def _ban_answer(ex: StandinExchange, feed: BinanceFeed) -> None:
    """A 429 without Retry-After (a proxy dropped it) whose message ends the ban 600 s from the
    exchange's now: read on this machine's clock that looks like a 100 s wait."""
    until = ex.clock.now_ms() + 600_000
    ex.fail_next(
        "GET", "klines", status=429, code=-1003, msg=f"Way too many requests; IP banned until {until}."
    )


async def test_the_ban_end_is_read_on_the_exchange_clock_when_the_offset_is_known(ex):
    clock = SteerableClock(T0 + AHEAD_MS, max_sleep_s=0.2)
    feed = BinanceFeed(make_cfg(ex), clock, backoff_base_s=0.05)
    feed.use_server_clock(lambda: -AHEAD_MS)  # the broker's clock check: the exchange minus this clock
    await asyncio.wait_for(feed.start(), 10)
    try:
        await _ban_answer(ex, feed)
        with pytest.raises(FeedError, match="429"):
            await feed.history(["BTCUSDT"], "1h", 3)
        assert not [s for s in clock.sleeps if s > 1.0]  # no wait-and-ask-again inside the ban
        n = len(ex.requests)
        with pytest.raises(FeedError, match="banned"):
            await feed.history(["BTCUSDT"], "1h", 3)
        assert len(ex.requests) == n  # nothing sent while banned
        assert feed.health()["last_retry_after_s"] == pytest.approx(600.0, abs=2.0)
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_without_a_measured_offset_the_ban_end_is_read_on_this_clock(ex):
    clock = SteerableClock(T0 + AHEAD_MS, max_sleep_s=0.2)
    feed = BinanceFeed(make_cfg(ex), clock, backoff_base_s=0.05)
    feed.use_server_clock(lambda: None)  # not measured yet
    await asyncio.wait_for(feed.start(), 10)
    try:
        await _ban_answer(ex, feed)
        hist = await feed.history(["BTCUSDT"], "1h", 3)  # waited what this clock reads, then asked again
        assert len(hist) == 3
        assert feed.health()["last_retry_after_s"] == pytest.approx(100.0, abs=2.0)
    finally:
        await asyncio.wait_for(feed.stop(), 10)


def test_the_live_engine_gives_the_feed_the_brokers_clock_offset(monkeypatch, tmp_path):
    from tui_trader.runtime import build_engine

    monkeypatch.setitem(os.environ, "BINANCE_API_KEY", "k3y-PUBLIC-abc123XYZ")
    monkeypatch.setitem(os.environ, "BINANCE_API_SECRET", "s3cr3t-PRIVATE-987zyx")
    cfg = Config.model_validate(
        {"feed": {"kind": "binance", "symbols": ["BTCUSDT"]}, "broker": {"kind": "binance"}}
    )
    engine = build_engine(cfg, db_path=str(tmp_path / "book.db"), persist=False)
    feed, broker = engine.feed, engine.broker
    assert isinstance(feed, BinanceFeed)
    base = feed.clock.now_ms()
    assert abs(feed._exchange_now_ms() - base) < 60_000  # not measured: this clock
    broker.clock_offset_ms = -3_600_000
    assert abs(feed._exchange_now_ms() - (base - 3_600_000)) < 60_000


@pytest.fixture
async def eur_ex(shared_data):
    """BTCEUR and ETHEUR, and BTCAEUR: its name ends in EUR, yet it is quoted in AEUR (a stablecoin),
    with the largest volume of the three (the stand-in makes its extras look attractive)."""
    clock = SteerableClock(T0, max_sleep_s=0.2)
    stand = StandinExchange(clock, shared_data, symbols=("BTCEUR", "ETHEUR"), extra_symbols=("BTCAEUR",))
    btc = next(s for s in stand.exchange_info["symbols"] if s["symbol"] == "BTCEUR")
    aeur = dict(btc, symbol="BTCAEUR", quoteAsset="AEUR")
    stand.exchange_info["symbols"].append(aeur)
    stand._info_by_symbol["BTCAEUR"] = aeur
    await stand.start()
    yield stand
    await stand.stop()


def eur_cfg(ex: StandinExchange, symbols: list[str]) -> Config:
    return Config.model_validate(
        {
            "feed": {
                "kind": "binance",
                "symbols": symbols,
                "interval": "1h",
                "universe": {"quote_asset": "EUR", "top_n": 3},
            },
            "broker": {"quote_asset": "EUR"},
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
        }
    )


async def test_the_universe_takes_only_symbols_the_exchange_quotes_in_the_quote_asset(eur_ex):
    feed = BinanceFeed(eur_cfg(eur_ex, []), eur_ex.clock, backoff_base_s=0.05)
    await asyncio.wait_for(feed.start(), 10)
    try:
        assert sorted(feed.symbols) == ["BTCEUR", "ETHEUR"]
    finally:
        await asyncio.wait_for(feed.stop(), 10)


async def test_an_explicit_symbol_quoted_in_another_asset_is_refused_by_name(eur_ex):
    feed = BinanceFeed(eur_cfg(eur_ex, ["BTCEUR", "BTCAEUR"]), eur_ex.clock, backoff_base_s=0.05)
    with pytest.raises(FeedError, match=r"not quoted in EUR.*BTCAEUR \(quoted in AEUR\)"):
        await asyncio.wait_for(feed.start(), 10)
