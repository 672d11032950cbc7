"""Glicko-2 against published reference vectors.

The numbers are quoted from ``shared/data/glicko2/VECTORS.md`` (sources named
there: Glickman's paper via proglottis/glicko2, mmai/glicko2js, fmhahne/Glicko.jl,
sublee/glicko2 and atomflunder/skillratings tests). They are written here as
constants so this file does not need the shared folder.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui_trader.rating.glicko2 import (
    SCALE,
    confidence_interval,
    expected_score,
    g_factor,
    rate_period,
    rate_period_games,
)

NAN = math.nan


def rate2(p1, p2, s):
    """One rating period with two players; p = (rating, rd, vol); s = p1's score."""
    r = np.array([p1[0], p2[0]], dtype=float)
    d = np.array([p1[1], p2[1]], dtype=float)
    v = np.array([p1[2], p2[2]], dtype=float)
    o = np.array([[NAN, s], [1.0 - s, NAN]])
    nr, nd, nv = rate_period(r, d, v, o)
    return (nr[0], nd[0], nv[0]), (nr[1], nd[1], nv[1])


# ---------------------------------------------------------------- 1. the paper's example
PLAYER = (1500.0, 200.0, 0.06)
OPPONENTS = [(1400.0, 30.0), (1550.0, 100.0), (1700.0, 300.0)]
SCORES = [1.0, 0.0, 0.0]


def paper_period():
    r = np.array([PLAYER[0]] + [o[0] for o in OPPONENTS])
    d = np.array([PLAYER[1]] + [o[1] for o in OPPONENTS])
    v = np.full(4, 0.06)
    o = np.full((4, 4), NAN)
    o[0, 1:] = SCORES  # only the player's row: the opponents' updates are not the point here
    return r, d, v, o


def test_paper_glicko2_scale_inputs():
    r, d, _, _ = paper_period()
    mu = (r - 1500.0) / SCALE
    phi = d / SCALE
    np.testing.assert_allclose(mu[1:], [-0.5756, 0.2878, 1.1513], atol=1e-4)
    np.testing.assert_allclose(phi[1:], [0.1727, 0.5756, 1.7269], atol=1e-4)
    assert mu[0] == 0.0
    assert phi[0] == pytest.approx(1.1513, abs=1e-4)


def test_paper_g_and_e():
    _, d, _, _ = paper_period()
    np.testing.assert_allclose(g_factor(d[1:]), [0.9955, 0.9531, 0.7242], atol=1e-4)
    r, d, _, _ = paper_period()
    e = expected_score(r, d)[0, 1:]
    np.testing.assert_allclose(e, [0.639, 0.432, 0.303], atol=1e-3)


def test_expected_score_follows_the_paper_formula_to_full_precision():
    # the published E values carry 3 decimals; the formula itself, written out here, pins the rest:
    # E = 1 / (1 + exp(-g(phi_j) (mu_i - mu_j))), g(phi) = 1 / sqrt(1 + 3 phi^2 / pi^2)
    r, d, _, _ = paper_period()
    mu, phi = (r - 1500.0) / 173.7178, d / 173.7178
    g = 1.0 / np.sqrt(1.0 + 3.0 * phi**2 / math.pi**2)
    e = expected_score(r, d)
    for i in range(4):
        for j in range(4):
            assert e[i, j] == pytest.approx(1.0 / (1.0 + math.exp(-g[j] * (mu[i] - mu[j]))), rel=1e-12)
    # combined=True: the RDs of both players, sqrt(phi_i^2 + phi_j^2)
    c = expected_score(r, d, combined=True)
    gc = 1.0 / math.sqrt(1.0 + 3.0 * (phi[0] ** 2 + phi[3] ** 2) / math.pi**2)
    assert c[0, 3] == pytest.approx(1.0 / (1.0 + math.exp(-gc * (mu[0] - mu[3]))), rel=1e-12)
    np.testing.assert_allclose(g_factor(d), g, rtol=1e-12)


def test_paper_example_rounded_figures():
    nr, nd, nv = rate_period(*paper_period())
    # mu', phi', sigma' (proglottis spec/rater_spec.rb, delta 0.00005)
    assert (nr[0] - 1500.0) / SCALE == pytest.approx(-0.2069, abs=5e-5)
    assert nd[0] / SCALE == pytest.approx(0.8722, abs=5e-5)
    assert nv[0] == pytest.approx(0.05999, abs=5e-5)
    # r', RD', sigma' (rating_period_spec.rb, glicko2js): 1464.06 / 151.52 / 0.05999
    assert nr[0] == pytest.approx(1464.06, abs=0.01)
    assert nd[0] == pytest.approx(151.52, abs=0.01)
    assert nv[0] == pytest.approx(0.05999, abs=1e-5)
    # sublee/glicko2 checks (1464.051, 151.515, 0.05999) at 3 decimals, +-1 in the last one.
    # Its RD figure is not used: 151.515 is 0.0015 below the unrounded 151.5165 that
    # skillratings (15152 / 100) and the paper (151.52) agree on.
    assert abs(round(nr[0] * 1000) - 1464051) <= 1
    assert abs(round(nv[0] * 1000) - round(0.05999 * 1000)) <= 1


