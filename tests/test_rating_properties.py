"""Property tests of the vectorised Glicko-2 period (hypothesis) and a check
against a plain scalar implementation of the paper, written here player by player."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_trader.rating import glicko2
from tui_trader.rating.glicko2 import rate_period

SCALE = 173.7178
EPS = 1e-6


# ------------------------------------------------------------ scalar reference (paper)
BRACKET_STEPS = []  # k of the initial bracket search, recorded by ref_player


def ref_player(mu, phi, sigma, games, tau):
    """Glickman's steps 3-8 for one player; games = [(mu_j, phi_j, s_j), ...]."""
    if not games:
        return mu, math.sqrt(phi * phi + sigma * sigma), sigma

    def g(p):
        return 1.0 / math.sqrt(1.0 + 3.0 * p * p / math.pi**2)

    def e(mu_j, phi_j):
        return 1.0 / (1.0 + math.exp(-g(phi_j) * (mu - mu_j)))

    v_inv = 0.0
    total = 0.0
    for mu_j, phi_j, s in games:
        ej = e(mu_j, phi_j)
        v_inv += g(phi_j) ** 2 * ej * (1.0 - ej)
        total += g(phi_j) * (s - ej)
    v = 1.0 / v_inv
    delta = v * total

    a = math.log(sigma * sigma)

    def f(x):
        ex = math.exp(x)
        return ex * (delta**2 - phi**2 - v - ex) / (2.0 * (phi**2 + v + ex) ** 2) - (x - a) / tau**2

    A = a
    if delta**2 > phi**2 + v:
        B = math.log(delta**2 - phi**2 - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        BRACKET_STEPS.append(k)
        B = a - k * tau
    fa, fb = f(A), f(B)
    while abs(B - A) > EPS:
        C = A + (A - B) * fa / (fb - fa)
        fc = f(C)
        if fc * fb <= 0:
            A, fa = B, fb
        else:
            fa /= 2.0
        B, fb = C, fc
    new_sigma = math.exp(A / 2.0)
    phi_star = math.sqrt(phi * phi + new_sigma * new_sigma)
    new_phi = 1.0 / math.sqrt(1.0 / phi_star**2 + 1.0 / v)
    return mu + new_phi**2 * total, new_phi, new_sigma


def ref_period(rating, rd, vol, outcomes, tau=0.5):
    n = len(rating)
    mu = [(r - 1500.0) / SCALE for r in rating]
    phi = [d / SCALE for d in rd]
    out_r, out_d, out_v = [], [], []
    for i in range(n):
        games = [
            (mu[j], phi[j], outcomes[i][j]) for j in range(n) if j != i and not math.isnan(outcomes[i][j])
        ]
        m, p, s = ref_player(mu[i], phi[i], vol[i], games, tau)
        out_r.append(m * SCALE + 1500.0)
        out_d.append(p * SCALE)
        out_v.append(s)
    return np.array(out_r), np.array(out_d), np.array(out_v)


# Why some tests below are derandomised: the paper's volatility solve returns the
# bracket end A once |B - A| <= 1e-6. When an iterate lands on the root to within
# rounding, the sign of f there is rounding noise, and two correct implementations
# that sum the games in a different order (or a relabelled period) can return the
# two bracket ends, up to ~1e-6 apart in ln(sigma^2). That happens for about one
# player-period in 10^5 (1 of 130 000 in a sweep), so comparisons at 1e-9 use a fixed, reproducible
# set of examples (hypothesis ``derandomize=True``) instead of fresh random ones.


def random_case(rng, n, p_play=0.8, margin=False):
    rating = rng.normal(1500.0, 250.0, n)
    rd = rng.uniform(30.0, 350.0, n)
    vol = rng.uniform(0.03, 0.1, n)
    if margin:
        s = rng.uniform(0.0, 1.0, (n, n))
        iu = np.triu_indices(n, 1)
        s[iu[1], iu[0]] = 1.0 - s[iu]
    else:
        s = rng.choice([0.0, 0.5, 1.0], size=(n, n), p=[0.45, 0.1, 0.45])
        iu = np.triu_indices(n, 1)
        s[iu[1], iu[0]] = 1.0 - s[iu]
    played = rng.random((n, n)) < p_play
    played = np.triu(played, 1)
    played = played | played.T
    s[~played] = np.nan
    np.fill_diagonal(s, np.nan)
    return rating, rd, vol, s


def assert_close(got, want, rtol=1e-9):
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=0)


