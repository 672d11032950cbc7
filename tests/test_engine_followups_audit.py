"""Every money-changing act of the engine leaves an audit row that tells the truth: the dust
written off after a live sell, the answer of a start or resume out of ``reducing`` after the UTC
day rolled over, a start still trying the reconciliation again when the operator quits, and an
emergency stop whose close flag came malformed."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from engine_helpers import (
    MIN,
    SYMBOLS,
    T0,
    engine_config,
    klines,
    make_engine,
    prices,
    store_manual_buy_intent,
    until,
)
from exchange_standin import StandinExchange, SteerableClock
from live_support import T0 as LIVE_T0
from live_support import live_engine_config

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.events import EmergencyStop, ManualBuy, Resume, Start
from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import EngineState

D = Decimal
KEY = "k3y-PUBLIC-followups-audit"
SECRET = "s3cr3t-PRIVATE-followups-audit"
S = EngineState
PERIOD = 3 * MIN
DAY = 86_400_000


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(LIVE_T0), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


def _live_cfg(ex: StandinExchange, monkeypatch) -> Config:
    return live_engine_config(ex, monkeypatch, KEY, SECRET)


async def test_the_dust_written_off_after_a_live_sell_has_an_audit_row(
    ex, tmp_path, monkeypatch, caplog
) -> None:
    """Live, a buy's fee is taken in the base asset, so a close leaves a remainder no order can
    sell: the engine takes it off the book by itself (its cost realised as a loss). That moved the
    book's money with only a log line; the operator's write-off has an audit row, and so must it:
    source system, the symbol, the quantity, its value at the sell's price and the loss booked."""
    from tui_trader.events import ClosePosition
    from tui_trader.runtime import build_engine

    ex.balances = {"USDT": D("1234.5"), "BNB": D("3")}
    e = build_engine(
        _live_cfg(ex, monkeypatch), db_path=str(tmp_path / "live.db"), session_kind="run", clock=ex.clock
    )
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert (await e.submit(Start())).ok
        assert (await e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=D(60)))).ok
        realized = e.portfolio.realized_pnl
        with caplog.at_level(logging.INFO, logger="tui_trader"):
            res = await e.submit(ClosePosition(symbol="ETHUSDT"))
        assert res.ok, res.message
        assert "ETHUSDT" not in e.portfolio.positions
        dust = ex.balances["ETH"]
        assert D(0) < dust < e.filters["ETHUSDT"].step_size  # what was written off, still in the account
        # the remainder is judged at the last sell's price
        last = [f for f in e.fills if f.symbol == "ETHUSDT" and f.side.value == "SELL"][-1]
        rows = [a for a in await e.db.load_audit(limit=None) if a["action"] == "write_off"]
        assert len(rows) == 1, rows
        (row,) = rows
        assert row["source"] == "system" and row["ok"] is True
        assert row["args"]["symbol"] == "ETHUSDT"
        assert D(row["args"]["quantity"]) == dust
        assert D(row["args"]["price"]) == last.price
        assert D(row["args"]["value"]) == dust * last.price
        # its cost, realised as a loss: the book's realised PnL moved by the sells' and by it
        cost = D(row["args"]["cost"])
        assert cost > 0
        sells = [o for o in e.orders.values() if o.symbol == "ETHUSDT" and o.side.value == "SELL"]
        assert e.portfolio.realized_pnl == realized + sum(o.realized_pnl for o in sells)
        assert "dust" in row["outcome"] and "after the sell" in row["outcome"], row["outcome"]
    finally:
        await asyncio.wait_for(e.stop(), 20)


async def _reducing(h) -> None:
    """The daily-loss limit reached at T0's second period: reducing (as in test_engine_commands)."""
    e = h.engine
    await _one_period(h, T0)
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=D(5000), override_risk=True))).ok
    await _one_period(h, T0 + PERIOD)
    for k in range(3):  # A drops 10 %: equity falls ~5 % within the day
        opened = [100.0 if k == 0 else 90.0, 100, 100, 100]
        await h.step(klines(T0 + 2 * PERIOD + k * MIN, [90.0, 100, 100, 100], open_=opened))
    assert e.state is S.REDUCING


