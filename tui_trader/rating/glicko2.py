"""Glicko-2 rating period, vectorised over all players with numpy.

Follows Mark E. Glickman, "Example of the Glicko-2 system" (2012/2013 revision),
steps 1-8, including the Illinois (regula falsi) iteration for the new
volatility with convergence tolerance ``EPSILON = 1e-6`` on ``x = ln(sigma^2)``.
The volatility iteration is vectorised too: all players iterate together and
players that have converged stop (dropped from the working arrays, or for small N
frozen in place, with the same result). Step 5.4(b)
swaps the bracket when ``f(C) f(B) <= 0`` (2013 revision of the paper), and
the result is the paper's ``exp(A / 2)``. Like any implementation of that
procedure, sigma' is determined to the iteration tolerance: in the rare case
(about one player-period in 10^5) where an iterate hits the root to within
rounding, the sign of f there is rounding noise and implementations that sum
in a different order may return the other bracket end (up to ~1e-6 apart in
ln sigma^2).

Speed: the pairwise sums ``sum_j g_j^2 E (1 - E)`` and ``sum_j g_j (s - E)``
are matrix-vector products over row blocks of about 16k elements held in
three reusable cache-sized buffers (a 0/1 played matrix and zero-filled
outcomes replace NaN masking), so an N = 2000 period allocates no (N, N)
temporary. Given an :class:`OutcomeRows` (a round robin from the scores,
:class:`tui_trader.rating.matches.RoundRobin`) instead of the matrix, the outcomes
too are made block by block and no (N, N) array exists at all. Up to
``_SMALL_N`` = 256 players (where small periods cost numpy
call overhead rather than arithmetic) a small-N path does the floating-point
operations of the earlier single-block implementation in the same order with
far fewer calls (reused per-thread buffers, stacked rows, converged players frozen in place
instead of compacted out): N = 10 costs ~45 us instead of ~82 us. Its results
are bit-identical (tests/test_glicko2_fastpath.py compares it with the previous
implementation).

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
* ``phi*^2`` is floored at ``PHI2_MIN`` = 1e-300, so step 7 never takes ``1 / 0``
  and the new RD is > 0 (a valid input again): RD and a ``max_vol`` cap both below
  ~1e-160 made ``phi^2 + sigma'^2`` underflow to 0 and returned RD 0;
* a ``tau`` below ``_TAU_MIN`` = 1e-6 rates as 1e-6 (a smaller one stalled the
  iteration, then overflowed; the volatility is all but fixed there anyway);
* the Illinois iteration stops after ``MAX_ITER`` = 100 steps (it takes about 3-20,
  more when many games make Delta^2 much larger than phi^2 + v).

Bad input (wrong shapes, non-finite ratings, RD or volatility that are not
finite and positive, outcomes outside ``[0, 1]``, ``tau <= 0``) raises
``ValueError``. Inputs are never mutated.
"""

from __future__ import annotations

import math
import threading
from typing import Protocol

import numpy as np

from tui_trader.rating.consts import C0, C1, const, new_const