def test_paper_example_full_precision():
    nr, nd, nv = rate_period(*paper_period())
    # skillratings test_glicko2_rating_period: sigma' within f64 epsilon; rating/RD rounded
    assert nv[0] == pytest.approx(0.059995984286488495, rel=1e-9, abs=0)
    assert round(nr[0]) == 1464
    assert round(nd[0] * 100) == 15152
    # unrounded values of the independent check quoted in VECTORS.md
    assert nr[0] == pytest.approx(1464.0506705393013, rel=1e-9, abs=0)
    assert nd[0] == pytest.approx(151.51652412385727, rel=1e-9, abs=0)


def test_paper_example_opponents_without_games_only_grow_rd():
    r, d, v, o = paper_period()
    nr, nd, nv = rate_period(r, d, v, o)
    # the opponents' rows are all NaN: they "did not play" from their own point of view
    np.testing.assert_array_equal(nr[1:], r[1:])
    np.testing.assert_array_equal(nv[1:], v[1:])
    np.testing.assert_allclose(nd[1:], SCALE * np.sqrt((d[1:] / SCALE) ** 2 + 0.06**2), rtol=1e-14)


# ------------------------------------------------------------ 2. no games in a period
def one_idle(rating, rd, vol):
    nr, nd, nv = rate_period(np.array([rating]), np.array([rd]), np.array([vol]), np.full((1, 1), NAN))
    return nr[0], nd[0], nv[0]


def test_no_games_rd_grows_rating_and_vol_unchanged():
    r, d, v = one_idle(1500.0, 200.0, 0.06)
    assert r == 1500.0 and v == 0.06
    assert d == pytest.approx(math.sqrt(200.0**2 + (0.06 * SCALE) ** 2), rel=1e-14)
    assert d == pytest.approx(200.27141669877065, rel=1e-12)


def test_no_games_skillratings_decay_vectors():
    assert round(one_idle(1250.0, 95.0, 0.06)[1]) == 96
    assert one_idle(1250.0, 95.0, 0.06)[1] == pytest.approx(95.57008, abs=1e-5)
    # no cap at 350 here (skillratings caps; the paper does not)
    assert one_idle(1500.0, 350.0, 0.06)[1] == pytest.approx(350.155, abs=1e-3)
    _, d1, v1 = one_idle(2250.0, 35.0, 0.059998)
    assert round(d1) == 37 and d1 == pytest.approx(36.51894, abs=1e-5)
    _, d2, _ = one_idle(2250.0, d1, v1)
    assert round(d2) == 38 and d2 == pytest.approx(37.97718, abs=1e-5)


def test_no_games_when_the_only_finite_entry_is_the_diagonal():
    nr, nd, nv = rate_period(np.array([1500.0]), np.array([200.0]), np.array([0.06]), np.array([[1.0]]))
    assert nr[0] == 1500.0 and nv[0] == 0.06
    assert nd[0] == pytest.approx(200.27141669877065, rel=1e-12)


# --------------------------------------------------------- 3. multi-period sequences
def test_skillratings_sequential_periods():
    p = (1500.0, 200.0, 0.06)
    p, opp = rate2(p, (1400.0, 30.0, 0.06), 1.0)
    assert (round(p[0]), round(p[1])) == (1564, 175)
    assert (round(opp[0]), round(opp[1])) == (1398, 32)
    assert p[0] == pytest.approx(1563.5641943, abs=1e-6)
    assert p[1] == pytest.approx(175.4026559, abs=1e-6)
    p, _ = rate2(p, (1550.0, 100.0, 0.06), 0.0)
    assert p[0] == pytest.approx(1492.2587359, abs=1e-6)
    assert p[1] == pytest.approx(158.3025921, abs=1e-6)
    p, _ = rate2(p, (1700.0, 300.0, 0.06), 0.0)
    assert (round(p[0]), round(p[1])) == (1464, 152)
    assert p[0] == pytest.approx(1463.7883721, abs=1e-6)
    assert p[1] == pytest.approx(151.8732131, abs=1e-6)
    assert p[2] == pytest.approx(0.059_997_514_049_860_735, rel=1e-9, abs=0)


def test_skillratings_equal_deviation_win():
    a, b = rate2((1520.0, 350.0, 0.06), (1420.0, 350.0, 0.06), 1.0)
    assert (round(a[0]), round(a[1])) == (1653, 292)
    assert (round(b[0]), round(b[1])) == (1287, 292)


