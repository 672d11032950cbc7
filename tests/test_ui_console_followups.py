"""Console follow-ups: the AbandonOrder dialog (command palette), E on the backtest report
screens in the console, and the F / R keys that answer at once when there is nothing to do."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from textual.widgets import Input
from ui_support import commands_done, make_app, make_engine, notifications, ready, ui_config

from tui_trader.events import AbandonOrder
from tui_trader.models import Source
from tui_trader.ui.screens.modals import AbandonOrderScreen

CID = "tt1x7-42"


@pytest.fixture
def cfg():
    return ui_config()


def _record_commands(engine) -> list:
    sent: list = []
    submit = engine.submit

    async def recording(cmd):
        sent.append(cmd)
        return await submit(cmd)

    engine.submit = recording
    return sent


async def _open_abandon_dialog(app, pilot) -> AbandonOrderScreen:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"abandon an order")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, AbandonOrderScreen)
    return screen


async def test_the_palette_abandons_the_order_the_reconciliation_names(tmp_path, cfg):
    """The snapshot names the order the reconciliation cannot settle (its symbol no longer
    listed); the console had no way to send AbandonOrder. The palette entry opens a dialog
    prefilled with that id, warns what it does, and Enter submits exactly AbandonOrder(id,
    source UI); the engine's answer is shown."""
    engine = make_engine(tmp_path, cfg)
    snapshot = engine.snapshot
    engine.snapshot = lambda: dataclasses.replace(snapshot(), unlisted_orders={CID: "OLDUSDT"})
    sent = _record_commands(engine)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        screen = await _open_abandon_dialog(app, pilot)
        assert screen.query_one("#cid", Input).value == CID
        warning = str(screen.query_one("#abandon-warning").render())
        assert "no fill is booked" in warning and "a position in OLDUSDT is written off" in warning
        assert "the coins stay in the account" in warning
        await pilot.press("enter")
        await pilot.pause()
        await commands_done(app)
        assert app.screen is app.main_screen
        assert sent == [AbandonOrder(source=Source.UI, client_order_id=CID)]
        # the paper engine has no such order: its refusal is shown like any other command's
        assert any(n.startswith("Abandon order refused") for n in notifications(app)), notifications(app)


