"""Below 80x24 the console drew its panes squeezed past reading (a pane a row high, prices cut
to their first digits) and nothing said why. A notice now covers the screen: it names the size
and the minimum, the engine keeps running underneath (the UI's refresh too), q and E work on it,
and the panes come back as they were once the terminal is large enough."""

from __future__ import annotations

from test_ui_followup_narrow import screen_lines
from ui_support import commands_done, make_app, make_engine, ready, ui_config, until

from tui_trader.events import EmergencyStop
from tui_trader.models import EngineState
from tui_trader.ui.screens.modals import ConfirmScreen, EmergencyStopScreen
from tui_trader.ui.screens.too_small import TooSmallScreen
from tui_trader.ui.widgets.prices import PricesTable

NOTICE = "Terminal 70×20 is too small: tui-trader needs at least 80×24."


def _text(app) -> str:
    return "\n".join(screen_lines(app))


async def test_a_small_terminal_shows_the_notice_while_the_engine_runs_on(tmp_path):
    cfg = ui_config(speed=50)  # a feed that keeps running while the notice is shown
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=None)
    app = make_app(engine, cfg, run_engine=True)
    async with app.run_test(size=(70, 20)) as pilot:
        await ready(app, pilot)
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        text = _text(app)
        assert NOTICE in text and "press q to quit" in text, text
        assert "╭─ Prices" not in text  # no squeezed pane
        assert "RUNNING" in screen_lines(app)[0]  # the engine's state stays in view
        # the engine runs on underneath: its clock and the snapshot the UI reads move
        t0 = engine.snapshot().ts_ms
        assert await until(lambda: engine.snapshot().ts_ms > t0, 10)
        assert engine.state == EngineState.RUNNING
        shown = app.last_snapshot.ts_ms
        assert await until(lambda: app.last_snapshot.ts_ms > shown, 10)  # the UI's refresh too
        # resized while still small: the notice says the new size
        await pilot.resize_terminal(79, 30)
        await pilot.pause()
        assert "Terminal 79×30 is too small" in _text(app)
        # large enough: the panes, as they were
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert app.screen is app.main_screen
        lines = screen_lines(app)
        assert "too small" not in "\n".join(lines)
        assert any(line.startswith("╭─ Prices") for line in lines), lines
        assert app.main_screen.query_one(PricesTable).row_count > 0
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        await pilot.pause()
        assert app.screen is app.main_screen and not app.main_screen.compact
        await pilot.resize_terminal(80, 23)  # one row short
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen) and "Terminal 80×23 is too small" in _text(app)
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        assert app.screen is app.main_screen


async def test_e_stops_trading_from_the_notice(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(70, 20)) as pilot:
        await ready(app, pilot)
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("enter")
        await pilot.pause()
        await commands_done(app)
        cmd, res = app.command_results[-1]
        assert isinstance(cmd, EmergencyStop) and res.ok, res.message
        assert engine.state == EngineState.EMERGENCY_STOPPED
        assert isinstance(app.screen, TooSmallScreen)  # back to the notice: still too small
        app.refresh_from_engine()
        await pilot.pause()
        assert "E-STOP" in screen_lines(app)[0]  # the state, in the narrow bar's words
        # a dialog over the notice, the terminal made large meanwhile: the panes once it closes
        await pilot.press("E")
        await pilot.pause()
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.pause()
        assert app.screen is app.main_screen


async def test_q_quits_from_the_notice(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(70, 20)) as pilot:
        await ready(app, pilot)
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.press("q")
        assert await until(lambda: not app.is_running, 20)
    assert app.return_code == 0


async def test_q_with_positions_open_asks_over_the_notice(tmp_path):
    from decimal import Decimal

    from tui_trader.events import ManualBuy

    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True)
    app = make_app(engine, cfg)
    async with app.run_test(size=(60, 18)) as pilot:
        await ready(app, pilot)
        res = await engine.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(400)))
        assert res.ok, res.message
        app.refresh_from_engine()
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # not now
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        # asked while large, the terminal shrinking under the question: q shows it again
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        await pilot.resize_terminal(60, 18)
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert await until(lambda: not app.is_running, 20)
    assert app.return_code == 0