def test_skillratings_unequal_deviation_draw():
    a, b = rate2((1600.0, 350.0, 0.06), (1500.0, 50.0, 0.06), 0.5)
    assert (round(a[0]), round(a[1])) == (1550, 253)
    assert (round(b[0]), round(b[1])) == (1501, 51)


@pytest.mark.parametrize(
    ("losses", "expected", "opponent"),
    [(6, (1397, 212, 60004), (1603, 212, 60004)), (25, (1248, 176, 60001), (1752, 176, 60001))],
)
def test_skillratings_lose_streak(losses, expected, opponent):
    a = b = (1500.0, 350.0, 0.06)
    for _ in range(losses):
        a, b = rate2(a, b, 0.0)
    a, b = rate2(a, b, 1.0)
    assert (round(a[0]), round(a[1]), round(a[2] * 1e6)) == expected
    assert (round(b[0]), round(b[1]), round(b[2] * 1e6)) == opponent


def test_skillratings_doc_example():
    a, b = rate2((1500.0, 350.0, 0.06), (1500.0, 350.0, 0.06), 1.0)
    assert (round(a[0]), round(a[1])) == (1662, 290)
    assert (round(b[0]), round(b[1])) == (1338, 290)
    assert a[2] == pytest.approx(0.05999967537233814, rel=1e-9, abs=0)
    assert b[2] == pytest.approx(0.05999967537233814, rel=1e-9, abs=0)


def test_skillratings_expected_score():
    e = expected_score(np.array([1500.0, 1500.0]), np.array([350.0, 350.0]), combined=True)
    assert e[0, 1] == pytest.approx(0.5) and e[1, 0] == pytest.approx(0.5)
    e = expected_score(np.array([2000.0, 1780.0]), np.array([50.0, 150.0]), combined=True)
    assert (round(e[0, 1] * 100), round(e[1, 0] * 100)) == (76, 24)
    assert e[0, 1] + e[1, 0] == pytest.approx(1.0, abs=1e-15)
    # the paper's E (opponent RD only) for the stronger player rounds to 76 % as well
    assert round(expected_score(np.array([2000.0, 1780.0]), np.array([50.0, 150.0]))[0, 1] * 100) == 76


def test_skillratings_confidence_interval():
    lo, hi = confidence_interval(np.array([1500.0]), np.array([30.0]))
    assert (round(lo[0]), round(hi[0])) == (1441, 1559)


# --------------------------------------------------------------- 4. multi-player race
def test_glicko2js_race():
    # Ryan wins; Bob and John tie for 2nd; Mary 4th
    r = np.array([1500.0, 1400.0, 1550.0, 1700.0])
    d = np.array([200.0, 30.0, 100.0, 300.0])
    v = np.full(4, 0.06)
    place = np.array([1, 2, 2, 4])
    o = np.where(place[:, None] < place[None, :], 1.0, np.where(place[:, None] > place[None, :], 0.0, 0.5))
    np.fill_diagonal(o, NAN)
    nr, nd, nv = rate_period(r, d, v, o)
    assert nr[0] == pytest.approx(1685.7, abs=0.1)
    assert nd[0] == pytest.approx(151.52, abs=0.01)
    assert nv[0] == pytest.approx(0.06000, abs=1e-5)
    # the race is rated simultaneously: Mary, last, loses rating; Bob (low RD) barely moves
    assert nr[3] < 1700.0
    assert abs(nr[1] - 1400.0) < abs(nr[0] - 1500.0)


# ------------------------------------------------- optional caps (engine setting)
def surprise_period():
    # a leader rated 500 points above 39 equals loses every game of the round robin
    n = 40
    r = np.array([2000.0] + [1500.0] * (n - 1))
    d = np.full(n, 50.0)
    v = np.full(n, 0.06)
    o = np.full((n, n), 0.5)
    o[0, 1:], o[1:, 0] = 0.0, 1.0
    np.fill_diagonal(o, NAN)
    return r, d, v, o


def test_caps_are_off_by_default_and_bound_volatility_and_rd():
    r, d, v, o = surprise_period()
    pure = rate_period(r, d, v, o)
    assert pure[2][0] > 1.0  # pure Glicko-2: the volatility jumps (0.06 -> ~2.1)
    capped = rate_period(r, d, v, o, max_vol=0.1, max_rd=60.0)
    assert pure[1][0] > 60.0
    assert capped[2][0] == 0.1
    assert abs(capped[0][0] - 2500.0) < abs(pure[0][0] - 2500.0)
    assert (capped[1] <= 60.0).all()
    np.testing.assert_array_equal(capped[2][1:], pure[2][1:])  # below the cap: unchanged
    # an idle player keeps its volatility even above the cap, but its RD grows by the
    # capped one, and max_rd bounds it
    one = (np.array([1500.0]), np.array([340.0]), np.array([0.5]), np.full((1, 1), NAN))
    nr, nd, nv = rate_period(*one, max_vol=0.1)
    assert nr[0] == 1500.0 and nv[0] == 0.5
    assert nd[0] == pytest.approx(SCALE * math.hypot(340.0 / SCALE, 0.1), rel=1e-14)
    assert rate_period(*one, max_rd=300.0)[1][0] == 300.0


