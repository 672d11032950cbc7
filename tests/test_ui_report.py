"""The backtest report viewer: stored runs listed, one run's report (summary, equity chart,
trades), reached from the console (key B, command palette) and from ``tui --report``.

Runs are stored directly with ``Database.save_backtest_run`` on fixed data (figures from the
real metric and baseline functions), so every picture is deterministic.
"""

from __future__ import annotations

import asyncio
import io
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from rich.text import Text
from textual.widgets import Static
from ui_support import make_app, make_engine, ready, ui_config, until

from tui_trader.axis import most_ticks, nice_ticks
from tui_trader.backtest.baselines import compute_baselines
from tui_trader.backtest.metrics import compute_metrics, json_safe, per_symbol_breakdown, trades_from_fills
from tui_trader.backtest.report import fmt_pct, summary_table
from tui_trader.cli import build_parser, main
from tui_trader.models import EngineState, Fill, Side
from tui_trader.storage import BacktestTrade, Database
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.screens.report import (
    BacktestReportApp,
    BacktestReportScreen,
    BacktestRunsScreen,
    EquityChart,
    RunInfo,
    StoredRun,
    parse_data_desc,
    read_run,
    read_runs,
    trip_pnl,
)
from tui_trader.ui.widgets.table import FastTable

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
N = 48
CREATED = (T0 + 100 * H, T0 + 200 * H)  # the second run is the newer one
FILLS = [  # (hour, symbol, side, price, qty, fee)
    (2, "BTCUSDT", Side.BUY, "42000.50", "0.01", "0.42"),
    (5, "ETHUSDT", Side.BUY, "2250.25", "0.2", "0.45"),
    (9, "BTCUSDT", Side.SELL, "43100", "0.01", "0.431"),
    (20, "ETHUSDT", Side.SELL, "2200", "0.2", "0.44"),
    (30, "BTCUSDT", Side.BUY, "43500", "0.005", "0.2175"),  # still open at the end
]


def _stored(run_id: str, with_bh_curve: bool, drift: float) -> dict:
    """Arguments of ``save_backtest_run`` for a 48-hour, two-symbol run."""
    ts = T0 + np.arange(N, dtype=np.int64) * H
    i = np.arange(N, dtype=np.float64)
    equity = 10_000 * (1 + 0.004 * np.sin(i / 5)) + drift * i
    closes = np.column_stack([42_000 + 30 * i, 2_250 - 2 * i])
    fills = [Fill(f"{run_id}-{k}", sym, side, Decimal(p), Decimal(q), Decimal(fee), "USDT", T0 + h * H)
             for k, (h, sym, side, p, q, fee) in enumerate(FILLS)]
    trips = trades_from_fills(fills)
    baselines, curves = compute_baselines(ts, closes, 10_000.0, 0.001, interval_ms=H)
    summary = {
        "metrics": compute_metrics(ts, equity, trips, fills=fills, period_ms=H),
        "baselines": baselines,
        "per_symbol": per_symbol_breakdown(trips, fills),
        "n_klines": 2 * N,
        "wall_time_s": 0.25,
    }
    if with_bh_curve:
        bts, beq = curves["buy_and_hold"]
        summary["baseline_curves"] = {"buy_and_hold": {"ts_ms": bts, "equity": beq}}
    return {
        "run_id": run_id,
        "created_ms": CREATED[drift > 0],
        "config_json": {"feed": {"interval": "1h", "symbols": []},
                        "broker": {"quote_asset": "USDT", "starting_balance": 10_000}},
        "data_desc": f"/data/klines 1h BTCUSDT,ETHUSDT {T0}..{T0 + N * H}",
        "summary": json_safe(summary),
        "trades": [BacktestTrade.from_fill(f) for f in fills],
        "equity_ts": ts,
        "equity": equity,
    }


RUNS = {"bt-old": _stored("bt-old", with_bh_curve=False, drift=-3.0),
        "bt-new": _stored("bt-new", with_bh_curve=True, drift=5.0)}


