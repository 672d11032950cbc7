"""Screenshot regression tests (pytest-textual-snapshot) of the console over the real engine.

Deterministic: seeded sim feed driving a ManualClock (the status bar clock is
engine time), the feed runs a fixed number of klines at speed "max" before the
picture, the memory and events/s figures are masked, inputs do not blink and
animations are off. Update after an intended change with
``pytest tests/test_ui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from decimal import Decimal

from ui_support import make_app, make_engine, pause_feed_after, ready, ui_config

from tui_trader.events import LockSymbol, ManualBuy, SetZThreshold
from tui_trader.ui.widgets.prices import PricesTable


def _scene(tmp_path, select: str | None = None):
    """An app over an engine that traded 30 one-minute klines with a manual position,
    a locked symbol and a lowered threshold (so the leaderboard shows entry markers)."""
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=None)
    pause_feed_after(engine, 30)
    app = make_app(engine, cfg)

    async def run_before(pilot) -> None:
        await ready(app, pilot)
        # no UI tick while the engine runs: the tick arrows then compare the final prices
        # with the warm-up ones, whatever the machine's speed
        app.set_live_refresh(False)
        await engine.submit(SetZThreshold(value=1.5))
        await engine.submit(LockSymbol(symbol="ETHUSDT"))
        await engine.submit(ManualBuy(symbol="BTCUSDT", quote_amount=Decimal(400)))
        await engine.run()
        if select:
            table = app.main_screen.query_one(PricesTable)
            table.move_to_key(select)
            app.selected_symbol = select
        app.refresh_from_engine()
        app.refresh_charts()
        app.clear_notifications()  # toasts expire on wall time: never in a picture
        # the log pane writes and scrolls to its end after a refresh: on a loaded machine one
        # pause was seen to take the picture before its last lines were in view
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return app, run_before


def test_main_screen_80x24(snap_compare, tmp_path):
    app, run_before = _scene(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_main_screen_160x45(snap_compare, tmp_path):
    app, run_before = _scene(tmp_path, select="BTCUSDT")
    assert snap_compare(app, terminal_size=(160, 45), run_before=run_before)


def test_help_screen(snap_compare, tmp_path):
    app, run_before = _scene(tmp_path)
    assert snap_compare(app, press=["question_mark"], terminal_size=(80, 24), run_before=run_before)


def test_emergency_stop_modal(snap_compare, tmp_path):
    app, run_before = _scene(tmp_path)
    assert snap_compare(app, press=["E"], terminal_size=(80, 24), run_before=run_before)


def test_symbol_detail_view(snap_compare, tmp_path):
    app, run_before = _scene(tmp_path, select="BTCUSDT")

    async def open_detail(pilot) -> None:
        await run_before(pilot)
        app.action_detail("BTCUSDT")
        await pilot.pause()
        app.refresh_charts()
        app.screen.query_one("#detail-tabs").active = "tab-orders"
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 45), run_before=open_detail)


def test_symbol_detail_view_80x24(snap_compare, tmp_path):
    """Below 160x45 each chart and table is a tab of the whole width (the orders one here)."""
    app, run_before = _scene(tmp_path, select="BTCUSDT")

    async def open_detail(pilot) -> None:
        await run_before(pilot)
        app.action_detail("BTCUSDT")
        await pilot.pause()
        app.refresh_charts()
        app.screen.query_one("#detail-tabs").active = "tab-orders"
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_detail)
