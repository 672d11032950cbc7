"""After a kill -9 the loss breakers measure from the references the killed run had, as far as it
committed them: the peak equity (drawdown breaker) and the day's starting equity (daily-loss
breaker) are saved in the account row only on fills, resets and a clean stop, but the equity points
committed every period know better. A reset of the emergency stop lowers the peak on purpose, and
the points from before it do not raise it again."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import MIN, T0, drawdown_cfg, drawdown_tripped, engine_config, klines, make_engine

from tui_trader.clock import MS_PER_DAY
from tui_trader.events import ManualBuy, Pause, ResetEmergency
from tui_trader.models import EngineState

S = EngineState
DAY = T0 // MS_PER_DAY  # 2025-01-01


@pytest.fixture
async def live_ex(shared_data):
    from exchange_standin import StandinExchange, SteerableClock
    from test_binance_broker import KEY
    from test_binance_broker import T0 as LIVE_T0

    stand = await StandinExchange(SteerableClock(LIVE_T0), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


async def _nothing() -> None:
    return None


async def _kill(h: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill -9 once the buffered equity points are committed: nothing of the stop is written
    (no state, no account, no session end)."""
    await h.engine.db.flush()
    monkeypatch.setattr(h.engine, "_close_session", lambda db: _nothing())
    await h.stop()


def _stored(db: str) -> tuple[float, int, float, list[tuple[int, float]]]:
    """The account's stored (peak, day-start day, day-start equity) and the committed equity points."""
    con = sqlite3.connect(db)
    try:
        peak, day_ms, day_eq = con.execute(
            "SELECT peak_equity, day_start_ms, day_start_equity FROM account"
        ).fetchone()
        points = con.execute("SELECT ts_ms, equity FROM equity_snapshots ORDER BY id").fetchall()
    finally:
        con.close()
    return float(peak), int(day_ms) // MS_PER_DAY, float(day_eq), [(int(t), float(e)) for t, e in points]


async def _restart(db: str, ts: int, price: list[float], cfg: Any = None) -> Any:
    """The book's engine started again at ``ts`` (autostart off), its last kline at ``price``."""
    return await make_engine(
        cfg, db_path=db, start_ms=ts + MIN, history=klines(ts, price), autostart=False
    ).start()


async def _rising_book(db: str, start: int, cfg: Any = None) -> tuple[Any, int, float]:
    """A book holding AAA (bought with 900 USDT, then paused) whose price rises 1 % a minute for 30
    minutes: the peak equity grows in memory only (no fill saves it). Returns the harness, the
    time of its last kline and AAA's last price."""
    h = await make_engine(cfg, db_path=db, start_ms=start).start()
    e = h.engine
    for k in range(30):
        await h.step(klines(start + k * MIN, [100.0] * 4))
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(900)))).ok
    assert (await e.submit(Pause())).ok
    px = 100.0
    for k in range(30, 60):
        px *= 1.01
        await h.step(klines(start + k * MIN, [px, 100.0, 100.0, 100.0]))
    return h, start + 59 * MIN, px


async def test_a_kill_keeps_the_peak_equity_the_committed_equity_points_reached(
    tmp_path, monkeypatch
) -> None:
    db = str(tmp_path / "book.db")
    h, last, px = await _rising_book(db, T0 + 60 * MIN)
    peak = h.engine.portfolio.peak_equity
    await _kill(h, monkeypatch)
    stored_peak, _, _, points = _stored(db)
    top = max(e for _, e in points)
    assert stored_peak < peak - 250  # the finding: the account row holds the peak of the buy's fill
    assert top > 10_250

    h2 = await _restart(db, last + MIN, [px, 100.0, 100.0, 100.0])
    try:
        restored = h2.engine.portfolio.peak_equity
        assert restored >= top  # at least the highest committed equity
        assert restored == pytest.approx(peak, rel=1e-12)  # and here the killed run's peak itself
        for k in range(2, 5):  # the same price: at the peak, no drawdown
            await h2.step(klines(last + k * MIN, [px, 100.0, 100.0, 100.0]))
        assert h2.engine.portfolio.drawdown_pct == pytest.approx(0.0, abs=1e-9)
    finally:
        await h2.stop()


