"""Benchmark of the storage layer (SQLite, WAL, batched writer).

Usage: ``python benchmarks/storage.py [--json] [--quick]``

Figures (best of a few runs; the machine is shared with other processes):

* ``queue_ratings_us``: microseconds per ``queue_ratings`` call (one rating
  period of 10 symbols, numpy arrays in, nothing written);
* ``flush_10k_ratings_ms``: one flush of 10,000 buffered rating rows (one
  transaction, ``executemany``);
* ``replay_s``: the engine's persistence load of a year of hourly periods,
  8,784 periods x 10 symbols: ``queue_ratings`` + ``queue_klines`` +
  ``queue_equity`` per period with the writer flushing as configured by the
  engine (50,000-row batches), then the final flush;
  ``replay_no_klines_s`` is the same without klines (the engine does not copy
  a replay's klines into the database);
  (``replay_periods``: 2,000 with ``--quick``);
* ``money_tx_ms_normal`` / ``money_tx_ms_full``: one ``apply_order_update`` (order, 2 fills,
  position, account in one committed transaction), WAL + synchronous=NORMAL and FULL;
* ``load_history_ms``: ``load_rating_history`` of 200 periods x 10 symbols
  from the 87,840 stored rows.

Targets (issue): the whole engine replay with persistence <= 3 s (this covers
only the storage share), a 10,000-row flush < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

try:
    from tui_trader.storage import Database
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tui_trader.storage import Database

from tui_trader.models import Fill, KlineBatch, Order, OrderStatus, OrderType, Position, Side, Source

N_SYM = 10
PERIODS = 8_784
HOUR = 3_600_000
TARGET_FLUSH_MS = 100.0


def _klines(period: int) -> KlineBatch:
    n = N_SYM
    c = np.full(n, 100.0 + period % 7)
    t = np.full(n, period * HOUR, dtype=np.int64)
    return KlineBatch(
        HOUR, np.arange(n, dtype=np.int32), t, t + HOUR - 1, c, c + 1, c - 1, c, np.ones(n), np.ones(n) * 100,
        np.ones(n, dtype=np.int64), np.ones(n) * 0.5, np.ones(n, dtype=bool),
    )  # fmt: skip


async def bench_queue(tmp: Path, periods: int) -> float:
    db = await Database.open(tmp / "q.db", max_batch_size=10**7, max_buffered_rows=10**7, start_writer=False)
    syms = [f"S{i}USDT" for i in range(N_SYM)]
    r = np.random.default_rng(0).normal(1500, 50, (periods, N_SYM))
    one = np.ones(N_SYM)
    t0 = time.perf_counter()
    for p in range(periods):
        await db.queue_ratings(1, p, p * HOUR, syms, r[p], one, one, one, one, one)
    dt = time.perf_counter() - t0
    db.writer._buffers["glicko_ratings"] = []  # discard: only the queue cost is measured
    db.writer._counts["glicko_ratings"] = 0
    await db.close()
    return dt / periods * 1e6


async def bench_flush(tmp: Path, rows: int, name: str) -> tuple[float, Database]:
    db = await Database.open(
        tmp / f"{name}.db", max_batch_size=10**7, max_buffered_rows=10**7, start_writer=False
    )
    sid = await db.start_session("backtest", "paper", "replay", {})
    syms = [f"S{i}USDT" for i in range(N_SYM)]
    r = np.random.default_rng(1).normal(1500, 50, (rows // N_SYM, N_SYM))
    one = np.ones(N_SYM)
    for p in range(rows // N_SYM):
        await db.queue_ratings(sid, p, p * HOUR, syms, r[p], one, one, one, one, one)
    t0 = time.perf_counter()
    await db.flush()
    return (time.perf_counter() - t0) * 1e3, db


async def bench_replay(tmp: Path, periods: int, name: str, klines: bool = True) -> float:
    db = await Database.open(
        tmp / f"{name}.db", max_batch_size=50_000, max_buffered_rows=400_000, flush_interval_s=1.0
    )
    sid = await db.start_session("backtest", "paper", "replay", {})
    syms = [f"S{i}USDT" for i in range(N_SYM)]
    r = np.random.default_rng(2).normal(1500, 50, (periods, N_SYM))
    one = np.ones(N_SYM)
    batches = [_klines(p) for p in range(periods)]
    t0 = time.perf_counter()
    for p in range(periods):
        if klines:
            await db.queue_klines(syms, batches[p])
        await db.queue_ratings(sid, p, p * HOUR, syms, r[p], one, one, one, one, one)
        await db.queue_equity(sid, p * HOUR, 10_000.0, Decimal("5000.5"), 4_999.5, 0.1)
        if p % 64 == 0:
            await asyncio.sleep(0)  # the engine yields to its feed now and then
    await db.flush()
    dt = time.perf_counter() - t0
    await db.close()
    return dt


async def bench_money(tmp: Path, sync: str, n: int) -> float:
    db = await Database.open(tmp / f"m{sync}.db", synchronous=sync, start_writer=False)  # type: ignore[arg-type]
    await db.init_account(Decimal("1000000"), "USDT", Decimal("1000000"), 0)
    best = float("inf")
    for i in range(n):
        cid = f"c{i}"
        o = Order(cid, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.002"), None, OrderStatus.INTENT,
                  Source.STRATEGY, "", i, i)  # fmt: skip
        await db.write_order_intent(o, None)
        o.status = OrderStatus.FILLED
        fills = [Fill(cid, "BTCUSDT", Side.BUY, Decimal("50000.1"), Decimal("0.001"), Decimal("0.05"), "USDT", i, f"{cid}-{k}")
                 for k in range(2)]  # fmt: skip
        pos = Position("BTCUSDT", Decimal("0.002") * (i + 1), Decimal("50000.1"), 0, updated_ms=i)
        t0 = time.perf_counter()
        await db.apply_order_update(
            o, fills, pos, "BTCUSDT", Decimal("1000000") - i, {"fees_paid": Decimal(i)}
        )
        best = min(best, time.perf_counter() - t0)
    await db.close()
    return best * 1e3


async def main(quick: bool) -> dict[str, float]:
    reps = 1 if quick else 3
    periods = 2_000 if quick else PERIODS
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        res: dict[str, float] = {}
        res["queue_ratings_us"] = min([await bench_queue(tmp, periods) for _ in range(reps)])
        flush = []
        for k in range(reps):
            ms, db = await bench_flush(tmp, 10_000, f"f{k}")
            flush.append(ms)
            if k == 0:  # history load from a full year of rows
                await db.queue_ratings(None, 0, 0, ["X"], np.ones(1), np.ones(1), np.ones(1))
                for p in range(1000, periods):
                    await db.queue_ratings(None, p, p * HOUR, [f"S{i}USDT" for i in range(N_SYM)],
                                           np.ones(N_SYM), np.ones(N_SYM), np.ones(N_SYM))  # fmt: skip
                await db.flush()
                t0 = time.perf_counter()
                ts, h = await db.load_rating_history([f"S{i}USDT" for i in range(N_SYM)], 200)
                res["load_history_ms"] = (time.perf_counter() - t0) * 1e3
                assert h.shape == (200, N_SYM)
            await db.close()
        res["flush_10k_ratings_ms"] = min(flush)
        res["replay_s"] = min([await bench_replay(tmp, periods, f"r{k}") for k in range(reps)])
        res["replay_no_klines_s"] = min(
            [await bench_replay(tmp, periods, f"n{k}", klines=False) for k in range(reps)]
        )
        res["replay_periods"] = periods
        res["money_tx_ms_normal"] = await bench_money(tmp, "NORMAL", 50 if quick else 200)
        res["money_tx_ms_full"] = await bench_money(tmp, "FULL", 20 if quick else 50)
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON line with all figures")
    ap.add_argument("--quick", action="store_true", help="fewer periods and repeats")
    args = ap.parse_args()
    out = asyncio.run(main(args.quick))
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        print(f"queue_ratings (10 symbols)      {out['queue_ratings_us']:8.1f} us/call")
        ok = "ok" if out["flush_10k_ratings_ms"] < TARGET_FLUSH_MS else "OVER TARGET"
        print(
            f"flush of 10,000 rating rows      {out['flush_10k_ratings_ms']:8.1f} ms   (< {TARGET_FLUSH_MS:.0f} ms: {ok})"
        )
        print(
            f"replay {out['replay_periods']:.0f} periods x {N_SYM} symbols  {out['replay_s']:8.2f} s    (storage share of the 3 s budget)"
        )
        print(f"  same without klines (a replay)  {out['replay_no_klines_s']:8.2f} s")
        print(f"load_rating_history 200 x {N_SYM}     {out['load_history_ms']:8.1f} ms")
        print(f"money transaction, NORMAL        {out['money_tx_ms_normal']:8.2f} ms")
        print(f"money transaction, FULL          {out['money_tx_ms_full']:8.2f} ms")