__all__ = [
    "EPSILON",
    "SCALE",
    "OUTCOME_ROWS_MIN_N",
    "OutcomeRows",
    "BASE_RATING",
    "rate_period",
    "rate_period_games",
    "zero_block_diagonal",
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
PHI2_MIN = 1e-300
MAX_ITER = 100

_Q = 3.0 / (math.pi * math.pi)
_K_SEARCH_TAU = 1.9  # below this tau the bracket search provably stops at k = 1 (margin for rounding)
# Pairwise work (N > _SMALL_N) is done in row blocks of about this many elements, so
# the three block buffers and the block of outcomes (4 x 128 KiB) stay in the core's
# L2 cache and no (N, N) temporary is created. Measured on the 2-core machine: 16k-element blocks
# rate N = 500 in 1.3-1.5 ms instead of 1.8-2.3 ms with 64k (whose 2 MiB of buffers
# left L2), N = 300 in 0.63 instead of 1.06 ms, N = 2000 in 17-20 instead of 20-25 ms.
_BLOCK_ELEMS = 16384


_TAU_MIN = 1e-6
"""A smaller tau rates as this one: its ``2 / tau^2`` (the weight that holds ln sigma^2 at its
prior value) is already 2e12, so sigma' differs from sigma by ~1e-12 of itself in the periods
of a market. Larger weights stall the Illinois iteration (an end of the bracket whose f is ~c
never moves within ``MAX_ITER``: tau = 1e-30 returned the far end, sigma' ~50 sigma), then
overflow to inf (tau < 1.5e-154: NaN) and divide by a tau^2 that is 0 (tau < 1.5e-162)."""


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


class OutcomeRows(Protocol):
    """Outcomes of one period made on demand, a block of rows at a time, so that no (N, N)
    matrix need exist; :func:`rate_period` accepts one in place of the matrix.
    :class:`tui_trader.rating.matches.RoundRobin` makes a round robin from the scores."""

    shape: tuple[int, int]

    def played_rows(self, r0: int, r1: int, out: np.ndarray) -> bool:
        """Rows ``r0:r1`` of the 0/1 played matrix into ``out`` (``(r1 - r0, N)``; the diagonal
        is ignored) and True, or False, leaving ``out`` alone, when every pair played."""

    def rows(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Rows ``r0:r1`` of the outcome matrix into ``out`` (``(r1 - r0, N)``), with 0 where
        no game was played (the diagonal, and the rows and columns of players not in it)."""

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        """The whole (N, N) matrix, NaN where no game was played."""


def zero_block_diagonal(block: np.ndarray, r0: int) -> None:
    """Zero the diagonal elements ``(k, r0 + k)`` of rows ``r0:r0 + len(block)`` of an (N, N)
    matrix held in ``block`` (C-contiguous)."""
    m, n = block.shape
    block.reshape(-1)[r0 : r0 + m * (n + 1) : n + 1] = 0.0


class _MatrixRows:
    """A given outcome matrix as :class:`OutcomeRows` (each block range-checked when read)."""

    def __init__(self, outcomes: np.ndarray) -> None:
        self.o = outcomes
        self.shape = outcomes.shape

    def played_rows(self, r0: int, r1: int, out: np.ndarray) -> bool:
        o = self.o[r0:r1]
        lo = np.fmin.reduce(o, axis=None)
        hi = np.fmax.reduce(o, axis=None)
        if lo < 0.0 or hi > 1.0:
            _fail("outcomes", f"must lie in [0, 1] or be NaN (rows {r0}..{r1 - 1} hold {lo!r}..{hi!r})")
        np.equal(o, o, out=out)  # 1.0 where played, 0.0 where NaN
        return True

    def rows(self, r0: int, r1: int, out: np.ndarray) -> None:
        np.fmax(self.o[r0:r1], 0.0, out=out)  # outcomes with NaN -> 0
        zero_block_diagonal(out, r0)


def _pair_sums(mu: np.ndarray, g: np.ndarray, src: OutcomeRows) -> tuple[np.ndarray, np.ndarray]:
    """Return ``vinv[i] = sum_j g_j^2 E_ij (1 - E_ij)`` and
    ``dsum[i] = sum_j g_j (s_ij - E_ij)`` over the games i played.

    ``E_ij = 1 / (1 + e_ij)`` with ``e_ij = exp(g_j (mu_j - mu_i))``. Work is
    done per block of rows with three reusable buffers: ``p`` is the 0/1
    played matrix (skipped when every pair played), ``x`` holds ``e``, then
    ``P (1 - E) = e * P E``, then ``P E (1 - E)``, then the zero-filled outcomes
    minus ``P E``; ``y`` holds ``1 + e``, then ``P E``. ``src`` fills ``p`` and the
    outcomes block by block (a given matrix through :class:`_MatrixRows`).
    ``g_j (mu_j - mu_i)`` is one rank-2 product ``[mu_i, 1] @ [[-g_j], [g_j mu_j]]``
    per block. The row sums are matrix-vector products.
    """
    n = mu.shape[0]
    rows = max(1, min(n, _BLOCK_ELEMS // n))
    g2 = g * g
    lhs = np.empty((n, 2))
    lhs[:, 0] = mu
    lhs[:, 1] = 1.0
    rhs = np.empty((2, n))
    np.negative(g, out=rhs[0])
    np.multiply(g, mu, out=rhs[1])
    vinv, dsum = np.empty((2, n))
    xb, yb, pb = np.empty((3, rows, n))
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        m = r1 - r0
        if m == rows:
            x, y, p = xb, yb, pb
        else:
            x, y, p = xb[:m], yb[:m], pb[:m]
        np.matmul(lhs[r0:r1], rhs, out=x)
        np.exp(x, out=x)
        np.add(x, 1.0, out=y)
        if src.played_rows(r0, r1, p):
            np.divide(p, y, out=y)  # P E
        else:  # P is 1 off the diagonal
            np.divide(1.0, y, out=y)
        zero_block_diagonal(y, r0)  # the diagonal is never a game
        np.multiply(x, y, out=x)  # P (1 - E), exact complement even when E ~ 1
        np.multiply(x, y, out=x)  # P E (1 - E)
        np.dot(x, g2, out=vinv[r0:r1])
        src.rows(r0, r1, x)  # outcomes, 0 where no game
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


# ------------------------------------------------------------------------ small N
# A small period costs numpy call overhead, not arithmetic: at N = 10 each ufunc call
# costs ~0.25 us whatever the size (and from N ~ 100 fresh (N, N) buffers cost page
# faults). The small-N path does the same IEEE operations on the same operands in the
# same order as the path above (so the results are bit-identical), with fewer calls:
#
# * all buffers and their views are made once per N (and thread) and reused;
# * validation and step 2 work on one stacked (3, N) copy of the inputs, so a check
#   or a clamp of all three is one call (a failing check reruns ``_check`` for
#   the exact message);
# * constants are 0-d arrays or full rows (a Python float operand costs a
#   conversion per call); ``outcome * 0`` (0 or NaN) added to E and ``fmax(., 0)``
#   zero the games not played, instead of a 0/1 float matrix;
# * the volatility iteration keeps every player in the working arrays: a player
#   that has converged gets NaN as its next iterate, which makes every later
#   value of that player NaN (no swap, never live again, and no floating-point
#   warning), while its A stays put; no compaction by fancy indexing;
# * B and f(B) alternate between two buffers, and f's subtractions and
#   multiplications by rows that sit next to each other are one call each.
_SMALL_N = 256
"""``rate_period`` uses the small-N path for N up to this (same results, bit for bit).
It repeats the single-block case of the implementation before it (``mu_j - mu_i`` as an
outer difference, used there while ``N * N <= 65536``); :func:`_pair_sums`, for larger N,
has only the row blocks. tests/test_glicko2_fastpath.py keeps that implementation."""

OUTCOME_ROWS_MIN_N = _SMALL_N + 1
"""From this many players on :func:`rate_period` rates an :class:`OutcomeRows` block by block;
below it the small-N path takes the whole matrix (``np.asarray`` of the rows object)."""

_CM1 = new_const(-1.0)
_CHALF = new_const(0.5)
_CQ = new_const(_Q)
_CEPS = new_const(EPSILON)
_CVINV_MIN = new_const(VINV_MIN)
_CPHI2_MIN = new_const(PHI2_MIN)
_CVOL_MIN = new_const(VOL_MIN)
_CNAN = new_const(math.nan)
_CSCALE = new_const(SCALE)
_CVOL_MAX = new_const(VOL_MAX)


def _rows(n: int, *values: float) -> np.ndarray:
    out = np.empty((len(values), n))
    for i, x in enumerate(values):
        out[i] = x
    out.flags.writeable = False
    return out


class _SmallWork:
    """Buffers and fixed views of the small-N path for one N (one set per thread)."""

    def __init__(self, n: int) -> None:
        e = np.empty
        self.n = n
        # step 2: rows rd -> phi, 1500 - rating -> -mu (clamped), vol -> sigma (clamped),
        # and -delta (step 4)
        self.inp4 = e((4, n))
        self.inp = inp = self.inp4[0:3]
        self.inb = e((2, 3, n), dtype=bool)  # (lower < x, x < inf) for the inputs
        self.lower = _rows(n, 0.0, -math.inf, 0.0)
        self.inf3 = _rows(n, math.inf, math.inf, math.inf)
        self.upper = _rows(n, PHI_MAX, MU_CLAMP, VOL_MAX)
        self.lower2 = _rows(n, -MU_CLAMP, VOL_MIN)
        self.scale2 = _rows(n, SCALE, SCALE)
        self.base = _rows(n, BASE_RATING)[0]
        self.phi, self.nmu, self.sigma, self.ndelta = self.inp4
        self.sigma_ndelta = self.inp4[2:4]
        self.sq = e((2, n))  # sigma^2, delta^2
        self.phi_nmu = inp[0:2]
        self.nmu_sigma = inp[1:3]
        self.col = inp[1][:, None]  # -mu_i
        self.row = inp[1][None, :]  # -mu_j
        self.phi2, self.g, self.g2 = e((3, n))
        # pair sums
        self.x = e((n, n))
        self.y = e((n, n))
        self.z = e((n, n))
        self.gt = e((n, n))
        self.ob = e((2, n, n), dtype=bool)
        self.ob_lo, self.ob_hi = self.ob
        diagnan = np.zeros((n, n))
        np.fill_diagonal(diagnan, math.nan)
        diagnan.flags.writeable = False
        self.diagnan = diagnan
        self.vinv, self.dsum, self.nv, self.d, self.np2 = e((5, n))
        # steps 6-8: rows rating change, RD (both times SCALE in one call)
        self.fin = e((2, n))
        self.fin0, self.fin1 = self.fin
        self.played = e(n, dtype=bool)
        self.idle = e(n, dtype=bool)
        self.pos = e(n, dtype=bool)
        # volatility: B and f(B) alternate between bf0 and bf1, rows [f(B), B, -q]
        # (Src of the swap is rows 0:2, the K operand of f rows 1:3); af rows [fa, A]
        self.bf0 = e((3, n))
        self.bf1 = e((3, n))
        # views (f(B), B, -q, [B, -q], [f(B), B]) of each
        self.bfv0 = (*self.bf0, self.bf0[1:3], self.bf0[0:2])
        self.bfv1 = (*self.bf1, self.bf1[1:3], self.bf1[0:2])
        self.af = e((2, n))
        self.fa, self.A = self.af
        # f: eb rows [a, e^x, c]; fo rows [d - e^x, x - a, -q - e^x] (then products)
        self.eb = e((3, n))
        self.a, self.ex, self.c = self.eb
        self.eb01, self.eb12 = self.eb[0:2], self.eb[1:3]
        self.fo = e((3, n))
        self.fo0, self.fo1, self.fo2 = self.fo
        self.fo01, self.fo12 = self.fo[0:2], self.fo[1:3]
        self.u, self.w, self.gap, self.s, self.t = e((5, n))
        self.live = e(n, dtype=bool)
        self.dead = e(n, dtype=bool)
        self.swap = e(n, dtype=bool)
        self.bad = e(n, dtype=bool)


_tls = threading.local()


def _small_work(n: int) -> _SmallWork:
    try:
        cache = _tls.small
    except AttributeError:
        cache = _tls.small = {}
    work = cache.get(n)
    if work is None:
        if len(cache) >= 4:  # up to ~3 MB each (N = 256)
            cache.clear()
        work = cache[n] = _SmallWork(n)
    return work


_np_sub = np.subtract
_np_mul = np.multiply
_np_div = np.divide
_np_add = np.add
_np_exp = np.exp
_np_copyto = np.copyto
_np_absolute = np.absolute
_np_greater = np.greater
_np_less_equal = np.less_equal
_np_count = np.count_nonzero
_np_logical_not = np.logical_not
_np_less = np.less
_np_isfinite = np.isfinite
_np_sqrt = np.sqrt
_np_dot = np.dot
_np_fmax = np.fmax
_np_fmin = np.fmin
_np_log = np.log


def _f_small(w: _SmallWork, bf: tuple[np.ndarray, ...], out: np.ndarray) -> None:
    """:func:`_f` at ``x = B`` of ``bf`` (a view tuple of ``bf0``/``bf1``) into ``out``,
    with the same operations: ``[x, -q] - [a, e^x]`` gives ``x - a`` and
    ``-q - e^x = -(q + e^x)`` (negation is exact, so its square is ``(q + e^x)^2``),
    then ``[d - e^x, x - a] * [e^x, c]`` in one call."""
    sub, mul, div, exp = _np_sub, _np_mul, _np_div, _np_exp
    fo0, fo1, fo2, fo01 = w.fo0, w.fo1, w.fo2, w.fo01
    exp(bf[1], w.ex)
    sub(bf[3], w.eb01, w.fo12)  # x - a, -q - e^x
    sub(w.d, w.ex, fo0)  # d - e^x
    mul(fo01, w.eb12, fo01)  # (d - e^x) e^x, (x - a) c
    mul(fo2, fo2, fo2)  # (q + e^x)^2
    div(fo0, fo2, fo0)
    sub(fo0, fo1, out)


def _small_volatility(w: _SmallWork, tau: float, n_played: int) -> np.ndarray:
    """Step 5 for all N players at once (players without games, if any, are
    frozen from the start); returns a new array sigma' (garbage for those players)."""
    sub, mul, div, add = _np_sub, _np_mul, _np_div, _np_add
    exp, copyto, absolute, greater = _np_exp, _np_copyto, _np_absolute, _np_greater
    less_equal, count, logical_not, less = _np_less_equal, _np_count, _np_logical_not, _np_less
    log = _np_log
    n = w.n
    a, d, A, fa, ex = w.a, w.d, w.A, w.fa, w.ex
    fo0, fo1, fo2, fo01, fo12, eb01, eb12 = w.fo0, w.fo1, w.fo2, w.fo01, w.fo12, w.eb01, w.eb12
    fb0, b0, nq0 = w.bfv0[:3]
    nq1 = w.bfv1[2]
    sq = w.sq
    mul(w.sigma_ndelta, w.sigma_ndelta, sq)  # sigma^2, delta^2
    log(sq[0], a)
    sub(w.nv, w.phi2, nq0)  # -q = -(phi^2 + v)
    copyto(nq1, nq0)
    add(sq[1], nq0, d)  # D = delta^2 - q
    pos = w.pos
    greater(d, C0, pos)
    sub(a, const(tau), b0)
    log(d, out=b0, where=pos)
    w.c.fill(2.0 / (tau * tau))
    _f_small(w, w.bfv0, fb0)  # f(B)
    if tau >= _K_SEARCH_TAU:  # bracket search, as in _new_volatility
        bad = w.bad
        less(fb0, 0.0, bad)
        bad &= ~pos
        if n_played != n:
            bad &= w.played
        k = 1
        while count(bad):
            k += 1
            copyto(b0, a - k * tau, where=bad)
            _f_small(w, w.bfv0, fb0)
            bad &= fb0 < 0.0
    copyto(A, a)
    # f(A) = _f_at_a: e^a (d - e^a) / (q + e^a)^2
    exp(a, ex)
    sub(d, ex, fo0)
    mul(fo0, ex, fo0)
    sub(nq0, ex, fo2)
    mul(fo2, fo2, fo2)
    div(fo0, fo2, fa)
    if n_played != n:
        copyto(b0, _CNAN, where=w.idle)  # frozen from the start
    af, wv, gap, s, t = w.af, w.w, w.gap, w.s, w.t
    live, dead, swap = w.live, w.dead, w.swap
    u = w.u
    n_live = n_played
    # Illinois iterations it = 0 .. MAX_ITER, each tested at the top (the player is done
    # unless |B - A| > EPSILON). (B, f(B)) lives in one of two buffer sets and C is built in
    # the other; the sets swap roles every iteration (C becomes the next B).
    cur, nxt = w.bfv0, w.bfv1
    it = 0
    while True:
        fb_c, b_c, _, _, src_c = cur
        fb_n, b_n, _, k_n, _ = nxt
        sub(A, b_c, u)
        absolute(u, gap)  # |B - A|
        greater(gap, _CEPS, live)
        k = count(live)
        if k != n_live:
            if k == 0:
                break
            # converged: a NaN iterate makes every later value of the player NaN
            logical_not(live, dead)
            copyto(u, _CNAN, where=dead)
            n_live = k
        sub(fb_c, fa, wv)  # C = A + (A - B) fA / (fB - fA)
        mul(u, fa, t)
        div(t, wv, t)
        add(t, A, b_n)
        exp(b_n, ex)  # f(C), as _f_small
        sub(k_n, eb01, fo12)
        sub(d, ex, fo0)
        mul(fo01, eb12, fo01)
        mul(fo2, fo2, fo2)
        div(fo0, fo2, fo0)
        sub(fo0, fo1, fb_n)
        mul(fb_n, fb_c, s)  # swap where f(C) f(B) <= 0: (fA, A) <- (fB, B); else fA / 2
        less_equal(s, C0, swap)
        mul(fa, _CHALF, fa)
        copyto(af, src_c, where=swap)
        if it == MAX_ITER:
            break
        it += 1
        cur, nxt = nxt, cur
    out = mul(A, _CHALF)
    return exp(out, out)


def _rate_small(
    r: np.ndarray,
    rd_: np.ndarray,
    vol_: np.ndarray,
    o: np.ndarray,
    tau: float,
    max_vol: float | None,
    max_rd: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`rate_period` for ``0 < N <= _SMALL_N`` after the argument checks."""
    sub, mul, div, add = _np_sub, _np_mul, _np_div, _np_add
    exp, copyto, greater, count = _np_exp, _np_copyto, _np_greater, _np_count
    logical_not, less, sqrt = _np_logical_not, _np_less, _np_sqrt
    dot, fmax, fmin = _np_dot, _np_fmax, _np_fmin
    n = r.shape[0]
    w = _small_work(n)
    # Validation and step 2 on the stacked rows [rd, 1500 - rating, vol].
    inp, inb = w.inp, w.inb
    copyto(w.phi, rd_)
    sub(w.base, r, w.nmu)
    copyto(w.sigma, vol_)
    greater(inp, w.lower, inb[0])  # False for NaN, <= 0 and rating +inf
    less(inp, w.inf3, inb[1])  # False for +inf and rating -inf
    if count(inb) != 6 * n:  # some rating not finite, or some rd / vol not finite and > 0
        _check(r, rd_, vol_)  # raises, with the message of the first bad input
    div(w.phi_nmu, w.scale2, w.phi_nmu)  # phi, -mu
    fmin(inp, w.upper, inp)  # the clamps (fmin/fmax: the inputs are finite here)
    fmax(w.nmu_sigma, w.lower2, w.nmu_sigma)
    phi2, g, g2 = w.phi2, w.g, w.g2
    mul(w.phi, w.phi, phi2)
    mul(phi2, _CQ, g)
    add(g, C1, g)
    sqrt(g, g)
    div(C1, g, g)
    mul(g, g, g2)

    # Steps 3-4: the pair sums, as the earlier implementation's single block.
    less(o, C0, w.ob_lo)
    greater(o, C1, w.ob_hi)
    if count(w.ob):
        lo = np.fmin.reduce(o, axis=None)
        hi = np.fmax.reduce(o, axis=None)
        _fail("outcomes", f"must lie in [0, 1] or be NaN (rows 0..{n - 1} hold {lo!r}..{hi!r})")
    x, y, z, t = w.x, w.y, w.z, w.gt
    sub(w.col, w.row, x)  # mu_j - mu_i
    copyto(t, g)
    mul(x, t, x)
    exp(x, x)  # e
    add(o, w.diagnan, z)  # outcomes, NaN on the diagonal
    add(x, C1, t)
    div(C1, t, y)  # E
    mul(z, C0, t)  # 0 where played, NaN where not
    add(y, t, y)
    fmax(y, C0, y)  # P E
    mul(x, y, x)  # P (1 - E)
    mul(x, y, x)  # P E (1 - E)
    vinv, dsum = w.vinv, w.dsum
    dot(x, g2, vinv)
    fmax(z, C0, x)  # outcomes, 0 where no game
    sub(x, y, x)  # P (s - E)
    dot(x, g, dsum)
    played = w.played
    greater(vinv, C0, played)
    n_played = count(played)
    fmax(vinv, _CVINV_MIN, vinv)  # (vinv is finite)
    div(_CM1, vinv, w.nv)  # -v: step 5 needs only -q = -v - phi^2 and delta^2
    mul(w.nv, dsum, w.ndelta)  # -delta (exactly)

    # Step 5.
    if n_played != n:
        logical_not(played, w.idle)
    if n_played:
        new_sigma = _small_volatility(w, tau, n_played)
        if n_played != n:
            copyto(new_sigma, w.sigma, where=w.idle)
            copyto(vinv, C0, where=w.idle)
    else:
        new_sigma = w.sigma.copy()
        vinv.fill(0.0)
    np.maximum(new_sigma, _CVOL_MIN, out=new_sigma)
    np.minimum(new_sigma, _CVOL_MAX if max_vol is None else const(min(VOL_MAX, max_vol)), out=new_sigma)

    # Steps 6-8.
    new_phi2, fin = w.np2, w.fin
    mul(new_sigma, new_sigma, new_phi2)
    add(new_phi2, phi2, new_phi2)
    np.maximum(new_phi2, _CPHI2_MIN, out=new_phi2)  # phi*^2 > 0 (see the module docstring)
    div(C1, new_phi2, new_phi2)
    add(new_phi2, vinv, new_phi2)
    div(C1, new_phi2, new_phi2)
    mul(dsum, new_phi2, w.fin0)
    sqrt(new_phi2, w.fin1)
    mul(fin, _CSCALE, fin)  # [phi'^2 sum g (s - E), phi'] * SCALE
    new_rating = add(r, w.fin0)
    new_rd = w.fin1.copy() if max_rd is None else np.minimum(w.fin1, const(max_rd))
    if n_played != n:
        copyto(new_sigma, vol_, where=w.idle)
    return new_rating, new_rd, new_sigma


def rate_period(
    rating: np.ndarray,
    rd: np.ndarray,
    vol: np.ndarray,
    outcomes: np.ndarray | OutcomeRows,
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
    means no game (the diagonal is ignored), or an :class:`OutcomeRows` that makes
    those outcomes a block of rows at a time (same results, bit for bit, without the
    (N, N) matrix above ``_SMALL_N``). ``tau`` is the system constant.
    The returned arrays are new float64 arrays, always finite; see the module
    docstring for the safety clamps.
    """
    r, rd_, vol_ = _players(rating, rd, vol)
    n = r.shape[0]
    lazy = hasattr(outcomes, "rows") and n > _SMALL_N
    o: np.ndarray | OutcomeRows = outcomes if lazy else np.asarray(outcomes, dtype=np.float64)
    if o.shape != (n, n):
        _fail("outcomes", f"must have shape {(n, n)}, got {o.shape}")
    tau = _check_params(tau, max_vol, max_rd)
    if n == 0:
        return r.copy(), rd_.copy(), vol_.copy()
    if n <= _SMALL_N:
        return _rate_small(r, rd_, vol_, o, tau, max_vol, max_rd)
    _check(r, rd_, vol_)
    mu, phi2, g = _scale(r, rd_)
    # Steps 3-4: v and Delta (via 1/v and the sum of g (s - E)).
    vinv, dsum = _pair_sums(mu, g, o if lazy else _MatrixRows(o))
    return _finish(r, rd_, vol_, phi2, vinv, dsum, tau, max_vol, max_rd)


def rate_period_games(
    rating: np.ndarray,
    rd: np.ndarray,
    vol: np.ndarray,
    player: np.ndarray,
    opponent: np.ndarray,
    score: np.ndarray,
    tau: float = 0.5,
    *,
    max_vol: float | None = None,
    max_rd: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`rate_period` from a list of games instead of an (N, N) outcome matrix.

    Game ``k``: player ``player[k]`` scored ``score[k]`` (in [0, 1]) against
    ``opponent[k]``; it updates ``player[k]`` only, so a game that counts for both
    sides is given twice (``(i, j, s)`` and ``(j, i, 1 - s)``), exactly as the matrix
    holds it in ``outcomes[i, j]`` and ``outcomes[j, i]``. For M games the work and
    memory are O(N + M): a universe of N symbols playing k sampled opponents each
    needs N k entries, not N^2. The same Glicko-2 steps as :func:`rate_period`; the
    per-player sums run over the games in the order given (the matrix path sums in
    opponent order), so the two agree to rounding, not bit for bit (~1e-15 relative in the
    sums; the volatility iteration can carry that to ~1e-11).

    ``player``/``opponent`` are integer arrays in ``[0, N)`` with ``player != opponent``;
    bad input raises ``ValueError`` like :func:`rate_period`.
    """
    r, rd_, vol_ = _players(rating, rd, vol)
    n = r.shape[0]
    a = np.asarray(player)
    b = np.asarray(opponent)
    s = np.asarray(score, dtype=np.float64)
    if a.ndim != 1 or b.shape != a.shape or s.shape != a.shape:
        _fail("games", f"player, opponent and score must be 1-D of one length, got {a.shape}, {b.shape}, {s.shape}")
    if a.shape[0] and (a.dtype.kind not in "iu" or b.dtype.kind not in "iu"):
        _fail("games", f"player and opponent must be integer indices, got {a.dtype} and {b.dtype}")
    tau = _check_params(tau, max_vol, max_rd)
    if n == 0:
        if a.shape[0]:
            _fail("games", "refer to players, but there are none")
        return r.copy(), rd_.copy(), vol_.copy()
    _check(r, rd_, vol_)
    if a.shape[0]:
        if int(a.min()) < 0 or int(b.min()) < 0 or int(a.max()) >= n or int(b.max()) >= n:
            _fail("games", f"player and opponent must lie in [0, {n})")
        if np.count_nonzero(a == b):
            _fail("games", "a player cannot play itself")
        if not (s.min() >= 0.0 and s.max() <= 1.0):  # NaN fails both
            _fail("score", "must lie in [0, 1]")
    mu, phi2, g = _scale(r, rd_)
    vinv, dsum = _game_sums(mu, g, a, b, s)
    return _finish(r, rd_, vol_, phi2, vinv, dsum, tau, max_vol, max_rd)


def _game_sums(
    mu: np.ndarray, g: np.ndarray, a: np.ndarray, b: np.ndarray, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``vinv[i] = sum g_b^2 E (1 - E)`` and ``dsum[i] = sum g_b (s - E)`` over the games of
    player i (``E = 1 / (1 + e)``, ``e = exp(g_b (mu_b - mu_a))``, ``1 - E = e E`` exactly
    as in :func:`_pair_sums`), accumulated with ``bincount``."""
    n = mu.shape[0]
    if a.shape[0] == 0:
        return np.zeros(n), np.zeros(n)
    gb = g[b]
    x = mu[b]
    x -= mu[a]
    x *= gb
    np.exp(x, out=x)  # e
    e_ = np.add(x, 1.0)
    np.divide(1.0, e_, out=e_)  # E
    x *= e_  # 1 - E
    x *= e_  # E (1 - E)
    x *= gb
    x *= gb
    vinv = np.bincount(a, weights=x, minlength=n)
    np.subtract(s, e_, out=e_)
    e_ *= gb
    dsum = np.bincount(a, weights=e_, minlength=n)
    return vinv, dsum


def _players(rating: np.ndarray, rd: np.ndarray, vol: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three player arrays as float64, checked to be 1-D of one length (values are checked
    later, by :func:`_check` or the small-N path)."""
    r = np.asarray(rating, dtype=np.float64)
    rd_ = np.asarray(rd, dtype=np.float64)
    vol_ = np.asarray(vol, dtype=np.float64)
    if r.ndim != 1:
        _fail("rating", f"must be 1-D, got shape {r.shape}")
    if rd_.shape != r.shape or vol_.shape != r.shape:
        _fail("rd/vol", f"must have the rating's shape {r.shape}, got {rd_.shape} and {vol_.shape}")
    return r, rd_, vol_


def _check_params(tau: float, max_vol: float | None, max_rd: float | None) -> float:
    """Check the parameters; returns the tau to rate with (at least ``_TAU_MIN``)."""
    if not (tau > 0.0 and tau < math.inf):
        _fail("tau", f"must be finite and > 0, got {tau!r}")
    if max_vol is not None and not (max_vol > 0.0 and max_vol < math.inf):
        _fail("max_vol", f"must be None or finite and > 0, got {max_vol!r}")
    if max_rd is not None and not (max_rd > 0.0 and max_rd < math.inf):
        _fail("max_rd", f"must be None or finite and > 0, got {max_rd!r}")
    return _TAU_MIN if tau < _TAU_MIN else tau


def _scale(r: np.ndarray, rd_: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2: ``(mu, phi^2, g(phi))`` on the Glicko-2 scale (mu clamped, phi capped)."""
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
    return mu, phi2, g


def _finish(
    r: np.ndarray,
    rd_: np.ndarray,
    vol_: np.ndarray,
    phi2: np.ndarray,
    vinv: np.ndarray,
    dsum: np.ndarray,
    tau: float,
    max_vol: float | None,
    max_rd: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 5-8 from the pair sums ``vinv = 1/v`` and ``dsum = sum g (s - E)`` (both mutated)."""
    n = r.shape[0]
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
    np.minimum(new_sigma, _CVOL_MAX if max_vol is None else const(min(VOL_MAX, max_vol)), out=new_sigma)

    # Steps 6-8: phi*, phi', mu'; back to the Glicko-1 scale.
    new_phi2 = np.multiply(new_sigma, new_sigma)
    new_phi2 += phi2
    np.maximum(new_phi2, _CPHI2_MIN, out=new_phi2)  # phi*^2 > 0 (see the module docstring)
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
