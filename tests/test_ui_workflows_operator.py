"""Operator workflows done end to end in the running console, as over SSH: the keys only, then
what the engine did, what the panes and dialogs show and what the audit log holds.

The engine is the real TradingEngine on a seeded sim feed with a database in ``tmp_path``; the
app starts it up but does not run the feed (``run_engine=False``), so only the keys change it.
"""

from __future__ import annotations

import asyncio
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Checkbox, Input
from ui_support import commands_done, make_app, make_engine, notifications, ready, select_symbol, ui_config

from tui_trader.events import Start
from tui_trader.models import EngineState, Fill, Side, Source
from tui_trader.storage import BacktestTrade
from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.screens.help import HelpScreen
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.screens.modals import BuyScreen, EmergencyStopScreen, TickBox
from tui_trader.ui.screens.report import (
    BacktestReportApp,
    BacktestReportScreen,
    BacktestRunsScreen,
    ConsoleReportScreen,
    ConsoleRunsScreen,
)
from tui_trader.ui.widgets.status_bar import StatusBar
from tui_trader.ui.widgets.table import FastTable

LIQUID = "BTCUSDT"


@pytest.fixture
def cfg():
    return ui_config()


async def _audit(engine, action: str) -> list[dict]:
    return [row for row in await engine.db.load_audit(None) if row["action"] == action]


async def test_enter_on_a_ticked_box_confirms_the_emergency_stop_with_the_box_ticked(tmp_path, cfg):
    """The dialog says Enter confirms. Ticking "Also close all positions" with Space and pressing
    Enter used to untick it (Textual's Enter toggles a checkbox) and leave the dialog open: the
    stop the operator then confirmed left every position open."""
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        select_symbol(app, LIQUID)
        await pilot.press("b", "enter")
        await commands_done(app)
        assert LIQUID in engine.portfolio.positions
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("tab")  # from the reason to the box
        assert isinstance(app.focused, TickBox) and app.focused.id == "close"
        await pilot.press("space")
        assert app.screen.query_one("#close", Checkbox).value is True
        await pilot.press("enter")
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED
        assert engine.portfolio.positions == {}
        (row,) = await _audit(engine, "EmergencyStop")
        assert row["source"] == "ui" and row["args"]["close_positions"] is True


async def _buy_dialog(app, pilot) -> None:
    """The buy dialog (b) opened on the liquid symbol's row."""
    select_symbol(app, LIQUID)
    await pilot.press("b")
    await pilot.pause()
    assert isinstance(app.screen, BuyScreen)