async def test_after_a_kill_the_drawdown_breaker_trips_where_the_uninterrupted_run_would(
    tmp_path, monkeypatch
) -> None:
    """The consequence: a fall of 2.5 % of the peak trips a 2.5 % drawdown breaker after the restart
    (measured from the stored peak of 10,000 it would be a fall of 0.6 %, and nothing trips)."""
    cfg = engine_config(
        risk_management={
            "max_drawdown_percent": 2.5,
            "max_daily_loss_percent": 50.0,
            "stop_loss_percent": 50.0,
        }
    )
    db = str(tmp_path / "book.db")
    h, last, px = await _rising_book(db, T0 + 60 * MIN, cfg)
    peak, held = h.engine.portfolio.peak_equity, h.engine.portfolio.positions["AAAUSDT"].quantity
    await _kill(h, monkeypatch)

    h2 = await _restart(db, last + MIN, [px, 100.0, 100.0, 100.0], cfg)
    try:
        e2 = h2.engine
        assert e2.state is S.PAUSED
        drop = px - 0.026 * peak / float(held)  # 2.6 % of the peak lost on AAA
        for k in range(2, 8):
            await h2.step(klines(last + k * MIN, [drop, 100.0, 100.0, 100.0]))
        assert e2.portfolio.drawdown_pct > 2.5
        assert e2.state is S.EMERGENCY_STOPPED and "Drawdown" in e2.state_reason
    finally:
        await h2.stop()


async def test_a_reset_peak_is_not_raised_again_by_the_equity_points_before_it(tmp_path, monkeypatch) -> None:
    """An emergency stop's reset lowers the peak to the equity then; after a kill the points from
    before the reset (higher) do not count, those after it do."""
    cfg = drawdown_cfg()
    db = str(tmp_path / "book.db")
    h = await drawdown_tripped(db)
    e = h.engine
    old_peak = e.portfolio.peak_equity
    assert (await e.submit(ResetEmergency(reason="loss accepted"))).ok
    reset_peak = e.portfolio.peak_equity
    assert reset_peak < old_peak - 900
    for k in range(6, 12):  # a partial recovery after the reset: a new peak, in memory only
        await h.step(klines(T0 + k * MIN, [80.0 + k - 5, 100.0, 100.0, 100.0]))
    peak = e.portfolio.peak_equity
    assert reset_peak + 100 < peak < old_peak - 700
    await _kill(h, monkeypatch)
    assert _stored(db)[0] == pytest.approx(reset_peak, abs=1e-8)

    h2 = await _restart(db, T0 + 12 * MIN, [86.0, 100.0, 100.0, 100.0], cfg)
    try:
        assert h2.engine.state is S.STOPPED
        assert h2.engine.portfolio.peak_equity == pytest.approx(peak, rel=1e-12)
    finally:
        await h2.stop()
    # and once more, at the same prices: still the post-reset peak, never the old one
    h3 = await _restart(db, T0 + 14 * MIN, [86.0, 100.0, 100.0, 100.0], cfg)
    try:
        assert h3.engine.portfolio.peak_equity == pytest.approx(peak, rel=1e-12)
        for k in range(16, 19):
            await h3.step(klines(T0 + k * MIN, [86.0, 100.0, 100.0, 100.0]))
        assert h3.engine.state is S.STOPPED  # the drawdown breaker is not tripped by the old peak
    finally:
        await h3.stop()


