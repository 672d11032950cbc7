"""The console on small terminals (80x24, 100x30): the status bar, every pane's title and the
key hints stay readable, a maximised pane keeps the status bar, and resizing down and back
leaves the screen as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.models import EngineState
from tui_trader.ui.palette import Palette
from tui_trader.ui.screens.main import PANES
from tui_trader.ui.widgets.status_bar import status_text

TITLES = {"leaderboard": "Leaderboard (z)"}


def screen_lines(app) -> list[str]:
    """The text of the screen shown, one string a row."""
    update = app.screen._compositor.render_full_update()
    return ["".join(strip.text for strip in row) for row in update.strips]


@pytest.fixture
def cfg():
    return ui_config()


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_the_status_bar_fits_its_width_whatever_the_state_feed_and_figures(tmp_path, cfg, width):
    """At 80 columns an emergency stop (or the binance feed, or a seven-figure equity) made the
    bar longer than the terminal: its end was cut, the clock mid-number and the drawdown too."""
    engine = make_engine(tmp_path, cfg)
    snap = engine.snapshot()
    pf = replace(
        snap.portfolio, equity=1_234_567.89, daily_pnl=-123_456.78, daily_pnl_pct=-12.34, drawdown_pct=14.99
    )
    for state in EngineState:
        for mode in ("paper", "live"):
            for feed in ("sim", "replay", "binance"):
                text = status_text(
                    replace(snap, state=state, mode=mode, feed_kind=feed, portfolio=pf), Palette(), width
                ).plain
                assert len(text) <= width, (width, text)
                assert text.startswith(" LIVE " if mode == "live" else " PAPER "), text
                label = "EMERGENCY STOP" if state == EngineState.EMERGENCY_STOPPED else state.name
                assert label in text, text
                assert "DD 14.99%" in text and "Eq 1,234,567.89" in text and "-12.34%" in text, text
    # what fits is kept: an ordinary paper run at 80 columns still shows its feed and clock
    text = status_text(replace(snap, state=EngineState.RUNNING, ts_ms=100_000), Palette(), width).plain
    assert "sim" in text and text.endswith("00:01:40Z"), text


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_every_pane_title_the_status_bar_and_the_keys_are_on_screen(tmp_path, cfg, size):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=size) as pilot:
        await ready(app, pilot)
        for i, (key, title) in enumerate(PANES):
            await pilot.press(str(i + 1))
            await pilot.pause()
            lines = screen_lines(app)
            assert len(lines) == size[1] and all(len(line) == size[0] for line in lines)
            assert lines[0].startswith(" PAPER ") and "STOPPED" in lines[0] and "DD 0.00%" in lines[0]
            assert f"╭─ {TITLES.get(key, title)} ─" in "\n".join(lines), (key, lines[:5])
            footer = lines[-1]
            assert all(hint in footer for hint in ("E E-STOP", "? Help", "q Quit")), footer


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)])
async def test_a_maximised_pane_keeps_the_status_bar_and_the_banner(tmp_path, cfg, size):
    """m showed the pane and the key hints only: the engine's state, PAPER / LIVE and an
    emergency stop's banner were gone until the operator pressed m again."""
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=size) as pilot:
        await ready(app, pilot)
        main = app.main_screen
        await pilot.press("3", "m")
        await pilot.pause()
        assert main.maximized is main.pane("positions")
        lines = screen_lines(app)
        assert lines[0].startswith(" PAPER ") and "STOPPED" in lines[0]
        assert lines[1].startswith("╭─ Positions ─") and "q Quit" in lines[-1]
        app._banner("ENGINE CRASHED — trading stopped (q quits; see Logs)", "error")  # kept by every refresh
        app.refresh_from_engine()
        await pilot.pause()
        lines = screen_lines(app)
        assert "STOPPED" in lines[0] and "ENGINE CRASHED" in lines[1]
        assert lines[2].startswith("╭─ Positions ─") and "q Quit" in lines[-1]


async def test_resizing_down_to_80x24_and_back_leaves_the_screen_as_it_was(tmp_path, cfg):
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.set_live_refresh(False)
        app.refresh_charts()
        await pilot.pause()
        before = screen_lines(app)
        for size in [(140, 40), (120, 35), (100, 30), (80, 24), (100, 30), (160, 45)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            app.refresh_from_engine()
            app.refresh_charts()
            await pilot.pause()
            lines = screen_lines(app)
            assert len(lines) == size[1] and all(len(line) == size[0] for line in lines), size
            assert app.main_screen.compact == (size != (160, 45))
            assert "STOPPED" in lines[0] and "q Quit" in lines[-1], size
        assert screen_lines(app) == before
