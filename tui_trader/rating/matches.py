"""Turn one period's performance scores into game outcomes between symbols.

Each period every active symbol (finite score) plays every other active symbol
(round robin), or ``opponents = k`` sampled opponents in large universes.
The result is an (N, N) float64 matrix for :func:`tui_trader.rating.glicko2.rate_period`:
``outcomes[i, j]`` in [0, 1] is i's score against j, NaN where i and j did not
play (always on the diagonal, and in the row and column of an inactive symbol).
Wherever a game was played, ``outcomes[i, j] + outcomes[j, i] == 1`` exactly.
With sampled opponents, :func:`build_games` gives the same games as lists
``(player, opponent, score)`` for :func:`tui_trader.rating.glicko2.rate_period_games`,
in O(N k) memory instead of N^2 (the engine uses it whenever it samples).

Modes (``gap = scores[i] - scores[j]``, in performance-score units):

* ``"binary"``: 1 if ``gap > draw_epsilon``, 0 if ``gap < -draw_epsilon``,
  else 0.5 (a draw).
* ``"margin"``: ``1 / (1 + exp(-gap / margin_scale))``, so ``gap = margin_scale``
  gives ~0.731 and equal scores give 0.5.
"""

from __future__ import annotations

import math

import numpy as np

from tui_trader.rating.consts import C0, C1, const
from tui_trader.rating.glicko2 import zero_block_diagonal

__all__ = ["MODES", "RoundRobin", "build_games", "build_outcomes", "pair_outcome", "sample_pairs"]

MODES = ("binary", "margin")

_SMALL_N = 32
"""Round robins of up to this many symbols avoid numpy's slower calls (bool to float
casts, Python-float operands, ``fill_diagonal``); same values, bit for bit."""
_templates: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_FACTOR_MIN = -1e300
"""Floor of the round robin's ``-1 / margin_scale``: below a scale of ~5.6e-309 it is -inf, and a
tie then gave ``0 * -inf`` = NaN (a tie is a draw at any scale); for scales from 1e-300 on
nothing changes, and below it any gap above ~1e-297 is a whole win either way."""


def _margin_factor(margin_scale: float) -> float:
    return max(-1.0 / margin_scale, _FACTOR_MIN)


