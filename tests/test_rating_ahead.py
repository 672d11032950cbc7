"""Rating ahead in a second process (``data_processing.rating_worker``): the same trades, the same
stored ratings, bit for bit, as rating in the engine; and a worker that fails, disagrees or never
starts stops the run with a clear error or leaves the engine to rate alone, never hanging it."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import engine_config

from tui_trader.config import Config
from tui_trader.engine import AHEAD_MIN_OPEN_TIMES
from tui_trader.events import FillEvent
from tui_trader.market.replay import load_klines, parse_time
from tui_trader.models import EngineState
from tui_trader.rating.ahead import RatingAhead, RatingAheadError
from tui_trader.runtime import build_engine


def _sim_cfg(worker: str, n: int = 16) -> Config:
    return engine_config(
        feed={"kind": "sim", "interval": "1m", "speed": "max",
              "sim": {"n_symbols": n, "seed": 5, "warmup_periods": 12}},
        signal_generation={"z_score_threshold": 0.9, "moving_average_period": 12, "confidence_threshold": 0.0,
                           "signal_cooldown_ms": 0},
        data_processing={"rating_calculation_interval_ms": 120_000, "rating_worker": worker},
        risk_management={"stop_loss_percent": 0.8, "profit_target_percent": 1.0},
        rating={"volatility_window": 10},
    )


def _replay_cfg(worker: str) -> Config:
    return engine_config(
        feed={"kind": "replay", "interval": "1h", "speed": "max"},
        signal_generation={"z_score_threshold": 1.5, "moving_average_period": 48, "confidence_threshold": 0.3,
                           "signal_cooldown_ms": 3_600_000},
        data_processing={"rating_calculation_interval_ms": 3_600_000, "rating_worker": worker},
        rating={"volatility_window": 20},
        risk_management={"stop_loss_percent": 2.5, "profit_target_percent": 5.0, "max_liquidity_share": 0.01,
                         "max_volatility": 0.15, "max_data_staleness_periods": 3.0},
    )


def _stored_ratings(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT period, ts_ms, symbol, rating, rating_deviation, volatility, performance_score, z_score,"
            " moving_average FROM glicko_ratings ORDER BY ts_ms, symbol"
        ).fetchall()
    finally:
        con.close()


async def _run(cfg: Config, db: Path, **feed: object) -> dict:
    engine = build_engine(cfg, db_path=str(db), session_kind="run", autostart=True, **feed)
    fills = []
    engine.bus.subscribe(lambda ev: fills.append(ev.fill), FillEvent)
    await engine.start_up()
    began = engine._ahead_proc is not None
    await engine.run()
    ts, eq = engine.equity_curve()
    summary = engine.summary()
    hist = engine.symbol_history(engine.symbols[0])
    await engine.stop()
    return {
        "worker": began,
        "fills": [(f.client_order_id, f.symbol, f.side.value, f.price, f.quantity, f.fee, f.ts_ms) for f in fills],
        "equity": eq,
        "equity_ts": ts,
        "final": summary["final_equity"],
        "cash": summary["cash"],
        "periods": summary["periods"],
        "hist": hist,
        "ratings": _stored_ratings(db),
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a["periods"] == b["periods"]
    assert a["fills"] == b["fills"]
    assert a["final"] == b["final"] and a["cash"] == b["cash"]
    np.testing.assert_array_equal(a["equity_ts"], b["equity_ts"])
    np.testing.assert_array_equal(a["equity"], b["equity"])
    assert a["ratings"] == b["ratings"]  # every stored figure, bit for bit (SQLite REAL is a double)
    np.testing.assert_array_equal(a["hist"].rating, b["hist"].rating)
    np.testing.assert_array_equal(a["hist"].z, b["hist"].z)


async def test_the_worker_rates_the_sim_market_exactly_as_the_engine(tmp_path: Path) -> None:
    ahead = await _run(_sim_cfg("on"), tmp_path / "on.db", max_klines=400)
    alone = await _run(_sim_cfg("off"), tmp_path / "off.db", max_klines=400)
    assert ahead["worker"] and not alone["worker"]
    assert len(alone["fills"]) >= 20 and len(alone["ratings"]) >= 16 * 200
    _assert_same(ahead, alone)


async def test_the_worker_rates_a_large_round_robin_exactly_as_the_engine(tmp_path: Path) -> None:
    # N > 256: the block-by-block outcome rows and BLAS row sums, in another process
    ahead = await _run(_sim_cfg("on", n=300), tmp_path / "on.db", max_klines=40)
    alone = await _run(_sim_cfg("off", n=300), tmp_path / "off.db", max_klines=40)
    assert ahead["worker"]
    _assert_same(ahead, alone)


async def test_the_worker_rates_real_klines_exactly_as_the_engine(klines_dir: Path, tmp_path: Path) -> None:
    start, end = parse_time("2024-02-01"), parse_time("2024-04-01")
    data = load_klines(klines_dir, "1h", start_ms=start - 48 * 3_600_000, end_ms=end)
    ahead = await _run(_replay_cfg("on"), tmp_path / "on.db", kind="replay", data=data, warmup_klines=48)
    alone = await _run(_replay_cfg("off"), tmp_path / "off.db", kind="replay", data=data, warmup_klines=48)
    assert ahead["worker"] and len(alone["fills"]) >= 10
    assert alone["periods"] == 48 + (end - start) // 3_600_000
    _assert_same(ahead, alone)


async def test_auto_starts_a_worker_only_for_long_full_speed_runs(klines_dir: Path, tmp_path: Path) -> None:
    data = load_klines(klines_dir, "1h", start_ms=parse_time("2024-01-01"), end_ms=parse_time("2024-06-01"))
    hours = len(np.unique(data.klines.open_time))
    assert hours - 48 >= AHEAD_MIN_OPEN_TIMES

    async def started(cfg: Config, **feed: object) -> bool:
        engine = build_engine(cfg, persist=False, session_kind="run", **feed)
        await engine.start_up()
        proc = engine._ahead_proc
        await engine.stop()  # never ran: the worker is ended with the engine
        if proc is not None:
            assert proc.returncode is not None
        return proc is not None

    long = {"kind": "replay", "data": data, "warmup_klines": 48}
    assert await started(_replay_cfg("auto"), **long)
    assert not await started(_replay_cfg("off"), **long)
    short = {"kind": "replay", "data": data, "warmup_klines": hours - 100}
    assert not await started(_replay_cfg("auto"), **short)
    assert await started(_replay_cfg("on"), **short)
    paced = _replay_cfg("on").model_copy(update={"feed": _replay_cfg("on").feed.model_copy(update={"speed": 1.0})})
    assert not await started(paced, **long)  # paced: nothing to gain, the engine waits for the clock anyway
    assert await started(_sim_cfg("auto"))  # an endless simulated market at full speed
    assert not await started(_sim_cfg("auto"), max_klines=100)


async def test_without_pass_fds_the_engine_rates_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows cannot hand the worker its socket: "on" then rates in the engine, the same trades
    from tui_trader import engine as engine_module

    monkeypatch.setattr(engine_module, "CAN_PASS_FDS", False)
    here = await _run(_sim_cfg("on"), tmp_path / "here.db", max_klines=200)
    monkeypatch.setattr(engine_module, "CAN_PASS_FDS", True)
    ahead = await _run(_sim_cfg("on"), tmp_path / "ahead.db", max_klines=200)
    assert not here["worker"] and ahead["worker"]
    _assert_same(here, ahead)


async def test_when_the_worker_dies_the_engine_rates_on_exactly_as_without_it(tmp_path: Path) -> None:
    cfg = _sim_cfg("on")
    engine = build_engine(cfg, db_path=str(tmp_path / "k.db"), session_kind="run", autostart=True, max_klines=400)
    fills = []
    engine.bus.subscribe(lambda ev: fills.append(ev.fill), FillEvent)
    await engine.start_up()
    assert engine._ahead_proc is not None
    pid = engine._ahead_proc.pid
    from tui_trader.events import RatingUpdate

    def kill_at_50(ev: RatingUpdate) -> None:
        if engine.counters["periods"] == 50 + 12:  # warm-up periods come first
            os.kill(pid, signal.SIGKILL)

    engine.bus.subscribe(kill_at_50, RatingUpdate)
    await asyncio.wait_for(engine.run(), timeout=60)
    assert engine.counters["rating_worker_failures"] == 1 and engine._ahead is None
    assert engine.state == EngineState.RUNNING  # trading goes on
    summary = engine.summary()
    await engine.stop()
    alone = await _run(_sim_cfg("off"), tmp_path / "off.db", max_klines=400)
    assert summary["periods"] == alone["periods"]
    assert [(f.client_order_id, f.price, f.quantity, f.fee) for f in fills] == [
        (f[0], f[3], f[4], f[5]) for f in alone["fills"]
    ]
    assert summary["cash"] == alone["cash"]
    assert _stored_ratings(tmp_path / "k.db") == alone["ratings"]  # before, at and after the failure


async def _endless_run(db: Path, periods: int):
    """An engine on an endless simulated market with its rating worker, run until ``periods``
    periods are rated: (engine, its run task, the worker)."""
    from tui_trader.events import RatingUpdate

    engine = build_engine(_sim_cfg("on"), db_path=str(db), session_kind="run", autostart=True)
    await engine.start_up()
    proc = engine._ahead_proc
    assert proc is not None
    reached = asyncio.Event()
    engine.bus.subscribe(lambda ev: engine.counters["periods"] >= periods and reached.set(), RatingUpdate)
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(reached.wait(), timeout=60)
    return engine, task, proc


async def test_stopping_a_run_ends_its_worker(tmp_path: Path) -> None:
    engine, task, proc = await _endless_run(tmp_path / "s.db", 100)
    await engine.stop()
    await task
    assert proc.returncode is not None  # the endless sim's worker is gone too
    assert engine._ahead is None


def test_a_worker_out_of_step_is_an_error() -> None:
    from tui_trader.market.sim import SimMarket
    from tui_trader.rating.ahead import TAPPED
    from tui_trader.rating.periods import PeriodRater, RatingParams

    rater = PeriodRater()
    rater.counters = {"periods": 0, "klines": 0, "late_klines": 0}
    rater._init_rating(RatingParams.from_config(_sim_cfg("on", n=4)), ["A", "B", "C", "D"], 60_000)
    market = SimMarket(["AUSDT", "BUSDT", "CUSDT", "DUSDT"], 60_000, 4, 1, 0, 1)
    ahead = RatingAhead(timeout_s=20)
    try:
        ahead.begin(rater._rater_state(), TAPPED)
        for _ in range(3):  # klines sent as the feed makes them: three one-minute periods
            ahead.feed(market.step(prices=False)[1])
        games = ahead.take(60_000)  # the first period (open time 0) ends at one minute
        assert games.shape == (4, 4)  # rating, RD, volatility, score of each symbol
        assert np.isfinite(games).all() and np.ptp(games[0]) > 0  # they played
        with pytest.raises(RatingAheadError, match="out of step"):
            ahead.take(60_000)  # the next one ends at two minutes
    finally:
        ahead.close()
    assert ahead.returncode is not None


def test_klines_go_to_the_worker_as_their_exact_bytes() -> None:
    from tui_trader.models import KlineBatch
    from tui_trader.rating.ahead import _pack_klines, _unpack_klines

    n = 5
    f = np.array([1.5, np.nan, -0.0, 5e-324, 1e300])  # NaN, a negative zero, a subnormal
    batch = KlineBatch(
        interval_ms=60_000, sym=np.array([4, 0, 2, 1, 3], dtype=np.int32),
        open_time=np.arange(n, dtype=np.int64) * 60_000, close_time=np.arange(n, dtype=np.int64) * 60_000 + 59_999,
        open=f, high=f + 1, low=f - 1, close=f[::-1].copy(), volume=f * 2, quote_volume=f * 3,
        trades=np.array([0, 1, 2**40, 7, 9], dtype=np.int64), taker_buy_base=f / 3,
        closed=np.array([True, False, True, True, False]),
    )
    for b in (batch, KlineBatch.empty(60_000)):
        back = _unpack_klines(_pack_klines(b))
        assert back.interval_ms == b.interval_ms and len(back) == len(b)
        for name in ("sym", "open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
                     "trades", "taker_buy_base", "closed"):
            a, c = getattr(b, name), getattr(back, name)
            assert c.dtype == a.dtype and c.tobytes() == a.tobytes(), name


def test_a_worker_running_out_of_klines_is_an_error() -> None:
    from tui_trader.market.sources import ReplayKlines
    from tui_trader.models import KlineBatch
    from tui_trader.rating.periods import PeriodRater, RatingParams

    rater = PeriodRater()
    rater.counters = {"periods": 0, "klines": 0, "late_klines": 0}
    rater._init_rating(RatingParams.from_config(_sim_cfg("on", n=2)), ["A", "B"], 60_000)
    ahead = RatingAhead(timeout_s=20)
    try:
        ahead.begin(rater._rater_state(), ReplayKlines(KlineBatch.empty(60_000), np.zeros(1, dtype=np.int64), 0, 1))
        with pytest.raises(RatingAheadError, match="ran out of klines"):
            ahead.take(60_000)
    finally:
        ahead.close()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # field 4 of /proc/PID/stat: the parent
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker through /proc (Linux)")
def test_a_worker_exits_when_its_runner_is_killed_with_sigkill(tmp_path: Path) -> None:
    """kill -9 of the headless runner: its rating worker notices (its socket closes) and exits."""
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-m", "tui_trader", "run", "--headless", "--feed", "sim", "--speed",
                             "max", "--duration", "120s", "--db", str(tmp_path / "k.db"), "--json"],
                            cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while not workers and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = [p for p in _children(proc.pid)
                       if b"tui_trader.rating.ahead" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert workers, "the endless sim at full speed rates ahead in a second process"
        time.sleep(1.0)  # well into the run
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(workers[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(workers[0])
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_the_run_does_not_wait_for_its_worker_to_leave_and_the_stop_reaps_it(tmp_path: Path) -> None:
    # the worker's interpreter takes ~30 ms to exit: the run's end leaves it to go while the stop
    # writes the last rows, and the stop reaps it
    engine = build_engine(_sim_cfg("on"), db_path=str(tmp_path / "r.db"), session_kind="run", autostart=True,
                          max_klines=150)
    await engine.start_up()
    proc = engine._ahead_proc
    assert proc is not None
    await asyncio.wait_for(engine.run(), timeout=60)
    assert engine._ahead is None and engine._ahead_leaving == [proc]
    await engine.stop()
    assert engine._ahead_leaving == [] and proc.returncode == 0


async def test_a_worker_that_does_not_leave_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trader.rating import ahead as ahead_module

    monkeypatch.setattr(ahead_module, "LEAVE_S", 0.2)
    engine, task, proc = await _endless_run(tmp_path / "k.db", 50)  # the worker busy ahead
    os.kill(proc.pid, signal.SIGSTOP)  # it cannot leave now (the stop ends the engine's wait for it)
    await asyncio.wait_for(engine.stop(), timeout=10)
    await task
    assert proc.returncode == -signal.SIGKILL and engine._ahead_leaving == []
