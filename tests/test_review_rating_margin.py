"""Margin outcomes with a margin scale so small that its reciprocal overflows.

``rating.margin_scale`` only has to be > 0; the round robin multiplied the score gaps by
``-1 / margin_scale``, which is -inf below ~5.6e-309, and a tie (gap 0) then gave
``0 * -inf`` = NaN: a tied pair did not play (N <= 256), or, rated block by block (N > 256),
both symbols' ratings became NaN and the next period refused them. A tie is a draw (0.5)
whatever the scale, as :func:`pair_outcome` (which divides) already had it."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trader.rating.glicko2 import rate_period
from tui_trader.rating.matches import RoundRobin, build_outcomes, pair_outcome


@pytest.mark.parametrize("n", [10, 40, 300])
@pytest.mark.parametrize("scale", [1e-310, 5e-324])
def test_a_tie_is_a_draw_and_ratings_stay_finite_at_any_margin_scale(n: int, scale: float) -> None:
    s = np.linspace(-0.5, 0.5, n)
    s[1] = s[0]  # a tie
    s[5] = np.nan  # and a symbol that sat out
    with np.errstate(invalid="raise"):  # no 0 * inf
        o = build_outcomes(s, mode="margin", margin_scale=scale)
    assert o[0, 1] == o[1, 0] == 0.5
    off = ~np.eye(n, dtype=bool)
    off[5, :] = off[:, 5] = False
    assert set(np.unique(o[off]).tolist()) == {0.0, 0.5, 1.0}  # any other gap is a whole win
    with np.errstate(over="ignore"):  # it divides: |gap| / scale overflows to inf, harmlessly
        ref = pair_outcome(np.subtract.outer(s, s), "margin", scale, 0.0)
    assert np.array_equal(o[off], ref[off])
    r, d, v = rate_period(np.full(n, 1500.0), np.full(n, 350.0), np.full(n, 0.06),
                          RoundRobin(s, mode="margin", margin_scale=scale))
    assert np.isfinite(r).all() and np.isfinite(d).all() and np.isfinite(v).all()
    assert r[0] == r[1] and d[0] == d[1]  # the tied pair drew: the same games otherwise


def test_an_ordinary_margin_scale_gives_the_same_outcomes_bit_for_bit() -> None:
    # the guard only replaces an infinite factor: 0.25 keeps its exact values
    rng = np.random.default_rng(3)
    for n in (10, 40):
        s = rng.uniform(-0.9, 1.0, n)
        o = build_outcomes(s, mode="margin", margin_scale=0.25)
        gap = np.subtract.outer(s, s)
        want = 1.0 / (1.0 + np.exp(np.abs(gap) * (-1.0 / 0.25)))
        want = np.where(gap < 0.0, 1.0 - want, want)
        np.fill_diagonal(want, np.nan)
        np.testing.assert_array_equal(o, want)
