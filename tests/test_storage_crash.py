"""Crash safety: a writer process SIGKILLed at random moments never leaves a
half-booked transaction behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tui_trader.models import OrderStatus
from tui_trader.storage import Database

REPO = Path(__file__).resolve().parent.parent
START = Decimal("1000000.00")

CHILD = r"""
import asyncio, random, sys
from decimal import Decimal
import numpy as np
from tui_trader.models import Fill, Order, OrderStatus, OrderType, Position, Side, Source
from tui_trader.storage import Database

SYMS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
START = Decimal("1000000.00")

async def main(path, seed):
    rng = random.Random(seed)
    db = await Database.open(path, max_batch_size=20, flush_interval_s=0.02)
    acc = await db.load_account()
    if acc is None:
        await db.init_account(START, "USDT", START, 0)
        acc = await db.load_account()
    cash, fees_paid = acc["cash"], acc["fees_paid"]
    positions = await db.load_positions()
    print("ready", flush=True)
    while True:
        i = await db.next_sequence("order")
        sym = SYMS[i % 3]
        cid = f"c{i:06d}"
        order = Order(cid, sym, Side.BUY, OrderType.MARKET, Decimal(rng.randint(2, 2000)) / 1000, None,
                      OrderStatus.INTENT, Source.STRATEGY, "crash test", i, i)
        await db.write_order_intent(order, None)
        half = (order.quantity / 2).quantize(Decimal("0.0001"))
        parts = [half, order.quantity - half]
        fills = []
        for k, q in enumerate(parts):
            price = Decimal(rng.randint(100, 10_000_000)) / 100
            fee = (price * q / 1000).quantize(Decimal("0.00000001"))
            fills.append(Fill(cid, sym, Side.BUY, price, q, fee, "USDT", i, f"{cid}-{k}"))
        spent = sum(f.price * f.quantity + f.fee for f in fills)
        fee_sum = sum(f.fee for f in fills)
        old = positions.get(sym)
        qty = (old.quantity if old else Decimal(0)) + order.quantity
        cost = (old.cost if old else Decimal(0)) + spent
        pos = Position(sym, qty, (cost / qty).quantize(Decimal("0.00000001")), i, Decimal(0), Decimal(0), cost, i)
        order.status, order.executed_qty, order.fees, order.updated_ms = OrderStatus.FILLED, order.quantity, fee_sum, i
        await db.apply_order_update(order, fills, pos, sym, cash - spent, {"fees_paid": fees_paid + fee_sum})
        cash, fees_paid, positions[sym] = cash - spent, fees_paid + fee_sum, pos
        # high-volume rows through the batched writer at the same time
        await db.queue_ratings(None, i, i, SYMS, np.full(3, 1500.0 + i), np.ones(3), np.ones(3))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def _run_and_kill(script: Path, db_path: Path, seed: int, delay: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db_path), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until the child is writing
        if line.strip() != "ready":
            proc.kill()
            raise AssertionError(f"child failed to start: {line!r} {proc.stderr.read()}")
        time.sleep(delay)
        assert proc.poll() is None, f"child died on its own: {proc.stderr.read()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.timeout(60)
async def test_sigkill_mid_transaction_leaves_only_complete_transactions(tmp_path: Path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db_path = tmp_path / "crash.db"
    rng = random.Random(20240601)
    kills = 4
    for k in range(kills):
        _run_and_kill(script, db_path, seed=k, delay=rng.uniform(0.15, 0.5))

    db = await Database.open(db_path, start_writer=False)
    try:
        assert await db.integrity_check() == "ok"
        orders = await db.load_orders(limit=None)
        fills = await db.load_fills()
        positions = await db.load_positions()
        acc = await db.load_account()
        filled = [o for o in orders if o.status is OrderStatus.FILLED]
        assert len(filled) >= kills  # every run booked something before it was killed
        # Only two states exist: an unsent intent (at most one per kill) or fully booked.
        assert {o.status for o in orders} <= {OrderStatus.INTENT, OrderStatus.FILLED}
        assert sum(o.status is OrderStatus.INTENT for o in orders) <= kills

        by_order: dict[str, list] = defaultdict(list)
        for f in fills:
            by_order[f.client_order_id].append(f)
        for o in orders:
            got = by_order.get(o.client_order_id, [])
            if o.status is OrderStatus.INTENT:
                assert got == []
            else:
                assert len(got) == 2
                assert sum(f.quantity for f in got) == o.quantity == o.executed_qty
                assert sum(f.fee for f in got) == o.fees

        spent = sum(f.price * f.quantity + f.fee for f in fills)
        assert acc["cash"] == START - spent
        assert acc["fees_paid"] == sum(f.fee for f in fills)
        for sym in {f.symbol for f in fills}:
            sym_fills = [f for f in fills if f.symbol == sym]
            assert positions[sym].quantity == sum(f.quantity for f in sym_fills)
            assert positions[sym].cost == sum(f.price * f.quantity + f.fee for f in sym_fills)
        # Batched rows land as whole batches: every stored period has all three
        # symbols, and only periods queued after their order was booked exist.
        ts, ratings = await db.load_rating_history(["BTCUSDT", "ETHUSDT", "SOLUSDT"], 100_000)
        assert ts.size > 0 and not np.isnan(ratings).any()
        assert set(ts.tolist()) <= {o.created_ms for o in filled}
    finally:
        await db.close()