async def _save(path: Path, runs=RUNS.values()) -> Path:
    db = await Database.open(path, start_writer=False)
    try:
        for r in runs:
            await db.save_backtest_run(**r)
    finally:
        await db.close()
    return path


@pytest.fixture
def db_path(tmp_path) -> Path:
    return asyncio.run(_save(tmp_path / "runs.db"))


def _text(widget: Static) -> str:
    """What a Static shows (a Text or a Rich table) as plain text."""
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(widget.content)
    return buf.getvalue()


def _cells(table: FastTable, row: int) -> list[str]:
    return [str(c) for c in table.get_row_at(row)]


async def _loaded(screen) -> None:
    await asyncio.wait_for(screen.loaded.wait(), 10)


# -- standalone viewer -----------------------------------------------------------


async def test_standalone_lists_runs_newest_first_and_enter_opens_the_report(db_path):
    app = BacktestReportApp(db_path)
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.pause()
        runs = app.screen
        assert isinstance(runs, BacktestRunsScreen)
        await _loaded(runs)
        table = runs.query_one("#bt-runs", FastTable)
        assert table.row_count == 2
        newest, oldest = _cells(table, 0), _cells(table, 1)
        assert newest[0] == "bt-new" and oldest[0] == "bt-old"
        new_ret = RUNS["bt-new"]["summary"]["metrics"]["total_return"]
        assert newest[1] == fmt_pct(new_ret)
        assert newest[5] == "1h" and "BTCUSDT, ETHUSDT" in newest[-1]

        await pilot.press("down", "enter")  # the older run
        await pilot.pause()
        report = app.screen
        assert isinstance(report, BacktestReportScreen) and report.run_id == "bt-old"
        await _loaded(report)
        stored = RUNS["bt-old"]
        header = _text(report.query_one("#bt-header", Static))
        assert "bt-old" in header and "interval 1h" in header and "2 symbols: BTCUSDT, ETHUSDT" in header
        assert "96 klines" in header and "5 fills" in header and "2024-01-01 00:00 → 2024-01-03 00:00" in header
        summary = _text(report.query_one("#bt-summary", Static))
        m, bh = stored["summary"]["metrics"], stored["summary"]["baselines"]["buy_and_hold"]
        total_row = next(line for line in summary.splitlines() if "Total return" in line)
        assert fmt_pct(m["total_return"]) in total_row and fmt_pct(bh["total_return"]) in total_row
        assert "Cash" in summary and "Buy & hold" in summary

        trades = report.query_one("#bt-trades", FastTable)
        assert trades.row_count == len(stored["trades"])
        for i, t in enumerate(stored["trades"]):
            row = _cells(trades, i)
            assert row[1] == t.symbol and row[2] == t.side.value and row[3] == f"{t.quantity.normalize():f}"
        # the closing sells carry their round trip's P&L (after both fees)
        assert _cells(trades, 2)[5] == f"{(Decimal('43100') - Decimal('42000.50')) * Decimal('0.01') - Decimal('0.851'):+,.2f}"
        assert _cells(trades, 0)[5] == "–"

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is runs
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 0


async def test_report_keys_scroll_the_tab_shown_without_a_tab_key_first(db_path):
    """The focus stayed on the row of tabs: PageDown and the arrows did nothing to the summary
    or the trades until the operator found that Tab moves into them."""
    app = BacktestReportApp(db_path)
    async with app.run_test(size=(80, 16)) as pilot:
        await pilot.pause()
        await _loaded(app.screen)
        await pilot.press("enter")
        await pilot.pause()
        report = app.screen
        assert isinstance(report, BacktestReportScreen)
        await _loaded(report)
        await pilot.pause()
        box = report.query_one("#bt-summary-box")
        assert box.max_scroll_y > 0  # the summary is taller than 16 rows
        await pilot.press("pagedown")
        await pilot.pause()
        assert box.scroll_y > 0
        await pilot.press("3")
        await pilot.pause()
        trades = report.query_one("#bt-trades", FastTable)
        assert trades.row_count > 1 and trades.cursor_row == 0
        await pilot.press("down")
        await pilot.pause()
        assert trades.cursor_row == 1
        await pilot.press("2")  # the chart: the focus is on the tabs, not lost
        await pilot.pause()
        assert app.focused is not None
        await pilot.press("1")
        await pilot.pause()
        assert app.focused is box


