"""Backtest speed: the paper-trading engine replaying real Binance klines at speed max.

Usage::

    python benchmarks/backtest.py [--data DIR] [--interval 1h] [--start 2024-01-01]
                                  [--end 2025-01-01] [--symbols BTCUSDT,ETHUSDT]
                                  [--sweep-points 4] [--processes N] [--json]

Prints klines replayed per second (all symbols), rating periods per second and the
wall time of one backtest (data loading included), and optionally of a sweep of
``--sweep-points`` z-score thresholds over a process pool. ``--json`` prints one JSON
line with the same figures. Data defaults to ``$TUI_TRADER_SHARED_DATA/binance_spot_klines``
(or ``../shared/data`` next to the checkout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tui_trader.backtest.runner import run_backtest, sweep_runner  # noqa: E402
from tui_trader.backtest.sweep import default_processes, run_sweep  # noqa: E402
from tui_trader.config import Config  # noqa: E402
from tui_trader.market.replay import parse_time  # noqa: E402


def default_data() -> Path:
    env = os.environ.get("TUI_TRADER_SHARED_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    return base / "binance_spot_klines"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--interval", default="1h")
    ap.add_argument("--start", default="2024-01-15", help="first traded time (warm-up comes before it)")
    ap.add_argument("--end", default="2025-01-01")
    ap.add_argument("--symbols", default="", help="comma list (default: all in the data)")
    ap.add_argument("--sweep-points", type=int, default=0, help="also time a sweep of this many points")
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if not args.data.is_dir():
        print(f"data folder not found: {args.data}", file=sys.stderr)
        return 2
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()] or None
    start, end = parse_time(args.start), parse_time(args.end)
    cfg = Config()

    t0 = time.perf_counter()
    res = asyncio.run(run_backtest(cfg, args.data, args.interval, symbols, start, end, store=False))
    wall = time.perf_counter() - t0
    periods = len(res.equity_ts) - 1
    out = {
        "benchmark": "backtest",
        "interval": args.interval,
        "symbols": len(res.symbols),
        "klines": res.n_klines,
        "periods": periods,
        "fills": len(res.fills),
        "wall_s": round(wall, 3),
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

    if args.json:
        print(json.dumps(out))
    else:
        print(f"backtest {out['symbols']} symbols x {args.interval}: {out['klines']:,} klines, "
              f"{out['periods']:,} rating periods, {out['fills']} fills")  # fmt: skip
        print(f"  wall {out['wall_s']:.2f} s (loading included): {out['klines_per_s']:,.0f} klines/s, "
              f"{out['periods_per_s']:,.0f} periods/s")  # fmt: skip
        if "sweep_points" in out:
            print(f"  sweep of {out['sweep_points']} points on {out['sweep_processes']} processes: "
                  f"{out['sweep_wall_s']:.2f} s ({out['sweep_points_per_min']:.1f} points/min, "
                  f"{out['sweep_errors']} errors)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