async def test_enter_on_the_ticked_override_box_buys_with_the_override(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy_dialog(app, pilot)
        app.screen.query_one("#amount", Input).value = "800"  # above the 5 % limit: only with the override
        await pilot.press("tab", "space", "enter")
        await commands_done(app)
        pos = engine.portfolio.positions[LIQUID]
        assert pos.quantity * pos.avg_entry > Decimal(700)
        (row,) = await _audit(engine, "ManualBuy")
        assert row["source"] == "ui" and row["ok"] and row["args"]["override_risk"] is True


# -- the stored backtest reports: read-only --------------------------------------------------


async def _runs_for_the_report(tmp_path) -> Path:
    """A database with three stored runs: one with nothing in it, one without trades and one
    with 3,000 trades."""
    from test_ui_report import RUNS, T0, _save

    empty = {
        "run_id": "empty",
        "created_ms": T0,
        "config_json": None,
        "data_desc": "",
        "summary": {},
        "trades": [],
        "equity_ts": [],
        "equity": [],
    }
    no_trades = {**RUNS["bt-old"], "run_id": "no-trades", "trades": []}
    many = {
        **RUNS["bt-new"],
        "run_id": "many",
        "trades": [
            BacktestTrade.from_fill(
                Fill(
                    f"m-{k}",
                    "BTCUSDT",
                    Side.BUY if k % 2 == 0 else Side.SELL,
                    Decimal(42_000 + k),
                    Decimal("0.01"),
                    Decimal("0.42"),
                    "USDT",
                    T0 + k * 60_000,
                )
            )
            for k in range(3_000)
        ],
    }
    return await _save(tmp_path / "runs.db", [empty, no_trades, many])


@pytest.mark.parametrize(("run_id", "n_trades"), [("empty", 0), ("no-trades", 0), ("many", 3_000)])
async def test_viewing_a_stored_report_writes_nothing_to_the_database(tmp_path, run_id, n_trades):
    """The report viewer is read-only: opening the runs list and a report, then going back,
    leaves the database file byte for byte as it was (it used to be opened for writing and
    migrated, and on closing ``PRAGMA optimize`` stored fresh statistics in it)."""
    db = await _runs_for_the_report(tmp_path)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    app = BacktestReportApp(db)
    async with app.run_test(size=(100, 30)) as pilot:
        runs = app.screen
        assert isinstance(runs, BacktestRunsScreen)
        await asyncio.wait_for(runs.loaded.wait(), 10)
        runs.query_one("#bt-runs", FastTable).move_to_key(run_id)
        await pilot.press("enter")
        await pilot.pause()
        report = app.screen
        assert isinstance(report, BacktestReportScreen) and report.run_id == run_id
        await asyncio.wait_for(report.loaded.wait(), 20)
        assert report.error is None
        assert report.query_one("#bt-trades", FastTable).row_count == n_trades
        await pilot.press("3", "end", "escape")
        await pilot.pause()
        assert app.screen is runs
    # a reader of a WAL database may leave SQLite's index files beside it, an empty WAL
    wal = tmp_path / "runs.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


# -- help: each screen lists exactly its own keys ---------------------------------------------

#: The help's key names as Textual names the keys.
KEY_NAMES = {
    "Tab": "tab",
    "Shift+Tab": "shift+tab",
    "Esc": "escape",
    "?": "question_mark",
    "/": "slash",
    "Ctrl+P": "ctrl+p",
    "Enter": "enter",
    "↑": "up",
    "↓": "down",
    "PgUp": "pageup",
    "PgDn": "pagedown",
    "Home": "home",
    "End": "end",
}
#: Keys that work on a screen without being its own bindings: the app's command palette, and a
#: table's row selection and scrolling.
NOT_SCREEN_KEYS = {"ctrl+p", "enter", "up", "down", "pageup", "pagedown", "home", "end"}


def _listed_keys(help_screen: HelpScreen) -> set[str]:
    """Every key the help lists, in Textual's names (``1 … 7`` is 1 to 7; an Esc an action names
    in passing, "filter symbols (Esc clears)", counts as listed)."""
    keys: set[str] = set()
    for _group, rows in help_screen.keys:
        for display, text in rows:
            tokens = display.replace(" / ", " ").split()
            if "…" in tokens:
                first, _, last = tokens
                tokens = [str(i) for i in range(int(first), int(last) + 1)]
            keys |= {KEY_NAMES.get(t, t) for t in tokens}
            if "(Esc " in text:
                keys.add("escape")
    return keys


def _check_help(screen_class, help_screen) -> None:
    listed = _listed_keys(help_screen)
    own = {k.strip() for b in screen_class.BINDINGS for k in b.key.split(",")}
    works = set(screen_class._merged_bindings.key_to_bindings) | NOT_SCREEN_KEYS
    assert own - listed == set(), f"{screen_class.__name__}: bound but not in its help"
    assert listed - works == set(), f"{screen_class.__name__}: in its help but doing nothing there"


async def check_help_of(app, pilot, screen_class, close: str = "escape") -> None:
    """``?`` on the current screen (a ``screen_class``) opens a help listing exactly its keys;
    ``close`` closes the help again, back on that screen."""
    under = app.screen
    await pilot.press("question_mark")
    await pilot.pause()
    assert isinstance(app.screen, HelpScreen)
    _check_help(screen_class, app.screen)
    await pilot.press(close)
    await pilot.pause()
    assert app.screen is under


async def test_help_on_the_main_and_the_detail_screen_lists_that_screens_keys(tmp_path, cfg):
    """The detail screen's help used to be the main screen's list: s, F, t, R, A, 1-7, /, o, m,
    B, v, T and q "quit" do nothing there (q goes back)."""
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(app, pilot)
        await check_help_of(app, pilot, MainScreen)
        select_symbol(app, "ETHUSDT")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and "ETHUSDT" in app.screen.title_text
        _check_help(SymbolDetailScreen, app.screen)
        await pilot.press("q")  # closes the help, not the console
        await pilot.pause()
        assert isinstance(app.screen, SymbolDetailScreen)


async def test_help_on_the_backtest_report_screens_lists_their_keys(tmp_path):
    """The runs list and a report had no help: ``?`` did nothing."""
    db = await _runs_for_the_report(tmp_path)
    app = BacktestReportApp(db)
    async with app.run_test(size=(100, 30)) as pilot:
        runs = app.screen
        await asyncio.wait_for(runs.loaded.wait(), 10)
        await check_help_of(app, pilot, BacktestRunsScreen)
        runs.query_one("#bt-runs", FastTable).move_to_key("no-trades")
        await pilot.press("enter")
        await pilot.pause()
        report = app.screen
        assert isinstance(report, BacktestReportScreen)
        await asyncio.wait_for(report.loaded.wait(), 10)
        await check_help_of(app, pilot, BacktestReportScreen)


async def test_an_amount_above_the_cash_is_refused_in_the_buy_dialog(tmp_path, cfg):
    """``1e999`` or ``1e30`` (or any amount above the cash) is refused where it was typed, the
    dialog staying open: it used to go to the engine, which can only refuse it (spot never
    borrows, override or not), and came back as a refusal a thousand digits long. Esc then
    cancels, and nothing was sent or audited."""
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await _buy_dialog(app, pilot)
        assert "Cash 10,000.00 USDT" in str(app.screen.query_one(".dialog-text").render())
        for typed in ("1e999", "1e30", "10000.01"):
            app.screen.query_one("#amount", Input).value = typed
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, BuyScreen), typed
            error = str(app.screen.query_one("#error").render())
            assert error == f"amount: {typed} is more than the cash 10,000.00 USDT"
        await pilot.press("escape")
        await pilot.pause()
        await commands_done(app)
        assert app.screen is app.main_screen
        assert engine.portfolio.positions == {} and list(app.command_results) == []
        assert await _audit(engine, "ManualBuy") == []


