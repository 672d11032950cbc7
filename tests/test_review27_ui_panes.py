"""A pane switched to is filled at once (130a12b), but only when a pane came on screen: in the
wide layout every pane is shown, and each Tab (a focus move between panes) rebuilt every pane
and the charts, a stall per key press on a large market."""

from __future__ import annotations

from ui_support import make_app, make_engine, ready, ui_config


def _count_refreshes(app) -> dict[str, int]:
    """Count the refreshes from here on that keys cause. The UI timers are paused first: a chart
    tick (``chart_refresh_ms``, 5 s from mount) that fell among the key presses was counted too, so
    the tests failed whenever the start-up and the keys took 5 s (a loaded machine, a worker slowed
    by the tests before it), passing or failing by the order and the load, not by the keys."""
    app.set_live_refresh(False)
    calls = {"panes": 0, "charts": 0}
    panes, charts = app.refresh_from_engine, app._refresh_charts

    def counted_panes(*a, **kw):
        calls["panes"] += 1
        return panes(*a, **kw)

    def counted_charts(*a, **kw):
        calls["charts"] += 1
        return charts(*a, **kw)

    app.refresh_from_engine = counted_panes
    app._refresh_charts = counted_charts
    return calls


async def test_tab_in_the_wide_layout_rebuilds_nothing(tmp_path):
    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        assert not app.main_screen.compact
        calls = _count_refreshes(app)
        for _ in range(7):
            await pilot.press("tab")
        await pilot.pause()
        assert calls == {"panes": 0, "charts": 0}


async def test_the_tab_already_shown_is_not_rebuilt(tmp_path):
    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("5")
        await pilot.pause()
        calls = _count_refreshes(app)
        for _ in range(5):
            await pilot.press("5")
        await pilot.pause()
        assert calls == {"panes": 0, "charts": 0}
        await pilot.press("6")  # another tab: filled at once, as 130a12b made it
        await pilot.pause()
        assert calls["panes"] == 1


async def test_panes_a_wider_terminal_shows_are_filled_at_once(tmp_path):
    """Narrow to wide (a terminal window enlarged): the panes the tabs hid come on screen, and
    were empty (or as old as when last shown) until the next tick, up to ``ui.refresh_ms``."""
    from tui_trader.ui.widgets.leaderboard import LeaderboardTable

    cfg = ui_config(refresh_ms=5000, chart_refresh_ms=5000)
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        board = app.main_screen.query_one(LeaderboardTable)
        assert board.row_count == 0  # not on screen: not written
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        await pilot.pause()
        assert not app.main_screen.compact
        assert board.row_count == len(engine.snapshot().leaderboard.symbols)
