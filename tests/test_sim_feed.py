"""The simulated market feed: determinism, event shape, clock, history continuity, statistics."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np
import pytest

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.market.feed import MarketFeed
from tui_trader.market.sim import (
    DEFAULT_START_MS,
    YIELD_EVERY_STEPS,
    SimFeed,
    SimMarket,
    generate_symbol_names,
    parse_speed,
)
from tui_trader.market.validation import RejectCounter, validate_kline_batch, validate_price_batch
from tui_trader.models import KlineBatch, PriceBatch

MIN = 60_000


async def collect(feed: SimFeed) -> list[KlineBatch | PriceBatch]:
    return [ev async for ev in feed.events()]


def make(seed: int = 42, n: int = 12, klines: int = 5, warmup: int = 30, **kw) -> tuple[SimFeed, ManualClock]:
    clock = ManualClock()
    feed = SimFeed(Config(), clock, n_symbols=n, seed=seed, speed="max", max_klines=klines,
                   warmup_klines=warmup, **kw)
    return feed, clock


def _arrays(events: list) -> list[np.ndarray]:
    out = []
    for ev in events:
        if isinstance(ev, KlineBatch):
            out += [ev.open_time, ev.open, ev.high, ev.low, ev.close, ev.volume, ev.quote_volume,
                    ev.taker_buy_base, ev.trades]
        else:
            out += [ev.event_time, ev.price, ev.open_24h, ev.quote_volume_24h]
    return out


async def test_implements_protocol_and_event_shape() -> None:
    feed, clock = make(klines=3)
    assert isinstance(feed, MarketFeed) and feed.kind == "sim" and feed.interval_ms == MIN
    await feed.start()
    assert clock.now_ms() == DEFAULT_START_MS  # 2025-01-01T00:00Z, not wall time
    assert len(feed.symbols) == 12 and len(set(feed.symbols)) == 12
    evs = await collect(feed)
    tpk = Config().feed.sim.ticks_per_kline
    assert len(evs) == 3 * (tpk + 1)
    for k in range(3):
        group = evs[k * (tpk + 1) : (k + 1) * (tpk + 1)]
        assert all(isinstance(e, PriceBatch) for e in group[:-1]) and isinstance(group[-1], KlineBatch)
        kb = group[-1]
        assert kb.closed.all() and kb.sym.tolist() == list(range(12))
        assert (kb.open_time == DEFAULT_START_MS + k * MIN).all()
        assert (kb.close_time == kb.open_time + MIN - 1).all()
        for pb in group[:-1]:  # intra-candle prices lie inside the candle
            assert kb.open_time[0] < pb.event_time[0] < kb.close_time[0]
            assert np.all((pb.price >= kb.low) & (pb.price <= kb.high))
    assert clock.now_ms() == DEFAULT_START_MS + 3 * MIN


async def test_clock_is_advanced_to_each_event_before_it_is_yielded() -> None:
    feed, clock = make(klines=2)
    seen = []
    async for ev in feed.events():
        t = int(ev.event_time[0]) if isinstance(ev, PriceBatch) else int(ev.close_time[0]) + 1
        seen.append((t, clock.now_ms()))
    assert all(t == now for t, now in seen)
    assert [t for t, _ in seen] == sorted(t for t, _ in seen)


async def test_same_seed_same_data_different_seed_different() -> None:
    a = _arrays(await collect(make(seed=7)[0]))
    b = _arrays(await collect(make(seed=7)[0]))
    c = _arrays(await collect(make(seed=8)[0]))
    assert len(a) == len(b) and all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x, y, equal_nan=True) for x, y in zip(a, c, strict=True) if x.dtype.kind == "f")


async def test_pacing_never_changes_the_data() -> None:
    fast = _arrays(await collect(make(klines=2)[0]))
    clock = ManualClock()
    paced = SimFeed(Config(), clock, n_symbols=12, seed=42, speed=600_000.0, max_klines=2, warmup_klines=30)
    slow = _arrays(await collect(paced))
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(fast, slow, strict=True))


async def test_a_kline_tap_sees_every_kline_ahead_and_changes_nothing() -> None:
    """tap_klines: each closed batch reaches the tap `lookahead` intervals before it is yielded,
    identical to it; the events, their times and the clock are those of a feed without a tap."""
    plain, plain_clock = make(klines=7)
    want = await collect(plain)
    feed, clock = make(klines=7)
    tapped: list[KlineBatch] = []
    yielded = 0  # closed batches yielded so far, when each tapped one arrives
    feed.tap_klines(lambda kb: tapped.append((yielded, kb)), lookahead=3)
    got = []
    async for ev in feed.events():
        t = int(ev.event_time[0]) if isinstance(ev, PriceBatch) else int(ev.close_time[0]) + 1
        assert clock.now_ms() == t
        got.append(ev)
        if isinstance(ev, KlineBatch):
            yielded += 1
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(_arrays(got), _arrays(want), strict=True))
    assert clock.now_ms() == plain_clock.now_ms()
    klines = [ev for ev in got if isinstance(ev, KlineBatch)]
    assert len(tapped) == len(klines) == 7  # max_klines bounds the look-ahead too
    for k, (seen_before, kb) in enumerate(tapped):
        assert seen_before == max(0, k - 3)  # made 3 intervals before the engine gets it
        assert kb is klines[k]
    assert feed.open_times_left() == 0
    with pytest.raises(ValueError, match="lookahead"):
        feed.tap_klines(tapped.append, lookahead=0)


async def test_events_obey_the_validation_rules() -> None:
    feed, _ = make(n=60, klines=40)
    await feed.start()
    n = len(feed.symbols)
    last = np.full(n, -1, dtype=np.int64)
    c = RejectCounter()
    rows = 0
    async for ev in feed.events():
        if isinstance(ev, KlineBatch):
            assert len(validate_kline_batch(ev, n, last, c)) == n
        else:
            assert len(validate_price_batch(ev, n, c)) == n
        rows += len(ev)
    assert c.total == 0 and feed.health()["rejected"] == 0
    assert (last == DEFAULT_START_MS + 39 * MIN).all()
    assert feed.health()["received"] == rows


async def test_history_is_continued_by_the_live_stream() -> None:
    feed, clock = make(klines=1, warmup=50)
    await feed.start()
    h = await feed.history(feed.symbols, "1m", 10)
    assert len(h) == 10 * 12
    assert np.all(np.diff(h.open_time) >= 0)
    assert h.open_time[0] == DEFAULT_START_MS - 10 * MIN and h.open_time[-1] == DEFAULT_START_MS - MIN
    assert h.close_time.max() < clock.now_ms()  # all closed before "now"
    first_live = [e async for e in feed.events()][-1]
    assert isinstance(first_live, KlineBatch)
    last_hist_close = h.close[h.open_time == DEFAULT_START_MS - MIN]
    assert np.array_equal(first_live.open, last_hist_close)  # the process continues
    # more than the warm-up is capped; a subset of symbols; wrong interval refused
    assert len(await feed.history(feed.symbols[:3], "1m", 1000)) == 50 * 3
    with pytest.raises(ValueError, match="1h"):
        await feed.history(feed.symbols, "1h", 5)


async def test_history_regenerated_when_too_big_to_keep(monkeypatch) -> None:
    kept, _ = make(warmup=40)
    await kept.start()
    monkeypatch.setattr(SimFeed, "RECORD_WARMUP_ROWS", 0)
    regen, _ = make(warmup=40)
    await regen.start()
    a = await kept.history(kept.symbols[2:5], "1m", 25)
    b = await regen.history(regen.symbols[2:5], "1m", 25)
    assert regen._warmup is None and kept._warmup is not None
    assert len(a) == 75 and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("sym", "open_time", "close"))
    assert a.sym.tolist()[:3] == [2, 3, 4]


@pytest.mark.parametrize("record", [True, False])
async def test_anchor_prices_continue_the_process_from_them(monkeypatch, record: bool) -> None:
    """A resumed sim (anchor_prices) continues from the given prices: the warm-up history ends at
    them, the first live candle opens at them, and the moves after are the unanchored process's."""
    if not record:
        monkeypatch.setattr(SimFeed, "RECORD_WARMUP_ROWS", 0)  # history() regenerates, rescaled alike
    plain, _ = make(klines=20, warmup=40)
    await plain.start()
    anchored, _ = make(klines=20, warmup=40)
    f = plain.filters()
    names = plain.symbols
    tick = {s: float(f[s].tick_size) for s in names}
    per_unit = {s: round(1 / f[s].tick_size) for s in names}  # prices on the tick grid, as stored ones read
    want = {s: 1000 * (k + 3) / per_unit[s] for k, s in enumerate(names[:-1])}  # the last: no anchor
    anchored.anchor_prices = want
    await anchored.start()
    h = await anchored.history(names, "1m", 40)
    last = h.close[h.open_time == DEFAULT_START_MS - MIN]
    assert last[:-1].tolist() == list(want.values())
    ph = await plain.history(names, "1m", 40)
    assert last[-1] == ph.close[ph.open_time == DEFAULT_START_MS - MIN][-1]  # not anchored: unchanged
    assert (await anchored.history(names, "1m", 40)).quote_volume.tolist() == ph.quote_volume.tolist()
    kb_a = [e for e in await collect(anchored) if isinstance(e, KlineBatch)]
    kb_p = [e for e in await collect(plain) if isinstance(e, KlineBatch)]
    assert kb_a[0].open[:-1].tolist() == list(want.values())
    ra = np.log(np.array([b.close for b in kb_a]) / kb_a[0].open)
    rp = np.log(np.array([b.close for b in kb_p]) / kb_p[0].open)
    tick_rel = np.array([tick[s] for s in names]) / np.array([b.close for b in kb_a]).min(axis=0)
    assert np.all(np.abs(ra - rp) <= 3 * tick_rel)  # the same returns, up to the tick rounding
    validate = RejectCounter()
    for b in kb_a:
        assert len(validate_kline_batch(b, len(names), np.full(len(names), -1, dtype=np.int64), validate)) == len(b)


