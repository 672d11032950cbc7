"""Crash safety of live trading: the engine, trading live against the stand-in exchange in a
process of its own, is SIGKILLed at chosen and at random moments and started again.

The stand-in runs in the test's process, so the exchange (its orders, trades and balances)
outlives every engine. The kills land right after an order's intent is committed (nothing
sent), while its request is on its way (held by the stand-in, then carried out or refused as
too old), after the exchange carried it out but before the answer came back, after the answer
came back but before its fills were committed, and at random moments. After each restart has
reconciled (before it trades again): every client order id was carried out at most once, every
trade the exchange made is booked exactly once, no order is left open, cash and positions are
the replay of the stored fills and equal the exchange account, and the file is intact.

Run as a script, this file is the engine process (``python test_crash_live.py --db ...``): it
starts a live engine on the stand-in, reports on stdout (one JSON object a line), waits for
``go`` on stdin, then buys and sells by hand through the engine's commands, seeded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parent.parent
KEY = "k3y-PUBLIC-crash-live"
SECRET = "s3cr3t-PRIVATE-crash-live"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
START_CASH = Decimal("10000")
RECV_WINDOW_MS = 1000  # a request is refused 1 s after it was signed: the restart waits 2 s for it
LATE_WINDOW_MS = 8000  # the window of the engine killed with a request that lands late
SEED = 20261127
OPEN = ("INTENT", "NEW", "PARTIALLY_FILLED")


# ------------------------------------------------------------------ the engine process


class OffsetClock:
    """Wall time moved to the stand-in's clock (it replays 2024), as a live engine's clock is real time."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def _say(**obj: Any) -> None:
    print(json.dumps(obj, default=str), flush=True)


async def _drive(args: argparse.Namespace) -> int:
    from tui_trader.config import Config
    from tui_trader.events import ClosePosition, ManualBuy, ManualSell, Start
    from tui_trader.runtime import build_engine

    cfg = Config.model_validate(args.cfg)
    e = build_engine(cfg, db_path=args.db, session_kind="run", clock=OffsetClock(args.offset_ms))
    await e.start_up()
    _say(up={"state": e.state.value, "reason": e.state_reason, "error": e._error})

    # markers the test kills on; a pause there widens the window to kill in
    record_intent, record_update = e.record_intent, e.record_update

    async def intent(order: Any) -> None:
        await record_intent(order)  # committed when this returns
        _say(intent=order.client_order_id)
        if args.intent_pause:
            await asyncio.sleep(args.intent_pause)

    async def update(order: Any, fills: list) -> None:
        if fills:
            _say(answered=order.client_order_id)
            if args.update_pause:
                await asyncio.sleep(args.update_pause)
        await record_update(order, fills)

    e.record_intent, e.record_update = intent, update  # type: ignore[method-assign]
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != "go":
        await e.stop()
        return 0
    res = await e.submit(Start())
    _say(start={"ok": res.ok, "message": res.message})
    run = asyncio.create_task(e.run())
    rng = random.Random(args.seed)
    done = 0
    while args.trades == 0 or done < args.trades:
        held = sorted(e.portfolio.positions)
        r = rng.random()
        if held and r < 0.3:
            cmd: Any = ClosePosition(symbol=rng.choice(held))
        elif held and r < 0.55:
            sym = rng.choice(held)
            share = Decimal(str(round(rng.uniform(0.2, 0.5), 2)))
            qty = (e.portfolio.positions[sym].quantity * share).quantize(Decimal("1e-8"), ROUND_DOWN)
            cmd = ManualSell(symbol=sym, quantity=qty)
        else:
            cmd = ManualBuy(symbol=rng.choice(list(SYMBOLS)), quote_amount=Decimal(rng.randint(60, 300)))
        res = await e.submit(cmd)
        done += 1
        _say(
            did=type(cmd).__name__,
            ok=res.ok,
            message=res.message,
            cid=(res.data or {}).get("client_order_id"),
        )
        await asyncio.sleep(rng.uniform(0.0, 0.03))
    await e.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await run
    _say(done={"state": e.state.value})
    return 0