async def _across_midnight(db: str, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float, int, float]:
    """A book holding AAA that loses 4 % on AAA after midnight (no fill that day), then a kill.
    Returns the killed run's day-start and peak equity, the time of its last kline and AAA's price."""
    h, last, px = await _rising_book(db, T0 - 70 * MIN)  # bought on Dec 31st, risen until 23:49
    e = h.engine
    for k in range(1, 41):  # 23:50 .. 00:30: AAA falls after midnight
        ts = last + k * MIN
        if ts >= T0:
            px *= 0.999
        await h.step(klines(ts, [px, 100.0, 100.0, 100.0]))
    pf = e.portfolio
    assert pf.day == DAY and pf.equity < pf.day_start_equity - 10
    day_start, peak = pf.day_start_equity, pf.peak_equity
    await _kill(h, monkeypatch)
    _, stored_day, _, _ = _stored(db)
    assert stored_day == DAY - 1  # the finding: the account row holds the day of the buy's fill
    return day_start, peak, last + 40 * MIN, px


async def test_a_restart_later_the_same_utc_day_keeps_that_days_start(tmp_path, monkeypatch) -> None:
    db = str(tmp_path / "book.db")
    day_start, peak, last, px = await _across_midnight(db, monkeypatch)
    h2 = await _restart(db, last + 20 * MIN, [px, 100.0, 100.0, 100.0])
    try:
        pf = h2.engine.portfolio
        assert pf.day == DAY
        assert pf.day_start_equity == pytest.approx(day_start, rel=1e-12)  # not the equity at the restart
        assert pf.daily_pnl < -10
        assert pf.peak_equity == pytest.approx(peak, rel=1e-12)
    finally:
        await h2.stop()


async def test_a_restart_on_a_later_utc_day_starts_that_day_at_its_own_equity(tmp_path, monkeypatch) -> None:
    db = str(tmp_path / "book.db")
    _, peak, last, px = await _across_midnight(db, monkeypatch)
    later = (DAY + 1) * MS_PER_DAY + 5 * MIN
    h2 = await _restart(db, later, [px * 0.99, 100.0, 100.0, 100.0])
    try:
        pf = h2.engine.portfolio
        for k in range(1, 4):
            await h2.step(klines(later + k * MIN, [px * 0.99, 100.0, 100.0, 100.0]))
        assert pf.day == DAY + 1
        assert pf.day_start_equity == pytest.approx(pf.equity, rel=1e-12)  # its first mark's equity
        assert pf.peak_equity == pytest.approx(peak, rel=1e-12)
    finally:
        await h2.stop()


async def test_money_withdrawn_outside_is_not_undone_by_the_equity_points_before_it(
    live_ex, tmp_path, monkeypatch
) -> None:
    """Live: half the account withdrawn between two sessions moves the peak down with it (stored
    with a mark); after a kill of that session the points of the session before (at 3,000) do not
    raise the peak again (a 50 % "drawdown": an emergency stop at the first price)."""
    from test_binance_broker import live_cfg

    from tui_trader.runtime import build_engine

    ex = live_ex
    ex.balances = {"USDT": Decimal("3000")}
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    now, session = ex.clock.now_ms(), e.session_id
    for k in range(3):  # the equity points this session committed (3,000, at the peak)
        await e.db.queue_equity(session, now - (3 - k) * MIN, 3000.0, Decimal("3000"), 0.0, 0.0)
    await asyncio.wait_for(e.stop(), 20)
    ex.balances["USDT"] = Decimal("1500")
    e2 = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e2.start_up(), 20)
    assert e2.portfolio.peak_equity == pytest.approx(1500)
    monkeypatch.setattr(e2, "_close_session", lambda db: _nothing())  # a kill -9
    await asyncio.wait_for(e2.stop(), 20)

    e3 = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e3.start_up(), 20)
    try:
        assert e3.portfolio.peak_equity == pytest.approx(1500)
        assert e3.portfolio.day_start_equity == pytest.approx(1500)
    finally:
        await asyncio.wait_for(e3.stop(), 20)