async def _one_period(h, t0: int, price: float = 100.0) -> None:
    for k in range(3):
        await h.step(klines(t0 + k * MIN, [price] * 4, open_=[price] * 4))


REDUCING_CFG = {"max_daily_loss_percent": 3.0, "max_drawdown_percent": 50.0, "stop_loss_percent": 50.0}


@pytest.mark.parametrize("command", [Start, Resume], ids=["start", "resume"])
async def test_a_start_out_of_reducing_after_the_day_rolled_over_does_not_claim_an_override(command) -> None:
    """Reducing until the next UTC day: the day has rolled over (a price at 00:00:01) but the
    period that would leave reducing by itself has not come yet. The operator's start found the
    limit re-armed already, yet answered (and audited) that "the daily loss limit reached today
    is overridden": no limit was reached on the day of the command, and none was overridden."""
    h = await make_engine(engine_config(risk_management=REDUCING_CFG)).start()
    e = h.engine
    try:
        await _reducing(h)
        await h.step(prices(T0 + DAY + 1_000, [90.0, 100, 100, 100]))  # the new UTC day, no period yet
        assert e.state is S.REDUCING
        res = await e.submit(command())
        assert res.ok and e.state is S.RUNNING, res.message
        assert "overridden" not in res.message, res.message
        assert "new UTC day" in res.message and "re-armed" in res.message, res.message
        (row,) = [a for a in await e.db.load_audit(limit=None) if a["action"] == command.__name__]
        assert row["ok"] and row["outcome"] == res.message
        assert e._daily_override_day is None  # nothing overridden is stored with the state
    finally:
        await h.stop()


async def test_a_start_out_of_reducing_on_the_day_of_the_limit_still_says_it_overrides_it() -> None:
    h = await make_engine(engine_config(risk_management=REDUCING_CFG)).start()
    e = h.engine
    try:
        await _reducing(h)
        res = await e.submit(Start())
        assert res.ok and res.message == "trading started: the daily loss limit reached today is overridden"
        assert e.state is S.RUNNING and e._daily_override_day == T0 // DAY
    finally:
        await h.stop()


async def _restart_paused_unreconciled(db: str):
    """The book at ``db`` (a manual buy's intent left by a kill) restarted on a paper exchange that
    cannot be asked about orders at start-up: the reconciliation fails, the engine comes up paused."""
    cfg = engine_config()
    holder: dict = {}
    broker = PaperBroker(
        cfg,
        ManualClock(0),
        lambda s: holder["e"].last_price(s) if holder else 100.0,
        {s: synthetic_filters(s, 100.0) for s in SYMBOLS},
        balances={"USDT": D(10_000)},
    )
    broker.fail_next(BrokerErrorKind.TIMEOUT, n=40, op="query")
    h = make_engine(cfg, db_path=db, broker=broker)
    holder["e"] = h.engine
    return await h.start(), broker


async def test_a_quit_during_a_starts_long_reconciliation_still_audits_that_start(
    tmp_path, monkeypatch
) -> None:
    """The start-up reconciliation failed; the operator presses start, which tries it again on an
    exchange that does not answer, and quits. The quit waits its limit for the command and closes
    storage: the start, answered after that, found no database and left no audit row. Now the
    quit writes the start's row before storage closes ("aborted by quit"), within the same limit,
    and the start, whatever its reconciliation finds later, no longer starts trading."""
    import tui_trader.engine as engine_mod

    monkeypatch.setattr(engine_mod, "STOP_WAIT_S", 0.5)  # the quit's limit (10 s), shortened for the test
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    await _one_period(h, T0)
    await store_manual_buy_intent(h.engine, "AAAUSDT")  # committed, then a kill -9 (never sent)
    await h.stop()

    h, broker = await _restart_paused_unreconciled(db)
    e = h.engine
    assert e.state is S.PAUSED and e._reconcile_problem
    broker._faults["query"].clear()
    real_query, answer, asked = broker.query, asyncio.Event(), []

    async def slow_query(*args):
        asked.append(args)
        await answer.wait()  # the exchange answers only after the quit
        return await real_query(*args)

    broker.query = slow_query
    start = asyncio.create_task(e.submit(Start()))
    await until(lambda: asked, "the start to ask the exchange again")
    await h.stop()  # the quit: its limit passes while the start waits
    answer.set()
    res = await asyncio.wait_for(start, 10)
    assert not res.ok and "quit" in res.message, res.message
    assert e.state is not S.RUNNING

    h2, _ = await _restart_paused_unreconciled(db)
    try:
        rows = [a for a in await h2.engine.db.load_audit(limit=None) if a["action"] == "Start"]
        assert len(rows) == 1, rows
        assert not rows[0]["ok"] and "aborted by quit" in rows[0]["outcome"], rows[0]["outcome"]
        assert (await h2.engine.db.load_engine_state())["state"] is not S.RUNNING
    finally:
        await h2.stop()