def _template(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only (N, N) arrays: 0.5 with a NaN diagonal, and 0 with a NaN diagonal."""
    t = _templates.get(n)
    if t is None:
        half = np.full((n, n), 0.5)
        np.fill_diagonal(half, np.nan)
        zero = np.zeros((n, n))
        np.fill_diagonal(zero, np.nan)
        half.flags.writeable = zero.flags.writeable = False
        t = _templates[n] = (half, zero)
    return t


def pair_outcome(gap: np.ndarray, mode: str, margin_scale: float, draw_epsilon: float) -> np.ndarray:
    """Outcome of the first player for score gaps ``gap`` (any shape).

    ``pair_outcome(-gap)`` is the exact complement ``1 - pair_outcome(gap)``:
    the logistic is evaluated on ``|gap|`` (value in [0.5, 1], where ``1 - x``
    is exact in floating point) and mirrored for negative gaps. NaN gaps give NaN.
    """
    if mode == "binary":
        out = np.greater(gap, draw_epsilon).astype(np.float64)
        out[np.abs(gap) <= draw_epsilon] = 0.5
        out[np.isnan(gap)] = np.nan
        return out
    t = np.abs(gap)
    t /= -margin_scale
    np.exp(t, out=t)  # exp(-|gap| / scale) in [0, 1], no overflow
    t += 1.0
    np.divide(1.0, t, out=t)  # logistic(|gap| / scale) in [0.5, 1]
    neg = gap < 0.0
    np.subtract(1.0, t, out=t, where=neg)
    return t


def _round_robin(
    s: np.ndarray, active: np.ndarray, m: int, mode: str, margin_scale: float, draw_epsilon: float
) -> np.ndarray:
    """All pairs of active symbols, computed in place in the (N, N) result
    (the same values as :func:`pair_outcome`, with fewer passes)."""
    n = s.shape[0]
    out = np.subtract.outer(s, s)  # gap; NaN rows/columns are overwritten below
    if n <= _SMALL_N:
        return _round_robin_small(out, active, m, mode, margin_scale, draw_epsilon)
    _gap_to_outcome(out, mode, margin_scale, draw_epsilon)
    if m != n:
        idle = np.flatnonzero(~active)
        out[idle, :] = np.nan
        out[:, idle] = np.nan
    np.fill_diagonal(out, np.nan)
    return out


def _gap_to_outcome(out: np.ndarray, mode: str, margin_scale: float, draw_epsilon: float) -> None:
    """Score gaps in ``out`` to outcomes, in place (:func:`pair_outcome`'s values)."""
    if mode == "binary":
        lose = np.less(out, -draw_epsilon)
        np.greater(out, draw_epsilon, out=out)  # 1.0 win, 0.0 otherwise
        out -= lose  # 1 win, 0 draw, -1 loss
        out *= 0.5
        out += 0.5
    else:
        neg = out < 0.0
        np.abs(out, out=out)
        out *= _margin_factor(margin_scale)
        np.exp(out, out=out)
        out += 1.0
        np.divide(1.0, out, out=out)  # logistic(|gap| / scale) in [0.5, 1]
        np.subtract(1.0, out, out=out, where=neg)


class RoundRobin:
    """A round-robin period's outcomes made a block of rows at a time
    (:class:`tui_trader.rating.glicko2.OutcomeRows`): ``rate_period`` rates a large universe
    from it without the (N, N) matrix, which at N = 2000 takes longer to build than the rating
    takes, and a small one from ``np.asarray`` of it, the matrix :func:`build_outcomes` gives.
    The values are the same, bit for bit."""

    def __init__(
        self, scores: np.ndarray, mode: str = "binary", margin_scale: float = 0.25, draw_epsilon: float = 1e-9
    ) -> None:
        s = _check_args("round_robin", scores, mode, 0, None, margin_scale, draw_epsilon)
        self._s = s
        self._args = (mode, margin_scale, draw_epsilon)
        n = s.shape[0]
        self.shape = (n, n)
        self._active = active = np.isfinite(s)
        self._m = m = int(np.count_nonzero(active))
        self.played: np.ndarray | None = None if m == n else active
        """(N,) bool: the symbols in the round robin (finite score); None when all are."""
        # per period, not per block of rows: the 0/1 vector and the idle symbols
        self._pf = None if m == n else active.astype(np.float64)
        self._idle = None if m == n else np.flatnonzero(~active)

    def played_rows(self, r0: int, r1: int, out: np.ndarray) -> bool:
        """Rows ``r0:r1`` of the 0/1 played matrix into ``out``, False when every pair played."""
        pf = self._pf
        if pf is None:
            return False
        np.multiply(pf[r0:r1, None], pf[None, :], out=out)
        return True

    def rows(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Rows ``r0:r1`` into ``out``: the outcomes, 0 where no game (see ``OutcomeRows``)."""
        s = self._s
        np.subtract(s[r0:r1, None], s[None, :], out=out)
        _gap_to_outcome(out, *self._args)
        idle = self._idle
        if idle is not None:
            out[:, idle] = 0.0
            k = idle[(idle >= r0) & (idle < r1)]
            out[k - r0, :] = 0.0
        zero_block_diagonal(out, r0)  # nobody plays himself

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        out = _round_robin(self._s, self._active, self._m, *self._args)
        return out if dtype is None or np.dtype(dtype) == out.dtype else out.astype(dtype)


def _round_robin_small(
    out: np.ndarray, active: np.ndarray, m: int, mode: str, margin_scale: float, draw_epsilon: float
) -> np.ndarray:
    """:func:`_round_robin` for N <= ``_SMALL_N`` from the gap matrix ``out``: the
    same values with fewer and cheaper numpy calls. Binary: 0.5 (NaN on the
    diagonal, where the gap is 0 and so neither a win nor a loss), then 1 where
    ``gap > draw_epsilon`` and 0 where ``gap < -draw_epsilon``."""
    n = out.shape[0]
    half, diag_nan = _template(n)
    if mode == "binary":
        win = np.greater(out, const(draw_epsilon))
        lose = np.less(out, const(-draw_epsilon))
        np.copyto(out, half)
        np.copyto(out, C1, where=win)
        np.copyto(out, C0, where=lose)
    else:
        neg = np.less(out, C0)
        np.absolute(out, out)
        np.multiply(out, const(_margin_factor(margin_scale)), out)
        np.exp(out, out)
        np.add(out, C1, out)
        np.divide(C1, out, out)  # logistic(|gap| / scale) in [0.5, 1]
        np.subtract(C1, out, out=out, where=neg)
        np.add(out, diag_nan, out)  # NaN on the diagonal (the values are never -0)
    if m != n:
        idle = np.flatnonzero(~active)
        out[idle, :] = np.nan
        out[:, idle] = np.nan
    return out


def sample_pairs(
    active: np.ndarray, opponents: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sampled pairings ``(i, j)`` (each unordered pair once) among ``active`` indices.

    The active players are put in random order (one ``rng.permutation``) on a
    circle and each plays the ``opponents // 2`` nearest players on both sides;
    an odd ``opponents`` adds a matching between opposite points of the circle.
    So each player plays exactly ``opponents`` distinct opponents, except that
    when ``opponents`` and the number of active players are both odd one player
    gets one game fewer (an odd total is impossible). Callers use round robin
    when ``opponents >= m - 1``.
    """
    m = active.shape[0]
    perm = rng.permutation(active)
    half = opponents // 2
    t = np.arange(m)
    if half:
        offs = np.arange(1, half + 1)
        i = np.repeat(perm, half)
        j = perm[(t[:, None] + offs[None, :]) % m].reshape(-1)
    else:
        i = j = np.empty(0, dtype=perm.dtype)
    if opponents % 2:
        s = m // 2
        i = np.concatenate([i, perm[:s]])
        j = np.concatenate([j, perm[s : 2 * s]])
    return i, j


def build_outcomes(
    scores: np.ndarray,
    mode: str = "binary",
    opponents: int = 0,
    rng: np.random.Generator | None = None,
    margin_scale: float = 0.25,
    draw_epsilon: float = 1e-9,
) -> np.ndarray:
    """(N, N) outcome matrix of one period from per-symbol ``scores`` (see module doc).

    ``opponents = 0`` (or ``>= active - 1``) plays round robin among the
    active symbols; ``opponents = k > 0`` plays ``k`` sampled opponents per
    symbol (see :func:`sample_pairs`), drawn from ``rng``, which is then
    required (a ``numpy.random.Generator``; same generator state, same
    pairings). Symbols with a NaN or infinite score are inactive: their row
    and column are NaN.
    """
    s = _check_args("build_outcomes", scores, mode, opponents, rng, margin_scale, draw_epsilon)
    n = s.shape[0]
    active = np.isfinite(s)
    m = np.count_nonzero(active)
    if opponents == 0 or opponents >= m - 1:
        return _round_robin(s, active, m, mode, margin_scale, draw_epsilon)
    out = np.full((n, n), np.nan)
    i, j, res = _sampled(s, active, opponents, rng, mode, margin_scale, draw_epsilon)
    out[i, j] = res
    out[j, i] = 1.0 - res
    return out


def _sampled(
    s: np.ndarray,
    active: np.ndarray,
    opponents: int,
    rng: np.random.Generator | None,
    mode: str,
    margin_scale: float,
    draw_epsilon: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled pairs ``(i, j)`` and i's outcomes; j's are ``1 - res`` exactly (pair_outcome(-gap)
    is the exact complement of pair_outcome(gap), see its doc)."""
    assert rng is not None  # checked by _check_args
    i, j = sample_pairs(np.flatnonzero(active), int(opponents), rng)
    return i, j, pair_outcome(s[i] - s[j], mode, margin_scale, draw_epsilon)


def _check_args(
    fn: str,
    scores: np.ndarray,
    mode: str,
    opponents: int,
    rng: np.random.Generator | None,
    margin_scale: float,
    draw_epsilon: float,
) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{fn}: scores must be 1-D, got shape {s.shape}")
    if mode not in MODES:
        raise ValueError(f"{fn}: mode must be one of {MODES}, got {mode!r}")
    if isinstance(opponents, bool) or not isinstance(opponents, (int, np.integer)) or opponents < 0:
        raise ValueError(f"{fn}: opponents must be an int >= 0, got {opponents!r}")
    if not (margin_scale > 0.0 and math.isfinite(margin_scale)):
        raise ValueError(f"{fn}: margin_scale must be finite and > 0, got {margin_scale!r}")
    if not (draw_epsilon >= 0.0 and math.isfinite(draw_epsilon)):
        raise ValueError(f"{fn}: draw_epsilon must be finite and >= 0, got {draw_epsilon!r}")
    if opponents and not isinstance(rng, np.random.Generator):
        raise ValueError(f"{fn}: opponents > 0 needs rng, a numpy.random.Generator (determinism)")
    return s


def build_games(
    scores: np.ndarray,
    mode: str = "binary",
    opponents: int = 0,
    rng: np.random.Generator | None = None,
    margin_scale: float = 0.25,
    draw_epsilon: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The sampled games of one period as lists for
    :func:`~tui_trader.rating.glicko2.rate_period_games`: ``(player, opponent, score)``,
    each game twice (``(i, j, s)`` and ``(j, i, 1 - s)``) - the non-NaN cells of
    :func:`build_outcomes` with the same arguments and generator state, in O(N k)
    memory. Returns None when the period plays round robin (``opponents == 0`` or
    ``>= active - 1``): an all-pairs period is cheaper as the dense matrix.
    """
    s = _check_args("build_games", scores, mode, opponents, rng, margin_scale, draw_epsilon)
    active = np.isfinite(s)
    if opponents == 0 or opponents >= np.count_nonzero(active) - 1:
        return None
    i, j, res = _sampled(s, active, opponents, rng, mode, margin_scale, draw_epsilon)
    return np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([res, 1.0 - res])
