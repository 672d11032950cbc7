"""Glicko-2 rating period, vectorised over all players with numpy.

Follows Mark E. Glickman, "Example of the Glicko-2 system" (2012/2013 revision),
steps 1-8, including the Illinois (regula falsi) iteration for the new
volatility with convergence tolerance ``EPSILON = 1e-6`` on ``x = ln(sigma^2)``.
The volatility iteration is vectorised too: all players iterate together and
players that have converged are dropped from the working arrays. Step 5.4(b)
swaps the bracket when ``f(C) f(B) <= 0`` (2013 revision of the paper), and
the result is the paper's ``exp(A / 2)``. Like any implementation of that
procedure, sigma' is determined to the iteration tolerance: in the rare case
(about one player-period in 10^5) where an iterate hits the root to within
rounding, the sign of f there is rounding noise and implementations that sum
in a different order may return the other bracket end (up to ~1e-6 apart in
ln sigma^2).

Speed: the pairwise sums ``sum_j g_j^2 E (1 - E)`` and ``sum_j g_j (s - E)``
are matrix-vector products over row blocks of about 64k elements held in
three reusable cache-sized buffers (a 0/1 played matrix and zero-filled
outcomes replace NaN masking), so an N = 2000 period allocates no (N, N)
temporary; small N pays no validation pass beyond a few reductions.

Units
-----
* ``rating`` and ``rd`` are on the Glicko-1 scale (new players 1500 / 350).
  Internally ``mu = (rating - 1500) / 173.7178`` and ``phi = rd / 173.7178``.
* ``vol`` (sigma) is on the Glicko-2 scale (new players typically 0.06).
* ``outcomes[i, j]`` in ``[0, 1]`` is player i's score against player j
  (1 win, 0.5 draw, 0 loss, or a continuous score); NaN means "did not play".
  The diagonal is ignored. Row i alone drives player i's update, so the matrix
  need not be antisymmetric.

Every player is rated simultaneously from the pre-period values. A player with
no games keeps rating and volatility exactly; its RD grows to
``sqrt(phi^2 + sigma^2)`` (Glicko-2 scale, no cap).

Safety clamps (documented; they never engage for realistic inputs, and keep
the result free of NaN and inf for any finite input):

* expected scores use ``mu`` clamped to ``+-MU_CLAMP`` (ratings
  ``1500 +- 52 115``), so ``exp`` never overflows;
* ``phi`` is capped at ``PHI_MAX`` (RD 1.7e8);
* ``sigma`` (input and output) is clamped to ``[VOL_MIN, VOL_MAX]`` inside the
  computation; a player without games gets its input volatility back as is;
* ``1/v`` is floored at ``VINV_MIN`` (the estimated variance ``v`` is at most
  1e30, reached only when every game's rating gap exceeds ~12 000 points);
* the Illinois iteration stops after ``MAX_ITER`` = 100 steps (it takes about 3-20,
  more when many games make Delta^2 much larger than phi^2 + v).

Bad input (wrong shapes, non-finite ratings, RD or volatility that are not
finite and positive, outcomes outside ``[0, 1]``, ``tau <= 0``) raises
``ValueError``. Inputs are never mutated.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "EPSILON",
    "SCALE",
    "BASE_RATING",
    "rate_period",
    "expected_score",
    "g_factor",
    "confidence_interval",
]

SCALE = 173.7178
"""Glicko-1 rating points per Glicko-2 unit."""
BASE_RATING = 1500.0
EPSILON = 1e-6
"""Convergence tolerance of the volatility iteration (on ln sigma^2)."""

MU_CLAMP = 300.0
PHI_MAX = 1e6
VOL_MIN = 1e-10
VOL_MAX = 1e10
VINV_MIN = 1e-30
MAX_ITER = 100

_Q = 3.0 / (math.pi * math.pi)
_K_SEARCH_TAU = 1.9  # below this tau the bracket search provably stops at k = 1 (margin for rounding)
# Pairwise work is done in row blocks of about this many matrix elements, so the
# three block buffers stay in the CPU cache and no (N, N) temporary is created.
_BLOCK_ELEMS = 65536


def _fail(name: str, what: str) -> None:
    raise ValueError(f"rate_period: {name} {what}")


def _check(rating: np.ndarray, rd: np.ndarray, vol: np.ndarray) -> None:
    n = rating.shape[0]
    if np.count_nonzero(np.isfinite(rating)) != n:
        _fail("rating", "must be finite")
    if np.count_nonzero(rd > 0.0) != n or np.count_nonzero(rd < math.inf) != n:
        _fail("rd", "must be finite and > 0")
    if np.count_nonzero(vol > 0.0) != n or np.count_nonzero(vol < math.inf) != n:
        _fail("vol", "must be finite and > 0")


def _pair_sums(mu: np.ndarray, g: np.ndarray, outcomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``vinv[i] = sum_j g_j^2 E_ij (1 - E_ij)`` and
    ``dsum[i] = sum_j g_j (s_ij - E_ij)`` over the games i played.

    ``E_ij = 1 / (1 + e_ij)`` with ``e_ij = exp(g_j (mu_j - mu_i))``. Work is
    done per block of rows with three reusable buffers: ``p`` is the 0/1
    played matrix, ``x`` holds ``e``, then ``P (1 - E) = e * P E``, then
    ``P E (1 - E)``, then the zero-filled outcomes minus ``P E``; ``y`` holds
    ``1 + e``, then ``P E``. The row sums are matrix-vector products.
    """
    n = mu.shape[0]
    rows = n if n * n <= _BLOCK_ELEMS else max(1, _BLOCK_ELEMS // n)
    g2 = g * g
    if rows == n:  # one block: mu_j - mu_i as an outer difference (fewest calls)
        nmu = np.negative(mu)
    else:  # g_j (mu_j - mu_i) as one rank-2 product [mu_i, 1] @ [[-g_j], [g_j mu_j]] per block
        lhs = np.empty((n, 2))
        lhs[:, 0] = mu
        lhs[:, 1] = 1.0
        rhs = np.empty((2, n))
        np.negative(g, out=rhs[0])
        np.multiply(g, mu, out=rhs[1])
    vinv = np.empty(n)
    dsum = np.empty(n)
    xb = np.empty((rows, n))
    yb = np.empty((rows, n))
    pb = np.empty((rows, n))
    step = n + 1  # flat stride between diagonal elements
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        m = r1 - r0
        if m == rows:
            x, y, p = xb, yb, pb
        else:
            x, y, p = xb[:m], yb[:m], pb[:m]
        diag = slice(r0, r0 + m * step, step)  # (k, r0 + k) in the block, flattened
        o = outcomes[r0:r1]
        lo = np.fmin.reduce(o, axis=None)
        hi = np.fmax.reduce(o, axis=None)
        if lo < 0.0 or hi > 1.0:
            _fail("outcomes", f"must lie in [0, 1] or be NaN (rows {r0}..{r1 - 1} hold {lo!r}..{hi!r})")
        if rows == n:
            np.subtract.outer(nmu, nmu, out=x)  # mu_j - mu_i
            x *= g
        else:
            np.matmul(lhs[r0:r1], rhs, out=x)
        np.exp(x, out=x)
        np.add(x, 1.0, out=y)
        np.equal(o, o, out=p)  # 1.0 where played, 0.0 where NaN
        p.reshape(-1)[diag] = 0.0  # the diagonal is never a game
        np.divide(p, y, out=y)  # P E
        np.multiply(x, y, out=x)  # P (1 - E), exact complement even when E ~ 1
        np.multiply(x, y, out=x)  # P E (1 - E)
        np.dot(x, g2, out=vinv[r0:r1])
        np.fmax(o, 0.0, out=x)  # outcomes with NaN -> 0
        x.reshape(-1)[diag] = 0.0
        np.subtract(x, y, out=x)  # P (s - E)
        np.dot(x, g, out=dsum[r0:r1])
    return vinv, dsum


def _f(x: np.ndarray, a: np.ndarray, d: np.ndarray, q: np.ndarray, c: float) -> np.ndarray:
    """Twice Glickman's f: ``e^x (D - e^x) / (Q + e^x)^2 - c (x - a)`` with
    ``D = Delta^2 - phi^2 - v``, ``Q = phi^2 + v`` and ``c = 2 / tau^2``.

    The factor 2 is exact in binary floating point, and the Illinois steps only
    use ratios and signs of f, so the iterates are those of the paper.
    """
    ex = np.exp(x)
    num = np.subtract(d, ex)
    num *= ex
    den = np.add(q, ex)
    den *= den
    num /= den
    w = np.subtract(x, a)
    w *= c
    num -= w
    return num


def _f_at_a(a: np.ndarray, d: np.ndarray, q: np.ndarray) -> np.ndarray:
    """:func:`_f` at ``x = a``, where the second term is exactly 0."""
    ex = np.exp(a)
    num = np.subtract(d, ex)
    num *= ex
    den = np.add(q, ex)
    den *= den
    num /= den
    return num


def _new_volatility(
    phi2: np.ndarray, v: np.ndarray, delta: np.ndarray, sigma: np.ndarray, tau: float
) -> np.ndarray:
    """Step 5 of the paper for every player at once; returns sigma'."""
    a = np.multiply(sigma, sigma)
    np.log(a, out=a)
    q = np.add(phi2, v)
    d = np.multiply(delta, delta)
    d -= q
    c = 2.0 / (tau * tau)
    # Initial bracket: B = ln(D) where D > 0, else a - k tau with the least
    # k >= 1 such that f(a - k tau) >= 0.
    pos = d > 0.0
    b = np.subtract(a, tau)
    np.log(d, out=b, where=pos)
    fb = _f(b, a, d, q, c)
    # 2 f(a - tau) = e^x (D - e^x) / (Q + e^x)^2 + 2 / tau > -1 + 2 / tau, so k = 1
    # always holds for tau < 2; the search is needed (and run) only for larger tau.
    if tau >= _K_SEARCH_TAU:
        bad = fb < 0.0
        bad &= ~pos
        k = 1
        while np.count_nonzero(bad):
            k += 1
            np.copyto(b, a - k * tau, where=bad)
            fb = _f(b, a, d, q, c)
            bad &= fb < 0.0
    A = a.copy()
    fa = _f_at_a(a, d, q)
    out = np.empty_like(a)
    idx: np.ndarray | None = None  # positions of the live players in `out` (None: all)
    gap = np.subtract(b, A)
    np.abs(gap, out=gap)
    live = gap > EPSILON
    for _ in range(MAX_ITER + 1):
        n_live = np.count_nonzero(live)
        if n_live != live.shape[0]:
            if idx is None:
                if n_live == 0:
                    return np.exp(A * 0.5, out=A)
                done = ~live
                out[done] = A[done]
                idx = np.flatnonzero(live)
            else:
                out[idx[~live]] = A[~live]
                if n_live == 0:
                    break
                idx = idx[live]
            A, b, fa, fb, a, d, q = A[live], b[live], fa[live], fb[live], a[live], d[live], q[live]
        # C = A + (A - B) fA / (fB - fA)
        cc = np.subtract(A, b)
        cc *= fa
        den = np.subtract(fb, fa)
        cc /= den
        cc += A
        fc = _f(cc, a, d, q, c)
        swap = np.multiply(fc, fb)
        swap = swap <= 0.0
        np.copyto(A, b, where=swap)
        fa *= 0.5
        np.copyto(fa, fb, where=swap)
        b, fb = cc, fc
        gap = np.subtract(b, A, out=den)
        np.abs(gap, out=gap)
        live = gap > EPSILON
    else:  # MAX_ITER reached: take the current estimate of the live players
        if idx is None:
            out = A
        else:
            out[idx] = A
    np.multiply(out, 0.5, out=out)
    return np.exp(out, out=out)


def rate_period(
    rating: np.ndarray,
    rd: np.ndarray,
    vol: np.ndarray,
    outcomes: np.ndarray,
    tau: float = 0.5,
    *,
    max_vol: float | None = None,
    max_rd: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate one period for N players at once; returns new ``(rating, rd, vol)``.

    ``max_vol`` / ``max_rd`` (optional, default off: pure Glicko-2) bound the new
    volatility *before* it inflates phi* in step 6, and the new RD. Without
    them one period of extreme surprise (a player rated ~1000 points above the
    field who loses every game of a round robin) yields a volatility in the
    thousands and a rating change of ~10^5 points: Glicko-2 assumes a handful of
    games per period, not a 40-player round robin every period. The engine
    sets both from ``[rating]`` so ratings stay on a meaningful scale. An idle
    player's returned volatility stays unchanged even above ``max_vol``, but its
    RD grows by the capped value (and is bounded by ``max_rd``).

    ``rating``, ``rd`` (Glicko-1 scale, rating points) and ``vol`` (Glicko-2
    scale) are 1-D float arrays of length N; ``outcomes`` is an (N, N) float
    array where ``outcomes[i, j]`` in [0, 1] is i's score against j and NaN
    means no game (the diagonal is ignored). ``tau`` is the system constant.
    The returned arrays are new float64 arrays, always finite; see the module
    docstring for the safety clamps.
    """
    r = np.asarray(rating, dtype=np.float64)
    rd_ = np.asarray(rd, dtype=np.float64)
    vol_ = np.asarray(vol, dtype=np.float64)
    o = np.asarray(outcomes, dtype=np.float64)
    if r.ndim != 1:
        _fail("rating", f"must be 1-D, got shape {r.shape}")
    n = r.shape[0]
    if rd_.shape != r.shape or vol_.shape != r.shape:
        _fail("rd/vol", f"must have the rating's shape {r.shape}, got {rd_.shape} and {vol_.shape}")
    if o.shape != (n, n):
        _fail("outcomes", f"must have shape {(n, n)}, got {o.shape}")
    if not (tau > 0.0 and tau < math.inf):
        _fail("tau", f"must be finite and > 0, got {tau!r}")
    if max_vol is not None and not (max_vol > 0.0 and max_vol < math.inf):
        _fail("max_vol", f"must be None or finite and > 0, got {max_vol!r}")
    if max_rd is not None and not (max_rd > 0.0 and max_rd < math.inf):
        _fail("max_rd", f"must be None or finite and > 0, got {max_rd!r}")
    if n == 0:
        return r.copy(), rd_.copy(), vol_.copy()
    _check(r, rd_, vol_)

    # Step 2: Glicko-2 scale.
    mu = np.subtract(r, BASE_RATING)
    mu /= SCALE
    phi2 = np.divide(rd_, SCALE)
    np.minimum(phi2, PHI_MAX, out=phi2)
    phi2 *= phi2
    g = np.multiply(phi2, _Q)
    g += 1.0
    np.sqrt(g, out=g)
    np.divide(1.0, g, out=g)
    np.maximum(mu, -MU_CLAMP, out=mu)
    np.minimum(mu, MU_CLAMP, out=mu)

    # Steps 3-4: v and Delta (via 1/v and the sum of g (s - E)).
    vinv, dsum = _pair_sums(mu, g, o)
    played = vinv > 0.0  # every game adds a positive term, given the clamps
    n_played = np.count_nonzero(played)
    np.maximum(vinv, VINV_MIN, out=vinv)
    v = np.divide(1.0, vinv)
    delta = np.multiply(v, dsum)
    sigma = np.maximum(vol_, VOL_MIN)
    np.minimum(sigma, VOL_MAX, out=sigma)

    # Step 5: new volatility (players with games only).
    if n_played == n:
        new_sigma = _new_volatility(phi2, v, delta, sigma, tau)
    else:
        new_sigma = sigma.copy()
        if n_played:
            idx = np.flatnonzero(played)
            new_sigma[idx] = _new_volatility(phi2[idx], v[idx], delta[idx], sigma[idx], tau)
        vinv[~played] = 0.0  # no games: no information, phi' = phi*
    np.maximum(new_sigma, VOL_MIN, out=new_sigma)
    np.minimum(new_sigma, VOL_MAX if max_vol is None else min(VOL_MAX, max_vol), out=new_sigma)

    # Steps 6-8: phi*, phi', mu'; back to the Glicko-1 scale.
    new_phi2 = np.multiply(new_sigma, new_sigma)
    new_phi2 += phi2
    np.divide(1.0, new_phi2, out=new_phi2)
    new_phi2 += vinv
    np.divide(1.0, new_phi2, out=new_phi2)
    dsum *= new_phi2
    dsum *= SCALE
    new_rating = np.add(r, dsum)  # no games: dsum == 0, rating unchanged
    np.sqrt(new_phi2, out=new_phi2)
    new_phi2 *= SCALE
    if max_rd is not None:
        np.minimum(new_phi2, max_rd, out=new_phi2)
    if n_played != n:
        np.copyto(new_sigma, vol_, where=~played)
    return new_rating, new_phi2, new_sigma


def g_factor(rd: np.ndarray) -> np.ndarray:
    """Glickman's ``g(phi) = 1 / sqrt(1 + 3 phi^2 / pi^2)`` for RD on the Glicko-1
    scale (``phi = rd / 173.7178``, capped at ``PHI_MAX``); dimensionless in (0, 1]."""
    phi = np.minimum(np.asarray(rd, dtype=np.float64) / SCALE, PHI_MAX)
    return 1.0 / np.sqrt(1.0 + _Q * phi * phi)


def expected_score(rating: np.ndarray, rd: np.ndarray, combined: bool = False) -> np.ndarray:
    """Expected score matrix ``E[i, j]`` of player i against player j.

    Ratings and RDs on the Glicko-1 scale. With ``combined=False`` this is the
    paper's ``E(mu_i, mu_j, phi_j)``, which uses only the opponent's RD (what
    :func:`rate_period` uses). With ``combined=True`` it is the symmetric win
    probability ``1 / (1 + exp(-g(sqrt(phi_i^2 + phi_j^2)) (mu_i - mu_j)))``, for
    which ``E + E.T == 1``. The diagonal is 0.5.
    """
    r = np.asarray(rating, dtype=np.float64)
    phi = np.minimum(np.asarray(rd, dtype=np.float64) / SCALE, PHI_MAX)
    mu = np.clip((r - BASE_RATING) / SCALE, -MU_CLAMP, MU_CLAMP)
    if combined:
        g = 1.0 / np.sqrt(1.0 + _Q * (phi[:, None] ** 2 + phi[None, :] ** 2))
    else:
        g = (1.0 / np.sqrt(1.0 + _Q * phi * phi))[None, :]
    return 1.0 / (1.0 + np.exp(-g * (mu[:, None] - mu[None, :])))


def confidence_interval(rating: np.ndarray, rd: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """``(rating - z * rd, rating + z * rd)``, in rating points (95 % for z = 1.96)."""
    r = np.asarray(rating, dtype=np.float64)
    d = np.asarray(rd, dtype=np.float64)
    return r - z * d, r + z * d
