"""The console as its operator uses it over SSH, in an 80x24 terminal: what a long reason or a
long error does to the screen, and a line pasted into a dialog's number."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label
from ui_support import commands_done, make_app, make_engine, notifications, ready, ui_config, until

from tui_trader.models import EngineState, Source
from tui_trader.ui.app import clip


def screen_lines(app) -> list[str]:
    """The text of the screen shown, one string a row."""
    update = app.screen._compositor.render_full_update()
    return ["".join(strip.text for strip in row) for row in update.strips]


LONG_REASON = "margin call from the desk, see the ticket\n" + "why " * 300


def test_clip_keeps_short_text_and_cuts_long_text_on_one_line():
    assert clip("drawdown 15.2 %") == "drawdown 15.2 %"
    assert clip("a\n  b\tc") == "a b c"
    cut = clip("x " * 200, 20)
    assert len(cut) == 20 and cut.endswith("…")


async def test_a_long_emergency_stop_reason_leaves_the_panes_and_the_reset_hint_on_screen(tmp_path):
    """A reason pasted whole into the emergency-stop dialog (or an engine error pages long) made
    the banner as tall as the terminal: every pane was pushed off, and so was "R resets"."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("E")
        await pilot.pause()
        app.screen.query_one("#reason", Input).value = LONG_REASON
        await pilot.press("enter")
        await commands_done(app)
        await pilot.pause()
        assert engine.state == EngineState.EMERGENCY_STOPPED
        lines = screen_lines(app)
        banner = [ln for ln in lines[1:] if "why why" in ln or "R resets" in ln or "EMERGENCY" in ln]
        assert 1 <= len(banner) <= 3, lines
        assert "R resets" in "".join(banner), lines
        assert any("╭─ Prices ─" in ln for ln in lines), lines
        assert any("ADAUSDT" in ln for ln in lines), lines  # the pane's rows, not only its border