async def test_the_abandon_dialog_takes_a_typed_id_and_esc_sends_nothing(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    sent = _record_commands(engine)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        screen = await _open_abandon_dialog(app, pilot)
        assert screen.query_one("#cid", Input).value == ""  # nothing named: typed
        await pilot.press("enter")  # empty: refused in the dialog, which stays open
        await pilot.pause()
        assert app.screen is screen and "client order id" in str(screen.query_one("#error").render())
        await pilot.press("escape")
        await pilot.pause()
        await commands_done(app)
        assert app.screen is app.main_screen and sent == []
        screen = await _open_abandon_dialog(app, pilot)
        await pilot.press(*"abc 1")  # no client order id has a space (nor more than 36 characters)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen and "is not one" in str(screen.query_one("#error").render()) and sent == []
        screen.query_one("#cid", Input).value = ""
        await pilot.press(*"abc-1")
        await pilot.press("enter")
        await pilot.pause()
        await commands_done(app)
        assert sent == [AbandonOrder(source=Source.UI, client_order_id="abc-1")]


# -- E on the backtest report screens ----------------------------------------------------------


def _bound(screen) -> set[str]:
    """The keys active on ``screen`` now (what its footer and key presses go by)."""
    return {key for key, _ in screen.active_bindings.items()}


async def test_e_stops_trading_from_the_backtest_reports_opened_in_the_console(tmp_path):
    """B opens the stored runs while trading goes on; E did nothing there or on a report."""
    from test_ui_report import _save
    from test_ui_workflows_operator import check_help_of

    from tui_trader.models import EngineState
    from tui_trader.ui.screens.modals import EmergencyStopScreen
    from tui_trader.ui.screens.report import (
        BacktestReportScreen,
        BacktestRunsScreen,
        ConsoleReportScreen,
        ConsoleRunsScreen,
    )

    db = await _save(tmp_path / "console.db")
    cfg = ui_config(n_symbols=10)
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"path": str(db)})})
    engine = make_engine(tmp_path, cfg, name="console.db", autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        await pilot.press("B")
        await pilot.pause()
        runs = app.screen
        assert isinstance(runs, BacktestRunsScreen)
        await asyncio.wait_for(runs.loaded.wait(), 10)
        assert "E" in _bound(runs)
        await check_help_of(app, pilot, ConsoleRunsScreen)
        await pilot.press("enter")
        await pilot.pause()
        report = app.screen
        assert isinstance(report, BacktestReportScreen)
        await asyncio.wait_for(report.loaded.wait(), 10)
        assert "E" in _bound(report)
        await check_help_of(app, pilot, ConsoleReportScreen)
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("escape")  # cancelled: nothing stopped, back on the report
        await pilot.pause()
        assert app.screen is report and engine.state != EngineState.EMERGENCY_STOPPED
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is runs
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("enter")
        await pilot.pause()
        await commands_done(app)
        assert app.screen is runs and engine.state == EngineState.EMERGENCY_STOPPED


async def test_the_standalone_report_viewer_has_no_emergency_stop(tmp_path):
    """tui-trader --report has no engine: E is neither in its footer nor in its help."""
    from test_ui_report import _save

    from tui_trader.ui.screens.help import HelpScreen
    from tui_trader.ui.screens.report import BacktestReportApp, BacktestReportScreen

    db = await _save(tmp_path / "runs.db")
    app = BacktestReportApp(db)
    async with app.run_test(size=(100, 30)) as pilot:
        runs = app.screen
        await asyncio.wait_for(runs.loaded.wait(), 10)
        assert "E" not in _bound(runs)
        await pilot.press("E")  # does nothing
        await pilot.pause()
        assert app.screen is runs
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert all(key != "E" for _, rows in app.screen.keys for key, _ in rows)
        await pilot.press("escape")
        await pilot.press("enter")
        await pilot.pause()
        report = app.screen
        assert isinstance(report, BacktestReportScreen)
        await asyncio.wait_for(report.loaded.wait(), 10)
        assert "E" not in _bound(report)
        await pilot.press("question_mark")
        await pilot.pause()
        assert all(key != "E" for _, rows in app.screen.keys for key, _ in rows)


# -- F and R when there is nothing to do ---------------------------------------------------------


async def test_flatten_with_no_open_positions_says_so_without_a_dialog(tmp_path, cfg):
    """F asked "Close all 0 open position(s) at market now?"."""
    from tui_trader.ui.screens.modals import ConfirmScreen

    engine = make_engine(tmp_path, cfg)
    sent = _record_commands(engine)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        assert engine.portfolio.positions == {}
        await pilot.press("F")
        await pilot.pause()
        assert app.screen is app.main_screen and not isinstance(app.screen, ConfirmScreen)
        await commands_done(app)
        assert sent == []
        assert any("no open positions" in n for n in notifications(app)), notifications(app)


async def test_reset_when_not_emergency_stopped_says_so_at_once(tmp_path, cfg):
    """R asked to confirm a reset the engine then refused; it says at once that there is nothing
    to reset. Emergency-stopped, it still asks first."""
    from tui_trader.events import EmergencyStop
    from tui_trader.models import EngineState
    from tui_trader.ui.screens.modals import ConfirmScreen

    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("R")
        await pilot.pause()
        assert app.screen is app.main_screen
        await commands_done(app)
        assert any("Reset emergency refused" in n and "not emergency-stopped" in n for n in notifications(app))
        await engine.submit(EmergencyStop(source=Source.UI, reason="test"))
        assert engine.state == EngineState.EMERGENCY_STOPPED
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await commands_done(app)
        assert engine.state != EngineState.EMERGENCY_STOPPED


@pytest.mark.parametrize(("amount", "shown"), [("1e999", "1e+999"), ("12345678901234567890", "1.23457e+19"),
                                               ("20000.5", "20000.5")])
async def test_a_buy_above_the_cash_is_refused_with_the_amount_written_compactly(tmp_path, cfg, amount, shown):
    """The engine's refusal wrote 1e999 out in full: a message a thousand digits long."""
    from decimal import Decimal

    from tui_trader.events import ManualBuy

    engine = make_engine(tmp_path, cfg, autostart=True)
    await engine.start_up()
    try:
        res = await engine.submit(ManualBuy(source=Source.UI, symbol="BTCUSDT", quote_amount=Decimal(amount),
                                            override_risk=True))
    finally:
        await engine.stop()
    assert not res.ok and f"amount {shown} is more than the cash" in res.message, res.message
    assert len(res.message) < 120


async def test_the_console_abandons_a_delisted_order_end_to_end(shared_data, tmp_path, monkeypatch):
    """The real reconciliation reason of a live book (an exchange stand-in answering -1121 for a
    stored SOLUSDT sell): the palette dialog is prefilled with that order, Enter abandons it."""
    from exchange_standin import StandinExchange, SteerableClock
    from test_binance_broker import KEY, T0, live_cfg
    from test_engine_followups_delisted import INVALID, _book_with_a_stored_sol_sell

    from tui_trader.models import EngineState, OrderStatus
    from tui_trader.runtime import build_engine

    ex = await StandinExchange(SteerableClock(T0), shared_data, api_key=KEY).start()
    try:
        cfg = live_cfg(ex, monkeypatch)
        db = str(tmp_path / "live.db")
        cid, _held = await _book_with_a_stored_sol_sell(ex, cfg, db)
        ex.fail_next("GET", "order", times=100, **INVALID)
        engine = build_engine(cfg, db_path=db, session_kind="tui", clock=ex.clock)
        app = make_app(engine, cfg)
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(app, pilot)
            assert engine.state is EngineState.PAUSED
            screen = await _open_abandon_dialog(app, pilot)
            assert screen.query_one("#cid", Input).value == cid
            assert "a position in SOLUSDT is written off" in str(screen.query_one("#abandon-warning").render())
            await pilot.press("enter")
            await pilot.pause()
            await commands_done(app)
            assert app.screen is app.main_screen
            assert any(n.startswith("Abandon order:") and "abandoned" in n for n in notifications(app)), \
                notifications(app)
            assert (await engine.db.get_order(cid)).status is OrderStatus.CANCELED
            assert "SOLUSDT" not in engine.portfolio.positions
    finally:
        await ex.stop()
