"""Absurd but finite prices (1e308, a 1000x tick, a shifted decimal point) are rejected as bad
market data - counted, logged - and never reach sizing, the paper broker or the portfolio."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_binance_feed import ex, started  # noqa: F401 - the stand-in exchange's fixtures

from tui_trader.config import Config, ConfigError, load_config
from tui_trader.market.validation import (
    MAX_PRICE,
    PriceGuard,
    RejectCounter,
    kline_batch_from_arrays,
    validate_kline_batch,
    validate_price_batch,
)
from tui_trader.models import PriceBatch

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def kb(sym, closes, t0=T0, closed=True, highs=None):
    n = len(sym)
    c = np.asarray(closes, dtype=float)
    h = c if highs is None else np.asarray(highs, dtype=float)
    ohlcv = np.column_stack([c, h, c, c, np.ones(n), c, np.full(n, 0.5)])
    ot = t0 + np.arange(n, dtype=np.int64) * H if np.ndim(t0) == 0 else np.asarray(t0, dtype=np.int64)
    return kline_batch_from_arrays(H, np.asarray(sym), ot, ot + H - 1, ohlcv, np.ones(n, dtype=np.int64), closed)


def pb(sym, prices):
    n = len(sym)
    nan = np.full(n, np.nan)
    return PriceBatch(sym=np.asarray(sym, dtype=np.int32), event_time=np.full(n, T0, dtype=np.int64),
                      price=np.asarray(prices, dtype=float), open_24h=nan, high_24h=nan, low_24h=nan,
                      volume_24h=nan, quote_volume_24h=nan)


def test_a_price_beyond_the_absolute_range_is_rejected_without_a_guard():
    c = RejectCounter()
    out = validate_kline_batch(kb([0, 0, 1], [100.0, 1e308, 5.0]), 2, np.full(2, -1, dtype=np.int64), c)
    assert out.close.tolist() == [100.0, 5.0]
    # a sane close under an absurd high is no better: the high alone is rejected too
    out = validate_kline_batch(kb([1], [5.0], t0=T0 + 9 * H, highs=[2e12]), 2, np.full(2, -1, dtype=np.int64), c)
    assert len(out) == 0
    out = validate_price_batch(pb([0, 1, 1], [1e308, 1e-300, MAX_PRICE]), 2, c)
    assert out.price.tolist() == [MAX_PRICE]  # the bound itself is taken
    assert c.by_reason == {"price_out_of_range": 4}


def test_a_jump_beyond_the_factor_is_rejected_and_never_becomes_the_reference(caplog):
    g = PriceGuard(2, 100.0)
    c = RejectCounter(log_interval_s=0)
    last = np.full(2, -1, dtype=np.int64)
    # one batch, two symbols interleaved: symbol 0's 1000x kline goes, the klines after it are
    # judged against the last accepted close (100), not against the rejected one
    batch = kb([0, 1, 0, 1, 0], [100.0, 5.0, 100_000.0, 5.1, 101.0],
               t0=[T0, T0, T0 + H, T0 + H, T0 + 2 * H])
    with caplog.at_level("WARNING", logger="tui_trader.market"):
        out = validate_kline_batch(batch, 2, last, c, guard=g)
    assert out.close.tolist() == [100.0, 5.0, 5.1, 101.0]
    assert c.by_reason == {"price_jump": 1}
    assert "close 100000 after 100 (more than 100x away)" in caplog.text
    assert g.kline_ref.tolist() == [101.0, 5.1]
    # a decimal point shifted down is as bad; 99x is a (wild) move, not garbage
    out = validate_kline_batch(kb([0, 1], [0.101, 504.9], t0=T0 + 3 * H), 2, last, c, guard=g)
    assert out.close.tolist() == [504.9]
    assert c.by_reason == {"price_jump": 2}
    # an in-progress kline is judged, but never becomes the reference
    out = validate_kline_batch(kb([0, 0], [150.0, 150_000.0], t0=T0 + 4 * H, closed=False), 2, last, c, guard=g)
    assert out.close.tolist() == [150.0] and g.kline_ref[0] == 101.0
    # tickers keep their own reference
    out = validate_price_batch(pb([0, 0, 0, 1], [100.0, 100_000.0, 99.0, 5.0]), 2, c, guard=g)
    assert out.price.tolist() == [100.0, 99.0, 5.0] and g.price_ref.tolist() == [99.0, 5.0]
    assert c.by_reason == {"price_jump": 4}


def test_the_guard_takes_a_factor_above_one_only():
    for bad in (1.0, 0.5, math.inf, math.nan):
        with pytest.raises(ValueError, match="max_jump must be a finite number above 1"):
            PriceGuard(3, bad)


@pytest.mark.parametrize("value", ["1", "0.5", "-3", "inf", "nan", '"x"'])
def test_config_refuses_a_factor_of_one_or_less_naming_the_field(value: str, tmp_path: Path):
    f = tmp_path / "c.toml"
    f.write_text(f"[feed]\nmax_price_jump = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert [i.path for i in err.value.issues] == ["feed.max_price_jump"]
    assert Config().feed.max_price_jump == 100.0


def test_config_check_exits_2_naming_the_field(tmp_path: Path, capsys):
    from tui_trader.cli import main

    f = tmp_path / "c.toml"
    f.write_text("[feed]\nmax_price_jump = 1\n")
    assert main(["config", "check", str(f)]) == 2
    out = capsys.readouterr()
    assert "feed.max_price_jump" in out.out + out.err


# ------------------------------------------------------------- end to end: money stays sane


def _copy(src: Path, dst: Path, symbols: list[str], months: list[str]) -> None:
    for s in symbols:
        (dst / s / "1h").mkdir(parents=True)
        for m in months:
            shutil.copy(src / s / "1h" / f"{m}.json", dst / s / "1h" / f"{m}.json")


def _run(path: Path, cfg: Config):
    from tui_trader.backtest.runner import run_backtest

    return asyncio.run(run_backtest(cfg, path, "1h", store=False))


@pytest.mark.parametrize("bogus", ["x1000", "1e308"])
def test_a_bogus_kline_of_a_held_symbol_changes_nothing_but_its_count(bogus: str, klines_dir: Path,
                                                                      tmp_path: Path):
    # The run over data with one kline of a held symbol garbled (every price x1000, or 1e308)
    # trades exactly as the run over the same data without that kline: its equity does not
    # spike, no profit target sells at the garbage price, cash stays what it was.
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "XRPUSDT"]
    months = ["2024-01-01", "2024-02-01"]
    cfg = Config.model_validate({"data_processing": {"rating_worker": "off"}})
    clean = tmp_path / "clean"
    _copy(klines_dir, clean, symbols, months)
    base = _run(clean, cfg)
    buys = [f for f in base.fills if f.side.value == "BUY"]
    assert buys, "the clean run made no trade to hold"
    buy = buys[0]
    sell_ts = min((f.ts_ms for f in base.fills if f.symbol == buy.symbol and f.side.value == "SELL"
                   and f.ts_ms > buy.ts_ms), default=buy.ts_ms + 48 * H)
    target = (buy.ts_ms // H + 1) * H  # the first kline opening while the position is held
    assert target < sell_ts
    month = f"2024-0{1 if target < 1_706_745_600_000 else 2}-01"

    def variant(name: str, change) -> Path:
        root = tmp_path / name
        _copy(klines_dir, root, symbols, months)
        f = root / buy.symbol / "1h" / f"{month}.json"
        rows = json.loads(f.read_text())
        k = next(i for i, r in enumerate(rows) if r[0] == target)
        change(rows, k)
        f.write_text(json.dumps(rows))
        return root

    def garble(rows, k):
        for j in (1, 2, 3, 4):
            rows[k][j] = "1e308" if bogus == "1e308" else repr(float(rows[k][j]) * 1000)

    bad_path = variant("bad", garble)
    bad = _run(bad_path, cfg)
    from tui_trader.market.replay import load_klines

    reason = "price_out_of_range" if bogus == "1e308" else "price_jump"
    assert load_klines(bad_path, "1h", file_cache=None).rejected_by_reason() == {reason: 1}
    without = _run(variant("without", lambda rows, k: rows.pop(k)), cfg)
    assert [(f.symbol, f.side, f.price, f.quantity, f.ts_ms) for f in bad.fills] == [
        (f.symbol, f.side, f.price, f.quantity, f.ts_ms) for f in without.fills
    ]
    assert bad.metrics["end_equity"] == without.metrics["end_equity"]
    assert math.isfinite(bad.metrics["end_equity"]) and bad.metrics["end_equity"] < 2 * base.metrics["start_equity"]
    assert max(bad.equity) < 2 * base.metrics["start_equity"]


async def test_the_binance_feed_rejects_a_ticker_1000x_off_and_takes_the_next_real_one(ex, started):  # noqa: F811
    # the live feed's tickers go through the guard: a payload with BTC at 1000x its price is
    # counted as price_jump and never delivered; the next real price is
    from test_binance_feed import make_cfg

    from tui_trader.market.binance import BinanceFeed

    feed = BinanceFeed(make_cfg(ex, stale=5.0), ex.clock, backoff_base_s=0.05, close_grace_s=0.2)
    col = await started(feed)
    await ex.wait_until(lambda: len(col.prices) > 0, 5, "first prices")
    bad = ex.mini_ticker_array()
    btc = next(i for i, it in enumerate(bad) if it["s"] == "BTCUSDT")
    real = float(bad[btc]["c"])
    bad[btc]["c"] = repr(real * 1000)
    await ex.push_raw("!miniTicker@arr", bad)
    await ex.wait_until(lambda: feed.health()["rejected"] >= 1, 5, "rejection")
    assert feed.health()["rejected_by_reason"] == {"price_jump": 1}
    seen = len(col.prices)
    await ex.push_raw("!miniTicker@arr", ex.mini_ticker_array())
    await ex.wait_until(lambda: len(col.prices) > seen, 5, "the next prices")
    i = feed.symbols.index("BTCUSDT")
    got = [float(p) for b in col.prices for s, p in zip(b.sym, b.price, strict=True) if s == i]
    assert got and max(got) < real * 2 and feed.health()["rejected"] == 1
