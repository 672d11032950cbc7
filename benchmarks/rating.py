"""Benchmark of the vectorised Glicko-2 rating period.

Usage: ``python benchmarks/rating.py [--json] [--quick]``

Prints milliseconds per ``rate_period`` call for N = 10, 50, 500, 2000 players
(all pairs play; realistic random ratings, RDs, volatilities and binary
round-robin outcomes from random performance scores), the time of a
straightforward pure-Python player-by-player Glicko-2 (the ``glicko2`` PyPI
package, used for timing only: its volatility function has a bug) and the
speedup, plus the peak memory of an N = 2000 period. For N = 2000 the
pure-Python time is extrapolated from a subset of players (each still playing
all 1999 opponents) and marked so. Times are the best of several runs (the
machine is shared with other processes); the two sides of the speedup are timed in
turns, so that a slow spell of the machine falls on both. With ``--json`` one JSON line with all
figures is printed instead of the table: ``sizes`` (by N as a string: ``rate_period_ms``,
``build_outcomes_ms``, ``pure_python_ms``, ``pure_python_extrapolated_from_players`` - null when
all players were timed - and ``speedup``), ``peak_mb_n2000`` (``rate_period_only``,
``with_outcome_matrix``), ``targets`` (``ms`` by N, ``speedup_500``) and ``pass`` (each target met:
``n10``, ``n500``, ``n2000``, ``speedup_500``, ``peak_mb``).

Targets (issue): N=10 <= 0.15 ms, N=500 <= 4 ms, N=2000 <= 50 ms,
speedup >= 250x at N=500, peak memory of an N=2000 period <= 300 MB.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

try:
    from tui_trader.rating import build_outcomes, rate_period
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tui_trader.rating import build_outcomes, rate_period

SIZES = (10, 50, 500, 2000)
TARGET_MS = {10: 0.15, 500: 4.0, 2000: 50.0}
TARGET_SPEEDUP_500 = 250.0
TARGET_PEAK_MB = 300.0


def make_period(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rating = rng.normal(1500.0, 200.0, n)
    rd = rng.uniform(50.0, 350.0, n)
    vol = rng.uniform(0.04, 0.08, n)
    scores = rng.normal(0.0, 0.3, n)
    return rating, rd, vol, build_outcomes(scores)


def time_call(fn, min_total_s: float, repeats: int = 15) -> float:
    """Seconds per call: the best mean over ``repeats`` short runs (the minimum
    filters out interference from other processes on this shared machine)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    loops = max(1, int(min_total_s / repeats / once))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - t0) / loops)
    return best


def pure_python_seconds(rating, rd, vol, outcomes, players: int | None = None) -> float:
    """Seconds for the ``glicko2`` package to rate ``players`` players (all if None),
    each against all its opponents from pre-period values."""
    from glicko2 import Player

    n = rating.shape[0]
    who = range(n if players is None else players)
    r_l, d_l, v_l, o_l = rating.tolist(), rd.tolist(), vol.tolist(), outcomes.tolist()
    t0 = time.perf_counter()
    for i in who:
        p = Player(rating=r_l[i], rd=d_l[i], vol=v_l[i])
        row = o_l[i]
        opp = [j for j in range(n) if j != i and row[j] == row[j]]
        p.update_player([r_l[j] for j in opp], [d_l[j] for j in opp], [row[j] for j in opp])
    return time.perf_counter() - t0


def peak_memory_mb(n: int) -> dict[str, float]:
    rating, rd, vol, outcomes = make_period(n, seed=1)
    gc.collect()
    tracemalloc.start()
    rate_period(rating, rd, vol, outcomes)
    _, call_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del outcomes
    gc.collect()
    tracemalloc.start()
    rating, rd, vol, outcomes = make_period(n, seed=1)
    rate_period(rating, rd, vol, outcomes)
    _, full_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rate_period_only": call_peak / 2**20, "with_outcome_matrix": full_peak / 2**20}


def run(quick: bool) -> dict:
    budget = 0.3 if quick else 1.5
    res: dict = {"sizes": {}, "targets": {"ms": TARGET_MS, "speedup_500": TARGET_SPEEDUP_500}}
    for n in SIZES:
        rating, rd, vol, outcomes = make_period(n)
        subset = None if n <= 500 else 100
        runs = 5 if n <= 50 else 3
        # the speedup is a ratio: both sides are timed in turns, so that a slow spell of this
        # shared machine weighs on both (timed one after the other, a spell during the numpy side
        # only gave 223x against 270-280x just before and after); each keeps its best time
        ms = py_s = math.inf
        for _ in range(runs):
            ms = min(ms, time_call(lambda r=rating, d=rd, v=vol, o=outcomes: rate_period(r, d, v, o),
                                   budget / runs) * 1e3)
            py_s = min(py_s, pure_python_seconds(rating, rd, vol, outcomes, subset))
        scores = np.random.default_rng(2).normal(0.0, 0.3, n)
        ms_outcomes = time_call(lambda s=scores: build_outcomes(s), budget / 3) * 1e3
        py_ms = py_s * 1e3 * (n / subset if subset else 1.0)
        res["sizes"][str(n)] = {
            "rate_period_ms": ms,
            "build_outcomes_ms": ms_outcomes,
            "pure_python_ms": py_ms,
            "pure_python_extrapolated_from_players": subset,
            "speedup": py_ms / ms,
        }
    res["peak_mb_n2000"] = peak_memory_mb(2000)
    s = res["sizes"]
    res["pass"] = {
        "n10": s["10"]["rate_period_ms"] <= TARGET_MS[10],
        "n500": s["500"]["rate_period_ms"] <= TARGET_MS[500],
        "n2000": s["2000"]["rate_period_ms"] <= TARGET_MS[2000],
        "speedup_500": s["500"]["speedup"] >= TARGET_SPEEDUP_500,
        "peak_mb": res["peak_mb_n2000"]["with_outcome_matrix"] <= TARGET_PEAK_MB,
    }
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON line with all figures")
    ap.add_argument("--quick", action="store_true", help="shorter timing loops")
    args = ap.parse_args(argv)
    try:
        import glicko2  # noqa: F401  (the pure-Python side; it came with the test extras)
    except ImportError:
        ap.error("the pure-Python side needs the glicko2 package: python -m pip install -e '.[test]'")
    res = run(args.quick)
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return 0
    print(
        f"{'N':>6} {'rate_period ms':>15} {'target':>8} {'pure-Python ms':>16} {'speedup':>9} {'outcomes ms':>12}"
    )
    for n in SIZES:
        r = res["sizes"][str(n)]
        target = f"{TARGET_MS[n]:g}" if n in TARGET_MS else "-"
        py = f"{r['pure_python_ms']:.1f}" + ("*" if r["pure_python_extrapolated_from_players"] else "")
        print(
            f"{n:>6} {r['rate_period_ms']:>15.4f} {target:>8} {py:>16} "
            f"{r['speedup']:>8.0f}x {r['build_outcomes_ms']:>12.3f}"
        )
    print("* extrapolated from 100 players (each against all N-1 opponents), times N/100")
    pk = res["peak_mb_n2000"]
    print(
        f"peak memory, N=2000 period: {pk['rate_period_only']:.1f} MB in rate_period, "
        f"{pk['with_outcome_matrix']:.1f} MB including building the (N, N) outcome matrix "
        f"(target {TARGET_PEAK_MB:g} MB)"
    )
    print("targets met:", ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in res["pass"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
