"""The report's trades tab of a run without a trade: the focus goes where the keys act (Pilot)."""

from __future__ import annotations

from textual.widgets import TabbedContent


async def test_the_trades_tab_of_a_run_without_a_trade_takes_the_arrows(tmp_path):
    """3 put the focus on the hidden trades table: left and right then did nothing on that tab."""
    from test_ui_report import _loaded, _save, _stored

    from tui_trader.ui.screens.report import BacktestReportApp, read_run

    stored = _stored("bt-none", with_bh_curve=True, drift=0.0)
    stored["trades"] = []
    db_path = await _save(tmp_path / "none.db", [stored])
    run = await read_run(db_path, "bt-none")
    app = BacktestReportApp(db_path, run=run)
    async with app.run_test(size=(80, 24)) as pilot:
        report = app.screen
        await _loaded(report)
        await pilot.pause()
        tabs = report.query_one("#bt-tabs", TabbedContent)
        await pilot.press("3")
        await pilot.pause()
        assert tabs.active == "tab-trades"
        assert app.focused is not None and app.focused.display, app.focused
        await pilot.press("left")
        await pilot.pause()
        assert tabs.active == "tab-equity"
        await pilot.press("right")
        await pilot.pause()
        assert tabs.active == "tab-trades"