@pytest.mark.parametrize("record", [True, False])
async def test_a_long_warm_up_gives_the_event_loop_turns(monkeypatch, record: bool) -> None:
    # 3,000 symbols took ~4 s in start() and history() without one turn: the console drew nothing
    if not record:
        monkeypatch.setattr(SimFeed, "RECORD_WARMUP_ROWS", 0)  # history() regenerates the steps
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    feed = SimFeed(Config(), ManualClock(), n_symbols=8, seed=3, speed="max", warmup_klines=160)
    ticker = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    await feed.start()
    after_start = turns
    hist = await feed.history(feed.symbols, feed.interval, 50)
    ticker.cancel()
    assert after_start >= 160 // YIELD_EVERY_STEPS
    assert turns - after_start >= (0 if record else 160 // YIELD_EVERY_STEPS)
    again = SimFeed(Config(), ManualClock(), n_symbols=8, seed=3, speed="max", warmup_klines=160)
    await again.start()
    same = await again.history(again.symbols, again.interval, 50)  # no other task: the same klines
    np.testing.assert_array_equal(hist.close, same.close)
    assert len(hist) == 8 * 50


async def test_prices_scales_and_filters() -> None:
    feed, _ = make(n=40, klines=1)
    await feed.start()
    kb = [e async for e in feed.events()][-1]
    s = feed.symbols
    assert s[:2] == ["BTCUSDT", "ETHUSDT"] and all(x.endswith("USDT") and x.isalnum() for x in s)
    price = dict(zip(s, kb.close.tolist(), strict=True))
    assert 30_000 < price["BTCUSDT"] < 120_000 and 1_500 < price["ETHUSDT"] < 6_000
    gen = np.array([price[x] for x in s[10:]])
    assert gen.min() >= 1e-5 and gen.max() <= 2_000 and gen.max() / gen.min() > 100
    f = feed.filters()
    assert set(f) == set(s)
    for i, name in enumerate(s):  # prices sit on the tick grid of the symbol's filters
        tick = float(f[name].tick_size)
        assert abs(kb.close[i] / tick - round(kb.close[i] / tick)) < 1e-6
        assert f[name].min_notional == Decimal(5)
    qv_day = kb.quote_volume * 1440
    assert qv_day[0] > 1e8 and np.median(qv_day) > 1e6  # realistic daily quote volumes
    assert (kb.trades >= 1).all()


async def test_every_price_read_as_a_decimal_is_on_the_tick() -> None:
    # as Binance's price strings parse: the engine reads a float price through its repr, so
    # 0.014665999999999998 (k * tick, an ulp off 0.014666) rounded down to the tick for a sell
    # would fill a whole tick below the price shown
    feed, _ = make(n=60, klines=5)
    await feed.start()
    f = feed.filters()
    tick = [f[s].tick_size for s in feed.symbols]
    evs = await collect(feed)
    seen = 0
    for ev in evs:
        fields = (ev.open, ev.high, ev.low, ev.close) if isinstance(ev, KlineBatch) else (ev.price,)
        for col in fields:
            for i, p in zip(ev.sym.tolist(), col.tolist(), strict=True):
                assert Decimal(repr(p)) % tick[i] == 0, (feed.symbols[i], p, tick[i])
                seen += 1
    assert seen == 5 * 60 * (4 + Config().feed.sim.ticks_per_kline)


async def test_config_symbols_are_used_as_names() -> None:
    cfg = Config.model_validate({"feed": {"symbols": ["BTCUSDT", "FOOUSDT", "ETHUSDT"]}})
    feed = SimFeed(cfg, ManualClock(), speed="max", max_klines=1, warmup_klines=0)
    await feed.start()
    assert feed.symbols == ["BTCUSDT", "FOOUSDT", "ETHUSDT"]
    assert len(await feed.history(feed.symbols, "1m", 10)) == 0


def test_generated_names_distinct_and_respect_blacklist() -> None:
    names = generate_symbol_names(2000, 3, exclude=["ETHUSDT"])
    assert len(set(names)) == 2000 and "ETHUSDT" not in names and names[0] == "BTCUSDT"
    assert all(n.endswith("USDT") and n.isalnum() for n in names)
    assert generate_symbol_names(50, 3) == generate_symbol_names(50, 3)


async def test_stop_ends_the_stream_even_while_pacing() -> None:
    clock = ManualClock()
    feed = SimFeed(Config(), clock, n_symbols=5, seed=1, speed=1.0, warmup_klines=0)  # 12 s between ticks
    await feed.start()
    got: list = []

    async def consume() -> None:
        async for ev in feed.events():
            got.append(ev)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    await feed.stop()
    await asyncio.wait_for(task, timeout=5)
    assert len(got) <= 1 and feed.health()["connected"] is False


async def test_health_snapshot() -> None:
    feed, clock = make(klines=2)
    await feed.start()
    await collect(feed)
    h = feed.health()
    assert set(h) >= {"connected", "streams", "last_event_ms", "received", "rejected", "rejected_by_reason",
                      "reconnects", "events_per_s"}
    assert h["streams"]["sim"]["last_event_ms"] == clock.now_ms()
    assert set(h["last_event_ms"]) == set(feed.symbols) and h["reconnects"] == 0


def test_parse_speed() -> None:
    assert parse_speed("max") is None and parse_speed("MAX") is None
    assert parse_speed(60) == 60.0 and parse_speed("2.5") == 2.5
    for bad in (0, -1, "fast", float("nan")):
        with pytest.raises(ValueError, match="speed"):
            parse_speed(bad)


async def test_two_thousand_symbols_smoke() -> None:
    feed, clock = make(n=2000, klines=3, warmup=5)
    await feed.start()
    assert len(feed.symbols) == 2000
    kb = [e async for e in feed.events() if isinstance(e, KlineBatch)]
    assert len(kb) == 3 and all(len(k) == 2000 for k in kb)
    assert feed.health()["rejected"] == 0 and clock.now_ms() == DEFAULT_START_MS + 3 * MIN
    assert len(await feed.history(feed.symbols, "1m", 5)) == 5 * 2000


# ---------------------------------------------------------------- statistics (fixed seed)


@pytest.fixture(scope="module")
def sim_run() -> dict[str, np.ndarray]:
    """6000 one-minute klines (1200 rating periods of 5 min) of 40 symbols, seed 42."""
    n = 40
    m = SimMarket(generate_symbol_names(n, 42), MIN, 4, 42, 0, rating_klines=5)
    k = 6000
    close = np.empty((k, n))
    vol = np.empty((k, n))
    taker = np.empty((k, n))
    opn = np.empty((k, n))
    drift = np.empty((k, n))
    for i in range(k):
        kb = m.step(prices=False)[1]
        opn[i], close[i], vol[i], taker[i], drift[i] = kb.open, kb.close, kb.volume, kb.taker_buy_base, m.drift
    return {"open": opn, "close": close, "volume": vol, "taker": taker, "drift": drift, "sector": m.sector}


def test_returns_are_correlated_more_within_sectors(sim_run) -> None:
    r = np.diff(np.log(sim_run["close"]), axis=0)
    c = np.corrcoef(r.T)
    n = c.shape[0]
    off = ~np.eye(n, dtype=bool)
    same = (sim_run["sector"][:, None] == sim_run["sector"][None, :]) & off
    assert 0.2 < c[off].mean() < 0.8
    assert c[same].mean() > c[off & ~same].mean() + 0.05


def test_volatility_clusters(sim_run) -> None:
    r = np.diff(np.log(sim_run["close"]), axis=0)
    a = np.abs(r / r.std(axis=0))
    a -= a.mean(axis=0)
    acf1 = (a[1:] * a[:-1]).mean() / (a * a).mean()
    raw = (r[1:] * r[:-1]).mean() / (r * r).mean()
    assert acf1 > 0.05  # |r| is autocorrelated (GARCH-like) ...
    assert abs(raw) < acf1  # ... much more than r itself


def test_taker_buy_share_co_moves_with_returns(sim_run) -> None:
    ret = sim_run["close"] / sim_run["open"] - 1
    share = sim_run["taker"] / sim_run["volume"]
    assert ((share > 0) & (share < 1)).all()
    z = (ret - ret.mean(axis=0)) / ret.std(axis=0)
    assert np.corrcoef(z.ravel(), share.ravel())[0, 1] > 0.3


def test_regimes_make_rating_z_scores_cross_the_threshold(sim_run) -> None:
    """A rating proxy (Elo on 5-minute period returns, round robin) with the default
    moving_average_period 200: its z-score crosses +-2.5 sometimes, for most symbols,
    and mostly while the symbol really trends in that direction."""
    close = sim_run["close"][4::5]
    drift = sim_run["drift"][4::5][1:]
    pr = close[1:] / close[:-1] - 1
    n = pr.shape[1]
    rating = np.full(n, 1500.0)
    hist = []
    for r in pr:
        s = (r[:, None] > r[None, :]) + 0.5 * (r[:, None] == r[None, :])
        e = 1 / (1 + 10 ** ((rating[None, :] - rating[:, None]) / 400))
        rating = rating + 128 * (s - e).sum(axis=1) / (n - 1)
        hist.append(rating.copy())
    h = np.array(hist)
    w = 200
    z = np.array([(h[t] - h[t - w + 1 : t + 1].mean(0)) / h[t - w + 1 : t + 1].std(0) for t in range(w, len(h))])
    d = drift[w:]
    up, down = z > 2.5, z < -2.5
    assert 0.002 < up.mean() < 0.1 and 0.002 < down.mean() < 0.1  # sometimes, not always
    assert (up | down).any(axis=0).sum() >= n // 2
    assert (d[up] > 0).mean() > 0.6 and (d[down] < 0).mean() > 0.6
    assert 0.05 < (sim_run["drift"] != 0).mean() < 0.5  # trends are episodes, not the norm


def test_default_warmup_covers_the_z_score_window() -> None:
    cfg = Config()
    feed = SimFeed(cfg, ManualClock())
    klines_per_period = cfg.data_processing.rating_calculation_interval_ms // MIN
    assert feed.warmup_klines == cfg.feed.sim.warmup_periods * klines_per_period
    assert feed.warmup_klines // klines_per_period > cfg.signal_generation.moving_average_period
    assert feed.speed == 60.0 and feed.interval_ms == MIN


async def test_intra_candle_24h_figures_do_not_look_ahead() -> None:
    feed, _ = make(n=8, klines=2, warmup=0)
    evs = await collect(feed)
    tpk = Config().feed.sim.ticks_per_kline
    ticks, kb = evs[:tpk], evs[tpk]
    assert isinstance(kb, KlineBatch)
    seen = [kb.open]
    for j, pb in enumerate(ticks):
        seen.append(pb.price)
        # no history yet: the 24h high/low are exactly the candle so far, not its final high/low
        assert np.array_equal(pb.high_24h, np.max(seen, axis=0))
        assert np.array_equal(pb.low_24h, np.min(seen, axis=0))
        assert np.allclose(pb.quote_volume_24h, kb.quote_volume * (j + 1) / (tpk + 1))
        assert np.array_equal(pb.open_24h, kb.open)
    nxt = evs[tpk + 1]  # first tick of the next candle knows the whole first candle
    assert isinstance(nxt, PriceBatch) and np.all(nxt.high_24h >= kb.high) and np.all(nxt.low_24h <= kb.low)