# ------------------------------------------------------------ vectorised == scalar
@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 12),
    p_play=st.sampled_from([0.0, 0.3, 0.8, 1.0]),
    margin=st.booleans(),
    tau=st.floats(0.2, 1.2),
)
def test_matches_scalar_reference_on_random_cases(seed, n, p_play, margin, tau):
    rng = np.random.default_rng(seed)
    rating, rd, vol, s = random_case(rng, n, p_play, margin)
    got = rate_period(rating, rd, vol, s, tau=tau)
    want = ref_period(rating.tolist(), rd.tolist(), vol.tolist(), s.tolist(), tau)
    assert_close(got, want)


def test_matches_scalar_reference_with_a_large_tau():
    # the bracket search needs k > 1 steps only for tau > 2, and then only when the
    # volatility is large against phi and v
    BRACKET_STEPS.clear()
    for seed in range(30):
        rating, rd, vol, s = random_case(np.random.default_rng(seed), 8, 1.0, seed % 2 == 0)
        vol *= 10.0 ** (seed % 5)
        got = rate_period(rating, rd, vol, s, tau=9.0)
        want = ref_period(rating.tolist(), rd.tolist(), vol.tolist(), s.tolist(), 9.0)
        assert_close(got, want)
    assert max(BRACKET_STEPS) > 1


def test_matches_scalar_reference_across_row_blocks():
    # N = 300 splits the pairwise work into several row blocks, the last one partial
    n = 300
    rows = glicko2._BLOCK_ELEMS // n
    assert rows < n and n % rows != 0
    rng = np.random.default_rng(7)
    rating, rd, vol, s = random_case(rng, n, p_play=0.9, margin=True)
    got = rate_period(rating, rd, vol, s)
    want = ref_period(rating.tolist(), rd.tolist(), vol.tolist(), s.tolist())
    assert_close(got, want)


# ------------------------------------------------------------------ invariants
case_inputs = st.tuples(st.integers(0, 2**32 - 1), st.integers(2, 10), st.booleans())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=case_inputs, perm_seed=st.integers(0, 2**32 - 1))
def test_permutation_equivariance(case, perm_seed):
    seed, n, margin = case
    rating, rd, vol, s = random_case(np.random.default_rng(seed), n, 0.8, margin)
    # make two players identical in their own parameters; swapping them must swap results
    rating[1], rd[1], vol[1] = rating[0], rd[0], vol[0]
    perm = np.random.default_rng(perm_seed).permutation(n)
    base = rate_period(rating, rd, vol, s)
    # relabelling changes the summation order (last-bit differences), which the
    # volatility solve (stopped at 1e-6 on ln sigma^2) can amplify to ~1e-11
    permuted = rate_period(rating[perm], rd[perm], vol[perm], s[np.ix_(perm, perm)])
    for b, p in zip(base, permuted, strict=True):
        np.testing.assert_allclose(p, b[perm], rtol=1e-9, atol=0)
    swap = np.arange(n)
    swap[[0, 1]] = [1, 0]
    swapped = rate_period(rating[swap], rd[swap], vol[swap], s[np.ix_(swap, swap)])
    for b, p in zip(base, swapped, strict=True):
        np.testing.assert_allclose(p[[0, 1]], b[[1, 0]], rtol=1e-9, atol=0)


@settings(max_examples=60, deadline=None)
@given(case=case_inputs, idle=st.data())
def test_player_without_games_keeps_rating_and_vol_and_rd_grows(case, idle):
    seed, n, margin = case
    rating, rd, vol, s = random_case(np.random.default_rng(seed), n, 0.9, margin)
    k = idle.draw(st.integers(0, n - 1))
    s[k, :] = np.nan
    s[:, k] = np.nan
    nr, nd, nv = rate_period(rating, rd, vol, s)
    assert nr[k] == rating[k]
    assert nv[k] == vol[k]
    assert nd[k] >= rd[k]
    np.testing.assert_allclose(nd[k], SCALE * math.sqrt((rd[k] / SCALE) ** 2 + vol[k] ** 2), rtol=1e-13)