async def test_a_stop_or_flatten_that_could_not_close_everything_says_incomplete_not_refused(tmp_path, cfg):
    """The exchange refuses to sell one of two positions. The flatten closed the other and the
    emergency stop is in effect: both used to be titled "refused", read as "nothing happened"."""
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        for sym in (LIQUID, "ETHUSDT", "BNBUSDT"):
            select_symbol(app, sym)
            await pilot.press("b", "enter")
            await commands_done(app)
        assert len(engine.portfolio.positions) == 3
        sell = engine._sell

        async def exchange_refuses_eth(symbol, *args, **kw):
            return "exchange refused the order" if symbol == "ETHUSDT" else await sell(symbol, *args, **kw)

        engine._sell = exchange_refuses_eth
        select_symbol(app, LIQUID)
        await pilot.press("F", "y")
        await commands_done(app)
        assert set(engine.portfolio.positions) == {"ETHUSDT"}
        assert notifications(app)[-1].startswith(
            "Flatten all: incomplete: flattened 2 position(s); not closed: ETHUSDT"
        )
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("tab", "space", "enter")
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED
        shown = notifications(app)[-1]
        assert (
            shown.startswith("Emergency stop: incomplete: EMERGENCY STOP:")
            and "1 position(s) still open" in shown
        )
        assert not any(
            n.startswith(("Flatten all refused", "Emergency stop refused")) for n in notifications(app)
        )
        # the audit log has both, as the engine judged them (not ok), from the console
        (flatten,) = await _audit(engine, "FlattenAll")
        (stop,) = await _audit(engine, "EmergencyStop")
        assert (flatten["source"], flatten["ok"], stop["source"], stop["ok"]) == ("ui", False, "ui", False)


