"""MarketCache: ring-buffer semantics, reads, prices, statistics and the memory bound."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trader.market.cache import CACHE_FIELDS, MarketCache
from tui_trader.market.validation import kline_batch_from_arrays
from tui_trader.models import KlineBatch, PriceBatch

IV = 60_000


def klines(sym: list[int], t: list[int], closed: bool | list[bool] = True) -> KlineBatch:
    """Klines whose close encodes (sym, t): close = 100*sym + t + 1, quote volume = t + 1."""
    s = np.array(sym)
    tt = np.array(t, dtype=np.int64)
    n = len(sym)
    close = 100.0 * s + tt + 1
    vals = np.column_stack([close, close + 0.5, close - 0.5, close, np.full(n, 2.0), tt + 1.0, np.ones(n)])
    return kline_batch_from_arrays(IV, s, tt * IV, tt * IV + IV - 1, vals, np.ones(n), closed)


def test_append_and_last_k_oldest_first() -> None:
    c = MarketCache(["A", "B"], capacity=5)
    assert c.add_klines(klines([0, 1, 0], [0, 0, 1])) == 3
    assert c.count.tolist() == [2, 1]
    k = c.last_klines(0, 10)
    assert set(k) == set(CACHE_FIELDS)
    assert k["close"].tolist() == [1.0, 2.0] and (k["open_time"] // IV).tolist() == [0, 1]
    assert c.last_klines(1, 1)["close"].tolist() == [101.0]
    assert c.last_klines(0, 0)["close"].size == 0


def test_wrap_around_keeps_the_newest_capacity() -> None:
    c = MarketCache(["A"], capacity=4)
    for t in range(10):
        c.add_klines(klines([0], [t]))
    assert c.count.tolist() == [4] and c.total_klines == 10
    assert c.last_klines(0, 4)["close"].tolist() == [7.0, 8.0, 9.0, 10.0]
    assert c.last_klines(0, 2)["close"].tolist() == [9.0, 10.0]
    assert c.last_open_time().tolist() == [9 * IV]


def test_one_batch_longer_than_capacity_and_interleaved_symbols() -> None:
    c = MarketCache(["A", "B", "C"], capacity=3)
    sym = [0, 1] * 7 + [0]
    t = [i // 2 for i in range(14)] + [7]
    c.add_klines(klines(sym, t))
    assert c.count.tolist() == [3, 3, 0]
    assert c.last_klines(0, 3)["close"].tolist() == [6.0, 7.0, 8.0]
    assert c.last_klines(1, 3)["close"].tolist() == [105.0, 106.0, 107.0]
    c.add_klines(klines([0], [8]))
    assert c.last_klines(0, 3)["close"].tolist() == [7.0, 8.0, 9.0]
    assert c.last_open_time().tolist() == [8 * IV, 6 * IV, -1]


def test_last_closes_matrix_nan_padding() -> None:
    c = MarketCache(["A", "B", "C"], capacity=4)
    c.add_klines(klines([0, 0, 0, 1], [0, 1, 2, 0]))
    m = c.last_closes(3)
    assert m.shape == (3, 3)
    assert m[0].tolist() == [1.0, 2.0, 3.0]
    assert np.isnan(m[1, :2]).all() and m[1, 2] == 101.0
    assert np.isnan(m[2]).all()
    big = c.last_closes(6)  # more than capacity: padded on the left
    assert big.shape == (3, 6) and big[0, 3:].tolist() == [1.0, 2.0, 3.0] and np.isnan(big[0, :3]).all()
    assert c.last_field("open_time", 2)[2].tolist() == [-1, -1]
    with pytest.raises(ValueError, match="unknown kline field"):
        c.last_field("nope", 2)


def test_in_progress_klines_update_price_only() -> None:
    c = MarketCache(["A", "B"], capacity=4)
    c.add_klines(klines([0], [0]))
    assert c.price[0] == 1.0 and c.price_ts[0] == IV - 1
    assert c.add_klines(klines([0, 1], [1, 1], closed=False), ts_ms=IV + 30_000) == 0
    assert c.count.tolist() == [1, 0]
    assert c.price.tolist() == [2.0, 102.0] and c.price_ts.tolist() == [IV + 30_000] * 2


def prices(sym: list[int], ts: list[int], px: list[float], qv: float = np.nan) -> PriceBatch:
    n = len(sym)
    return PriceBatch(
        np.array(sym, dtype=np.int32), np.array(ts, dtype=np.int64), np.array(px, dtype=float),
        np.full(n, 9.0), np.full(n, 11.0), np.full(n, 8.0), np.full(n, 100.0), np.full(n, qv),
    )


def test_update_prices_newest_wins_and_stale_ignored() -> None:
    c = MarketCache(["A", "B"], capacity=2, price_capacity=3)
    assert c.update_prices(prices([0, 1, 0], [10, 10, 20], [1.0, 2.0, 3.0], qv=500.0)) == 2
    assert c.price.tolist() == [3.0, 2.0] and c.price_ts.tolist() == [20, 10]
    assert c.open_24h.tolist() == [9.0, 9.0] and c.quote_volume_24h.tolist() == [500.0, 500.0]
    assert c.update_prices(prices([0], [15], [99.0])) == 0  # older than what we have
    assert c.price[0] == 3.0
    c.update_prices(prices([1], [30], [4.0]))  # NaN 24h volume keeps the known one
    assert c.quote_volume_24h[1] == 500.0
    c.update_prices(prices([7, -1], [40, 40], [1.0, 1.0]))  # out-of-range rows ignored
    ts, px = c.last_prices(1, 5)
    assert ts.tolist() == [10, 30] and px.tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="price_capacity"):
        MarketCache(["A"]).last_prices(0, 1)


def test_a_complete_batch_in_order_updates_exactly_like_any_other() -> None:
    # one row per symbol in symbol order takes whole-array copies; the same rows in another order
    # go the general way: both caches must end the same, NaN 24h fields and stale rows included
    rng = np.random.default_rng(3)
    n = 6
    fast, general = MarketCache(list("ABCDEF"), capacity=2), MarketCache(list("ABCDEF"), capacity=2)
    for step in range(40):
        ts = np.full(n, 1000 + step * 10, dtype=np.int64)
        if step % 7 == 3:
            ts[2] -= 500  # one row older than the symbol's price: the whole batch goes the general way
        fields = rng.uniform(1.0, 2.0, (6, n))
        fields[rng.random((6, n)) < 0.2] = np.nan  # unknown 24h figures keep the known ones
        fields[0] = rng.uniform(1.0, 2.0, n)  # the price itself is always known
        batch = PriceBatch(np.arange(n, dtype=np.int32), ts, *fields)
        perm = rng.permutation(n)
        while (perm == np.arange(n)).all():
            perm = rng.permutation(n)
        shuffled = PriceBatch(batch.sym[perm], ts[perm], *(f[perm] for f in fields))
        assert fast.update_prices(batch) == general.update_prices(shuffled)
        for name in ("price", "price_ts", "open_24h", "high_24h", "low_24h", "quote_volume_24h"):
            np.testing.assert_array_equal(getattr(fast, name), getattr(general, name), err_msg=name)


def test_recent_quote_volume_and_return_volatility() -> None:
    rng = np.random.default_rng(3)
    c = MarketCache(["A", "B", "C"], capacity=50)
    closes = 100 * np.cumprod(1 + rng.normal(0, 0.01, 30))
    n = closes.size
    vals = np.column_stack([closes, closes, closes, closes, np.ones(n), np.arange(n) + 1.0, np.zeros(n)])
    t = np.arange(n)
    c.add_klines(kline_batch_from_arrays(IV, np.zeros(n), t * IV, t * IV + IV - 1, vals, np.ones(n)))
    c.add_klines(klines([1, 1], [0, 1]))  # B: only 2 closes
    k = 20
    r = closes[-k:][1:] / closes[-k:][:-1] - 1
    vol = c.return_volatility(k)
    assert vol[0] == pytest.approx(np.std(r, ddof=1), rel=1e-12)
    assert np.isnan(vol[1]) and np.isnan(vol[2])
    q = c.recent_quote_volume(5)
    assert q[0] == sum(range(26, 31)) and q[1] == 1.0 + 2.0 and np.isnan(q[2])


def test_bad_construction() -> None:
    with pytest.raises(ValueError, match="capacity"):
        MarketCache(["A"], capacity=0)
    with pytest.raises(ValueError, match="price_capacity"):
        MarketCache(["A"], price_capacity=-1)


def test_memory_bound_2000_symbols_by_1000_klines() -> None:
    c = MarketCache([f"S{i}USDT" for i in range(2000)], capacity=1000)
    assert c.memory_bytes() <= 200 * 1024 * 1024
    assert c.memory_bytes() >= 8 * 8 * 2000 * 1000  # the eight kline fields are really held
    # a full wrap-around of every symbol does not grow it
    n = 2000
    for t in range(3):
        c.add_klines(klines(list(range(n)), [t] * n))
    before = c.memory_bytes()
    c.add_klines(klines(list(range(n)) * 2, [3] * n + [4] * n))
    assert c.memory_bytes() == before and c.count.max() == 5


def test_one_symbols_reads_equal_the_all_symbol_reads() -> None:
    """The engine's per-symbol reads (risk context of one order) give the same values, bit for bit,
    as the row of the all-symbol matrix, with and without padding and after wrap-around."""
    rng = np.random.default_rng(7)
    c = MarketCache(["A", "B", "C"], capacity=6)
    for t in range(9):
        syms = [s for s in range(3) if not (s == 2 and t < 7)]  # C has only 2 klines
        b = klines(syms, [t] * len(syms))
        b.quote_volume[:] = rng.lognormal(8.0, 2.0, len(syms))
        c.add_klines(b)
    for k in (0, 1, 3, 6, 10):
        whole = c.recent_quote_volume(k)
        for s in range(3):
            one = c.recent_quote_volume_of(s, k)
            assert one == whole[s] or (np.isnan(one) and np.isnan(whole[s]))
    assert c.recent_quote_volume_of(2, 6) == pytest.approx(c.quote_volume[2, :2].sum())
    empty = MarketCache(["A"], capacity=3)
    assert np.isnan(empty.recent_quote_volume_of(0, 3)) and np.isnan(empty.recent_quote_volume(3)[0])
    only = c.last_klines(1, 4, ("open_time",))
    assert list(only) == ["open_time"]
    assert np.array_equal(only["open_time"], c.last_klines(1, 4)["open_time"])
    with pytest.raises(ValueError, match="unknown kline field"):
        c.last_klines(0, 2, ("nope",))
