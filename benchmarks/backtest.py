"""Backtest speed: the paper-trading engine replaying real Binance klines at speed max.

Usage::

    python benchmarks/backtest.py [--data DIR] [--interval 1h] [--start 2024-01-01]
                                  [--end 2025-01-01] [--symbols BTCUSDT,ETHUSDT]
                                  [--sweep-points 4] [--processes N] [--sim-symbols 500]
                                  [--sampled-periods 20000] [--allpairs-periods 2000] [--no-sim] [--json]

Three runs: (a) a backtest of the real klines; (b) the simulated market of ``--sim-symbols``
symbols, each rating period playing 32 sampled opponents (``rating.opponents``; a round robin
below 34 symbols, as in the engine); (c) the same universe playing all pairs.

Prints klines replayed per second (all symbols), rating periods per second and the
wall time of one backtest (data loading included, once parsing the files and once with the
parsed files cached - ``wall_s`` / ``wall_warm_s``; module imports are not, like the
interpreter's start-up: the engine modules are imported before the clock starts), and optionally of a sweep of
``--sweep-points`` z-score thresholds over a process pool. ``--json`` prints one JSON
line with the same figures. For the simulated universes (``--sim-symbols``, 500) it also times
the rating step (games or round robin, then Glicko-2) and the simulated feed alone, per period,
and gives ``ceiling_klines_per_s``: N over the larger of the two. With
``data_processing.rating_worker`` at its default (``auto``) these runs rate ahead in a second
process while the engine makes the market and trades, so neither side can go faster than its own
part alone (``worker_peak_rss_mb`` is the worker's peak memory). Data defaults to ``$TUI_TRADER_SHARED_DATA/binance_spot_klines``
(or ``../shared/data`` next to the checkout).

``--json`` keys: ``benchmark``, ``interval``, ``symbols``, ``klines``, ``periods``, ``fills``,
``wall_s``, ``wall_warm_s``, ``engine_s`` (the engine's own replay time), ``klines_per_s``,
``periods_per_s``, ``total_return``; with ``--sweep-points``: ``sweep_points``, ``sweep_errors``,
``sweep_processes``, ``sweep_wall_s``, ``sweep_points_per_min``; for (b) ``sampled32`` and (c)
``allpairs`` (each left out by ``--no-sim`` or 0 periods) an object with ``symbols``, ``periods``,
``opponents``, ``klines``, ``run_s``, ``klines_per_s``, ``peak_rss_mb``, ``worker_peak_rss_mb``,
``rating_ms``, ``feed_ms``, ``ceiling_klines_per_s``.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# run_backtest imports the engine lazily (the CLI's --help stays fast); tui_trader.runtime is
# imported here so the timed region is the backtest, not Python compiling modules.
from _args import SIM_SYMBOLS, check_data_dir, config_or_exit, default_data, int_range, json_line  # noqa: E402

import tui_trader.runtime  # noqa: E402, F401
from tui_trader.backtest.runner import run_backtest, sweep_runner  # noqa: E402
from tui_trader.backtest.sweep import default_processes, run_sweep  # noqa: E402
from tui_trader.clock import interval_to_ms, parse_time  # noqa: E402
from tui_trader.config import Config  # noqa: E402


def _time(text: str) -> int | None:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _interval(text: str) -> str:
    try:
        interval_to_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_data(), metavar="DIR",
                    help="(a): the kline folder (default: %(default)s)")
    ap.add_argument("--interval", type=_interval, default="1h", metavar="IV",
                    help="(a): kline interval (default: %(default)s)")
    ap.add_argument("--start", type=_time, default="", help="(a): first traded time, YYYY-MM-DD[THH:MM] UTC "
                    "(default: the data's start; warm-up is taken from the first periods)")
    ap.add_argument("--end", type=_time, default="2025-01-01",
                    help="(a): first open time not replayed (default: %(default)s)")
    ap.add_argument("--symbols", default="", metavar="LIST", help="(a): comma list (default: all in the data)")
    ap.add_argument("--sweep-points", type=int_range(0), default=0, metavar="N",
                    help="also time a sweep of this many points (default: 0, no sweep)")
    ap.add_argument("--processes", type=int_range(1), default=None, metavar="N",
                    help="the sweep's worker processes (default: all cores)")
    ap.add_argument("--sim-symbols", type=int_range(*SIM_SYMBOLS), default=500, metavar="N",
                    help="(b)/(c): sim universe size (default: %(default)s)")
    ap.add_argument("--sampled-periods", type=int_range(0), default=20_000, metavar="P",
                    help="(b): periods playing 32 sampled opponents (default: %(default)s; 0 skips (b))")
    ap.add_argument("--allpairs-periods", type=int_range(0), default=2_000, metavar="P",
                    help="(c): periods playing all pairs (default: %(default)s; 0 skips (c))")
    ap.add_argument("--no-sim", action="store_true", help="skip (b) and (c)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    check_data_dir(ap, args.data)
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()] or None
    start, end = args.start, args.end
    cfg = Config()
    if not args.no_sim:
        config_or_exit(ap, sim_settings(args.sim_symbols, 0), "--sim-symbols")

    cache_dir = tempfile.TemporaryDirectory(prefix="tt-bench-cache-")
    os.environ["TUI_TRADER_CACHE_DIR"] = cache_dir.name  # an empty kline cache: the first run parses
    t0 = time.perf_counter()
    try:
        res = asyncio.run(run_backtest(cfg, args.data, args.interval, symbols, start, end, store=False))
    except ValueError as exc:  # data that cannot be replayed: none for the interval or symbols, end <= start
        ap.error(str(exc))
    wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    asyncio.run(run_backtest(cfg, args.data, args.interval, symbols, start, end, store=False))
    wall_warm = time.perf_counter() - t0  # the parsed files come from the cache
    periods = len(res.equity_ts) - 1
    out = {
        "benchmark": "backtest",
        "interval": args.interval,
        "symbols": len(res.symbols),
        "klines": res.n_klines,
        "periods": periods,
        "fills": len(res.fills),
        "wall_s": round(wall, 3),
        "wall_warm_s": round(wall_warm, 3),
        "engine_s": round(res.wall_time_s, 3),
        "klines_per_s": round(res.n_klines / wall, 1),
        "periods_per_s": round(periods / wall, 1),
        "total_return": res.metrics["total_return"],
    }
    if args.sweep_points > 0:
        procs = args.processes or default_processes()
        spec = {"path": str(args.data), "interval": args.interval, "symbols": symbols,
                "start_ms": start, "end_ms": end}  # fmt: skip
        values = [round(1.0 + 0.25 * i, 2) for i in range(args.sweep_points)]
        t1 = time.perf_counter()
        rows = run_sweep(cfg, [("signal_generation.z_score_threshold", values)], sweep_runner,
                         processes=procs, data_spec=spec)  # fmt: skip
        sweep_wall = time.perf_counter() - t1
        out.update({
            "sweep_points": len(rows),
            "sweep_errors": sum(1 for r in rows if r["error"]),
            "sweep_processes": procs,
            "sweep_wall_s": round(sweep_wall, 3),
            "sweep_points_per_min": round(len(rows) / sweep_wall * 60, 1),
        })  # fmt: skip

    if not args.no_sim:
        for key, opponents, periods in (("sampled32", 32, args.sampled_periods), ("allpairs", 0, args.allpairs_periods)):
            if periods > 0:
                out[key] = sim_backtest(args.sim_symbols, periods, opponents)

    if args.json:
        print(json_line(out))
    else:
        print(f"backtest {out['symbols']} symbols x {args.interval}: {out['klines']:,} klines, "
              f"{out['periods']:,} rating periods, {out['fills']} fills")  # fmt: skip
        print(f"  wall {out['wall_s']:.2f} s (loading included): {out['klines_per_s']:,.0f} klines/s, "
              f"{out['periods_per_s']:,.0f} periods/s; {out['wall_warm_s']:.2f} s with the parsed files cached")  # fmt: skip
        for key in ("sampled32", "allpairs"):
            if key in out:
                r = out[key]
                print(f"  sim {r['symbols']} symbols x {r['periods']:,} periods ({r['opponents'] or 'all'} opponents): "
                      f"{r['run_s']:.2f} s, {r['klines_per_s']:,.0f} klines/s, peak RSS {r['peak_rss_mb']:.0f} MB")
                print(f"    alone: rating {r['rating_ms']:.3f} ms (the worker's part) and feed {r['feed_ms']:.3f} ms "
                      f"(the engine's, before it trades) a period: at most "
                      f"{r['ceiling_klines_per_s']:,.0f} klines/s")
        if "sweep_points" in out:
            print(f"  sweep of {out['sweep_points']} points on {out['sweep_processes']} processes: "
                  f"{out['sweep_wall_s']:.2f} s ({out['sweep_points_per_min']:.1f} points/min, "
                  f"{out['sweep_errors']} errors)")  # fmt: skip
    return 0


def sim_settings(n_symbols: int, opponents: int) -> dict:
    """(b)/(c)'s settings over the shipped configuration: one 1m kline per rating period."""
    return {
        "feed": {"kind": "sim", "interval": "1m", "speed": "max",
                 "sim": {"n_symbols": n_symbols, "warmup_periods": 0, "ticks_per_kline": 1}},
        "data_processing": {"rating_calculation_interval_ms": 60_000},
        "rating": {"opponents": opponents},
    }  # fmt: skip


