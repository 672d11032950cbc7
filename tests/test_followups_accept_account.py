"""AcceptAccount follows AbandonOrder's rule: the book cut to the account is done (ok), even when
trading stays off for another reason; the message says "but trading stays off: <why>" and the
result's data carries the why. The console titles it so, as a warning, not "refused"."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange, SteerableClock
from test_binance_broker import KEY, T0, live_cfg
from ui_support import commands_done, make_app, make_engine, notifications, ready, ui_config

from tui_trader.events import AcceptAccount, CommandResult, ManualBuy, Start
from tui_trader.models import EngineState, Source
from tui_trader.runtime import build_engine
from tui_trader.ui.screens.modals import ConfirmScreen


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


async def book_half_sold_by_hand(ex, cfg, db: str) -> Decimal:
    """A live book buys SOL and stops; then half of it is sold by hand on the exchange. Returns
    the book's SOL (the account now holds half of it, to the step)."""
    ex.balances = {"USDT": Decimal("3000")}
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert (await e.submit(Start())).ok
        res = await e.submit(ManualBuy(symbol="SOLUSDT", quote_amount=Decimal(60)))
        assert res.ok, res.message
        book_sol = e.portfolio.positions["SOLUSDT"].quantity
        step = e.filters["SOLUSDT"].step_size
    finally:
        await asyncio.wait_for(e.stop(), 20)
    ex.balances["SOL"] = (book_sol / 2).quantize(step)
    return book_sol


async def test_an_account_accepted_while_another_problem_keeps_trading_off_is_done_not_refused(
    ex, tmp_path, monkeypatch
) -> None:
    """Half of the SOL was sold by hand, and an order the book did not place rests on the
    exchange. Accepting cuts the book (booked, not undone); the reconciliation then stops at the
    strange order. The result used to be ok=False, which the console titled "refused"."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    book_sol = await book_half_sold_by_hand(ex, cfg, db)
    left = ex.balances["SOL"]

    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.PAUSED and "SOLUSDT: the book holds" in e._error
        ex.add_open_order("ETHUSDT", "web_7", "BUY", "0.5", "1000.00")  # placed by hand meanwhile
        res = await e.submit(AcceptAccount(source=Source.UI))
        assert res.ok, res.message
        assert res.message.startswith("book cut to the account (SOLUSDT ")
        assert (
            "; but trading stays off: account reconciliation failed: open order(s) on the exchange"
            in res.message
        )
        assert "web_7" in res.data["trading_stays_off"] and res.data["cut"] == [
            f"SOLUSDT {book_sol.normalize():f} -> {left.normalize():f}"
        ]
        assert e.portfolio.positions["SOLUSDT"].quantity == left  # the cut is booked
        assert e.state is EngineState.PAUSED and not (await e.submit(Start())).ok  # trading is off
        audit = [r for r in await e.db.load_audit(None) if r["action"] == "AcceptAccount"]
        assert audit and audit[-1]["ok"]
    finally:
        await asyncio.wait_for(e.stop(), 20)


async def test_coins_locked_in_an_order_outside_the_book_are_held_not_sold(ex, tmp_path, monkeypatch) -> None:
    """The book's SOL locked in an order placed by hand (in another pair): the account lists it
    locked, none free. It was taken for sold: "the account 0", and accepting the account booked a
    sale of the whole position, which then went unmanaged (no stop loss) once the order was
    cancelled. Now: held, the order to be cancelled, nothing to accept; half sold and half locked:
    accepting cuts the sold half only."""
    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    book_sol = await book_half_sold_by_hand(ex, cfg, db)
    half = ex.balances["SOL"]
    ex.balances["SOL"], ex.locked["SOL"] = Decimal(0), book_sol  # all of it locked
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert e.state is EngineState.PAUSED
        assert f"the account 0 free and {book_sol.normalize():f} locked in an open order" in e._error, e._error
        assert "cancel it on the exchange, then start again" in e._error and "accept it" not in e._error
        res = await e.submit(AcceptAccount(source=Source.UI))
        assert not res.ok and "only an account holding less than the book" in res.message
        assert e.portfolio.positions["SOLUSDT"].quantity == book_sol  # nothing written off
    finally:
        await asyncio.wait_for(e.stop(), 20)
    ex.balances["SOL"], ex.locked["SOL"] = Decimal(0), half  # half sold by hand, the other half locked
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert f"the account 0 free and {half.normalize():f} locked" in e._error and "accept it" in e._error
        res = await e.submit(AcceptAccount(source=Source.UI))
        assert res.ok, res.message
        assert e.portfolio.positions["SOLUSDT"].quantity == half  # cut to what the account holds, locked too
        assert "locked in an open order" in res.data["trading_stays_off"]  # still to be cancelled
    finally:
        await asyncio.wait_for(e.stop(), 20)


async def test_the_console_titles_a_done_command_with_trading_still_off_as_a_warning(tmp_path) -> None:
    """A result that is ok but says trading stays off came as a 4-second info toast titled just
    "Accept account": read as the all-clear. It is a warning titled "... done, trading stays off"."""
    cfg = ui_config()
    live = make_engine(tmp_path, cfg, mode="live", name="live.db")  # paper broker, live labelling
    why = "open order(s) on the exchange that this book did not place: ETHUSDT BUY web_7"

    async def accepted_but_off(source: Source) -> CommandResult:
        return CommandResult(
            True,
            f"book cut to the account (SOLUSDT 1 -> 0.5); but trading stays off: {why}",
            data={"cut": ["SOLUSDT 1 -> 0.5"], "trading_stays_off": why},
        )

    live._accept_account = accepted_but_off
    app = make_app(live, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await commands_done(app)
        (shown,) = [n for n in app._notifications if n.message.startswith("book cut")]
        assert shown.title == "Accept account done, trading stays off"
        assert shown.severity == "warning" and shown.timeout > 4
        assert not any("refused" in n for n in notifications(app))


async def test_an_account_accepted_under_an_emergency_stop_names_the_reset_as_the_next_step(
    ex, tmp_path, monkeypatch
) -> None:
    """As for an abandoned order: "start trading with s" is refused while emergency-stopped, so
    the next step named is the reset, then s."""
    from tui_trader.events import EmergencyStop

    cfg = live_cfg(ex, monkeypatch)
    db = str(tmp_path / "live.db")
    await book_half_sold_by_hand(ex, cfg, db)

    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert "SOLUSDT: the book holds" in e._error
        await e.submit(EmergencyStop(source=Source.UI))
        assert e.state is EngineState.EMERGENCY_STOPPED
        res = await e.submit(AcceptAccount(source=Source.UI))
        assert res.ok and res.data["trading_stays_off"] == "", res.message
        assert res.message.endswith(
            "; the emergency stop holds: reset the emergency stop, then start trading with s"
        )
        assert not (await e.submit(Start())).ok  # what the old message said to do
    finally:
        await asyncio.wait_for(e.stop(), 20)
