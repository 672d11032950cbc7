"""The backtest reports at 80×24: the runs list shows the figures a run is chosen by, and a
report's header all it says (the store time and the starting balance were cut off at the
right edge, and the runs list showed no max drawdown nor buy & hold)."""

from __future__ import annotations

from test_ui_report import RUNS, _loaded, _save

from tui_trader.backtest.report import fmt_pct
from tui_trader.ui.format import fmt_price
from tui_trader.ui.palette import Palette
from tui_trader.ui.screens.report import BacktestReportApp, BacktestReportScreen, header_text


def screen_lines(app) -> list[str]:
    update = app.screen._compositor.render_full_update()
    return ["".join(strip.text for strip in row) for row in update.strips]


async def test_the_runs_and_a_report_header_at_80x24(tmp_path):
    db_path = await _save(tmp_path / "runs.db")
    app = BacktestReportApp(db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await _loaded(app.screen)
        await pilot.pause()
        text = " ".join(" ".join(line.split()) for line in screen_lines(app))
        assert "Enter opens, Esc goes back" in text  # after the database's path, which wraps
        m = RUNS["bt-new"]["summary"]["metrics"]
        bh = RUNS["bt-new"]["summary"]["baselines"]["buy_and_hold"]
        row = next(line for line in screen_lines(app) if line.startswith(" bt-new "))
        for cell in (fmt_pct(m["total_return"]), fmt_pct(bh["total_return"]), fmt_pct(m["max_drawdown"])):
            assert cell in row, (cell, row)

        await pilot.press("enter")
        await pilot.pause()
        report = app.screen
        assert isinstance(report, BacktestReportScreen)
        await _loaded(report)
        await pilot.pause()
        header = report.query_one("#bt-header")
        lines = screen_lines(app)[header.region.y : header.region.bottom]
        shown = " ".join(" ".join(line.split()) for line in lines)
        for line in header_text(report.stored, Palette()).plain.splitlines():
            for word in line.split():
                assert word in shown, (word, lines)
        assert "…" not in shown
        # the fixture's: stored at T0 + 200 h, 10,000 USDT to start with
        assert "stored 2024-01-09 08:00 UTC" in shown and "start 10,000.00 USDT" in shown, shown
        assert report.query_one("#bt-summary-box").region.height >= 8  # the summary keeps room


async def test_the_trades_at_80x24_show_each_fee_whole(tmp_path):
    """The fee column was cut after its first digits: "0.21" shown for a fee of 0.2175."""
    db_path = await _save(tmp_path / "runs.db")
    app = BacktestReportApp(db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await _loaded(app.screen)
        await pilot.press("enter")
        await pilot.pause()
        await _loaded(app.screen)
        await pilot.press("3")
        await pilot.pause()
        trades = app.screen.query_one("#bt-trades")
        r = trades.region
        lines = [line[r.x : r.right] for line in screen_lines(app)[r.y : r.bottom]]
        assert lines[0].split()[:7] == ["Time", "(UTC)", "Symbol", "Side", "Qty", "Price", "Trip"], lines[0]
        assert "Fee" in lines[0].split()
        stored = RUNS["bt-new"]["trades"]
        for t in stored:
            want = [t.symbol, t.side.value, f"{t.quantity.normalize():f}", fmt_price(t.price)]
            row = next(line for line in lines if all(w in line.split() for w in want))
            fee = f"{t.fee:,.4f}" if t.fee < 1 else f"{t.fee:,.2f}"
            assert row.split()[-1] == fee or fee in row.split(), (fee, row)