def _main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--cfg", required=True)
    p.add_argument("--offset-ms", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--trades", type=int, default=0)  # 0: until killed
    p.add_argument("--intent-pause", type=float, default=0.0)
    p.add_argument("--update-pause", type=float, default=0.0)
    args = p.parse_args()
    args.cfg = json.loads(Path(args.cfg).read_text())
    return asyncio.run(_drive(args))


if __name__ == "__main__":
    sys.exit(_main())


# ------------------------------------------------------------------ the test


class Engine:
    """The engine process: its stdout read line by line, its stderr kept in a file."""

    def __init__(self, proc: asyncio.subprocess.Process, err_path: Path) -> None:
        self.proc = proc
        self.err_path = err_path
        self.lines: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(raw))
                self._new.set()

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")[-3000:]

    async def expect(
        self, key: str, pred: Any = None, after: int = 0, within_s: float = 30.0
    ) -> dict[str, Any]:
        """The first line from index ``after`` on with ``key`` (and ``pred(line)``)."""
        deadline = time.monotonic() + within_s
        while True:
            for line in self.lines[after:]:
                if key in line and (pred is None or pred(line)):
                    return line
            if self._reader.done():
                raise AssertionError(f"the engine ended before {key!r}: {self.stderr()}")
            left = deadline - time.monotonic()
            assert left > 0, f"no {key!r} from the engine within {within_s} s: {self.stderr()}"
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    async def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)


async def _launch(tmp: Path, n: int, offset_ms: int, seed: int, *extra: str) -> Engine:
    env = {**os.environ, "PYTHONPATH": str(REPO), "BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}
    err = tmp / f"engine-{n}.err"
    with err.open("w") as fh:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--db",
            str(tmp / "live.db"),
            "--cfg",
            str(tmp / "cfg.json"),
            "--offset-ms",
            str(offset_ms),
            "--seed",
            str(seed),
            *extra,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=fh,
            cwd=str(tmp),
            env=env,
        )
    return Engine(proc, err)