async def test_a_long_reducing_reason_and_a_long_crash_message_fit_the_banner(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        engine.sm.force(EngineState.REDUCING, Source.RISK, LONG_REASON)
        engine.state_reason = LONG_REASON
        app.refresh_from_engine()
        await pilot.pause()
        banner = app.main_screen.query_one("#banner")
        assert banner.display and banner.size.height <= 3, banner.size
        assert str(banner.render()).startswith("REDUCING (exits only): margin call")
        app._engine_crashed(RuntimeError("disk I/O error\n" + "detail " * 400))
        await pilot.pause()
        assert banner.size.height <= 3, banner.size
        assert str(banner.render()).endswith("(q quits; see Logs)")
        await pilot.press("b")  # the order keys name the error, shortened as well
        await pilot.pause()
        assert all(len(n.message) < 400 for n in app._notifications)
        assert any("disk I/O error" in n.message for n in app._notifications)


@pytest.mark.parametrize("key", ["b", "x", "t"])
async def test_a_long_bad_entry_leaves_the_dialog_buttons_on_screen(tmp_path, key):
    """A line pasted into the amount (a log line, a wallet address) came back in the error in
    full: the error wrapped over the dialog's buttons, off the bottom of an 80x24 terminal."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("s")
        await commands_done(app)
        if key == "x":
            await pilot.press("b", "enter")
            await commands_done(app)
            assert engine.portfolio.positions
        await pilot.press(key)
        await pilot.pause()
        dialog = app.screen
        dialog.query(Input).first().value = "2024-03-01 12:00:01 INFO order filled " + "x" * 600
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # refused in the dialog, which stays open
        error = str(dialog.query_one("#error", Label).render())
        assert "is not a number" in error and len(error) < 120, error
        lines = screen_lines(app)
        assert any("Cancel" in ln for ln in lines), lines


async def test_an_empty_threshold_asks_for_a_number(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("t")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one(Input).value = "  "
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog
        assert str(dialog.query_one("#error", Label).render()) == "threshold: enter a number"


@pytest.mark.parametrize("n_trades", [0, 1])
async def test_the_trades_tab_of_a_run_with_no_or_one_fill(tmp_path, n_trades):
    """A stored run without a fill showed the trades tab's column titles over a blank tab, as
    if it were still loading; one with a single (open) buy lists it, with no trip P&L yet."""
    from test_ui_report import _loaded, _save, _stored

    from tui_trader.ui.screens.report import NO_TRADES, BacktestReportApp, read_run

    stored = _stored("bt-few", with_bh_curve=True, drift=0.0)
    stored["trades"] = stored["trades"][:n_trades]
    db_path = await _save(tmp_path / "few.db", [stored])
    run = await read_run(db_path, "bt-few")
    app = BacktestReportApp(db_path, run=run)
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(app.screen)
        await pilot.pause()
        await pilot.press("3")
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        if n_trades == 0:
            assert NO_TRADES[:40] in text, text
            assert "Time (UTC)" not in text, text
        else:
            assert NO_TRADES[:40] not in text, text
            row = next(ln for ln in screen_lines(app) if "BTCUSDT" in ln and "2024-01-01" in ln)
            assert "BUY" in row and "–" in row, row
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 0


@pytest.mark.parametrize("key", ["s", "p", "E", "R"])
async def test_state_keys_say_at_once_that_the_engine_stopped_after_the_feed_ended(tmp_path, key):
    """After the market feed ended, s, p, R and E went to the stopped engine: E's answer was
    "Emergency stop refused: engine is not running (stopping)", which reads as a failed stop
    with trading going on. They now say what the order keys say: the engine has stopped."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=3)  # a market that ends
    app = make_app(engine, cfg, run_engine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        assert await until(lambda: app.engine_finished)
        assert await until(lambda: engine.db is None)
        app.clear_notifications()
        await pilot.press(key)
        await pilot.pause()
        assert app.screen is app.main_screen  # no dialog to fill in first
        await commands_done(app)
        assert not app.command_results  # nothing sent to the stopped engine
        shown = notifications(app)
        assert any("the engine has stopped" in n and "market feed ended" in n for n in shown), shown
        assert not any("refused" in n for n in shown), shown
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 0


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_backtest_reports_in_a_small_console_keep_e_stop_and_help_in_the_footer(tmp_path, size):
    """The report screens opened with B used Textual's own footer: at 60 columns the report's
    keys ran off its right edge under the palette key, E-STOP first, though E still stopped
    trading there. Like the main and detail screens, they keep E, ? and Esc on screen (the
    console's smallest is 80x24: below it a notice stands in for every screen, test_ui_too_small)."""
    from test_ui_report import _loaded, _save

    from tui_trader.ui.screens.report import BacktestReportScreen, BacktestRunsScreen

    db = await _save(tmp_path / "console.db")
    cfg = ui_config(n_symbols=10)
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"path": str(db)})})
    engine = make_engine(tmp_path, cfg, name="console.db")
    app = make_app(engine, cfg)
    async with app.run_test(size=size) as pilot:
        await ready(app, pilot)
        await pilot.press("B")
        await pilot.pause()
        assert isinstance(app.screen, BacktestRunsScreen)
        await _loaded(app.screen)
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert all(hint in footer for hint in ("esc Back", "? Help", "E E-STOP")), footer
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, BacktestReportScreen)
        await _loaded(app.screen)
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert all(hint in footer for hint in ("esc Back", "? Help", "E E-STOP")), footer