async def test_a_book_from_before_the_marks_keeps_its_stored_peak_once_then_counts_its_points(
    tmp_path, monkeypatch
) -> None:
    """A book stored before the marks were kept may hold an emergency reset its points do not
    show: its first start takes the stored references as they are (no surprise emergency stop),
    and marks the book, so its points count from then on."""
    db = str(tmp_path / "book.db")
    h, last, px = await _rising_book(db, T0 + 60 * MIN)
    await _kill(h, monkeypatch)
    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM kv WHERE key = 'references_mark'")
    con.close()
    stored_peak = _stored(db)[0]

    h2 = await _restart(db, last + MIN, [px, 100.0, 100.0, 100.0])
    e2 = h2.engine
    assert e2.portfolio.peak_equity == stored_peak
    for k in range(2, 8):  # higher again, in memory only
        px *= 1.01
        await h2.step(klines(last + k * MIN, [px, 100.0, 100.0, 100.0]))
    peak = e2.portfolio.peak_equity
    assert peak > stored_peak + 300
    await _kill(h2, monkeypatch)

    h3 = await _restart(db, last + 8 * MIN, [px, 100.0, 100.0, 100.0])
    try:
        assert h3.engine.portfolio.peak_equity == pytest.approx(peak, rel=1e-12)
    finally:
        await h3.stop()


_KILLED_CHILD = """
import asyncio, os, signal, sys
sys.path.insert(0, sys.argv[2])
from engine_helpers import MIN, T0
from test_peak_recovery import _rising_book


async def main() -> None:
    h, last, px = await _rising_book(sys.argv[1], T0 + 60 * MIN)
    await h.engine.db.flush()  # the points committed (the writer's every 0.5 s, here at once)
    print(h.engine.portfolio.peak_equity, last, px, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


asyncio.run(main())
"""


def test_a_real_sigkill_keeps_the_peak_equity_the_committed_points_reached(tmp_path) -> None:
    db = str(tmp_path / "book.db")
    tests = str(Path(__file__).parent)
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, db, tests], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    peak, last, px = (float(v) for v in proc.stdout.split())
    stored_peak, _, _, points = _stored(db)
    assert stored_peak < peak - 250 and max(e for _, e in points) > stored_peak + 250

    async def restarted() -> float:
        h = await _restart(db, int(last) + MIN, [px, 100.0, 100.0, 100.0])
        try:
            return h.engine.portfolio.peak_equity
        finally:
            await h.stop()

    assert asyncio.run(restarted()) == pytest.approx(peak, rel=1e-12)


async def test_a_new_live_book_taken_from_the_account_later_is_not_raised_by_its_paper_points(
    live_ex, tmp_path, monkeypatch
) -> None:
    """Live, a new book whose start-up could not read the exchange account holds the paper starting
    balance (10,000) until a later reconciliation takes the account's 3,000: the equity points
    committed meanwhile (at 10,000) must not raise the peak again after a restart (a 70 %
    "drawdown": an emergency stop at the first price)."""
    from test_binance_broker import live_cfg

    from tui_trader.runtime import build_engine

    ex = live_ex
    ex.balances = {"USDT": Decimal("3000")}
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    real = e.broker.account_balances

    async def unreadable() -> Any:
        raise ConnectionError("account unreachable")

    monkeypatch.setattr(e.broker, "account_balances", unreadable)
    await asyncio.wait_for(e.start_up(), 20)
    assert e._reconcile_problem  # trading stays off: the book still holds the paper balance
    now, session = ex.clock.now_ms(), e.session_id
    for k in range(3):  # the periods meanwhile commit their equity points (10,000, at the peak)
        await e.db.queue_equity(session, now - (3 - k) * MIN, 10000.0, Decimal("10000"), 0.0, 0.0)
    await e.db.flush()
    monkeypatch.setattr(e.broker, "account_balances", real)
    assert await e._reconcile_again() == ""
    assert e.portfolio.peak_equity == pytest.approx(3000)
    await asyncio.wait_for(e.stop(), 20)

    e2 = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e2.start_up(), 20)
    try:
        assert e2.portfolio.peak_equity == pytest.approx(3000)
        assert e2.sm.state is not S.EMERGENCY_STOPPED
    finally:
        await asyncio.wait_for(e2.stop(), 20)