def _check(db: Path, ex: Any) -> dict[str, Any]:
    """The book after a restart's reconciliation, against the stand-in exchange (see the module doc)."""
    from tui_trader.models import Fill, Side
    from tui_trader.portfolio.portfolio import Portfolio

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orders = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT client_order_id, symbol, side, status, executed_qty, error FROM orders"
            )
        }
        fills = [
            Fill(
                r[0],
                r[1],
                Side(r[2]),
                Decimal(r[3]),
                Decimal(r[4]),
                Decimal(r[5]),
                r[6],
                int(r[7]),
                r[8] or "",
            )
            for r in con.execute(
                "SELECT client_order_id, symbol, side, price, quantity, fee, fee_asset, ts_ms, "
                "trade_id FROM fills ORDER BY id"
            )
        ]
        acct = con.execute("SELECT cash, fees_paid, starting_balance FROM account").fetchone()
        positions = {r[0]: Decimal(r[1]) for r in con.execute("SELECT symbol, quantity FROM positions")}
    finally:
        con.close()
    left_open = {cid: o for cid, o in orders.items() if o[2] in OPEN}
    assert not left_open, f"orders left open after the reconciliation: {left_open}"

    # the exchange carried out each client order id at most once, and only orders the book knows
    executed = Counter(o.client_id for o in ex.executed)
    twice = {cid: n for cid, n in executed.items() if n > 1}
    assert not twice, f"orders carried out more than once: {twice}"
    unknown = set(executed) - set(orders)
    assert not unknown, f"orders the exchange carried out that the book does not know: {unknown}"
    for o in ex.executed:
        status, qty = orders[o.client_id][2], Decimal(orders[o.client_id][3])
        assert (status, qty) == (o.status, o.executed), (o.client_id, status, qty, o.status, o.executed)
    traded = {cid for cid, o in orders.items() if o[2] == "FILLED" or Decimal(o[3]) > 0}
    assert traded <= set(executed), (
        f"orders booked as traded that the exchange never carried out: {traded - set(executed)}"
    )

    # every trade of the exchange is booked once, and no fill is made up
    trades = {str(t["id"]): (o.client_id, Decimal(t["qty"])) for o in ex.executed for t in o.trades}
    booked = [f.trade_id for f in fills]
    assert len(booked) == len(set(booked)), "a trade booked twice"
    assert set(booked) == set(trades), (
        f"trades not booked: {set(trades) - set(booked)}; fills of no trade: {set(booked) - set(trades)}"
    )
    for f in fills:
        assert (f.client_order_id, f.quantity) == trades[f.trade_id]

    # the book is the replay of its fills, and so is the exchange account
    start = Decimal(acct[2])
    assert start == START_CASH
    replay = Portfolio.replay_fills(start, fills)
    cash, fees = Decimal(acct[0]), Decimal(acct[1])
    assert cash == replay.cash == ex.balances["USDT"], (cash, replay.cash, ex.balances["USDT"])
    flows = sum(
        (
            (-1 if f.side is Side.BUY else 1) * f.price * f.quantity - (f.fee if f.fee_asset == "USDT" else 0)
            for f in fills
        ),
        Decimal(0),
    )
    assert cash == start + flows
    assert fees == replay.fees_paid
    for sym in SYMBOLS:
        base = sym.removesuffix("USDT")
        account = ex.balances.get(base, Decimal(0))
        assert replay.quantity(sym) == account, (sym, replay.quantity(sym), account)
        # the book holds that, less what sells left unsellable (dust: under one step, or worth less
        # than the minimum order at the sell's price), which leaves the book and stays in the account
        flt = ex._filters(sym)
        step = Decimal(flt["LOT_SIZE"]["stepSize"])
        least = Decimal((flt.get("NOTIONAL") or flt["MIN_NOTIONAL"])["minNotional"])
        dust_max = sum(
            (max(step, least / f.price) for f in fills if f.symbol == sym and f.side is Side.SELL), Decimal(0)
        )
        dust = account - positions.get(sym, Decimal(0))
        assert Decimal(0) <= dust <= dust_max, (sym, positions.get(sym), account, dust_max)
    return {"orders": orders, "fills": len(fills)}


async def _exchange(shared_data: Path) -> Any:
    """The stand-in exchange the killed engines trade on: the test's symbols and key, START_CASH."""
    from exchange_standin import StandinExchange, SteerableClock, ms

    return await StandinExchange(
        SteerableClock(ms("2024-03-01T00:00:30")),
        shared_data,
        symbols=SYMBOLS,
        api_key=KEY,
        balances={"USDT": str(START_CASH)},
    ).start()


def _write_cfg(
    tmp: Path, ex: Any, recv_window_ms: int, *, binance: dict | None = None, **sections: Any
) -> None:
    """The live configuration each launched engine reads (``tmp/cfg.json``), on ``ex``."""
    cfg = {
        "feed": {"kind": "binance", "interval": "1h", "symbols": list(SYMBOLS)},
        "broker": {"kind": "binance"},
        "binance": {
            "rest_url": ex.rest_url,
            "stream_url": ex.stream_url,
            "recv_window_ms": recv_window_ms,
            **(binance or {}),
        },
        "monitoring": {"log_file": "off"},
        **sections,
    }
    (tmp / "cfg.json").write_text(json.dumps(cfg))


MODES = ("intent", "on its way", "too late", "late", "carried out", "answered", "random", "random")


