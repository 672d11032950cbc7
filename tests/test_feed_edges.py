"""Edge cases of the market-data feeds: hostile or odd input never freezes a symbol, crashes a feed
or slips a wrong price through."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_binance_feed import ex, started  # noqa: F401 - the stand-in exchange's fixtures
from test_gaps_absurd_prices import kb, pb

from tui_trader.market.replay import load_klines
from tui_trader.market.validation import (
    JUMP_CONFIRM_ROWS,
    PriceGuard,
    RejectCounter,
    validate_kline_batch,
    validate_price_batch,
)

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def tick_by_tick(guard: PriceGuard, counter: RejectCounter, prices: list[float], sym: int = 0) -> list[float]:
    """The prices of ``sym`` that pass, fed one ticker message at a time."""
    out: list[float] = []
    for p in prices:
        out += validate_price_batch(pb([sym], [p]), len(guard.price_ref), counter, guard=guard).price.tolist()
    return out


# ------------------------------------------------------------- price_jump: a new level is confirmed


def test_a_real_move_beyond_the_factor_is_taken_once_confirmed_not_held_back_for_ever(caplog):
    # BTC at 1, then a genuine move to ~250 (250x): before, every later price was rejected until
    # the feed restarted; now the third consecutive agreeing price is the new level, with a warning
    g = PriceGuard(1, 100.0, names=["BTCUSDT"])
    c = RejectCounter(log_interval_s=0)
    with caplog.at_level("WARNING", logger="tui_trader.market"):
        got = tick_by_tick(g, c, [1.0, 250.0, 251.0, 252.0, 253.0, 260.0])
    assert JUMP_CONFIRM_ROWS == 3
    assert got == [1.0, 252.0, 253.0, 260.0]
    assert c.by_reason == {"price_jump": 2} and g.relevels == 1 and g.price_ref[0] == 260.0
    assert "BTCUSDT: price 252 after 1 (more than 100x away) taken as a new level" in caplog.text


def test_a_first_price_that_was_garbage_does_not_freeze_the_symbol():
    # the first price has no reference, so a garbled one (1000x) is taken; the real ones after it
    # were all rejected for ever
    g = PriceGuard(1, 100.0)
    c = RejectCounter(log_interval_s=0)
    assert tick_by_tick(g, c, [100_000.0, 100.0, 100.5, 99.8, 100.1]) == [100_000.0, 99.8, 100.1]
    assert c.by_reason == {"price_jump": 2}


def test_single_wild_ticks_and_disagreeing_garbage_stay_rejected():
    g = PriceGuard(1, 100.0)
    c = RejectCounter(log_interval_s=0)
    # a wild tick between real ones, twice: each resets the count
    assert tick_by_tick(g, c, [100.0, 100_000.0, 100.2, 100_000.0, 100_000.0, 100.1, 100_000.0]) == [
        100.0,
        100.2,
        100.1,
    ]
    # far rows that do not agree with each other (1e5, 1e7, ...) never make a level
    assert tick_by_tick(g, c, [1e5, 1e7, 1e5, 1e7, 1e5, 1e7, 0.01, 1e5]) == []
    assert c.by_reason == {"price_jump": 4 + 8} and g.relevels == 0 and g.price_ref[0] == 100.1


def test_far_klines_in_one_batch_confirm_in_batch_order_and_other_symbols_are_untouched():
    g = PriceGuard(2, 100.0)
    c = RejectCounter(log_interval_s=0)
    last = np.full(2, -1, dtype=np.int64)
    assert len(validate_kline_batch(kb([0, 1], [1.0, 50.0], np.full(2, T0)), 2, last, c, guard=g)) == 2
    t = T0 + H * np.array([1, 1, 2, 2, 3, 4])
    batch = kb([0, 1, 0, 1, 0, 0], [300.0, 50.1, 310.0, 49.9, 305.0, 306.0], t)
    out = validate_kline_batch(batch, 2, last, c, guard=g)
    assert out.close.tolist() == [50.1, 49.9, 305.0, 306.0]
    assert g.kline_ref.tolist() == [306.0, 49.9] and c.by_reason == {"price_jump": 2}


def test_klines_confirm_a_new_level_by_closed_klines_only():
    g = PriceGuard(1, 100.0)
    c = RejectCounter(log_interval_s=0)
    last = np.full(1, -1, dtype=np.int64)
    assert len(validate_kline_batch(kb([0], [1.0], T0 + np.zeros(1)), 1, last, c, guard=g)) == 1
    # in-progress klines at the new level are judged but never count towards it
    for _ in range(5):
        live = kb([0], [200.0], np.array([T0 + H]), closed=False)
        assert len(validate_kline_batch(live, 1, last, c, guard=g)) == 0
    assert g.kline_ref[0] == 1.0
    t = T0 + H * np.arange(1, 5)
    out = validate_kline_batch(kb([0, 0, 0, 0], [200.0, 201.0, 202.0, 203.0], t), 1, last, c, guard=g)
    assert out.close.tolist() == [202.0, 203.0] and g.kline_ref[0] == 203.0
    assert c.by_reason == {"price_jump": 5 + 2}


def test_a_far_close_that_agrees_with_the_confirmed_ticker_level_is_taken_at_once():
    g = PriceGuard(1, 100.0)
    c = RejectCounter(log_interval_s=0)
    last = np.full(1, -1, dtype=np.int64)
    validate_kline_batch(kb([0], [1.0], T0 + np.zeros(1)), 1, last, c, guard=g)
    assert tick_by_tick(g, c, [1.0, 250.0, 251.0, 252.0]) == [1.0, 252.0]
    # the kline stream's reference is still 1: its next close at the tickers' level is taken
    out = validate_kline_batch(kb([0], [251.5], np.array([T0 + H])), 1, last, c, guard=g)
    assert out.close.tolist() == [251.5] and g.kline_ref[0] == 251.5 and g.relevels == 2
    # garbage far from both references is still rejected
    out = validate_kline_batch(kb([0], [25_000_000.0], np.array([T0 + 2 * H])), 1, last, c, guard=g)
    assert len(out) == 0


def _json_rows(closes: list[float], t0: int) -> list[list]:
    rows = []
    for i, cl in enumerate(closes):
        t = t0 + i * H
        s = repr(cl)
        rows.append([t, s, s, s, s, "10.0", t + H - 1, repr(cl * 10), 5, "5.0", repr(cl * 5), "0"])
    return rows


def test_a_replayed_symbol_back_after_a_gap_at_a_new_level_is_replayed(tmp_path: Path, caplog):
    # A symbol's files with a gap of days, after which its price is 500x (a redenomination, a
    # relisting): the klines after the gap were all rejected, the rest of the symbol's data lost
    d = tmp_path / "kl" / "ABCUSDT" / "1h"
    d.mkdir(parents=True)
    (d / "2024-01-01.json").write_text(json.dumps(_json_rows([0.002, 0.0021, 0.0022], T0)))
    after = T0 + 10 * 24 * H
    (d / "2024-01-11.json").write_text(json.dumps(_json_rows([1.0, 1.01, 1.02, 1.03, 1.04], after)))
    with caplog.at_level("WARNING", logger="tui_trader.market"):
        data = load_klines(tmp_path / "kl", "1h", file_cache=None)
    assert data.klines.close.tolist() == [0.002, 0.0021, 0.0022, 1.02, 1.03, 1.04]
    assert data.rejected_by_reason() == {"price_jump": 2}
    assert "ABCUSDT: close 1.02 after 0.0022" in caplog.text


async def test_the_binance_feed_takes_a_confirmed_new_level_and_names_the_symbol(ex, started, caplog):  # noqa: F811
    # the live feed's guard: BTC at 1000x in three consecutive miniTicker arrays (the stand-in's
    # own heartbeat paused, so nothing real comes between them): two are rejected, the third is
    # delivered, with a warning naming BTCUSDT; before, BTC's prices stopped until a restart
    from test_binance_feed import make_cfg

    from tui_trader.market.binance import BinanceFeed

    feed = BinanceFeed(make_cfg(ex, stale=30.0), ex.clock, backoff_base_s=0.05, close_grace_s=0.2)
    col = await started(feed)
    await ex.wait_until(lambda: len(col.prices) > 0, 5, "first prices")
    ex.paused_heartbeat = True
    i = feed.symbols.index("BTCUSDT")
    real = float(next(it for it in ex.mini_ticker_array() if it["s"] == "BTCUSDT")["c"])
    seen = len(col.prices)
    with caplog.at_level("WARNING", logger="tui_trader.market"):
        for k in range(3):
            arr = ex.mini_ticker_array()
            for it in arr:
                if it["s"] == "BTCUSDT":
                    it["c"] = repr(real * 1000 + k)
            await ex.push_raw("!miniTicker@arr", arr)
        await ex.wait_until(lambda: len(col.prices) >= seen + 3, 5, "three price batches")
    got = [float(p) for b in col.prices[seen:] for s, p in zip(b.sym, b.price, strict=True) if s == i]
    assert got == [real * 1000 + 2]
    assert feed.health()["rejected_by_reason"] == {"price_jump": 2}
    assert "BTCUSDT: price" in caplog.text and "taken as a new level" in caplog.text


# ------------------------------------------------------------- replay files: odd but usable


def test_a_file_with_rows_out_of_time_order_is_replayed_in_order_and_said_so(tmp_path: Path, caplog):
    d = tmp_path / "kl" / "ABCUSDT" / "1h"
    d.mkdir(parents=True)
    rows = _json_rows([1.0, 1.1, 1.2, 1.3], T0)
    (d / "2024-01-01.json").write_text(json.dumps([rows[2], rows[0], rows[3], rows[1]]))
    with caplog.at_level("WARNING", logger="tui_trader.market"):
        data = load_klines(tmp_path / "kl", "1h", file_cache=None)
    assert data.klines.close.tolist() == [1.0, 1.1, 1.2, 1.3] and data.rejected == 0
    assert "2024-01-01.json: rows not in time order (2 step(s) back); replayed in time order" in caplog.text


@pytest.mark.parametrize("header", [False, True])
def test_a_csv_with_every_field_quoted_keeps_its_first_kline(tmp_path: Path, header: bool, caplog):
    # an export with every field quoted ("1704067200000","0.002",...): its first line was taken
    # for a header that is not one, counted as malformed and the file's first kline lost
    rows = _json_rows([1.0, 1.1, 1.2], T0)
    lines = [",".join(f'"{x}"' for x in r) for r in rows]
    if header:
        lines.insert(
            0,
            ",".join(
                f'"{h}"'
                for h in (
                    "open_time",
                    "open",
                    "high",
                    "low",
                    "close",
                    "volume",
                    "close_time",
                    "quote_volume",
                    "count",
                    "taker_buy_volume",
                    "taker_buy_quote_volume",
                    "ignore",
                )
            ),
        )
    d = tmp_path / "kl"
    d.mkdir()
    (d / "ABCUSDT-1h-2024-01.csv").write_text("\n".join(lines) + "\n")
    data = load_klines(d, "1h", file_cache=None)
    assert data.klines.close.tolist() == [1.0, 1.1, 1.2]
    assert data.rejected == 0


def test_one_ticker_message_repeating_a_far_price_counts_once():
    # a symbol three times in one message (no real feed sends that) is one message, not three
    g = PriceGuard(1, 100.0)
    c = RejectCounter(log_interval_s=0)
    assert tick_by_tick(g, c, [1.0]) == [1.0]
    out = validate_price_batch(pb([0, 0, 0, 0], [300.0, 301.0, 302.0, 303.0]), 1, c, guard=g)
    assert len(out) == 0 and g.price_ref[0] == 1.0
    # the next two messages make three
    assert tick_by_tick(g, c, [304.0, 305.0]) == [305.0]


# ------------------------------------------------------------- REST: a hostile Retry-After


@pytest.mark.parametrize("header", ["inf", "Infinity", "1e400", "nan"])
async def test_a_retry_after_that_is_not_a_finite_number_backs_off_instead_of_banning(header: str):
    # "Retry-After: inf" (a broken proxy) banned every REST call for the rest of the process
    # ("banned by the exchange for another inf s"); "nan" retried at once, with no back-off
    from binance.exceptions import BinanceAPIException

    from tui_trader.market.binance import RestRetry

    class Resp:
        text = '{"code": -1003, "msg": "Too many requests"}'
        headers = {"Retry-After": header}

    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    retry = RestRetry(sleep, base_s=0.5, max_s=30.0)
    calls: list[int] = []

    async def fn() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise BinanceAPIException(Resp(), 429, Resp.text)
        return "ok"

    assert await retry.call("klines", fn) == "ok"
    assert await retry.call("klines", fn) == "ok"  # no ban left behind
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5  # the back-off's first step
    assert retry.last_retry_after_s is None and retry.banned_until == 0.0


def test_a_retry_after_longer_than_binance_bans_is_cut_to_three_days():
    from binance.exceptions import BinanceAPIException

    from tui_trader.market.binance import retry_after_s

    class Resp:
        text = "{}"
        headers = {"Retry-After": "1e12"}

    assert retry_after_s(BinanceAPIException(Resp(), 418, Resp.text)) == 3 * 86_400.0


def test_a_symbol_asked_for_twice_is_loaded_once(tmp_path: Path, caplog):
    # ["ABCUSDT", "abcusdt"] made two symbols of one: index 0 without a kline, and a warning
    # naming no symbol ("no valid 1h klines for  in the selected range")
    d = tmp_path / "kl" / "ABCUSDT" / "1h"
    d.mkdir(parents=True)
    (d / "2024-01-01.json").write_text(json.dumps(_json_rows([1.0, 1.1], T0)))
    with caplog.at_level("WARNING", logger="tui_trader.market"):
        data = load_klines(tmp_path / "kl", "1h", ["ABCUSDT", "abcusdt"], file_cache=None)
    assert data.symbols == ["ABCUSDT"] and data.klines.sym.tolist() == [0, 0]
    assert "no valid" not in caplog.text


async def test_a_replay_feed_asked_for_a_symbol_twice_plays_it_once(tmp_path: Path):
    from tui_trader.clock import ManualClock
    from tui_trader.config import Config
    from tui_trader.market.replay import ReplayFeed

    d = tmp_path / "kl"
    for sym in ("ABCUSDT", "XYZUSDT"):
        (d / sym / "1h").mkdir(parents=True)
        (d / sym / "1h" / "2024-01-01.json").write_text(json.dumps(_json_rows([1.0, 1.1], T0)))
    data = load_klines(d, "1h", file_cache=None)
    feed = ReplayFeed(Config(), ManualClock(0), data=data, symbols=["XYZUSDT", "xyzusdt"], speed="max")
    await feed.start()
    assert feed.symbols == ["XYZUSDT"]
    got = [b async for b in feed.events()]
    assert [b.sym.tolist() for b in got] == [[0], [0]]


# ------------------------------------------------------------- sim: a resumed market


@pytest.mark.parametrize("record", [True, False])
async def test_a_sim_anchor_far_below_the_seed_s_level_keeps_its_price(monkeypatch, record: bool):
    # A resumed sim continues from the engine's last prices. A name whose seed level is far above
    # its anchor (the symbol list reordered since: the seed gives each position its level) had
    # its prices rounded to the seed level's tick: BTCUSDT anchored at 0.0005 read 0.01, twenty
    # times the price the book holds it at.
    from tui_trader.clock import ManualClock
    from tui_trader.config import Config
    from tui_trader.market.sim import SimFeed
    from tui_trader.models import KlineBatch

    if not record:
        monkeypatch.setattr(SimFeed, "RECORD_WARMUP_ROWS", 0)  # history() regenerates the warm-up
    feed = SimFeed(Config(), ManualClock(0), n_symbols=3, speed="max", max_klines=5, warmup_klines=20)
    feed.anchor_prices = {"BTCUSDT": 0.0005}
    await feed.start()
    assert float(feed.filters()["BTCUSDT"].tick_size) <= 0.0005 / 1000
    assert float(feed.filters()["ETHUSDT"].tick_size) == 0.01  # not anchored: the seed's tick
    hist = await feed.history(feed.symbols, feed.interval, 20)
    assert hist.close[hist.sym == 0][-1] == 0.0005
    closes = [float(ev.close[0]) async for ev in feed.events() if isinstance(ev, KlineBatch)]
    assert len(closes) == 5 and all(0.0004 < c < 0.0006 for c in closes)


def test_new_levels_are_logged_at_most_once_per_interval(caplog):
    # a feed that keeps changing a symbol's level by 100x every three messages logs one line per
    # interval, not one per new level
    g = PriceGuard(1, 100.0, names=["ABCUSDT"])
    c = RejectCounter(log_interval_s=0)
    with caplog.at_level("WARNING", logger="tui_trader.market"):
        prices = [1.0] + [250.0] * 3 + [1.0] * 3 + [250.0] * 3 + [1.0] * 3
        got = tick_by_tick(g, c, prices)
    assert got == [1.0, 250.0, 1.0, 250.0, 1.0] and g.relevels == 4
    lines = [r.getMessage() for r in caplog.records if "taken as a new level" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("price_jump: ABCUSDT: price 250 after 1")


# ------------------------------------------------------------- exchangeInfo: impossible filters


@pytest.mark.parametrize(
    ("key", "value"),
    [("stepSize", "1E-400"), ("tickSize", "-0.01"), ("minNotional", "-5"), ("maxQty", "1e20")],
)
def test_a_symbol_with_an_impossible_filter_value_is_skipped(key: str, value: str, caplog):
    # a step of 1E-400 was taken, and every quantisation of an order of the symbol raised
    # InvalidOperation; a negative tick or notional read as "no constraint"
    from decimal import ROUND_FLOOR, Decimal

    from tui_trader.execution.filters import round_to_step
    from tui_trader.market.binance_payloads import parse_exchange_info

    def symbol(name: str, **override: str) -> dict:
        pf = {"filterType": "PRICE_FILTER", "tickSize": "0.01", "minPrice": "0.01", "maxPrice": "1000000"}
        lot = {"filterType": "LOT_SIZE", "stepSize": "0.00001", "minQty": "0.00001", "maxQty": "9000"}
        notional = {"filterType": "NOTIONAL", "minNotional": "5", "maxNotional": "9000000"}
        for f in (pf, lot, notional):
            f.update({k: v for k, v in override.items() if k in f})
        return {"symbol": name, "baseAsset": name[:3], "quoteAsset": "USDT", "filters": [pf, lot, notional]}

    with caplog.at_level("WARNING"):
        got = parse_exchange_info({"symbols": [symbol("BTCUSDT"), symbol("BADUSDT", **{key: value})]})
    assert list(got) == ["BTCUSDT"]
    assert "skipping symbol BADUSDT" in caplog.text and key in caplog.text
    assert round_to_step(Decimal("0.5"), got["BTCUSDT"].step_size, ROUND_FLOOR) == Decimal("0.5")


async def test_a_replayed_symbol_that_crashes_is_priced_on_a_tick_below_its_price(tmp_path: Path):
    # From 80 down to 0.0004 by 4 % an hour (no step beyond the jump guard): its filters came
    # from the first close (tick 0.001), so a paper SELL at 0.0004 filled at 0.000 and a BUY
    # at 0.001, two and a half times the price
    from decimal import Decimal

    from tui_trader.clock import ManualClock
    from tui_trader.config import Config
    from tui_trader.execution.filters import fill_tick, worst_fill_price
    from tui_trader.market.replay import ReplayFeed
    from tui_trader.models import Side

    d = tmp_path / "kl" / "ABCUSDT" / "1h"
    d.mkdir(parents=True)
    (d / "2024-01-01.json").write_text(
        json.dumps(_json_rows([round(80.0 * 0.96**i, 8) for i in range(300)], T0))
    )
    feed = ReplayFeed(
        Config(), ManualClock(0), data=load_klines(tmp_path / "kl", "1h", file_cache=None), speed="max"
    )
    await feed.start()
    f = feed.filters()["ABCUSDT"]
    last = Decimal("0.00040012")
    tick = fill_tick(last, f)
    assert tick <= last / 1000
    sell = worst_fill_price(last, Side.SELL, Decimal(50), tick)
    buy = worst_fill_price(last, Side.BUY, Decimal(50), tick)
    assert last * Decimal("0.99") <= sell <= last <= buy <= last * Decimal("1.01")
    assert f.step_size == Decimal("0.01")  # the quantity step stays the first close's


async def test_replayed_2024_klines_keep_the_first_close_s_filters(klines_dir: Path):
    # the real pairs never fall far enough for another tick: the backtest's fills are unchanged
    from tui_trader.clock import ManualClock
    from tui_trader.config import Config
    from tui_trader.market.binance_payloads import synthetic_filters
    from tui_trader.market.replay import ReplayFeed

    data = load_klines(klines_dir, "1h")
    feed = ReplayFeed(Config(), ManualClock(0), data=data, speed="max")
    await feed.start()
    kl = data.klines
    for k, s in enumerate(data.symbols):
        first = float(kl.close[np.flatnonzero(kl.sym == k)[0]])
        assert feed.filters()[s] == synthetic_filters(s, first)


def test_a_zip_of_several_csv_files_is_read_whole(tmp_path: Path):
    # a zip holding a month as daily CSV files (each with its header): only the first member
    # was read, the other days dropped without a word
    import zipfile

    from tui_trader.market.file_cache import KlineFileCache

    header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    header += "taker_buy_quote_volume,ignore"
    rows = _json_rows([1.0 + 0.01 * i for i in range(72)], T0)
    d = tmp_path / "kl"
    d.mkdir()
    with zipfile.ZipFile(d / "ABCUSDT-1h-2024-01.zip", "w") as z:
        for day in range(3):
            lines = [",".join(str(x) for x in r) for r in rows[24 * day : 24 * (day + 1)]]
            z.writestr(f"ABCUSDT-1h-2024-01-0{day + 1}.csv", "\r\n".join([header, *lines]) + "\r\n")
    for cache in (None, KlineFileCache(tmp_path / "cache"), KlineFileCache(tmp_path / "cache")):
        data = load_klines(d, "1h", file_cache=cache)
        assert data.klines.close.tolist() == [1.0 + 0.01 * i for i in range(72)]
        assert data.rejected == 0


@pytest.mark.parametrize("kind", ["bare_cr", "macos"])
def test_a_zip_of_several_csv_files_keeps_every_day_of_mac_made_files(tmp_path: Path, kind: str):
    # members whose lines end in a bare CR: the second's header was found at no line end, so the
    # whole member was taken for a header and dropped without a word; a zip made by macOS holds an
    # AppleDouble "__MACOSX/._<name>.csv" beside each file (binary): the whole zip was unreadable
    import zipfile

    header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    header += "taker_buy_quote_volume,ignore"
    rows = _json_rows([1.0 + 0.01 * i for i in range(48)], T0)
    d = tmp_path / "kl"
    d.mkdir()
    end = "\r" if kind == "bare_cr" else "\n"
    apple = (
        b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\t\x00\x00\x002\x00\x00\x0e\xb0"
    )
    with zipfile.ZipFile(d / "ABCUSDT-1h-2024-01.zip", "w") as z:
        for day in range(2):
            name = f"ABCUSDT-1h-2024-01-0{day + 1}.csv"
            lines = [",".join(str(x) for x in r) for r in rows[24 * day : 24 * (day + 1)]]
            z.writestr(name, end.join([header, *lines]) + end)
            if kind == "macos":
                z.writestr(f"__MACOSX/._{name}", apple)
    data = load_klines(d, "1h")
    assert data.klines.close.tolist() == [1.0 + 0.01 * i for i in range(48)]
    assert data.rejected == 0


def test_a_close_at_the_old_level_between_wild_ticks_ends_their_count():
    # a quiet symbol: a wild ticker now and then, hours apart, and in between its klines close
    # at the old level. The closes did not reset the tickers' count, so three wild ticks spread
    # over hours (none following another) made the ticker level 1000x the market's: positions
    # were marked at it. Likewise wild closes between real ticker prices.
    g = PriceGuard(1, 100.0)
    c = RejectCounter(log_interval_s=0)
    last = np.full(1, -1, dtype=np.int64)
    assert tick_by_tick(g, c, [100.0]) == [100.0]
    got: list[float] = []
    for hour in range(4):
        got += tick_by_tick(g, c, [100_000.0])
        k = validate_kline_batch(kb([0], [100.0 + hour], np.array([T0 + hour * H])), 1, last, c, guard=g)
        assert k.close.tolist() == [100.0 + hour]
    assert got == [] and g.price_ref[0] == 100.0 and g.relevels == 0
    for hour in range(4, 8):
        k = validate_kline_batch(kb([0], [100_000.0], np.array([T0 + hour * H])), 1, last, c, guard=g)
        assert len(k) == 0
        assert tick_by_tick(g, c, [100.0]) == [100.0]
    assert g.kline_ref[0] == 103.0 and g.relevels == 0
    # a real new level still comes through: the tickers confirm it, the closes then agree at once
    assert tick_by_tick(g, c, [100_000.0, 100_100.0, 100_200.0]) == [100_200.0]
    k = validate_kline_batch(kb([0], [100_300.0], np.array([T0 + 8 * H])), 1, last, c, guard=g)
    assert k.close.tolist() == [100_300.0] and g.relevels == 2


async def test_a_sim_anchor_far_above_the_seed_s_level_trades_in_fractions():
    # The other way round from the anchor far below: a name whose seed level is a 0.0002 coin,
    # anchored at 60,000 (the list reordered since), kept that coin's step and lot of 1 unit: its
    # smallest order was worth 60,000 and a held 0.15 of it could not be sold.
    from tui_trader.clock import ManualClock
    from tui_trader.config import Config
    from tui_trader.market.sim import SimFeed
    from tui_trader.models import KlineBatch

    def make() -> SimFeed:
        return SimFeed(Config(), ManualClock(0), n_symbols=40, speed="max", max_klines=5, warmup_klines=20)

    plain = make()
    await plain.start()
    level = {s: float(p) for s, p in zip(plain.symbols, plain._market.price0, strict=True)}
    cheap = min(level, key=level.get)
    assert level[cheap] < 0.01 and plain.filters()[cheap].step_size == 1
    feed = make()
    feed.anchor_prices = {cheap: 60_000.0}
    await feed.start()
    f = feed.filters()[cheap]
    assert f.min_qty * 60_000 <= 10 and float(f.tick_size) <= 60_000 / 1000
    other = next(s for s in feed.symbols if s != cheap)
    assert feed.filters()[other] == plain.filters()[other]  # not anchored: the seed's filters
    k = feed.symbols.index(cheap)
    hist = await feed.history(feed.symbols, feed.interval, 20)
    assert hist.close[hist.sym == k][-1] == 60_000.0
    closes = [float(ev.close[k]) async for ev in feed.events() if isinstance(ev, KlineBatch)]
    assert len(closes) == 5 and all(30_000 < c < 120_000 for c in closes)
    assert all(round(c / float(f.tick_size), 6) % 1 == 0 for c in closes)  # on the filters' tick