def sim_backtest(n_symbols: int, periods: int, opponents: int) -> dict:
    """(b)/(c): the same engine on the sim market as fast as it goes, one kline per rating period,
    persistence off (a backtest keeps its results in memory and stores them once)."""
    import resource

    from tui_trader.clock import ManualClock
    from tui_trader.monitor.health import maxrss_mb
    from tui_trader.runtime import build_engine

    cfg = Config.model_validate(sim_settings(n_symbols, opponents))

    async def go() -> tuple[float, int]:
        engine = build_engine(cfg, persist=False, autostart=True, clock=ManualClock(0), max_klines=periods)
        await engine.start_up()
        t = time.perf_counter()
        await engine.run()
        run_s = time.perf_counter() - t
        klines = engine.counters["klines"]
        await engine.stop()
        return run_s, klines

    run_s, klines = asyncio.run(go())
    peak = maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    peak_worker = maxrss_mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # the rating worker
    rating_s = rating_alone(cfg, n_symbols, min(periods, 400))
    feed_s = feed_alone(cfg, min(periods, 400))
    return {
        "symbols": n_symbols,
        "periods": periods,
        "opponents": opponents,
        "klines": klines,
        "run_s": round(run_s, 3),
        "klines_per_s": round(klines / run_s, 1),
        "peak_rss_mb": round(peak, 1),
        "worker_peak_rss_mb": round(peak_worker, 1),
        "rating_ms": round(rating_s * 1000, 3),
        "feed_ms": round(feed_s * 1000, 3),
        "ceiling_klines_per_s": round(n_symbols / max(rating_s, feed_s), 1),
    }