@pytest.mark.timeout(180)
async def test_sigkill_of_a_live_engine_never_sends_an_order_twice_nor_loses_a_fill(shared_data, tmp_path):
    """The kills (in a seeded order), each aimed at one order ``cid`` of the killed engine:

    * ``intent``: its intent committed, nothing sent yet (the engine pauses there); the restart
      is killed as well, while it waits to be sure the order was not sent, and started again;
    * ``on its way``: its request held by the exchange, carried out once the engine is dead;
    * ``too late``: the same, but it arrives after recvWindow: the exchange refuses it (-1021);
    * ``late``: it arrives only after the restarted engine looked it up and did not find it;
    * ``carried out``: the exchange carried it out, the answer was still on its way;
    * ``answered``: the answer came back, its fills not committed yet (the engine pauses there);
    * ``random``: a random moment while the engine trades.
    """

    rng = random.Random(SEED)
    ex = await _exchange(shared_data)

    def write_cfg(recv_window_ms: int, limit: bool) -> None:
        _write_cfg(
            tmp_path,
            ex,
            recv_window_ms,
            binance={"request_timeout_s": 5.0},
            risk_management={"max_position_percent": 20.0},
            # MARKET orders, or LIMIT IOC ones that the stand-in fills in part (expired with a remainder)
            order_execution={"use_limit_orders": limit, "limit_order_buffer_percent": 0.01},
        )

    db = tmp_path / "live.db"
    modes = list(MODES)
    rng.shuffle(modes)
    engine: Engine | None = None
    killed: dict[str, Any] = {}
    release: asyncio.Task | None = None
    try:
        for n, mode in enumerate([*modes, "final"]):
            # a late request needs a window far longer than a restart takes (the restart waits by the
            # window the order was sent with); the others keep it short, so a restart waits 2 s, not 9 s
            write_cfg(LATE_WINDOW_MS if mode == "late" else RECV_WINDOW_MS, rng.random() < 0.5)
            offset = ex.clock.now_ms() - time.time_ns() // 1_000_000
            extra = {
                "intent": ["--intent-pause", "5"],
                "answered": ["--update-pause", "5"],
                "final": ["--trades", "8"],
            }.get(mode, [])
            engine = await _launch(tmp_path, n, offset, rng.randrange(1 << 30), *extra)
            if killed.get("mode") == "intent":
                # the restart is killed too, while it waits to be sure the order was not sent
                await ex.wait_until(lambda c=killed["cid"]: _looked_up(ex, c), within_s=30, what="a lookup")
                await engine.kill()
                engine = await _launch(tmp_path, n + 100, offset, rng.randrange(1 << 30), *extra)
            up = (await engine.expect("up"))["up"]
            assert up["error"] == "", up  # the reconciliation passed
            if release is not None:
                await asyncio.wait_for(release, 30)
                release = None
            if n:
                _check_killed(killed, _check(db, ex)["orders"], ex)
            if mode == "final":  # trades on, and stops cleanly
                await engine.send("go")
                await engine.expect("done", within_s=60)
                assert await asyncio.wait_for(engine.proc.wait(), 20) == 0, engine.stderr()
                engine = None
                break
            hold = None
            if mode in ("on its way", "too late", "late", "carried out"):
                hold = ex.hold_next("POST", "order", after=mode == "carried out")
            posts_before = len([r for r in ex.requests if r.path == "order" and r.method == "POST"])
            await engine.send("go")
            start = await engine.expect("start")
            assert start["start"]["ok"], start
            killed = {"mode": mode}
            if mode == "intent":
                killed["cid"] = (await engine.expect("intent"))["intent"]
            elif mode == "answered":
                killed["cid"] = (await engine.expect("answered"))["answered"]
            elif hold is not None:
                await asyncio.wait_for(hold.arrived.wait(), 30)
                killed["cid"] = hold.params["newClientOrderId"]
            else:
                k = rng.randint(1, 4)
                await engine.expect(
                    "did", pred=lambda _line, e=engine, k=k: sum("did" in x for x in e.lines) >= k
                )
                await asyncio.sleep(rng.uniform(0.0, 0.3))
            await engine.kill()
            engine = None
            posts = [r for r in ex.requests if r.path == "order" and r.method == "POST"]
            killed["posts"] = [r.params.get("newClientOrderId") for r in posts[posts_before:]]
            if mode == "too late":
                ex.clock.jump_to(ex.clock.now_ms() + RECV_WINDOW_MS + 1000)
            if hold is not None and mode != "late":
                hold.release()  # the dead engine's request goes on
                await asyncio.wait_for(hold.done.wait(), 10)
            elif hold is not None:  # ... once the restarted engine has looked for it
                release = asyncio.create_task(
                    _release_after_lookup(ex, hold, killed["cid"], len(ex.requests))
                )
        assert len(ex.executed) >= len(modes)  # every run traded
        assert _check(db, ex)["fills"] > 0
    finally:
        if release is not None:
            release.cancel()
        if engine is not None:
            await engine.kill()
        await ex.stop()


