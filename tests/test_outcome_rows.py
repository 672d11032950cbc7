"""Round-robin outcomes made a block of rows at a time (``RoundRobin``) rate exactly like the
(N, N) outcome matrix of ``build_outcomes``: same ratings, RDs and volatilities, bit for bit."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.rating import glicko2
from tui_trader.rating.glicko2 import OUTCOME_ROWS_MIN_N, rate_period
from tui_trader.rating.matches import RoundRobin, build_outcomes
from tui_trader.runtime import build_engine


def _period(n: int, idle: int, seed: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.0, 0.3, n)
    scores[: n // 10] = scores[n // 10 : 2 * (n // 10)]  # equal scores: draws in binary mode
    scores[rng.choice(n, idle, replace=False)] = np.nan  # inactive symbols play nobody
    players = (rng.normal(1500.0, 200.0, n), rng.uniform(30.0, 350.0, n), rng.uniform(0.03, 0.1, n))
    return scores, players


@pytest.mark.parametrize("mode", ["binary", "margin"])
@pytest.mark.parametrize(("n", "idle"), [(OUTCOME_ROWS_MIN_N, 0), (300, 9), (517, 0), (700, 1)])
def test_rows_rate_bit_for_bit_like_the_matrix(n: int, idle: int, mode: str) -> None:
    scores, (rating, rd, vol) = _period(n, idle, n + idle)
    kw = {"tau": 0.5, "max_vol": 0.1, "max_rd": 350.0}
    matrix = build_outcomes(scores, mode, margin_scale=0.2, draw_epsilon=1e-9)
    rows = RoundRobin(scores, mode, margin_scale=0.2, draw_epsilon=1e-9)
    for _ in range(3):  # a few periods, each feeding the next
        by_matrix = rate_period(rating, rd, vol, matrix, **kw)
        by_rows = rate_period(rating, rd, vol, rows, **kw)
        for a, b in zip(by_matrix, by_rows, strict=True):
            assert np.array_equal(a, b)
        rating, rd, vol = by_rows
    assert np.ptp(rating) > 0.0 and np.all(np.isfinite(rating))


def test_rows_block_is_the_zero_filled_matrix_block() -> None:
    n = 300
    scores, _ = _period(n, 7, 3)
    matrix = build_outcomes(scores)
    rows = RoundRobin(scores)
    assert rows.shape == (n, n) and rows.played is not None and np.count_nonzero(~rows.played) == 7
    for r0, r1 in [(0, 54), (54, 108), (270, 300)]:
        out = np.full((r1 - r0, n), -1.0)
        rows.rows(r0, r1, out)
        assert np.array_equal(out, np.nan_to_num(matrix[r0:r1], nan=0.0))
    # every game is counted once from each side
    full = np.empty((n, n))
    rows.rows(0, n, full)
    played = ~np.isnan(matrix)
    assert np.array_equal((full + full.T)[played], np.ones(np.count_nonzero(played)))


def test_rows_give_the_matrix_as_an_array_and_small_periods_use_it() -> None:
    scores, (rating, rd, vol) = _period(40, 3, 11)
    rows = RoundRobin(scores, "margin", margin_scale=0.25)
    matrix = build_outcomes(scores, "margin", margin_scale=0.25)
    assert np.array_equal(np.asarray(rows), matrix, equal_nan=True)
    assert np.asarray(rows, dtype=np.float32).dtype == np.float32
    for a, b in zip(rate_period(rating, rd, vol, rows), rate_period(rating, rd, vol, matrix), strict=True):
        assert np.array_equal(a, b)


def test_all_active_rows_have_no_played_mask() -> None:
    scores, _ = _period(OUTCOME_ROWS_MIN_N + 3, 0, 5)
    assert RoundRobin(scores).played is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"scores": np.zeros((3, 3))}, "round_robin: scores must be 1-D"),
     ({"scores": np.zeros(3), "mode": "elo"}, "round_robin: mode must be one of"),
     ({"scores": np.zeros(3), "margin_scale": 0.0}, "round_robin: margin_scale"),
     ({"scores": np.zeros(3), "draw_epsilon": -1.0}, "round_robin: draw_epsilon")],
)  # fmt: skip
def test_bad_round_robin_arguments_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RoundRobin(**kwargs)


def test_rows_of_the_wrong_size_are_refused() -> None:
    scores, (rating, rd, vol) = _period(OUTCOME_ROWS_MIN_N + 1, 0, 2)
    with pytest.raises(ValueError, match=r"outcomes must have shape \(257, 257\), got \(258, 258\)"):
        rate_period(rating[:-1], rd[:-1], vol[:-1], RoundRobin(scores))


def test_large_engine_rates_from_rows_without_the_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """A round robin above the small-N size never builds the (N, N) matrix, and rates exactly as
    the matrix path does (the same engine run with the matrix forced gives the same ratings)."""
    import tui_trader.rating.periods as periods_mod

    n = OUTCOME_ROWS_MIN_N + 43
    cfg = Config.model_validate({
        "feed": {"kind": "sim", "interval": "1m", "speed": "max",
                 "sim": {"n_symbols": n, "warmup_periods": 0, "ticks_per_kline": 1}},
        "data_processing": {"rating_calculation_interval_ms": 60_000},
    })  # fmt: skip
    matrices: list[int] = []

    class CountingMatrixRows(glicko2._MatrixRows):  # rate_period reads a given matrix through it
        def __init__(self, outcomes: np.ndarray) -> None:
            matrices.append(outcomes.shape[0])
            super().__init__(outcomes)

    monkeypatch.setattr(glicko2, "_MatrixRows", CountingMatrixRows)

    async def run() -> np.ndarray:
        e = build_engine(cfg, persist=False, autostart=True, clock=ManualClock(0), max_klines=12)
        await e.start_up()
        await e.run()
        out = np.stack([e.rating, e.rd, e.vol])
        assert e.counters["periods"] >= 10
        await e.stop()
        return out

    by_rows = asyncio.run(run())
    assert matrices == []  # no period went through the matrix
    monkeypatch.setattr(periods_mod, "RoundRobin", build_outcomes)  # force the matrix path
    by_matrix = asyncio.run(run())
    assert len(matrices) >= 10
    assert np.array_equal(by_rows, by_matrix)
    assert np.ptp(by_rows[0]) > 0.0