async def test_every_tab_is_on_screen_in_the_smallest_terminal_and_back(tmp_path):
    """At 60 columns the row of tabs ran off its right edge: 6 Health and 7 Logs (where an
    error's banner sends the operator) could not be seen. Below 80x24 a notice now stands in for
    the panes (test_ui_too_small); at 80x24, the smallest the panes are drawn in, every tab is
    on screen, and wider too."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        tabs = screen_lines(app)[1]
        assert all(f"{i} " in tabs for i in range(1, 8)) and "6 Health" in tabs and "7 Logs" in tabs, tabs
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.pause()
        tabs = screen_lines(app)[1]
        assert "1 Prices  2 Leaderboard  3 Positions" in tabs and "7 Logs" in tabs, tabs


async def test_quit_asked_again_while_asking_shows_one_question(tmp_path):
    """With positions open, each Ctrl+Q (or q, then Ctrl+Q over a slow link) put one more
    "Quit with open positions?" on the stack: Escape then had to be pressed as many times."""
    from tui_trader.ui.screens.modals import ConfirmScreen

    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("s")
        await commands_done(app)
        await pilot.press("b", "enter")
        await commands_done(app)
        app.refresh_from_engine()
        assert engine.portfolio.positions
        await pilot.press("q", "ctrl+q", "ctrl+q")
        await pilot.pause()
        assert sum(isinstance(s, ConfirmScreen) for s in app.screen_stack) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen and app.is_running
        await pilot.press("ctrl+q")  # asked again once the first answer was no
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause(0.2)
    assert app.return_code == 0


async def test_the_emergency_stop_during_the_start_up_does_not_say_no_position_is_open(tmp_path):
    """Pressed while the engine starts up (recovering a book that holds a position), the dialog
    offered "Also close all positions (0 open)": the console had no snapshot yet and counted
    none, though the stop closes the book's positions when the start-up ends."""
    import asyncio
    from decimal import Decimal

    from tui_trader.events import ManualBuy, Start

    cfg = ui_config()
    first = make_engine(tmp_path, cfg)
    await first.start_up()
    await first.submit(Start(source=Source.UI))
    sym = first.snapshot().market.symbols[0]
    assert (await first.submit(ManualBuy(source=Source.UI, symbol=sym, quote_amount=Decimal(100)))).ok
    await first.stop()

    engine = make_engine(tmp_path, cfg)  # the same book again
    gate = asyncio.Event()
    check_book_mode = engine._check_book_mode

    async def held_start_up() -> None:  # a long start-up: held until the test lets it go on
        await gate.wait()
        await check_book_mode()

    engine._check_book_mode = held_start_up
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.engine_ready.is_set()
        await pilot.press("E")
        await pilot.pause()
        label = str(app.screen.query_one("#close").label)
        assert "0 open" not in label and "not counted yet" in label, label
        await pilot.press("escape")
        await pilot.pause()
        gate.set()
        await ready(app, pilot)
        await pilot.press("E")
        await pilot.pause()
        assert "(1 open)" in str(app.screen.query_one("#close").label)


async def test_a_pane_shown_is_filled_at_once_not_at_the_next_tick(tmp_path):
    """Only the panes on screen are written at a UI tick: with ``ui.refresh_ms`` at 5 s (a slow
    link), the leaderboard and health tabs came up empty for up to 5 s, which reads as broken."""
    from tui_trader.ui.widgets.health import HealthTable
    from tui_trader.ui.widgets.leaderboard import LeaderboardTable

    cfg = ui_config(refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        board = app.main_screen.query_one(LeaderboardTable)
        health = app.main_screen.query_one(HealthTable)
        assert board.row_count == 0 and health.row_count == 0  # not on screen yet: not written
        await pilot.press("2")
        await pilot.pause()
        assert board.row_count == len(engine.snapshot().leaderboard.symbols)
        await pilot.press("6")
        await pilot.pause()
        assert health.row_count > 0


@pytest.mark.parametrize("keys", [("x", "enter"), ("F", "y")])
async def test_a_close_refused_during_an_emergency_stop_says_how_to_close(tmp_path, keys):
    """During an emergency stop the engine refuses a close or a flatten ("no orders until the
    operator resets it"): the operator who wants out of the positions saw a reset, and then a
    start of trading, as the only way. E again with the box ticked closes them, stop kept."""
    from tui_trader.ui.app import CLOSE_WHILE_STOPPED

    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("s")
        await commands_done(app)
        await pilot.press("b", "enter")
        await commands_done(app)
        await pilot.press("E", "enter")  # stop, positions kept
        await commands_done(app)
        app.refresh_from_engine()
        assert engine.state == EngineState.EMERGENCY_STOPPED and engine.portfolio.positions
        app.clear_notifications()
        await pilot.press(*keys)
        await commands_done(app)
        shown = notifications(app)
        assert any("refused" in n and CLOSE_WHILE_STOPPED in n for n in shown), shown
        await pilot.press("E", "tab", "space", "enter")  # what the hint says
        await commands_done(app)
        assert engine.state == EngineState.EMERGENCY_STOPPED and not engine.portfolio.positions