def rating_alone(cfg: Config, n: int, periods: int) -> float:
    """Seconds per period of the rating step alone at N symbols, as the engine runs it (the
    games or the round robin made from the scores, then Glicko-2), on random scores."""
    import numpy as np

    from tui_trader.rating.glicko2 import rate_period, rate_period_games
    from tui_trader.rating.matches import RoundRobin, build_games

    rc = cfg.rating
    rng = np.random.default_rng(7)
    scores = [rng.normal(0.0, 0.3, n) for _ in range(8)]
    rating, rd, vol = np.full(n, rc.initial_rating), np.full(n, rc.initial_rd), np.full(n, rc.initial_volatility)
    kw = {"tau": rc.tau, "max_vol": rc.max_volatility, "max_rd": rc.max_rd}
    t0 = time.perf_counter()
    for k in range(periods):
        s = scores[k % 8]
        games = None
        if rc.opponents:  # None when too few symbols to sample from: a round robin, as in the engine
            games = build_games(s, rc.outcome_mode, rc.opponents, np.random.default_rng((1, k)),
                                margin_scale=rc.margin_scale, draw_epsilon=rc.draw_epsilon)  # fmt: skip
        if games is not None:
            rating, rd, vol = rate_period_games(rating, rd, vol, *games, **kw)
        else:
            o = RoundRobin(s, mode=rc.outcome_mode, margin_scale=rc.margin_scale, draw_epsilon=rc.draw_epsilon)
            rating, rd, vol = rate_period(rating, rd, vol, o, **kw)
    return (time.perf_counter() - t0) / periods


def feed_alone(cfg: Config, periods: int) -> float:
    """Seconds per period the simulated feed alone takes to produce its klines (validated)."""
    from tui_trader.clock import ManualClock
    from tui_trader.market.sim import SimFeed

    async def go() -> float:
        feed = SimFeed(cfg, ManualClock(0), warmup_klines=0, max_klines=periods, speed="max")
        await feed.start()
        t0 = time.perf_counter()
        async for _ in feed.events():
            pass
        return time.perf_counter() - t0

    return asyncio.run(go()) / periods


if __name__ == "__main__":
    raise SystemExit(main())
