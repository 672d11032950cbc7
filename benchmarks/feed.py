"""Market-data layer throughput: sim feed, replay, miniTicker parsing, cache memory.

Usage: ``python benchmarks/feed.py [--json] [--data DIR] [--no-replay] [--sim-klines 50]``

Figures (each event goes through validation and into a :class:`MarketCache`):

(a) sim feed, 2000 symbols at speed max: symbol updates (rows) per second and
    intervals per second (each interval = ``ticks_per_kline`` PriceBatch + 1 KlineBatch).
(b) replay of all 10 x 8,784 real 1h klines of 2024: load time (parse + validate +
    merge), then klines per second once loaded, one KlineBatch per open time and in
    chunks of 1000 open times (what a back-test can use).
(c) parsing a 2000-symbol ``!miniTicker@arr`` message (shaped like the real sample,
    generated symbols; the JSON already decoded, as a websocket client delivers it):
    ms per array (median).
(d) MarketCache memory at 2000 symbols x 1000 klines.

Targets: (c) <= 5 ms per array; (b) >= 500,000 klines/s once loaded; (d) <= 200 MB.
``--json`` prints one JSON line with all figures instead of the table (as every benchmark here):
(a) ``sim_symbols``, ``sim_intervals_per_s``, ``sim_rows_per_s``, ``sim_events_per_s``,
``sim_rejected``; (b) ``replay_klines``, ``replay_load_s``, ``replay_load_warm_s`` (parsed files
cached), ``replay_rejected``, ``replay_klines_per_s_per_period``, ``replay_klines_per_s_chunked``,
``replay_total_s_per_period`` (absent with ``--no-replay``); (c) ``mini_ticker_items``,
``mini_ticker_ms_median``, ``mini_ticker_ms_p90``; (d) ``cache_symbols``, ``cache_capacity``,
``cache_mb``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from _args import check_data_dir, default_data, int_range, json_line  # noqa: E402

from tui_trader.clock import ManualClock  # noqa: E402
from tui_trader.config import Config  # noqa: E402
from tui_trader.market.binance_payloads import parse_mini_ticker_array  # noqa: E402
from tui_trader.market.cache import MarketCache  # noqa: E402
from tui_trader.market.file_cache import KlineFileCache  # noqa: E402
from tui_trader.market.replay import ReplayFeed, load_klines  # noqa: E402
from tui_trader.market.sim import SimFeed  # noqa: E402
from tui_trader.market.validation import (  # noqa: E402
    RejectCounter,
    validate_kline_batch,
    validate_price_batch,
)
from tui_trader.models import KlineBatch  # noqa: E402


async def bench_sim(n_symbols: int, klines: int) -> dict[str, float]:
    feed = SimFeed(Config(), ManualClock(), n_symbols=n_symbols, seed=1, speed="max", max_klines=klines,
                   warmup_klines=10)
    await feed.start()
    cache = MarketCache(feed.symbols, capacity=1000)
    last = np.full(n_symbols, -1, dtype=np.int64)
    counter = RejectCounter()
    rows = events = 0
    t0 = time.perf_counter()
    async for ev in feed.events():
        if isinstance(ev, KlineBatch):
            cache.add_klines(validate_kline_batch(ev, n_symbols, last, counter))
        else:
            cache.update_prices(validate_price_batch(ev, n_symbols, counter))
        rows += len(ev)
        events += 1
    dt = time.perf_counter() - t0
    return {"sim_symbols": n_symbols, "sim_intervals_per_s": klines / dt, "sim_rows_per_s": rows / dt,
            "sim_events_per_s": events / dt, "sim_rejected": counter.total}


async def replay_through(data, periods_per_batch: int) -> tuple[int, float]:
    feed = ReplayFeed(Config(), ManualClock(), data=data, speed="max", periods_per_batch=periods_per_batch)
    await feed.start()
    n = len(feed.symbols)
    cache = MarketCache(feed.symbols, capacity=1000)
    last = np.full(n, -1, dtype=np.int64)
    counter = RejectCounter()
    rows = 0
    t0 = time.perf_counter()
    async for b in feed.events():
        cache.add_klines(validate_kline_batch(b, n, last, counter))
        rows += len(b)
    dt = time.perf_counter() - t0
    assert counter.total == 0
    return rows, dt


async def bench_replay(path: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tt-bench-cache-") as tmp:
        cache = KlineFileCache(tmp)
        t0 = time.perf_counter()
        data = load_klines(path, "1h", file_cache=cache)  # parses every file
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_klines(path, "1h", file_cache=cache)
        load_warm_s = time.perf_counter() - t0  # the parsed files come from the cache
    rows1, dt1 = await replay_through(data, 1)
    rows2, dt2 = await replay_through(data, 1000)
    return {"replay_klines": rows1, "replay_load_s": load_s, "replay_load_warm_s": load_warm_s,
            "replay_rejected": data.rejected,
            "replay_klines_per_s_per_period": rows1 / dt1, "replay_klines_per_s_chunked": rows2 / dt2,
            "replay_total_s_per_period": load_s + dt1}


def bench_mini_ticker(n: int = 2000, repeat: int = 100) -> dict[str, float]:
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        p = float(np.exp(rng.uniform(np.log(1e-4), np.log(6e4))))
        items.append({"e": "24hrMiniTicker", "E": 1653812100450 + i, "s": f"GEN{i:04d}USDT",
                      "c": f"{p:.8f}", "o": f"{p * 0.99:.8f}", "h": f"{p * 1.03:.8f}", "l": f"{p * 0.97:.8f}",
                      "v": f"{rng.uniform(1, 1e7):.8f}", "q": f"{rng.uniform(1e3, 1e9):.8f}"})
    msg = json.loads(json.dumps(items))  # as decoded from the wire
    idx = {f"GEN{i:04d}USDT": i for i in range(n)}
    counter = RejectCounter()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pb = parse_mini_ticker_array(msg, idx, counter)
        times.append(time.perf_counter() - t0)
    assert len(pb) == n and counter.total == 0
    return {"mini_ticker_items": n, "mini_ticker_ms_median": statistics.median(times) * 1e3,
            "mini_ticker_ms_p90": sorted(times)[int(0.9 * repeat)] * 1e3}


def bench_cache_memory(n: int = 2000, k: int = 1000) -> dict[str, float]:
    c = MarketCache([f"S{i}USDT" for i in range(n)], capacity=k)
    return {"cache_symbols": n, "cache_capacity": k, "cache_mb": c.memory_bytes() / 2**20}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    ap.add_argument("--data", type=Path, default=default_data(), metavar="DIR",
                    help="(b): the folder of the 2024 1h klines (default: %(default)s)")
    ap.add_argument("--no-replay", action="store_true", help="skip (b): no kline files needed")
    ap.add_argument("--sim-klines", type=int_range(1), default=50, metavar="N",
                    help="(a): intervals the 2000-symbol sim feed produces (default: %(default)s)")
    args = ap.parse_args(argv)
    if not args.no_replay:
        check_data_dir(ap, args.data, "; --no-replay skips (b)")
    logging.basicConfig(level=logging.ERROR)
    out: dict[str, float] = {}
    out.update(asyncio.run(bench_sim(2000, args.sim_klines)))
    if not args.no_replay:
        out.update(asyncio.run(bench_replay(args.data)))
    out.update(bench_mini_ticker())
    out.update(bench_cache_memory())

    if args.json:
        print(json_line({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}))
        return 0
    print(f"(a) sim, {out['sim_symbols']} symbols: {out['sim_rows_per_s']:,.0f} rows/s, "
          f"{out['sim_intervals_per_s']:,.1f} intervals/s ({out['sim_events_per_s']:,.0f} events/s), "
          f"rejected {out['sim_rejected']}")
    if "replay_klines" in out:
        print(f"(b) replay {out['replay_klines']:,} 1h klines: load {out['replay_load_s']:.3f} s "
              f"({out['replay_load_warm_s']:.3f} s with the parsed files cached); "
              f"{out['replay_klines_per_s_per_period']:,.0f} klines/s one batch per open time, "
              f"{out['replay_klines_per_s_chunked']:,.0f} klines/s in 1000-period chunks "
              f"(target >= 500,000); load + replay {out['replay_total_s_per_period']:.2f} s")
    print(f"(c) miniTicker array of {out['mini_ticker_items']}: {out['mini_ticker_ms_median']:.2f} ms median, "
          f"{out['mini_ticker_ms_p90']:.2f} ms p90 (target <= 5 ms)")
    print(f"(d) cache {out['cache_symbols']} x {out['cache_capacity']}: {out['cache_mb']:.1f} MiB (target <= 200 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
