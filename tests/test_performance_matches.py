"""Performance score (formula, units, edge cases) and period outcomes (round robin,
margin mode, sampled opponents, inactive symbols, the small-N round robin against
the previous code)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui_trader.rating import build_outcomes, matches, rate_period
from tui_trader.rating.matches import sample_pairs
from tui_trader.rating.performance import (
    performance_score,
    period_inputs,
    period_scores,
    price_change_pct,
    return_volatility,
    taker_ratio,
)

NAN = math.nan


# ------------------------------------------------------------------ performance score
def test_formula_term_by_term():
    dp = np.array([0.0, 0.5, -1.0, 3.0])  # percent
    tr = np.array([0.5, 0.8, 0.2, 1.0])
    sig = np.array([0.0, 0.025, 0.05, 0.2])  # fraction
    want = [
        0.0,
        0.6 * math.tanh(1.0) + 0.3 * 2 * 0.3 + 0.1 * 0.5,
        0.6 * math.tanh(-2.0) + 0.3 * 2 * -0.3 + 0.1 * 1.0,
        0.6 * math.tanh(6.0) + 0.3 * 2 * 0.5 + 0.1 * 1.0,
    ]
    np.testing.assert_allclose(performance_score(dp, tr, sig), want, rtol=1e-15, atol=1e-16)


def test_units_price_change_is_percent_and_volatility_a_fraction():
    # a +1 % move (dp = 1) is tanh(2): the price term nearly saturates at a few percent
    s = performance_score(np.array([1.0]), np.array([0.5]), np.array([0.0]))
    assert s[0] == pytest.approx(0.6 * math.tanh(2.0))
    # volatility saturates at 0.05 (5 %)
    a = performance_score(np.zeros(2), np.full(2, 0.5), np.array([0.05, 0.5]))
    assert a[0] == a[1] == pytest.approx(0.1)
    # the helper turns prices into percent
    np.testing.assert_allclose(price_change_pct(np.array([100.0]), np.array([101.0])), [1.0])


def test_bounds_of_the_score():
    s = performance_score(np.array([1e9, -1e9]), np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(s, [1.0, -0.9])


def test_nan_or_invalid_inputs_give_nan_never_raise():
    dp = np.array([NAN, 1.0, 1.0, 1.0, 1.0, 1.0, math.inf])
    tr = np.array([0.5, NAN, 0.5, 1.5, 0.5, 0.5, 0.5])
    sig = np.array([0.01, 0.01, NAN, 0.01, -0.01, math.inf, 0.01])
    s = performance_score(dp, tr, sig)
    assert np.isnan(s[:6]).all()
    assert s[6] == pytest.approx(0.6 + 0.1 * 0.2)  # an infinite move saturates tanh


def test_taker_ratio_edge_cases():
    tb = np.array([3.0, 0.0, 0.0, NAN, 1.0, 2.0 + 1e-12, -1.0])
    vol = np.array([4.0, 0.0, 5.0, 1.0, NAN, 2.0, 1.0])
    r = taker_ratio(tb, vol)
    np.testing.assert_array_equal(r[:3], [0.75, 0.5, 0.0])
    assert np.isnan(r[3]) and np.isnan(r[4]) and np.isnan(r[6])
    assert r[5] == 1.0  # rounding overshoot clipped
    assert np.isnan(taker_ratio(np.array([1.0]), np.array([-1.0])))[0]


def test_price_change_edge_cases():
    p = price_change_pct(np.array([100.0, 0.0, NAN, 50.0]), np.array([90.0, 1.0, 1.0, NAN]))
    assert p[0] == pytest.approx(-10.0)
    assert np.isnan(p[1:]).all()


def test_return_volatility_is_population_std_of_simple_returns():
    closes = np.array(
        [
            [100.0, 10.0, 5.0, 10.0],
            [110.0, 11.0, 5.0, NAN],
            [99.0, 12.1, NAN, 11.0],
            [99.0, NAN, NAN, 11.0],
        ]
    )
    v = return_volatility(closes)
    assert v[0] == pytest.approx(np.array([0.1, -0.1, 0.0]).std())  # ddof 0
    assert v[1] == pytest.approx(0.0, abs=1e-15)  # +10 %, +10 %
    assert np.isnan(v[2])  # a single return (5 -> 5) is below min_returns=2
    assert np.isnan(v[3])  # a gap breaks the pairs: only 11 -> 11 is a return
    assert return_volatility(closes, min_returns=1)[3] == 0.0
    assert np.isnan(return_volatility(closes[:1])).all()


def test_period_inputs_and_scores_from_aggregates():
    op = np.array([100.0, 20.0, NAN])
    cl = np.array([101.0, 19.0, 5.0])
    vol = np.array([10.0, 0.0, 1.0])
    tb = np.array([6.0, 0.0, 1.0])
    sig = np.array([0.01, 0.02, 0.01])
    dp, tr, s = period_inputs(op, cl, vol, tb, sig)
    np.testing.assert_allclose(dp[:2], [1.0, -5.0])
    np.testing.assert_allclose(tr, [0.6, 0.5, 1.0])
    np.testing.assert_array_equal(s, sig)
    sc = period_scores(op, cl, vol, tb, sig)
    assert sc[0] == pytest.approx(0.6 * math.tanh(2.0) + 0.3 * 2 * 0.1 + 0.1 * 0.2)
    assert np.isnan(sc[2])  # no open price: inactive


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="shape"):
        performance_score(np.zeros(2), np.zeros(3), np.zeros(2))


# ---------------------------------------------------------------------------- outcomes
def played(o):
    return np.isfinite(o)


def test_binary_round_robin_and_antisymmetry():
    s = np.array([0.3, -0.1, 0.3, NAN, 0.3 + 1e-12])
    o = build_outcomes(s)
    assert o.shape == (5, 5)
    assert np.isnan(np.diag(o)).all()
    assert np.isnan(o[3]).all() and np.isnan(o[:, 3]).all()  # inactive symbol plays no game
    assert o[0, 1] == 1.0 and o[1, 0] == 0.0
    assert o[0, 2] == 0.5 and o[2, 0] == 0.5
    assert o[0, 4] == 0.5  # |gap| <= draw_epsilon
    assert build_outcomes(s, draw_epsilon=0.0)[4, 0] == 1.0
    p = played(o)
    np.testing.assert_array_equal(p, p.T)
    assert ((o + o.T)[p] == 1.0).all()
    # every active symbol plays every other active one
    assert p.sum() == 4 * 3


def test_a_gap_of_exactly_draw_epsilon_is_a_draw_in_both_paths():
    # sampled opponents use pair_outcome, the round robin its in-place twin: the same boundary
    got = matches.pair_outcome(np.array([0.5, -0.5, 0.5000001, -0.5000001, NAN]), "binary", 0.25, 0.5)
    np.testing.assert_array_equal(got, [0.5, 0.5, 1.0, 0.0, NAN])
    rr = build_outcomes(np.array([0.5, 0.0, 1.0000001]), draw_epsilon=0.5)
    assert (rr[0, 1], rr[1, 0], rr[2, 0], rr[0, 2]) == (0.5, 0.5, 1.0, 0.0)


def test_margin_mode_logistic_and_exact_complement():
    rng = np.random.default_rng(0)
    s = rng.normal(0.0, 0.5, 40)
    o = build_outcomes(s, mode="margin", margin_scale=0.25)
    i, j = 3, 17
    assert o[i, j] == pytest.approx(1.0 / (1.0 + math.exp(-(s[i] - s[j]) / 0.25)), rel=1e-14)
    g = build_outcomes(np.array([0.25, 0.0]), mode="margin", margin_scale=0.25)
    assert g[0, 1] == pytest.approx(0.7310585786)  # gap = margin_scale -> ~0.73
    p = played(o)
    assert ((o + o.T)[p] == 1.0).all()
    assert ((o[p] >= 0.0) & (o[p] <= 1.0)).all()
    # huge gaps: no overflow, no NaN
    h = build_outcomes(np.array([1e6, -1e6]), mode="margin")
    assert h[0, 1] == 1.0 and h[1, 0] == 0.0


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 10])
@pytest.mark.parametrize("m", [9, 12, 31])
def test_sampled_opponents_count_and_symmetry(k, m):
    n = m + 3
    s = np.random.default_rng(k * 100 + m).normal(size=n)
    s[[0, 5, 9]] = NAN  # three inactive symbols
    o = build_outcomes(s, opponents=k, rng=np.random.default_rng(42))
    p = played(o)
    np.testing.assert_array_equal(p, p.T)
    assert ((o + o.T)[p] == 1.0).all()
    assert not p[[0, 5, 9]].any() and not p[:, [0, 5, 9]].any()
    games = p.sum(axis=1)[np.isfinite(s)]
    if k >= m - 1:
        assert (games == m - 1).all()  # round robin
    elif k % 2 == 1 and m % 2 == 1:
        assert sorted(games)[0] == k - 1 and (np.sort(games)[1:] == k).all()
    else:
        assert (games == k).all()


def test_sampling_is_deterministic_given_the_rng_and_varies_with_it():
    s = np.random.default_rng(1).normal(size=200)
    a = build_outcomes(s, opponents=6, rng=np.random.default_rng(7))
    b = build_outcomes(s, opponents=6, rng=np.random.default_rng(7))
    c = build_outcomes(s, opponents=6, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(played(a), played(c))


def test_sample_pairs_are_distinct_unordered_pairs():
    act = np.arange(50)
    i, j = sample_pairs(act, 9, np.random.default_rng(3))
    pairs = {tuple(sorted(p)) for p in zip(i.tolist(), j.tolist(), strict=True)}
    assert len(pairs) == len(i)  # no pair twice
    assert all(a != b for a, b in pairs)


def _ref_round_robin(s, active, m, mode, margin_scale, draw_epsilon):
    """The round robin before the small-N path (commit df3f197, matches._round_robin), verbatim."""
    n = s.shape[0]
    out = np.subtract.outer(s, s)  # gap; NaN rows/columns are overwritten below
    if mode == "binary":
        lose = np.less(out, -draw_epsilon)
        np.greater(out, draw_epsilon, out=out)  # 1.0 win, 0.0 otherwise
        out -= lose  # 1 win, 0 draw, -1 loss
        out *= 0.5
        out += 0.5
    else:
        neg = out < 0.0
        np.abs(out, out=out)
        out *= -1.0 / margin_scale
        np.exp(out, out=out)
        out += 1.0
        np.divide(1.0, out, out=out)  # logistic(|gap| / scale) in [0.5, 1]
        np.subtract(1.0, out, out=out, where=neg)
    if m != n:
        idle = np.flatnonzero(~active)
        out[idle, :] = np.nan
        out[:, idle] = np.nan
    np.fill_diagonal(out, np.nan)
    return out


def test_round_robin_is_bit_identical_to_the_previous_code():
    # small universes take a path with fewer numpy calls; every value (and every NaN)
    # must be what the previous code gave, on both sides of the switch
    rng = np.random.default_rng(11)
    small = matches._SMALL_N
    for _ in range(1500):
        n = int(rng.integers(0, 12)) if rng.random() < 0.5 else int(rng.integers(small - 3, small + 4))
        s = rng.normal(0.0, rng.choice([1e-9, 0.3, 1e3]), n)
        if n:
            s[rng.random(n) < 0.1] = NAN
            s[rng.random(n) < 0.05] = rng.choice([math.inf, -math.inf])
            s[rng.random(n) < 0.2] = 0.25  # exact ties
        if n > 1:
            s[1] = s[0] + rng.choice([1e-9, -1e-9, 0.0, 2e-9])  # gaps at the draw threshold
        mode = str(rng.choice(["binary", "margin"]))
        scale = float(rng.choice([0.25, 1e-3, 10.0]))
        eps = float(rng.choice([0.0, 1e-9, 0.1]))
        active = np.isfinite(s)
        with np.errstate(invalid="ignore"):  # inf - inf, in both
            want = _ref_round_robin(s, active, int(active.sum()), mode, scale, eps)
            got = build_outcomes(s, mode=mode, margin_scale=scale, draw_epsilon=eps)
        assert got.dtype == np.float64 and got.shape == want.shape
        assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), (n, mode, scale, eps)


def test_outcomes_feed_rate_period():
    s = np.array([0.9, 0.1, NAN, -0.5])
    o = build_outcomes(s)
    r, d, v = rate_period(np.full(4, 1500.0), np.full(4, 350.0), np.full(4, 0.06), o)
    assert r[0] > 1500.0 > r[3]
    assert r[1] == pytest.approx(1500.0, abs=1e-9)  # one win, one loss against equals
    assert r[2] == 1500.0 and d[2] > 350.0  # inactive: RD grows only


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "elo"}, "mode"),
        ({"opponents": -1}, "opponents"),
        ({"opponents": 2.5}, "opponents"),
        ({"opponents": 3}, "rng"),
        ({"margin_scale": 0.0}, "margin_scale"),
        ({"draw_epsilon": -1e-9}, "draw_epsilon"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_outcomes(np.zeros(8), **kwargs)


def test_empty_and_single_universe():
    assert build_outcomes(np.empty(0)).shape == (0, 0)
    one = build_outcomes(np.array([0.2]), opponents=3, rng=np.random.default_rng(0))
    assert one.shape == (1, 1) and np.isnan(one).all()
