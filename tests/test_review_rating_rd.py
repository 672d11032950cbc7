"""A rating period's output is always a valid input of the next one.

``rating.initial_rd`` and ``rating.max_volatility`` only have to be > 0. With both tiny
(1e-300 and 1e-200) phi*^2 = phi^2 + sigma'^2 underflowed to 0, step 7 took 1 / 0 and
returned RD 0, which ``rate_period`` itself refuses ("rd must be finite and > 0"): the
second period failed. phi*^2 is now floored where its reciprocal would overflow."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trader.rating.glicko2 import rate_period, rate_period_games

NAN = np.nan


def _outcomes(n: int, idle: int | None) -> np.ndarray:
    s = np.triu(np.ones((n, n)), 1)  # lower index wins
    o = s + np.tril(np.zeros((n, n)), -1)
    o[np.tril_indices(n, -1)] = 0.0
    np.fill_diagonal(o, NAN)
    if idle is not None:
        o[idle, :] = o[:, idle] = NAN
    return o


@pytest.mark.parametrize("n", [2, 5, 300])  # the small-N path and the block path
@pytest.mark.parametrize("rd0", [1e-300, 1e-170, 5e-324])
def test_tiny_rd_and_volatility_cap_never_return_rd_zero(n: int, rd0: float) -> None:
    rating, rd, vol = np.full(n, 1500.0), np.full(n, rd0), np.full(n, 0.06)
    o = _outcomes(n, idle=1)
    with np.errstate(divide="raise"):
        for _ in range(3):
            rating, rd, vol = rate_period(rating, rd, vol, o, max_vol=1e-200)
            assert (rd > 0).all() and np.isfinite(rd).all()
            assert np.isfinite(rating).all()


def test_tiny_rd_and_volatility_cap_from_a_list_of_games() -> None:
    rating, rd, vol = np.full(3, 1500.0), np.full(3, 1e-300), np.full(3, 0.06)
    a, b, s = np.array([0, 1]), np.array([1, 0]), np.array([1.0, 0.0])
    with np.errstate(divide="raise"):
        for _ in range(3):
            rating, rd, vol = rate_period_games(rating, rd, vol, a, b, s, max_vol=1e-200)
            assert (rd > 0).all() and np.isfinite(rd).all() and np.isfinite(rating).all()


def test_ordinary_inputs_are_rated_as_the_paper_says() -> None:
    # the floor (phi*^2 >= 1 / DBL_MAX) never engages for an RD or volatility a market has
    rng = np.random.default_rng(1)
    n = 8
    rating = rng.normal(1500.0, 200.0, n)
    rd = rng.uniform(30.0, 350.0, n)
    vol = rng.uniform(0.03, 0.1, n)
    o = _outcomes(n, idle=3)
    r, d, v = rate_period(rating, rd, vol, o, max_vol=0.1, max_rd=350.0)
    phi2 = (rd / 173.7178) ** 2
    assert np.isfinite(d).all() and (d > 0).all()
    idle = np.isnan(o).all(axis=1)
    assert idle.sum() == 1
    # an idle player: RD sqrt(phi^2 + sigma^2), capped; rating and volatility kept
    np.testing.assert_array_equal(d[idle], np.minimum(np.sqrt(phi2[idle] + vol[idle] ** 2) * 173.7178, 350.0))
    assert np.array_equal(r[idle], rating[idle]) and np.array_equal(v[idle], vol[idle])
    # the players: step 7 from the returned volatility, as the paper writes it
    phi_star2 = phi2[~idle] + v[~idle] ** 2
    assert ((d[~idle] / 173.7178) ** 2 < phi_star2).all()  # games only ever shrink phi*