async def test_the_backtest_reports_in_a_live_console_keep_the_live_badge_and_the_state(tmp_path):
    """The README: the LIVE badge stays red on every screen. The runs list and a report, opened
    with B while trading live, had no status bar at all: no LIVE, no engine state."""
    from test_ui_report import _save

    db = await _save(tmp_path / "console.db")
    cfg = ui_config(n_symbols=10)
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"path": str(db)})})
    engine = make_engine(tmp_path, cfg, name="console.db", mode="live")  # paper broker, live labelling
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        main_bar = app.main_screen.query_one(StatusBar)
        await pilot.press("B")
        await pilot.pause()
        runs = app.screen
        assert isinstance(runs, BacktestRunsScreen)
        await asyncio.wait_for(runs.loaded.wait(), 10)
        await pilot.press("enter")
        await pilot.pause()
        report = app.screen
        assert isinstance(report, BacktestReportScreen)
        await asyncio.wait_for(report.loaded.wait(), 10)
        for screen in (runs, report):
            bar = screen.query_one(StatusBar)
            app.refresh_from_engine()
            await pilot.pause()
            assert "-live" in bar.classes and "LIVE" in str(bar.render()) and "STOPPED" in str(bar.render())
            assert bar.styles.background == main_bar.styles.background
        await engine.submit(Start(source=Source.UI))  # a change while the report is shown
        app.refresh_from_engine()
        await pilot.pause()
        assert "RUNNING" in str(report.query_one(StatusBar).render())


# -- keys typed ahead into a dialog ------------------------------------------------------------


def _typed_ahead(app, *keys: str) -> None:
    """Keys that reach the console together (one read over a slow SSH link, a bouncing key):
    each is handled before what the one before it set off (a button press, a submitted field)."""
    for key in keys:
        app.post_message(events.Key(key, "\r" if key == "enter" else key))


@pytest.mark.parametrize("where", ["main", "detail"])
async def test_enter_twice_in_the_buy_dialog_buys_once_and_closes_only_the_dialog(tmp_path, cfg, where):
    """The second Enter used to dismiss the dialog a second time, and Textual then popped the
    screen under it: the console crashed (ScreenStackError) over the main screen, and the
    detail screen was closed as well."""
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        select_symbol(app, LIQUID)
        if where == "detail":
            await pilot.press("enter")
            await pilot.pause()
        under = app.screen
        assert isinstance(under, SymbolDetailScreen if where == "detail" else MainScreen)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BuyScreen)
        _typed_ahead(app, "enter", "enter")
        await pilot.pause()
        await pilot.pause()
        await commands_done(app)
        assert app.screen is under and app.is_running
        assert len(await _audit(engine, "ManualBuy")) == 1
        assert LIQUID in engine.portfolio.positions


async def test_enter_twice_on_a_confirmation_or_the_emergency_stop_acts_once(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        select_symbol(app, LIQUID)
        await pilot.press("b", "enter")
        await commands_done(app)
        await pilot.press("F")  # the confirmation's button has the focus
        await pilot.pause()
        _typed_ahead(app, "enter", "enter")
        await pilot.pause()
        await pilot.pause()
        await commands_done(app)
        assert app.screen is app.main_screen and engine.portfolio.positions == {}
        assert len(await _audit(engine, "FlattenAll")) == 1
        await pilot.press("E")  # the reason has the focus
        await pilot.pause()
        _typed_ahead(app, "enter", "enter")
        await pilot.pause()
        await pilot.pause()
        await commands_done(app)
        assert app.screen is app.main_screen and engine.state == EngineState.EMERGENCY_STOPPED
        assert len(await _audit(engine, "EmergencyStop")) == 1


async def test_enter_twice_on_a_row_opens_one_detail_and_one_report(tmp_path, cfg):
    """A second Enter typed ahead selected the row again: a second symbol detail (or backtest
    report) opened on top of the first, and Esc seemed to do nothing."""
    from test_ui_report import _save

    db = await _save(tmp_path / "console.db")
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"path": str(db)})})
    engine = make_engine(tmp_path, cfg, name="console.db")
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        select_symbol(app, LIQUID)
        _typed_ahead(app, "enter", "enter")
        await pilot.pause()
        await pilot.pause()
        assert [type(s) for s in app.screen_stack] == [MainScreen, SymbolDetailScreen]
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("B")
        await pilot.pause()
        await asyncio.wait_for(app.screen.loaded.wait(), 10)
        _typed_ahead(app, "enter", "enter")
        await pilot.pause()
        await pilot.pause()
        # (the console's own runs list and report: E stops trading there)
        assert [type(s) for s in app.screen_stack] == [MainScreen, ConsoleRunsScreen, ConsoleReportScreen]