@settings(max_examples=80, deadline=None)
@given(
    case=case_inputs,
    pick=st.data(),
    lo=st.floats(0.0, 1.0),
    hi=st.floats(0.0, 1.0),
)
def test_better_outcome_never_lowers_the_new_rating(case, pick, lo, hi):
    seed, n, _ = case
    rating, rd, vol, s = random_case(np.random.default_rng(seed), n, 1.0, True)
    i = pick.draw(st.integers(0, n - 1))
    j = pick.draw(st.integers(0, n - 1).filter(lambda x: x != i))
    lo, hi = min(lo, hi), max(lo, hi)
    worse, better = s.copy(), s.copy()
    worse[i, j], worse[j, i] = lo, 1.0 - lo
    better[i, j], better[j, i] = hi, 1.0 - hi
    r_worse = rate_period(rating, rd, vol, worse)[0]
    r_better = rate_period(rating, rd, vol, better)[0]
    # tolerance: sigma' is only solved to 1e-6 on ln(sigma^2), which moves ratings by
    # up to ~1e-6 points when the two outcomes are nearly equal
    assert r_better[i] >= r_worse[i] - 1e-5
    assert r_better[j] <= r_worse[j] + 1e-5


finite_rating = st.floats(-1e6, 1e6)
finite_rd = st.floats(1e-6, 1e4)
finite_vol = st.floats(1e-300, 1e300)
score = st.one_of(st.just(math.nan), st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 6),
    data=st.data(),
    tau=st.floats(0.05, 2.0),
)
def test_adversarial_inputs_give_finite_positive_results(n, data, tau):
    rating = np.array(data.draw(st.lists(finite_rating, min_size=n, max_size=n)), dtype=float)
    rd = np.array(data.draw(st.lists(finite_rd, min_size=n, max_size=n)), dtype=float)
    vol = np.array(data.draw(st.lists(finite_vol, min_size=n, max_size=n)), dtype=float)
    s = np.array(data.draw(st.lists(score, min_size=n * n, max_size=n * n)), dtype=float).reshape(n, n)
    nr, nd, nv = rate_period(rating, rd, vol, s, tau=tau)
    for x in (nr, nd, nv):
        assert x.shape == (n,)
        assert np.isfinite(x).all()
    assert (nd > 0).all() and (nv > 0).all()


def test_extreme_cases_stay_finite():
    # RD near zero, a huge rating gap, a lone player, a huge volatility
    rating = np.array([1500.0, 1e6, -1e6, 1500.0])
    rd = np.array([1e-6, 1e4, 1e-6, 350.0])
    vol = np.array([1e-300, 1e300, 0.06, 1e3])
    s = np.array(
        [
            [np.nan, 1.0, 0.0, np.nan],
            [0.0, np.nan, 1.0, np.nan],
            [1.0, 0.0, np.nan, np.nan],
            [np.nan, np.nan, np.nan, np.nan],
        ]
    )
    nr, nd, nv = rate_period(rating, rd, vol, s)
    assert np.isfinite(nr).all() and np.isfinite(nd).all() and np.isfinite(nv).all()
    assert (nd > 0).all() and (nv > 0).all()
    assert nr[3] == 1500.0 and nv[3] == 1e3  # the lone player did not play


def test_upsets_move_ratings_the_right_way():
    # 1e6 rating gap upset: the weak player gains, the strong one loses, nothing overflows
    r = np.array([1500.0, 1e6])
    nr, _, _ = rate_period(
        r, np.array([100.0, 100.0]), np.array([0.06, 0.06]), np.array([[np.nan, 1.0], [0.0, np.nan]])
    )
    assert nr[0] > 1500.0 and nr[1] < 1e6