async def test_equity_chart_shows_buy_and_hold_only_when_stored(db_path):
    """Its series, and axis ticks for the size it is shown at: it is first drawn while its tab is
    hidden, before it has one, and a tall chart had the few ticks of a short one."""
    both, alone = ("strategy", "buy & hold"), ("strategy",)
    for run_id, labels, size in (("bt-new", both, (100, 30)), ("bt-old", alone, (100, 30)), ("bt-new", both, (160, 50))):
        run = await read_run(db_path, run_id)
        app = BacktestReportApp(db_path, run=run)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await _loaded(app.screen)
            await pilot.press("2")
            await pilot.pause()
            chart = app.screen.query_one("#bt-equity", EquityChart)
            assert chart.display and chart.labels == labels
            curves = [run.equity, [float(run.starting_balance)]] + ([run.bh_equity] if run.bh_equity is not None else [])
            ys = np.concatenate(curves)
            want = nice_ticks(float(ys.min()), float(ys.max()), most_ticks(chart.size.height - 5, 3))[1]
            shown = re.findall(r"^ *([\d,.]+)[┤├]", Text.from_ansi(str(chart.plt.build())).plain, re.M)
            assert sorted(shown) == sorted(want), (size, shown, want)


async def test_runs_screen_says_so_when_the_database_has_no_runs(tmp_path):
    path = await _save(tmp_path / "empty.db", runs=())
    app = BacktestReportApp(path)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        await _loaded(app.screen)
        assert "no backtest runs stored" in _text(app.screen.query_one("#bt-runs-message", Static))
        assert not app.screen.query_one("#bt-runs", FastTable).display


async def test_report_of_a_vanished_run_says_so(db_path):
    app = BacktestReportApp(db_path)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        await _loaded(app.screen)
        app.screen.open_run("bt-gone")  # e.g. deleted after the list was read
        await pilot.pause()
        report = app.screen
        await _loaded(report)
        assert report.error and "no backtest run 'bt-gone'" in _text(report.query_one("#bt-message", Static))
        assert not report.query_one("#bt-tabs").display


# -- CLI ---------------------------------------------------------------------------


def test_tui_report_option_parses_with_and_without_run_id():
    p = build_parser()
    assert p.parse_args(["tui", "--report"]).report == ""
    assert p.parse_args(["tui", "--report", "bt-1", "--db", "x.db"]).report == "bt-1"
    assert p.parse_args(["tui"]).report is None


def test_tui_report_unknown_run_id_exits_2_with_one_line(db_path, capsys):
    assert main(["tui", "--report", "bt-nope", "--db", str(db_path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: no backtest run 'bt-nope'")


def test_tui_report_without_runs_or_database_exits_2_and_creates_nothing(tmp_path, capsys):
    empty = asyncio.run(_save(tmp_path / "empty.db", runs=()))
    assert main(["tui", "--report", "--db", str(empty)]) == 2
    assert "no backtest runs stored" in capsys.readouterr().err
    missing = tmp_path / "missing.db"
    assert main(["tui", "--report", "--db", str(missing)]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not missing.exists()


# -- console ------------------------------------------------------------------------


async def test_console_key_and_palette_open_the_runs_list(tmp_path):
    db = await _save(tmp_path / "console.db")
    cfg = ui_config(n_symbols=10)
    cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"path": str(db)})})
    engine = make_engine(tmp_path, cfg, name="console.db")
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        await pilot.press("B")
        await pilot.pause()
        runs = app.screen
        assert isinstance(runs, BacktestRunsScreen)
        await _loaded(runs)
        assert [_cells(runs.query_one("#bt-runs", FastTable), i)[0] for i in range(2)] == ["bt-new", "bt-old"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, BacktestReportScreen)
        await _loaded(app.screen)
        assert app.screen.query_one("#bt-trades", FastTable).row_count == len(RUNS["bt-new"]["trades"])
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert engine.state == EngineState.STOPPED  # a read-only view: the engine is untouched

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Backtest reports")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await until(lambda: isinstance(app.screen, BacktestRunsScreen))