@pytest.mark.parametrize("kw", [{"max_vol": 0.0}, {"max_vol": NAN}, {"max_rd": -1.0}, {"max_rd": math.inf}])
def test_bad_caps_raise(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        rate_period(*surprise_period(), **kw)


# -------------------------------------------------------------------- API contract
def test_inputs_are_not_mutated_and_results_are_new_arrays():
    r, d, v, o = paper_period()
    copies = [x.copy() for x in (r, d, v, o)]
    out = rate_period(r, d, v, o)
    for x, c in zip((r, d, v, o), copies, strict=True):
        np.testing.assert_array_equal(x, c)
    for y in out:
        assert y.dtype == np.float64
        assert not any(np.shares_memory(y, x) for x in (r, d, v, o))


def test_empty_period():
    e = np.empty(0)
    nr, nd, nv = rate_period(e, e, e, np.empty((0, 0)))
    assert nr.shape == nd.shape == nv.shape == (0,)


def test_lists_and_int_arrays_are_accepted():
    nr, nd, nv = rate_period([1500, 1500], [350, 350], [0.06, 0.06], [[NAN, 1], [0, NAN]])
    assert round(nr[0]) == 1662 and round(nr[1]) == 1338


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rating": [NAN, 1500.0]}, "rating"),
        ({"rating": [math.inf, 1500.0]}, "rating"),
        ({"rd": [0.0, 350.0]}, "rd"),
        ({"rd": [-5.0, 350.0]}, "rd"),
        ({"rd": [math.inf, 350.0]}, "rd"),
        ({"vol": [0.06, NAN]}, "vol"),
        ({"vol": [0.06, 0.0]}, "vol"),
        ({"outcomes": [[NAN, 1.5], [0.0, NAN]]}, "outcomes"),
        ({"outcomes": [[NAN, -0.1], [1.0, NAN]]}, "outcomes"),
        ({"outcomes": [[NAN, math.inf], [0.0, NAN]]}, "outcomes"),
        ({"outcomes": [[NAN, 1.0, 0.0], [0.0, NAN, 1.0]]}, "shape"),
        ({"rd": [350.0]}, "shape"),
        ({"rating": [[1500.0, 1500.0]]}, "1-D"),
        ({"tau": 0.0}, "tau"),
        ({"tau": NAN}, "tau"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, match):
    args = {
        "rating": [1500.0, 1500.0],
        "rd": [350.0, 350.0],
        "vol": [0.06, 0.06],
        "outcomes": [[NAN, 1.0], [0.0, NAN]],
        "tau": 0.5,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        rate_period(**args)


@pytest.mark.parametrize("n", [4, 300])  # the small-N path and the block path
@pytest.mark.parametrize("tau", [1e-30, 1e-160, 1e-200, 5e-324])
def test_a_tiny_tau_keeps_the_volatility_instead_of_crashing(n, tau):
    """Any tau > 0 is a valid configuration. Below ~1e-30 the volatility iteration stalled at the
    wrong end of its bracket (sigma' ~50 times sigma), below ~1e-154 ``2 / tau^2`` overflowed (NaN
    warnings) and below ~1e-162 it was a ZeroDivisionError at the first period. A tau below 1e-6
    rates as 1e-6, where the volatility is already all but fixed (the limit tau -> 0)."""
    rng = np.random.default_rng(n)
    r, d, v = rng.normal(1500.0, 200.0, n), rng.uniform(30.0, 350.0, n), rng.uniform(0.03, 0.09, n)
    s = rng.normal(0.0, 0.3, n)
    o = np.where(s[:, None] > s[None, :], 1.0, 0.0)
    np.fill_diagonal(o, NAN)
    a, b = np.nonzero(np.isfinite(o))
    with np.errstate(all="raise", under="ignore"):
        for got, want in [
            (rate_period(r, d, v, o, tau=tau), rate_period(r, d, v, o, tau=1e-6)),
            (
                rate_period_games(r, d, v, a, b, o[a, b], tau=tau),
                rate_period_games(r, d, v, a, b, o[a, b], tau=1e-6),
            ),
        ]:
            for x, y in zip(got, want, strict=True):
                assert np.array_equal(x, y)
            # sigma' is sigma to the iteration's tolerance (EPSILON = 1e-6 on ln sigma^2)
            np.testing.assert_allclose(got[2], v, rtol=1e-6, atol=0)
            assert np.all(np.isfinite(got[0])) and np.all(got[1] > 0.0)
