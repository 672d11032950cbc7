"""The order of the symbol list does not change what a symbol is rated.

The same market with ``feed.symbols`` written in another order (a replay or the sim with a
symbol list keeps the list's order) must rate every symbol the same: the games, and so the
ratings, z-scores and signals, belong to the symbols, not to their positions in the list."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui_trader.config import Config
from tui_trader.models import KlineBatch
from tui_trader.rating.periods import PERIOD_CLOSED, PeriodRater, RatingParams

IV = 60_000
PER = 3  # klines per rating period
NAMES = ["ADAUSDT", "BNBUSDT", "BTCUSDT", "DOGEUSDT", "ETHUSDT", "LINKUSDT", "SOLUSDT", "XRPUSDT", "ZIUSDT"]


def _market(seed: int, n: int, steps: int) -> list[list[dict]]:
    """Klines per open time, by symbol name; some symbols skip some klines."""
    rng = np.random.default_rng(seed)
    price = np.full(n, 100.0)
    out = []
    for t in range(steps):
        rows = []
        for s in range(n):
            if rng.random() < 0.05:
                continue
            o = price[s]
            c = o * math.exp(rng.normal(0.0, 0.01))
            v = 10.0 * rng.random()
            rows.append({"name": NAMES[s], "t": t * IV, "o": o, "c": c, "v": v, "tb": v * rng.random()})
            price[s] = c
        out.append(rows)
    return out


def _batch(rows: list[dict], index: dict[str, int]) -> KlineBatch:
    rows = sorted(rows, key=lambda r: index[r["name"]])

    def col(k: str) -> np.ndarray:
        return np.array([r[k] for r in rows], dtype=np.float64)

    t = np.array([r["t"] for r in rows], dtype=np.int64)
    o, c = col("o"), col("c")
    return KlineBatch(IV, np.array([index[r["name"]] for r in rows], dtype=np.int32), t, t + IV - 1, o,
                      np.maximum(o, c), np.minimum(o, c), c, col("v"), col("v"),
                      np.ones(len(rows), dtype=np.int64), col("tb"), np.ones(len(rows), dtype=bool))


def _run(symbols: list[str], market: list[list[dict]], opponents: int, mode: str) -> list[dict[str, tuple]]:
    """Per closed period: {name: (rating, rd, vol, score, z)}."""
    base = RatingParams.from_config(Config())
    params = RatingParams(**{**base.__dict__, "opponents": opponents, "outcome_mode": mode, "z_window": 8,
                             "volatility_window": 5})
    r = PeriodRater()
    r.counters = {k: 0 for k in PeriodRater.COUNTERS}
    r._init_rating(params, symbols, PER * IV)
    index = {s: i for i, s in enumerate(symbols)}
    periods = []
    for rows in market:
        for step in r._kline_steps(_batch(rows, index)):
            if step is PERIOD_CLOSED:
                periods.append({s: (r.rating[i], r.rd[i], r.vol[i], r.score[i], r.z[i])
                                for i, s in enumerate(symbols)})
    return periods


@pytest.mark.parametrize("opponents", [2, 3])
@pytest.mark.parametrize("mode", ["binary", "margin"])
def test_sampled_opponents_do_not_depend_on_the_order_of_the_symbol_list(opponents: int, mode: str) -> None:
    # It did: the opponents were drawn by list position, so reordering the list paired other
    # symbols (ratings hundreds of points apart after a few periods). Now the draw and the
    # games' order follow the symbols' names: every figure equal, bit for bit.
    n = len(NAMES)
    market = _market(11, n, 60)
    listed = NAMES[:n]
    shuffled = [listed[i] for i in np.random.default_rng(5).permutation(n)]
    a = _run(listed, market, opponents, mode)
    b = _run(shuffled, market, opponents, mode)
    assert len(a) == len(b) >= 15
    for pa, pb in zip(a, b, strict=True):
        for name in listed:
            np.testing.assert_array_equal(np.array(pa[name]), np.array(pb[name]), err_msg=name)


def test_round_robin_is_the_same_to_rounding_in_any_order_of_the_symbol_list() -> None:
    # A round robin sums each symbol's games in list order (BLAS); another order changes the last
    # bits only, and they do not grow over the periods.
    n = len(NAMES)
    market = _market(12, n, 60)
    listed = NAMES[:n]
    shuffled = [listed[i] for i in np.random.default_rng(6).permutation(n)]
    a = _run(listed, market, 0, "margin")
    b = _run(shuffled, market, 0, "margin")
    assert len(a) == len(b) >= 15
    for pa, pb in zip(a, b, strict=True):
        for name in listed:
            np.testing.assert_allclose(np.array(pa[name][:4]), np.array(pb[name][:4]), rtol=1e-9, atol=0)
            assert abs(pa[name][4] - pb[name][4]) <= 1e-6
