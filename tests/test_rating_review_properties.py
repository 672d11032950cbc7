"""Properties from a correctness review of the rating and strategy code: the signal rules under any
input (NaN, inf, negative, locked, held), the rolling z-score against a plain reference with masks,
ties, large offsets and a restore midway, and the rating periods of a universe whose symbols join,
leave, skip klines and get late ones."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_trader.config import Config
from tui_trader.models import KlineBatch, SignalType
from tui_trader.rating.periods import PERIOD_CLOSED, PeriodRater, RatingParams
from tui_trader.rating.zscore import RollingZScore
from tui_trader.strategy.signals import DROPPED_PREFIX, SignalGenerator

CFG = Config()
SYMS = ["A", "B", "C", "D"]
N = len(SYMS)

_any = st.floats(allow_nan=True, allow_infinity=True)
_row = st.lists(_any, min_size=N, max_size=N).map(lambda v: np.array(v, dtype=np.float64))
_bools = st.lists(st.booleans(), min_size=N, max_size=N).map(np.array)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    z=_row,
    std=_row,
    hist=_row,
    stale=_row,
    gaps=_row,
    hold=_bools,
    entry=_row,
    price=_row,
    lock=_bools,
    thr=st.floats(0.01, 10.0),
)
def test_signal_rules_hold_for_any_input(z, std, hist, stale, gaps, hold, entry, price, lock, thr) -> None:
    g = SignalGenerator(CFG, SYMS)
    with np.errstate(all="ignore"):
        sigs = g.evaluate(0, z, std, hist, stale, gaps, hold, entry, price, locked=lock, threshold=thr)
    assert len({s.symbol for s in sigs}) == len(sigs)  # one signal per symbol at most
    for s in sigs:
        i = SYMS.index(s.symbol)
        assert math.isfinite(s.strength) and 0.0 <= s.strength <= 2.0
        assert math.isfinite(s.confidence) and 0.0 <= s.confidence <= 1.0
        if s.type is SignalType.BUY:
            assert not hold[i] and z[i] >= thr and not lock[i] and s.kind == "entry"
            assert s.outcome.startswith(DROPPED_PREFIX) == (
                s.confidence < CFG.signal_generation.confidence_threshold
            )
        else:
            assert hold[i]
            assert s.urgent == (s.kind == "stop_loss")
            if s.kind in ("stop_loss", "profit_target"):
                assert entry[i] > 0 and not math.isnan(price[i])  # a price move needs both prices
            if s.kind != "stop_loss":
                assert not lock[i]  # a lock freezes everything but the stop loss
            if s.kind == "z_reversal":
                assert z[i] <= -thr
    groups = [0 if s.urgent else 1 if s.type is SignalType.SELL else 3 if s.outcome else 2 for s in sigs]
    assert groups == sorted(groups)  # urgent exits, exits, entries, dropped entries


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    n=st.integers(1, 4),
    window=st.integers(2, 7),
    min_history=st.integers(2, 7),
    periods=st.integers(1, 30),
    seed=st.integers(0, 10**6),
    offset=st.sampled_from([0.0, 1500.0, 1e6]),
    scale=st.sampled_from([1e-3, 1.0, 100.0]),
    p_skip=st.floats(0.0, 1.0),
    restore_at=st.integers(-1, 30),
)
def test_z_scores_equal_a_plain_window_with_masks_ties_offsets_and_a_restore(
    n, window, min_history, periods, seed, offset, scale, p_skip, restore_at
) -> None:
    min_history = min(min_history, window)
    rng = np.random.default_rng(seed)
    zs = RollingZScore(n, window, min_history)
    seen: list[list[float]] = [[] for _ in range(n)]
    rows = []
    for t in range(periods):
        x = offset + scale * rng.standard_normal(n)
        if rng.random() < 0.3:
            x = np.round(x)  # ties, often a constant window
        m = rng.random(n) >= p_skip
        rows.append(np.where(m, x, np.nan))
        if t == restore_at:  # a restart: the window rebuilt from the stored rows
            zs = RollingZScore(n, window, min_history)
            zs.load(np.array(rows))
            z = zs.z.copy()
        else:
            z, _, _ = zs.update(x, m)
        for i in np.flatnonzero(m):
            seen[i].append(x[i])
        for i in range(n):
            h = np.array(seen[i][-window:])
            assert zs.count[i] == len(h)
            assert np.array_equal(zs.values_ordered(i), h)
            if not len(h):
                assert z[i] == 0.0
                continue
            d = h - h[0]  # the reference shifted too, so that it is exact enough to compare with
            mean, sd = h[0] + d.mean(), d.std()
            assert abs(zs.mean[i] - mean) <= 1e-9 * max(1.0, abs(mean))
            assert abs(zs.std[i] - sd) <= 1e-7 * max(scale, sd) + 1e-9
            if len(h) < min_history:
                assert z[i] == 0.0
            elif sd > max(1e-6 * scale, 1e-10 * abs(mean)):
                ref = (d[-1] - d.mean()) / sd
                assert abs(z[i] - ref) <= 1e-3 * max(1.0, abs(ref))
            assert math.isfinite(z[i])


IV = 60_000


def _klines(rows: list[dict]) -> KlineBatch:
    def col(k: str, dt: type = np.float64) -> np.ndarray:
        return np.array([r[k] for r in rows], dtype=dt)

    t = col("t", np.int64)
    return KlineBatch(
        IV,
        col("s", np.int32),
        t,
        t + IV - 1,
        col("o"),
        col("h"),
        col("l"),
        col("c"),
        col("v"),
        col("v"),
        np.ones(len(rows), dtype=np.int64),
        col("tb"),
        np.ones(len(rows), dtype=bool),
    )


def _rater(opponents: int, mode: str, n: int, z_window: int, vol_window: int, per: int) -> PeriodRater:
    base = RatingParams.from_config(CFG)
    params = RatingParams(
        **{
            **base.__dict__,
            "z_window": z_window,
            "volatility_window": vol_window,
            "opponents": opponents,
            "outcome_mode": mode,
        }
    )
    r = PeriodRater()
    r.counters = {k: 0 for k in PeriodRater.COUNTERS}
    r._init_rating(params, [f"S{i}" for i in range(n)], per * IV)
    return r


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 10**6),
    games=st.sampled_from([(0, "binary"), (0, "margin"), (1, "binary"), (2, "margin")]),
)
def test_symbols_that_join_leave_and_skip_periods_are_rated_as_glicko2_says(seed, games) -> None:
    """Symbols join and leave at random, skip klines, trade nothing (zero volume, flat price) and
    get late klines; after every period: a symbol that did not play keeps its rating, volatility,
    z-score and window, and its RD grows up to the cap; one that played adds one value to its window;
    the gap counts are the missing periods of the window; the volatility's fast path equals the
    cache's figure; everything stays finite."""
    rng = np.random.default_rng(seed)
    n, z_window, per, steps = 5, 6, 3, 120
    r = _rater(*games, n=n, z_window=z_window, vol_window=5, per=per)
    max_rd = r._rp.max_rd
    price = np.full(n, 100.0)
    join = rng.integers(0, steps // 2, n)
    join[0] = 0
    leave = rng.integers(steps // 2, steps + steps // 2, n)
    missing: list[np.ndarray] = []
    before = (r.rating.copy(), r.rd.copy(), r.vol.copy(), r.zs.count.copy(), r.z.copy())
    closed = 0
    for t in range(steps):
        rows = []
        for s in range(n):
            if not join[s] <= t < leave[s] or rng.random() < 0.1:
                continue
            o = price[s]
            c = o if rng.random() < 0.2 else o * math.exp(rng.normal(0.0, 0.01))
            v = 0.0 if rng.random() < 0.1 else 10.0 * rng.random()
            rows.append(
                {
                    "s": s,
                    "t": t * IV,
                    "o": o,
                    "h": max(o, c),
                    "l": min(o, c),
                    "c": c,
                    "v": v,
                    "tb": v * rng.random(),
                }
            )
            price[s] = c
        if t > 2 and rng.random() < 0.05:  # a late kline of a period already rated
            s = int(rng.integers(n))
            p = price[s]
            rows.append({"s": s, "t": (t - 2) * IV, "o": p, "h": p, "l": p, "c": p, "v": 1.0, "tb": 0.5})
        if not rows:
            continue
        rng.shuffle(rows)
        for step in r._kline_steps(_klines(rows)):
            if step is not PERIOD_CLOSED:
                continue
            closed += 1
            rating0, rd0, vol0, count0, z0 = before
            played = np.isfinite(r.score)
            idle = ~played
            assert np.isfinite(r.rating).all() and np.isfinite(r.z).all() and np.isfinite(r.vol).all()
            assert (r.rd > 0).all() and (r.rd <= max_rd).all()
            assert np.array_equal(r.rating[idle], rating0[idle]) and np.array_equal(r.vol[idle], vol0[idle])
            assert (r.rd[idle] >= np.minimum(rd0[idle], max_rd)).all()
            assert np.array_equal(r.zs.count[idle], count0[idle]) and np.array_equal(r.z[idle], z0[idle])
            assert np.array_equal(r.zs.count[played], np.minimum(count0[played] + 1, z_window))
            missing.append(idle & (r.last_kline_ms >= 0))
            assert np.array_equal(r.gaps, np.sum(missing[-z_window:], axis=0))
            np.testing.assert_array_equal(r._volatility(), r.cache.return_volatility(5))
            before = (r.rating.copy(), r.rd.copy(), r.vol.copy(), r.zs.count.copy(), r.z.copy())
    assert closed >= 10  # (a period in which no symbol has a kline is not rated at all)
