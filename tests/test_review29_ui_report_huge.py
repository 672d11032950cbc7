"""A stored run of many fills: the report's trades tab made a table row of every fill at once, in
the event loop - 20,000 fills kept the console frozen for tens of seconds, and in the console (B)
the engine with it (same loop: no feed, no stop loss meanwhile). The tab now shows the last
``TRADE_ROWS`` fills (# still counts from the run's first, each trip's P&L from all of them),
says so, and adds its rows a chunk at a time, the loop given back between chunks."""

from __future__ import annotations

import io
from decimal import Decimal

import numpy as np
from rich.console import Console
from textual.widgets import Static

from tui_trader.models import Fill, Side
from tui_trader.storage import BacktestTrade
from tui_trader.ui.screens.report import BacktestReportApp, BacktestReportScreen, StoredRun
from tui_trader.ui.widgets.table import FastTable

T0 = 1_704_067_200_000
N = 150


def _run(n: int) -> StoredRun:
    trades = []
    for k in range(n):  # buy, sell, buy, sell...: every sell closes a trip
        side = Side.BUY if k % 2 == 0 else Side.SELL
        price = Decimal("100") + (k % 2)
        trades.append(BacktestTrade.from_fill(Fill(f"c{k}", "BTCUSDT", side, price, Decimal("1"), Decimal("0.1"),
                                                   "USDT", T0 + k * 60_000)))
    ts = T0 + np.arange(n, dtype=np.int64) * 60_000
    return StoredRun(run_id="bt-huge", created_ms=T0, interval="1m", symbols=["BTCUSDT"], start_ms=T0,
                     end_ms=int(ts[-1]), n_klines=n, quote_asset="USDT", starting_balance=10_000.0, metrics={},
                     baselines={}, trades=trades, equity_ts=ts, equity=np.full(n, 10_000.0))


def _text(widget: Static) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(widget.content)
    return buf.getvalue()


async def test_a_run_of_many_fills_shows_its_last_fills_a_chunk_at_a_time(monkeypatch):
    monkeypatch.setattr(BacktestReportScreen, "TRADE_ROWS", 60)
    monkeypatch.setattr(BacktestReportScreen, "TRADE_CHUNK", 20)
    batches: list[int] = []
    add_rows = FastTable.add_rows

    def counted(self, rows):
        rows = list(rows)
        if self.id == "bt-trades":
            batches.append(len(rows))
        return add_rows(self, rows)

    monkeypatch.setattr(FastTable, "add_rows", counted)
    app = BacktestReportApp("/nonexistent.db", run=_run(N))
    async with app.run_test(size=(120, 30)) as pilot:
        while not isinstance(app.screen, BacktestReportScreen):
            await pilot.pause()
        report = app.screen
        await report.loaded.wait()
        await pilot.press("3")
        await pilot.pause()
        table = report.query_one("#bt-trades", FastTable)
        assert table.row_count == 60
        assert batches and max(batches) <= 20 and sum(batches) == 60, batches
        numbers = [int(str(table.get_row_at(i)[8])) for i in range(table.row_count)]
        assert numbers == list(range(N - 60 + 1, N + 1))  # the last 60, numbered in the run
        sell = [str(c) for c in table.get_row_at(1)]  # fill #92, a sell whose buy is shown too
        assert sell[2] == "SELL" and sell[5].strip() == "+0.80", sell  # 1.00 gain less 0.20 fees
        note = report.query_one("#bt-trades-note", Static)
        assert note.display and "last 60 of 150 fills" in _text(note), _text(note)


async def test_a_run_of_few_fills_shows_them_all_without_a_note():
    app = BacktestReportApp("/nonexistent.db", run=_run(6))
    async with app.run_test(size=(120, 30)) as pilot:
        while not isinstance(app.screen, BacktestReportScreen):
            await pilot.pause()
        report = app.screen
        await report.loaded.wait()
        await pilot.press("3")
        await pilot.pause()
        assert report.query_one("#bt-trades", FastTable).row_count == 6
        assert not report.query_one("#bt-trades-note", Static).display