@pytest.mark.parametrize("flag", ["false", "true", 1, None])
async def test_an_emergency_stop_with_a_malformed_close_flag_still_stops_without_closing(flag) -> None:
    """A script's emergency stop whose ``close_positions`` is no bool (the text "false", a 1) was
    refused whole: the engine kept trading. An emergency stop is never refused for how a flag is
    spelt: it stops, and reads the flag the safe way - no position is sold on a guess - saying
    so in its answer and its audit row. Not ok while positions stay open (they may have been
    meant to close: the operator looks)."""
    h = await make_engine().start()
    e = h.engine
    try:
        await _one_period(h, T0)
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=D(500)))).ok
        res = await e.submit(EmergencyStop(reason="script panic", close_positions=flag))  # type: ignore[arg-type]
        assert e.state is S.EMERGENCY_STOPPED, res.message
        assert "AAAUSDT" in e.portfolio.positions and e.broker.submit_calls == 1  # nothing sold
        assert not res.ok and res.message.startswith("EMERGENCY STOP: "), res.message
        note = f"close_positions {flag!r} is not true or false: read as false, positions not closed"
        assert note in res.message and "1 position(s) still open" in res.message, res.message
        (row,) = [a for a in await e.db.load_audit(limit=None) if a["action"] == "EmergencyStop"]
        assert not row["ok"] and row["outcome"] == res.message and row["args"]["close_positions"] == flag
        (stop,) = [a for a in await e.db.load_audit(limit=None) if a["action"] == "emergency_stop"]
        assert stop["args"]["close_positions"] is False and stop["source"] == "ui"
    finally:
        await h.stop()


async def test_an_emergency_stop_with_a_malformed_close_flag_and_nothing_held_is_ok() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        res = await e.submit(EmergencyStop(close_positions="false"))  # type: ignore[arg-type]
        assert res.ok and e.state is S.EMERGENCY_STOPPED, res.message
        assert "close_positions 'false' is not true or false: read as false" in res.message
    finally:
        await h.stop()


async def test_an_emergency_stop_with_a_malformed_close_flag_while_the_engine_stops_is_stored(
    tmp_path,
) -> None:
    """The quit waits for a buy the exchange is slow to answer; an emergency stop sent meanwhile
    with close_positions="false" was refused, and the next start came back trading. It is stored
    (closing nothing) and the answer says how the flag was read."""
    db = str(tmp_path / "book.db")
    h = await make_engine(db_path=db).start()
    e = h.engine
    await _one_period(h, T0)
    real_submit, answer, sent = e.broker.submit, asyncio.Event(), []

    async def slow_answer(req):
        sent.append(req)
        await answer.wait()  # the exchange is slow to answer the buy
        return await real_submit(req)

    e.broker.submit = slow_answer
    buy = asyncio.create_task(e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=D(500))))
    await until(lambda: sent, "the buy to reach the exchange")
    stop = asyncio.create_task(h.stop())
    await until(lambda: h.feed.stopped and h.task is not None and h.task.done(), "the stop to begin")
    res = await e.submit(EmergencyStop(reason="script panic", close_positions="false"))  # type: ignore[arg-type]
    answer.set()
    await buy
    await stop
    assert e.state is S.EMERGENCY_STOPPED, res.message
    assert "close_positions 'false' is not true or false: read as false" in res.message, res.message
    h2 = await make_engine(db_path=db).start()
    try:
        assert h2.engine.state is S.EMERGENCY_STOPPED
        assert "AAAUSDT" in h2.engine.portfolio.positions  # nothing was closed on a guess
    finally:
        await h2.stop()