# -- units ------------------------------------------------------------------------------


def test_data_desc_parsing_and_run_rows():
    assert parse_data_desc(f"/d/with space 15m A,B {T0}..{T0 + H}") == ("15m", ["A", "B"], T0, T0 + H)
    assert parse_data_desc("garbage") == ("", [], None, None)
    row = {"run_id": "r", "created_ms": 5, "data_desc": RUNS["bt-new"]["data_desc"],
           "summary": RUNS["bt-new"]["summary"]}
    info = RunInfo.from_row(row)
    assert info.symbols == ["BTCUSDT", "ETHUSDT"] and info.interval == "1h"
    assert info.total_return == RUNS["bt-new"]["summary"]["metrics"]["total_return"]


def test_malformed_stored_summary_gives_empty_figures_not_a_crash():
    run = StoredRun.from_stored({"run_id": "x", "created_ms": "?", "config": [1], "data_desc": 5,
                                 "summary": {"metrics": [], "baselines": {"cash": 3}, "symbols": "BTC"},
                                 "trades": [], "equity_ts": [], "equity": []})
    assert run.metrics == {} and run.baselines == {} and run.symbols == [] and run.created_ms == 0
    assert "Total return" in summary_table(run.as_result()).columns[0]._cells


def test_trip_pnl_sums_to_the_closed_trades_pnl():
    trades = RUNS["bt-old"]["trades"]
    pnl = trip_pnl(trades)
    closing = [i for i, p in enumerate(pnl) if p is not None]
    assert closing == [2, 3]  # the two sells that flatten a position
    fills = [Fill(t.client_order_id, t.symbol, t.side, t.price, t.quantity, t.fee, "USDT", t.ts_ms) for t in trades]
    trips = [tr for tr in trades_from_fills(fills) if tr.closed]
    assert sum(pnl[i] for i in closing) == sum(tr.pnl for tr in trips)
    assert float(sum(pnl[i] for i in closing)) == pytest.approx(RUNS["bt-old"]["summary"]["metrics"]["trades_pnl"])


# -- snapshot ---------------------------------------------------------------------------


def test_report_screen_snapshot(snap_compare, db_path):
    run = asyncio.run(read_run(db_path, "bt-new"))
    app = BacktestReportApp(db_path, run=run)

    async def loaded(pilot) -> None:
        await _loaded(app.screen)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=loaded)


async def test_a_damaged_stored_run_is_listed_and_opened_without_its_figures(db_path, caplog):
    """One run whose summary JSON is damaged: the list still shows every run (that one with blank
    figures, the others whole), and it opens with its trades and equity curve."""
    import sqlite3

    con = sqlite3.connect(db_path)
    con.execute("UPDATE backtest_runs SET summary_json = '{bad' WHERE run_id = 'bt-old'")
    con.commit()
    con.close()
    runs = {r.run_id: r for r in await read_runs(db_path)}
    assert set(runs) == {"bt-old", "bt-new"}
    assert runs["bt-old"].total_return is None and runs["bt-old"].sharpe is None
    assert runs["bt-new"].total_return == pytest.approx(RUNS["bt-new"]["summary"]["metrics"]["total_return"])
    assert "backtest run bt-old: its summary is damaged" in caplog.text
    run = await read_run(db_path, "bt-old")
    assert run is not None and run.metrics == {}
    assert run.n_fills == len(RUNS["bt-old"]["trades"]) and run.equity.size == len(RUNS["bt-old"]["equity"])
