"""Sampled opponents as a list of games: build_games + rate_period_games against the matrix path."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.rating.glicko2 import rate_period, rate_period_games
from tui_trader.rating.matches import build_games, build_outcomes
from tui_trader.runtime import build_engine


def _players(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(1500.0, 150.0, n), rng.uniform(40.0, 350.0, n), rng.uniform(0.03, 0.09, n)


@pytest.mark.parametrize(
    ("n", "k", "mode", "idle", "caps"),
    [(40, 6, "binary", 0, False), (300, 32, "margin", 0, True), (301, 7, "binary", 25, True), (90, 1, "margin", 3, False)],
)
def test_games_rate_like_the_outcome_matrix(n: int, k: int, mode: str, idle: int, caps: bool) -> None:
    rng = np.random.default_rng(n + k)
    scores = rng.normal(0.0, 0.3, n)
    scores[rng.choice(n, idle, replace=False)] = np.nan  # inactive symbols play nobody
    kw = {"max_vol": 0.1, "max_rd": 350.0} if caps else {}
    rating, rd, vol = _players(n, k)
    games = build_games(scores, mode, k, np.random.default_rng(5), margin_scale=0.2)
    outcomes = build_outcomes(scores, mode, k, np.random.default_rng(5), margin_scale=0.2)
    assert games is not None
    for _ in range(3):  # a few periods, each feeding the next
        new_g = rate_period_games(rating, rd, vol, *games, tau=0.5, **kw)
        new_m = rate_period(rating, rd, vol, outcomes, tau=0.5, **kw)
        for a, b in zip(new_g, new_m, strict=True):  # the sums differ in order only
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=0.0)
        rating, rd, vol = new_m
    # idle symbols: rating and volatility kept, RD grown
    still = np.flatnonzero(np.isnan(scores))
    if still.size:
        r0, rd0, v0 = _players(n, k)
        r1, rd1, v1 = rate_period_games(r0, rd0, v0, *games, tau=0.5, **kw)
        assert np.array_equal(r1[still], r0[still]) and np.array_equal(v1[still], v0[still])
        assert np.all(rd1[still] >= rd0[still])


def test_build_games_holds_the_played_cells_of_the_matrix() -> None:
    scores = np.random.default_rng(3).normal(0.0, 0.3, 64)
    scores[[5, 17]] = np.nan
    for mode in ("binary", "margin"):
        a, b, s = build_games(scores, mode, 9, np.random.default_rng(11))
        o = build_outcomes(scores, mode, 9, np.random.default_rng(11))
        assert a.shape == b.shape == s.shape == (int(np.count_nonzero(~np.isnan(o))),)
        assert np.array_equal(s, o[a, b])  # bit for bit, both directions
        assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == a.shape[0]  # each directed game once
        assert not np.isin(a, [5, 17]).any() and not np.isin(b, [5, 17]).any()


def test_round_robin_periods_are_not_turned_into_games() -> None:
    s = np.random.default_rng(0).normal(0.0, 0.3, 10)
    assert build_games(s, "binary", 0, None) is None
    assert build_games(s, "binary", 9, np.random.default_rng(0)) is None  # k >= active - 1
    with pytest.raises(ValueError, match="build_games: opponents > 0 needs rng"):
        build_games(s, "binary", 3, None)


@pytest.mark.parametrize(
    ("games", "match"),
    [
        (([0, 1], [1], [1.0, 0.0]), "one length"),
        (([0, 1], [1, 1], [1.0, 0.0]), "itself"),
        (([0, 3], [1, 0], [1.0, 0.0]), r"\[0, 3\)"),
        (([0, -1], [1, 0], [1.0, 0.0]), r"\[0, 3\)"),
        (([0, 1], [1, 0], [1.5, 0.0]), "score"),
        (([0, 1], [1, 0], [np.nan, 0.0]), "score"),
        (([0.0, 1.0], [1.0, 0.0], [1.0, 0.0]), "integer"),
    ],
)
def test_bad_games_are_refused(games: tuple, match: str) -> None:
    r, rd, vol = _players(3, 0)
    a, b, s = (np.asarray(x) for x in games)
    with pytest.raises(ValueError, match=match):
        rate_period_games(r, rd, vol, a, b, s)


def test_no_games_only_grows_rd() -> None:
    r, rd, vol = _players(5, 1)
    empty = np.empty(0, dtype=np.int64)
    r1, rd1, v1 = rate_period_games(r, rd, vol, empty, empty, np.empty(0))
    assert np.array_equal(r1, r) and np.array_equal(v1, vol) and np.all(rd1 > rd)


def test_engine_with_sampled_opponents_is_deterministic_and_rates() -> None:
    cfg = Config.model_validate({
        "feed": {"kind": "sim", "interval": "1m", "speed": "max",
                 "sim": {"n_symbols": 60, "warmup_periods": 0, "ticks_per_kline": 1}},
        "data_processing": {"rating_calculation_interval_ms": 60_000},
        "rating": {"opponents": 8},
    })  # fmt: skip

    async def run() -> tuple[dict, np.ndarray]:
        e = build_engine(cfg, persist=False, autostart=True, clock=ManualClock(0), max_klines=150)
        await e.start_up()
        await e.run()
        out = (e.summary(), e.rating.copy())
        await e.stop()
        return out

    (s1, r1), (s2, r2) = asyncio.run(run()), asyncio.run(run())
    assert s1["periods"] >= 100
    assert np.array_equal(r1, r2) and s1["fills"] == s2["fills"] and s1["final_equity"] == s2["final_equity"]
    assert np.std(r1) > 1.0  # the games moved the ratings apart


def test_sampled_opponents_with_too_few_active_symbols_play_round_robin() -> None:
    """With ``opponents >= active - 1`` (a universe smaller than the sample, or a period in which
    only a few symbols have klines) there is nothing to sample: the period is a round robin, as
    build_outcomes makes it. The engine used to unpack build_games' None and crash."""

    def cfg(opponents: int) -> Config:
        return Config.model_validate({
            "feed": {"kind": "sim", "interval": "1m", "speed": "max",
                     "sim": {"n_symbols": 5, "warmup_periods": 0, "ticks_per_kline": 1}},
            "data_processing": {"rating_calculation_interval_ms": 60_000},
            "rating": {"opponents": opponents},
        })  # fmt: skip

    async def run(c: Config) -> tuple[dict, np.ndarray, np.ndarray]:
        e = build_engine(c, persist=False, autostart=True, clock=ManualClock(0), max_klines=60)
        await e.start_up()
        await e.run()
        out = (e.summary(), e.rating.copy(), e.rd.copy())
        await e.stop()
        return out

    s8, r8, rd8 = asyncio.run(run(cfg(8)))  # 8 >= 5 - 1: every period is a round robin
    s0, r0, rd0 = asyncio.run(run(cfg(0)))
    assert s8["periods"] >= 10
    assert np.array_equal(r8, r0) and np.array_equal(rd8, rd0)
    assert np.std(r8) > 1.0  # the games were played
