"""Engine speed: rating periods per second through the whole pipeline, and a year of real klines.

Usage::

    python benchmarks/engine.py [--sizes 40,500,2000] [--periods 300,60,12] [--klines-per-period 1]
                                [--data DIR] [--no-replay] [--json]

For each universe size N (simulated market, paper broker, persistence on in a fresh temporary
database) it runs a fixed number of live rating periods after a short warm-up and prints (in
``--json``, one object per size in the list ``sim``, beside ``benchmark`` and
``klines_per_period``; each with ``n``, ``periods`` measured, ``orders`` sent and ``stop_s``, the
final stop and flush):

* ``periods_per_s`` / ``pipeline_ms``: live periods per second and milliseconds per period
  through everything (feed, cache, scores, outcomes, Glicko-2, z-scores, signals, risk,
  orders, portfolio, storage - up to the final flush of the measured periods' rows), with the
  rating done ahead in a second process (``data_processing.rating_worker``, what ``auto`` does
  for long full-speed runs); ``pipeline_in_engine_ms`` / ``in_engine_overhead_pct`` the same
  with the engine rating every period itself (``off``). Both runs must end with the same
  ratings and orders, or the benchmark fails;
* ``rate_period_ms``: :func:`~tui_trader.rating.glicko2.rate_period` alone at the same N
  (outcome matrix prepared beforehand), and ``rating_ms`` with the outcomes made too, as the
  engine makes them (the matrix up to N = 256; above, rows made block by block inside
  ``rate_period``, no matrix);
* ``feed_ms``: the simulated feed alone producing the same events (the data source);
* ``overhead_pct``: ``(pipeline - rate_period) / rate_period`` in percent, and
  ``engine_overhead_pct`` the same without the feed's own time;
* ``store_rows_ms`` / ``store_sqlite_ms``: storing the period's N rating rows without the
  engine - building the rows and INSERT parameters from the columns (Python, on the engine's
  thread), then SQLite alone running the writer's multi-row INSERTs (real schema);
* ``floor_overhead_pct``: what the outcomes, the feed and building those rows add to
  ``rate_period`` by themselves, in percent - a floor under ``in_engine_overhead_pct`` for an
  engine rating in its own process, even one whose SQLite work all ran on the other core.

Then the whole 2024 1h replay of the ten real symbols (``--data``, default
``$TUI_TRADER_SHARED_DATA/binance_spot_klines``) with the shipped configuration and persistence
on: wall seconds from loading to the closed database (``replay_wall_s``), like
``tui-trader run --headless --feed replay --interval 1h --speed max`` without the interpreter
start-up, split into ``replay_load_s`` (loading and warm-up), ``replay_run_s`` and ``replay_stop_s``,
with the run's ``replay_periods``, ``replay_klines``, ``replay_fills`` and ``replay_final_equity``;
then once more with the parsed kline files cached (``replay_wall_warm_s``, ``replay_load_warm_s``;
the benchmark uses a kline cache folder of its own that starts empty). ``--json`` prints one JSON line with every figure. Times are wall-clock.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _args import SIM_SYMBOLS, check_data_dir, config_or_exit, default_data, int_list, int_range, json_line  # noqa: E402

from tui_trader.clock import ManualClock  # noqa: E402
from tui_trader.config import Config  # noqa: E402
from tui_trader.market.sim import SimFeed  # noqa: E402
from tui_trader.rating.glicko2 import rate_period  # noqa: E402
from tui_trader.rating.matches import RoundRobin, build_outcomes  # noqa: E402
from tui_trader.runtime import build_engine  # noqa: E402

WARMUP_PERIODS = 30


def sim_settings(n: int, klines_per_period: int, worker: str = "auto") -> dict:
    """The settings over the shipped configuration for an N-symbol simulated market of 1m klines."""
    return {
        "feed": {"kind": "sim", "interval": "1m", "speed": "max", "sim": {"n_symbols": n}},
        "data_processing": {"rating_calculation_interval_ms": 60_000 * klines_per_period, "rating_worker": worker},
        "monitoring": {"log_level": "error"},
    }


def sim_config(n: int, klines_per_period: int, worker: str = "auto") -> Config:
    """The shipped configuration on an N-symbol simulated market of 1m klines."""
    return Config.model_validate(sim_settings(n, klines_per_period, worker))


async def pipeline(n: int, periods: int, kpp: int, db_dir: str, worker: str) -> dict:
    cfg = sim_config(n, kpp, worker)
    engine = build_engine(cfg, db_path=os.path.join(db_dir, f"sim{n}{worker}.db"), session_kind="run", autostart=True,
                          warmup_klines=WARMUP_PERIODS * kpp, max_klines=periods * kpp)
    await engine.start_up()
    await engine.db.flush()  # the warm-up's rows are not part of the measured periods
    p0 = engine.counters["periods"]
    t0 = time.perf_counter()
    await engine.run()
    t1 = time.perf_counter()
    await engine.stop()  # the final flush of the measured periods' rows counts too
    t2 = time.perf_counter()
    done = engine.counters["periods"] - p0
    return {"periods": done, "elapsed_s": t2 - t0, "stop_s": t2 - t1,
            "orders": engine.counters["orders"], "fills": engine.counters["fills"],
            "rating_sum": float(np.nansum(engine.rating))}


async def feed_alone(n: int, periods: int, kpp: int) -> float:
    """Seconds the sim feed needs to produce the events of ``periods`` periods (validation included)."""
    feed = SimFeed(sim_config(n, kpp), ManualClock(0), warmup_klines=0, max_klines=periods * kpp, speed="max")
    await feed.start()
    t0 = time.perf_counter()
    async for _ in feed.events():
        pass
    return time.perf_counter() - t0


def store_alone(n: int, periods: int, db_dir: str) -> tuple[float, float]:
    """Seconds per period to store the period's N rating rows, without the engine: building the
    rows and the writer's multi-row INSERT parameters from the columns (Python, holds the GIL),
    and SQLite alone running those INSERTs on a raw sqlite3 connection with the real schema (WAL,
    ``synchronous=NORMAL``, one transaction per 2,000 rows as the writer commits them; it could
    run on the other core, as SQLite gives the GIL back)."""
    import sqlite3

    from tui_trader.storage.db import _statements, _write_rows
    from tui_trader.storage.queries import RATINGS_SQL
    from tui_trader.storage.schema import MIGRATIONS, split_statements
    from tui_trader.storage.writer import _Chunk, _materialize

    raw = sqlite3.connect(os.path.join(db_dir, f"floor{n}.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    for script in MIGRATIONS:
        for stmt in split_statements(script):
            raw.execute(stmt)
    rng = np.random.default_rng(3)
    mat = rng.normal(1500.0, 100.0, (6, n))
    names = [f"SYM{i:04d}USDT" for i in range(n)]
    reps = max(periods, 20)
    per_tx = max(1, 2000 // n)
    build = sql = 0.0
    for p0 in range(0, reps, per_tx):
        t0 = time.perf_counter()
        chunks = [_Chunk(n, None, (1, p, p * 60_000, names, *mat)) for p in range(p0, min(reps, p0 + per_tx))]
        batch = [("glicko_ratings", RATINGS_SQL, _materialize(chunks))]
        statements = _statements(batch, 32_766)
        t1 = time.perf_counter()
        _write_rows(raw, statements, batch)
        t2 = time.perf_counter()
        build += t1 - t0
        sql += t2 - t1
    raw.close()
    return build / reps, sql / reps


def rating_alone(n: int, periods: int) -> tuple[float, float]:
    """Seconds per period of rate_period alone (matrix given), and with the outcomes made as the
    engine makes them."""
    cfg = Config()
    r = cfg.rating
    rng = np.random.default_rng(1)
    scores = [rng.normal(0.0, 0.3, n) for _ in range(8)]
    outcomes = [build_outcomes(s) for s in scores]
    rating, rd, vol = (np.full(n, r.initial_rating), np.full(n, r.initial_rd), np.full(n, r.initial_volatility))
    reps = max(periods, 10)
    t0 = time.perf_counter()
    for k in range(reps):
        rating, rd, vol = rate_period(rating, rd, vol, outcomes[k % 8], tau=r.tau, max_vol=r.max_volatility,
                                      max_rd=r.max_rd)
    alone = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for k in range(reps):
        o = RoundRobin(scores[k % 8], mode=r.outcome_mode, margin_scale=r.margin_scale, draw_epsilon=r.draw_epsilon)
        rating, rd, vol = rate_period(rating, rd, vol, o, tau=r.tau, max_vol=r.max_volatility, max_rd=r.max_rd)
    return alone, (time.perf_counter() - t0) / reps


async def replay_2024(data: Path, db_path: str) -> dict:
    """The whole 2024 replay on a fresh book at ``db_path`` (a used one is refused: its time would
    go backwards)."""
    cfg = Config.model_validate({
        "feed": {"kind": "replay", "interval": "1h", "speed": "max",
                 "replay": {"path": str(data), "start": "2024-01-01", "end": "2025-01-01"}},
        "monitoring": {"log_level": "error"},
    })
    t0 = time.perf_counter()
    engine = build_engine(cfg, db_path=db_path, session_kind="run", autostart=True)
    await engine.start_up()
    t1 = time.perf_counter()
    await engine.run()
    t2 = time.perf_counter()
    await engine.stop()
    t3 = time.perf_counter()
    s = engine.summary()
    return {"replay_wall_s": round(t3 - t0, 3), "replay_load_s": round(t1 - t0, 3),
            "replay_run_s": round(t2 - t1, 3), "replay_stop_s": round(t3 - t2, 3), "replay_periods": s["periods"],
            "replay_klines": s["klines"], "replay_fills": s["fills"], "replay_final_equity": s["final_equity"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int_list(*SIM_SYMBOLS), default="40,500,2000", metavar="N,N,...",
                    help=f"comma list of universe sizes, each {SIM_SYMBOLS[0]} to {SIM_SYMBOLS[1]} (default: %(default)s)")
    ap.add_argument("--periods", type=int_list(1), default="1000,600,60", metavar="P,P,...",
                    help="live periods per size (comma list, or one number; default: %(default)s)")
    ap.add_argument("--klines-per-period", type=int_range(1), default=1, dest="kpp", metavar="K",
                    help="1m klines per rating period (default 1: the period is the kline)")
    ap.add_argument("--data", type=Path, default=default_data(), metavar="DIR",
                    help="the folder of the 2024 1h klines (default: %(default)s)")
    ap.add_argument("--no-replay", action="store_true", help="skip the 2024 replay")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    sizes = args.sizes
    per = args.periods * len(sizes) if len(args.periods) == 1 else args.periods
    if len(per) != len(sizes):
        ap.error("--periods needs one number or one per size")
    for n in sizes:  # a refused setting is named before any timing starts
        config_or_exit(ap, sim_settings(n, args.kpp), "--sizes / --klines-per-period")
    if not args.no_replay:  # before the sim sizes, which take minutes
        check_data_dir(ap, args.data, "; --no-replay skips the replay")
    out: dict = {"benchmark": "engine", "klines_per_period": args.kpp, "sim": []}
    with tempfile.TemporaryDirectory(prefix="tt-bench-") as tmp:
        os.environ["TUI_TRADER_CACHE_DIR"] = os.path.join(tmp, "kline-cache")  # starts empty
        for n, periods in zip(sizes, per, strict=True):
            res = asyncio.run(pipeline(n, periods, args.kpp, tmp, "on"))
            alone_res = asyncio.run(pipeline(n, periods, args.kpp, tmp, "off"))
            if (res["rating_sum"], res["orders"]) != (alone_res["rating_sum"], alone_res["orders"]):
                print(f"N={n}: the runs with and without the rating worker differ", file=sys.stderr)
                return 1
            feed_s = asyncio.run(feed_alone(n, periods, args.kpp))
            alone, rating = rating_alone(n, periods)
            rows_s, sql_s = store_alone(n, periods, tmp)
            pipe_ms = res["elapsed_s"] / res["periods"] * 1000
            in_engine_ms = alone_res["elapsed_s"] / alone_res["periods"] * 1000
            feed_ms = feed_s / periods * 1000
            # what the outcomes, the feed and building the rows to store cost by themselves on the
            # engine's thread (SQLite's own time could overlap on the other core)
            floor_ms = (rating - alone) * 1000 + feed_ms + rows_s * 1000
            row = {
                "n": n,
                "periods": res["periods"],
                "periods_per_s": round(res["periods"] / res["elapsed_s"], 2),
                "pipeline_ms": round(pipe_ms, 3),
                "rate_period_ms": round(alone * 1000, 3),
                "rating_ms": round(rating * 1000, 3),
                "feed_ms": round(feed_ms, 3),
                "overhead_pct": round((pipe_ms / (alone * 1000) - 1) * 100, 1),
                "pipeline_in_engine_ms": round(in_engine_ms, 3),
                "in_engine_overhead_pct": round((in_engine_ms / (alone * 1000) - 1) * 100, 1),
                "engine_overhead_pct": round(((pipe_ms - feed_ms) / (alone * 1000) - 1) * 100, 1),
                "store_rows_ms": round(rows_s * 1000, 3),
                "store_sqlite_ms": round(sql_s * 1000, 3),
                "floor_overhead_pct": round(floor_ms / (alone * 1000) * 100, 1),
                "orders": res["orders"],
                "stop_s": round(res["stop_s"], 3),
            }
            out["sim"].append(row)
            if not args.json:
                print(f"N={n:5d}: {row['periods_per_s']:9.1f} periods/s  pipeline {row['pipeline_ms']:8.3f} ms "
                      f"(rating ahead in a second process; {row['pipeline_in_engine_ms']:.3f} ms, "
                      f"{row['in_engine_overhead_pct']:+.0f} %, with the engine rating alone)")
                print(f"         "
                      f"rate_period {row['rate_period_ms']:7.3f} ms  (+outcomes {row['rating_ms']:7.3f} ms)  "
                      f"feed {row['feed_ms']:7.3f} ms  overhead {row['overhead_pct']:+.0f} % "
                      f"(engine only {row['engine_overhead_pct']:+.0f} %)  orders {row['orders']}")
                print(f"         floor: outcomes + feed + building the {n} rows to store "
                      f"({row['store_rows_ms']:.3f} ms; SQLite then takes {row['store_sqlite_ms']:.3f} ms) "
                      f"alone add {row['floor_overhead_pct']:+.0f} % to rate_period")
        if not args.no_replay:
            # parses the files (the kline cache is empty); then the same with them cached, on a book
            # of its own
            rep = asyncio.run(replay_2024(args.data, os.path.join(tmp, "replay.db")))
            warm = asyncio.run(replay_2024(args.data, os.path.join(tmp, "replay-warm.db")))
            out.update(rep)
            out.update({"replay_wall_warm_s": warm["replay_wall_s"], "replay_load_warm_s": warm["replay_load_s"]})
            if not args.json:
                print(f"2024 1h replay, 10 symbols, persistence on: {rep['replay_wall_s']:.2f} s wall "
                      f"(load+warm {rep['replay_load_s']:.2f}, run {rep['replay_run_s']:.2f}, "
                      f"close {rep['replay_stop_s']:.2f}); {rep['replay_periods']} periods, "
                      f"{rep['replay_fills']} fills, final equity {rep['replay_final_equity']:.2f}")
                print(f"  again with the parsed files cached: {warm['replay_wall_s']:.2f} s wall "
                      f"(load+warm {warm['replay_load_s']:.2f})")
    if args.json:
        print(json_line(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