def _looked_up(ex: Any, cid: str, since: int = 0) -> bool:
    return any(
        r.method == "GET" and r.path == "order" and r.params.get("origClientOrderId") == cid
        for r in ex.requests[since:]
    )


async def _release_after_lookup(ex: Any, hold: Any, cid: str, n: int) -> None:
    await ex.wait_until(
        lambda: _looked_up(ex, cid, n),
        within_s=30,
        what=f"a lookup of {cid}",
    )
    hold.release()
    await asyncio.wait_for(hold.done.wait(), 10)


def _check_killed(killed: dict[str, Any], orders: dict[str, tuple], ex: Any) -> None:
    """What became of the order the kill of ``killed["mode"]`` was aimed at."""
    mode, cid = killed["mode"], killed.get("cid")
    if mode == "random":
        return
    assert cid in orders, (killed, sorted(orders))
    status, error = orders[cid][2], orders[cid][4]
    done = [o for o in ex.executed if o.client_id == cid]
    if mode == "intent":  # committed, never sent: no request came, and the restart says so
        assert cid not in killed["posts"], killed
        assert not done and status == "CANCELED" and "not sent before restart" in error, (status, error)
    elif mode == "too late":  # refused by the exchange: the restart finds nothing and says so
        assert cid in killed["posts"] and not done, killed
        assert status == "CANCELED" and "not sent before restart" in error, (status, error)
    else:  # the exchange carried it out after, or before, the kill: the restart books it from a lookup
        assert done and status == done[0].status, (killed, status, error)


@pytest.mark.timeout(120)
async def test_a_restart_with_a_shorter_recv_window_waits_for_the_killed_engines_requests(
    shared_data, tmp_path
):
    """The killed engine signed its order with a recvWindow of 6 s; the operator restarts it with
    0.5 s. The exchange takes that request for 6 s, so the restart must wait that long (the
    window the order was sent with, not its own) before it calls the order "not sent": calling it
    so after 1.5 s, the request landing then bought coins the book never knew of."""

    ex = await _exchange(shared_data)

    def write_cfg(recv_window_ms: int) -> None:
        _write_cfg(tmp_path, ex, recv_window_ms)

    engine: Engine | None = None
    try:
        write_cfg(6000)
        engine = await _launch(tmp_path, 0, ex.clock.now_ms() - time.time_ns() // 1_000_000, 1)
        await engine.expect("up")
        hold = ex.hold_next("POST", "order")
        await engine.send("go")
        await asyncio.wait_for(hold.arrived.wait(), 30)
        cid = hold.params["newClientOrderId"]
        await engine.kill()
        write_cfg(500)
        engine = await _launch(tmp_path, 1, ex.clock.now_ms() - time.time_ns() // 1_000_000, 2)
        up = (await engine.expect("up"))["up"]
        assert up["error"] == "", up
        hold.release()  # the killed engine's request lands now: carried out only inside its 6 s
        await asyncio.wait_for(hold.done.wait(), 10)
        orders = _check(db=tmp_path / "live.db", ex=ex)["orders"]
        assert orders[cid][2] == "CANCELED" and not ex.executed, (orders[cid], ex.executed)
        await engine.send("stop")
        assert await asyncio.wait_for(engine.proc.wait(), 20) == 0, engine.stderr()
        engine = None
    finally:
        if engine is not None:
            await engine.kill()
        await ex.stop()
