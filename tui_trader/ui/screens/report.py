"""Read-only reports of stored backtest runs: the runs list and one run's report.

Data: every read opens its OWN :class:`~tui_trader.storage.Database` connection on the
given path (``cfg.db_path()``), reads and closes it - never the engine's connection. A
missing database file is reported, never created. Runs are written by
``tui_trader.backtest.runner.store_result``: the run row (``data_desc`` =
``"<data> <interval> <SYM,SYM,...> <start_ms>..<end_ms>"``, the summary JSON with
``metrics``, ``baselines``, ``per_symbol``, ``n_klines``, ...), its fills as
:class:`~tui_trader.storage.BacktestTrade` rows and the strategy's equity curve. Keys of
``backtest.report.report_json`` in the summary (``symbols``, ``interval``, ``start_ms``,
``end_ms``, ``quote_asset``, ``starting_balance``) take precedence over ``data_desc``
and the config when present; a buy-and-hold curve is drawn if the summary holds one
(``baseline_curves.buy_and_hold`` as ``{"ts_ms": [...], "equity": [...]}`` or
``[ts_ms, equity]``), else the strategy's curve alone.

Screens: :class:`BacktestRunsScreen` (stored runs, newest first; Enter opens one) and
:class:`BacktestReportScreen` (header, summary strategy vs buy & hold vs cash, equity
chart, trades table). Escape closes either. In the console (:class:`ConsoleRunsScreen`,
:class:`ConsoleReportScreen`) both show the engine's status bar on top, as every console screen
does (LIVE stays red), and take E. :class:`BacktestReportApp` hosts them on
their own for ``tui-trader tui --report [RUN_ID]`` (no engine).

Units: times are ms since the epoch (shown as UTC), money in the quote asset,
return / drawdown figures are fractions shown as percentages.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from tui_trader.axis import set_ticks
from tui_trader.backtest import BacktestResult
from tui_trader.backtest.metrics import trades_from_fills
from tui_trader.backtest.report import fmt_duration, fmt_num, fmt_pct, fmt_time, plural, summary_table
from tui_trader.clock import MS_PER_DAY
from tui_trader.models import Fill, Side
from tui_trader.storage import BacktestTrade, Database, StorageError
from tui_trader.ui.format import fmt_money, fmt_price, fmt_qty
from tui_trader.ui.palette import Palette, right
from tui_trader.ui.screens.help import REPORT_KEYS, RUNS_KEYS, HelpScreen, with_emergency
from tui_trader.ui.themes import APP_VARIABLES, DEFAULT_THEME, FALLBACK_THEME, discover_themes
from tui_trader.ui.widgets.charts import MAX_POINTS, SeriesChart
from tui_trader.ui.widgets.footer import KeyFooter
from tui_trader.ui.widgets.status_bar import StatusBar
from tui_trader.ui.widgets.table import FastTable, row_key_value

log = logging.getLogger("tui_trader.ui.report")

RUNS_LIMIT = 500  # newest runs listed
READ_ERRORS = (StorageError, OSError, sqlite3.Error, ValueError, KeyError, TypeError)

#: The figures a run is chosen by first: at 80 columns the creation time and the interval put
#: the max drawdown and buy & hold out of view (the run id holds the creation time anyway).
RUN_COLS = [
    ("run", "Run id", 26),
    ("return", "Return", 10, "right"),
    ("bh", "Buy&hold", 10, "right"),
    ("maxdd", "Max DD", 8, "right"),
    ("sharpe", "Sharpe", 6, "right"),
    ("interval", "Iv", 4),
    ("created", "Created (UTC)", 16),
    ("symbols", "Symbols", 40),
]
#: No cell padding (as the main panes): widths include a one-cell gap, after a left-aligned text
#: and before a right-aligned number. The first seven, the fee included, fit 80 columns: with a
#: cell's padding the fee column was cut after its first digits, "0.21" shown for a fee of 0.2175,
#: and a twelve-letter symbol ("1000SATSUSDT") was cut too.
TRADE_COLS = [
    ("time", "Time (UTC)", 17),
    ("symbol", "Symbol", 13),
    ("side", "Side", 5),
    ("qty", "Qty", 11, "right"),
    ("price", "Price", 12, "right"),  # fmt_price: at most 10 ("0.00017536")
    ("pnl", "Trip P&L", 11, "right"),  # "-1,234.56"
    ("fee", "Fee", 9, "right"),  # "0.2175", "1,234.56"
    ("notional", "Notional", 12, "right"),
    ("n", "#", 6, "right"),
    ("reason", " Reason", 25),  # left-aligned after a number: its text starts with the gap
]

_SPAN = re.compile(r"^(\d+)\.\.(\d+)$")
_INTERVAL = re.compile(r"^\d+[smhdwM]$")


class ReportError(Exception):
    """The database or the run cannot be shown (message says why, for the operator)."""


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _map(v: Any) -> Mapping[str, Any]:
    """``v`` if it is a mapping, else an empty one (stored JSON is not trusted blindly)."""
    return v if isinstance(v, Mapping) else {}


def parse_data_desc(desc: str) -> tuple[str, list[str], int | None, int | None]:
    """``(interval, symbols, start_ms, end_ms)`` from a stored ``data_desc``
    (``"<data> <interval> <SYM,...> <start>..<end>"``); empty/None parts when absent."""
    tokens = str(desc or "").split()
    if len(tokens) < 3 or not _SPAN.match(tokens[-1]) or not _INTERVAL.match(tokens[-3]):
        return "", [], None, None
    m = _SPAN.match(tokens[-1])
    assert m is not None
    syms = [s for s in tokens[-2].split(",") if s]
    return tokens[-3], syms, int(m.group(1)), int(m.group(2))


def _curve(spec: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """A stored baseline curve as ``(ts_ms int64, equity float64)``; None if absent or invalid."""
    if isinstance(spec, Mapping):
        ts, eq = spec.get("ts_ms"), spec.get("equity")
    elif isinstance(spec, list | tuple) and len(spec) == 2:
        ts, eq = spec
    else:
        return None
    try:
        t = np.asarray(ts, dtype=np.int64)
        e = np.asarray(eq, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if t.ndim != 1 or t.shape != e.shape or t.size < 1 or not np.isfinite(e).all():
        return None
    return t, e


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One row of the runs list. Returns and drawdown are fractions (0.1 = 10 %)."""

    run_id: str
    created_ms: int
    interval: str
    symbols: list[str]
    total_return: float | None
    sharpe: float | None
    max_drawdown: float | None
    bh_return: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunInfo:
        """From one :meth:`Database.list_backtest_runs` row."""
        summary = _map(row.get("summary"))
        metrics = _map(summary.get("metrics"))
        bh = _map(_map(summary.get("baselines")).get("buy_and_hold"))
        interval, syms, _, _ = parse_data_desc(row.get("data_desc", ""))
        return cls(
            run_id=str(row["run_id"]),
            created_ms=_int(row.get("created_ms")) or 0,
            interval=str(summary.get("interval") or interval),
            symbols=[str(x) for x in (summary.get("symbols") or syms)],
            total_return=_float(metrics.get("total_return")),
            sharpe=_float(metrics.get("sharpe")),
            max_drawdown=_float(metrics.get("max_drawdown")),
            bh_return=_float(bh.get("total_return")),
        )


@dataclass(slots=True)
class StoredRun:
    """One stored run, ready to show. ``trades`` are the stored fills (chronological);
    ``equity_ts`` int64 ms / ``equity`` float64 quote; ``bh_*`` the buy-and-hold curve
    (None unless stored)."""

    run_id: str
    created_ms: int
    interval: str
    symbols: list[str]
    start_ms: int | None
    end_ms: int | None
    n_klines: int | None
    quote_asset: str
    starting_balance: float | None
    metrics: dict[str, Any]
    baselines: dict[str, dict[str, Any]]
    trades: list[BacktestTrade]
    equity_ts: np.ndarray
    equity: np.ndarray
    bh_ts: np.ndarray | None = None
    bh_equity: np.ndarray | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def n_fills(self) -> int:
        return len(self.trades)

    @classmethod
    def from_stored(cls, d: Mapping[str, Any]) -> StoredRun:
        """From :meth:`Database.load_backtest_run`'s dict."""
        summary = _map(d.get("summary"))
        config = dict(_map(d.get("config")))
        feed, broker = _map(config.get("feed")), _map(config.get("broker"))
        metrics = dict(_map(summary.get("metrics")))
        interval, syms, start, end = parse_data_desc(d.get("data_desc", ""))
        curve = _curve(_map(summary.get("baseline_curves")).get("buy_and_hold"))
        symbols = summary.get("symbols") or syms or feed.get("symbols") or sorted(_map(summary.get("per_symbol")))
        return cls(
            run_id=str(d["run_id"]),
            created_ms=_int(d.get("created_ms")) or 0,
            interval=str(summary.get("interval") or interval or feed.get("interval") or ""),
            symbols=[str(x) for x in symbols] if isinstance(symbols, list | tuple) else [],
            start_ms=_int(summary.get("start_ms")) or start or _int(metrics.get("start_ms")),
            end_ms=_int(summary.get("end_ms")) or end or _int(metrics.get("end_ms")),
            n_klines=_int(summary.get("n_klines")),
            quote_asset=str(summary.get("quote_asset") or broker.get("quote_asset") or "USDT"),
            starting_balance=_float(summary.get("starting_balance", broker.get("starting_balance",
                                                                                metrics.get("start_equity")))),
            metrics=metrics,
            baselines={str(k): dict(v) for k, v in _map(summary.get("baselines")).items() if isinstance(v, Mapping)},
            trades=list(d.get("trades") or []),
            equity_ts=np.asarray(d.get("equity_ts", ()), dtype=np.int64),
            equity=np.asarray(d.get("equity", ()), dtype=np.float64),
            bh_ts=curve[0] if curve else None,
            bh_equity=curve[1] if curve else None,
            config=config,
        )

    def as_result(self) -> BacktestResult:
        """A :class:`BacktestResult` view of the figures (for ``backtest.report`` tables)."""
        return BacktestResult(
            run_id=self.run_id,
            config={"broker": {"quote_asset": self.quote_asset}},
            symbols=self.symbols,
            interval=self.interval,
            start_ms=self.start_ms or 0,
            end_ms=self.end_ms or 0,
            equity_ts=self.equity_ts,
            equity=self.equity,
            fills=[],
            trades=[],
            metrics=self.metrics,
            baselines=self.baselines,
            per_symbol={},
            n_klines=self.n_klines or 0,
            wall_time_s=0.0,
        )


def trip_pnl(trades: Sequence[BacktestTrade]) -> list[Decimal | None]:
    """Per stored fill: the P&L (quote, after fees) of the long round trip that fill
    closes, None for the others. A non-zero stored ``realized_pnl`` is used as is.
    Fills that do not form valid long trips (a sell larger than the position) give None."""
    fills = [
        Fill(client_order_id=t.client_order_id, symbol=t.symbol, side=Side(t.side), price=t.price,
             quantity=t.quantity, fee=t.fee, fee_asset="", ts_ms=int(t.ts_ms))
        for t in trades
    ]
    out: list[Decimal | None] = [None] * len(trades)
    try:
        trips = trades_from_fills(fills)
    except ValueError:
        trips = []
    closing: dict[tuple[str, int], list[Decimal]] = {}
    for tr in trips:
        if tr.closed:
            closing.setdefault((tr.symbol, int(tr.exit_ms)), []).append(tr.pnl)
    sells: dict[tuple[str, int], list[int]] = {}
    for i, t in enumerate(trades):
        if Side(t.side) == Side.SELL:
            sells.setdefault((t.symbol, int(t.ts_ms)), []).append(i)
    for key, pnls in closing.items():
        idx = sells.get(key, [])
        for j, pnl in enumerate(reversed(pnls)):
            if j < len(idx):
                out[idx[-1 - j]] = pnl
    for i, t in enumerate(trades):
        if t.realized_pnl:
            out[i] = t.realized_pnl
    return out


def existing_db(db_path: str | Path) -> Path:
    """``db_path`` expanded; :class:`ReportError` if no such file (a viewer never creates one)."""
    path = Path(db_path).expanduser()
    if not path.is_file():
        raise ReportError(f"no database at {path} (run `tui-trader backtest` first, or pass --db PATH)")
    return path


@asynccontextmanager
async def open_db(db_path: str | Path) -> AsyncIterator[Database]:
    """A private, read-only connection to an EXISTING database (never creates one), closed on
    exit. Read-only: a viewer must not change the file (no migration, no journal mode switch,
    no statistics stored by ``PRAGMA optimize`` on closing), whoever else uses it."""
    db = await Database.open(existing_db(db_path), start_writer=False, read_only=True)
    try:
        yield db
    finally:
        await asyncio.shield(db.close())


async def read_runs(db_path: str | Path, limit: int = RUNS_LIMIT) -> list[RunInfo]:
    """The newest ``limit`` stored runs, NEWEST first. Raises :class:`ReportError` /
    :class:`StorageError` when the database is missing or unusable."""
    async with open_db(db_path) as db:
        rows = await db.list_backtest_runs(limit)
    return [RunInfo.from_row(r) for r in reversed(rows)]


async def read_run(db_path: str | Path, run_id: str) -> StoredRun | None:
    """The stored run ``run_id``, or None if unknown."""
    async with open_db(db_path) as db:
        d = await db.load_backtest_run(run_id)
    return None if d is None else StoredRun.from_stored(d)


def no_runs_message(db_path: str | Path) -> str:
    return (f"no backtest runs stored in {Path(db_path).expanduser()} "
            "(create one with `tui-trader backtest --data DIR --interval 1h`)")


def unknown_run_message(run_id: str, db_path: str | Path) -> str:
    return (f"no backtest run {run_id!r} in {Path(db_path).expanduser()} "
            "(`tui-trader tui --report` lists the stored runs)")


async def check_report_target(db_path: str | Path, run_id: str | None) -> tuple[str | None, Any]:
    """For the standalone viewer: ``(error message, None)`` when there is nothing to show,
    else ``(None, list[RunInfo])`` (no ``run_id``) or ``(None, StoredRun)``."""
    try:
        if run_id:
            run = await read_run(db_path, run_id)
            return (unknown_run_message(run_id, db_path), None) if run is None else (None, run)
        runs = await read_runs(db_path)
        return (no_runs_message(db_path), None) if not runs else (None, runs)
    except ReportError as exc:
        return str(exc), None
    except READ_ERRORS as exc:
        return f"cannot read {db_path}: {exc}", None


# ---------------------------------------------------------------------------
# widgets
# ---------------------------------------------------------------------------


def _thin(ts: np.ndarray, y: np.ndarray, n: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``n`` points, always keeping the last one."""
    if ts.size <= n:
        return ts, y
    idx = np.unique(np.append(np.linspace(0, ts.size - 1, n).astype(np.int64), ts.size - 1))
    return ts[idx], y[idx]


class EquityChart(SeriesChart):
    """The strategy's equity (and buy & hold when stored) against days since the start.
    ``labels`` names the series of the last drawing."""

    labels: tuple[str, ...] = ()
    _run: StoredRun | None = None

    def on_resize(self) -> None:
        """The axis ticks are chosen for the chart's size: drawn again at the new one (the chart
        is first drawn while its tab is hidden, before it has one)."""
        if self._run is not None:
            self.show_run(self._run)

    def show_run(self, run: StoredRun) -> bool:
        """Draw ``run``'s curves; False (nothing drawn) for an empty curve."""
        self._run = run
        if not self.begin_drawing((run.run_id, int(run.equity_ts.size), run.bh_ts is not None, self.size)):
            return False
        plt = self.plt
        series = []
        if run.equity_ts.size:
            series.append(("strategy", run.equity_ts, run.equity, "cyan"))
        if run.bh_ts is not None and run.bh_equity is not None:
            series.append(("buy & hold", run.bh_ts, run.bh_equity, "orange"))
        if not series:
            self.labels = ()
            plt.title("equity: no samples stored")
            self.refresh()
            return False
        self.labels = tuple(s[0] for s in series)
        t0 = int(min(int(s[1][0]) for s in series))
        xs, ys = [], []
        for label, ts, y, colour in series:
            x, yy = _thin(ts, y)
            xs.append((x - t0) / MS_PER_DAY)
            ys.append(yy)
            plt.plot(xs[-1].tolist(), yy.tolist(), label=label, color=colour)
        if run.starting_balance:
            plt.hline(run.starting_balance, color="gray")
            ys.append(np.array([float(run.starting_balance)]))
        set_ticks(plt, xs, ys, self.size.width or 80, self.size.height or 20)
        plt.title(f"equity ({run.quote_asset})" + ("" if run.bh_ts is not None else " · strategy only"))
        plt.xlabel(f"days since {fmt_time(t0)} UTC")
        self.refresh()
        return True


def _symbols_text(symbols: Sequence[str], shown: int = 8) -> str:
    head = ", ".join(symbols[:shown])
    return f"{plural(len(symbols), 'symbol')}: {head}" + (f" (+{len(symbols) - shown} more)" if len(symbols) > shown else "")


def header_text(run: StoredRun, pal: Palette) -> Text:
    """Three lines: run id, interval, symbols; klines, fills, span; headline figures. Each
    wraps on a narrow terminal (at 80 columns the store time and the starting balance were cut)."""
    t = Text(overflow="fold")
    t.append(f" Backtest {run.run_id} ", style="bold reverse")
    t.append(f"  interval {run.interval or '?'}   {_symbols_text(run.symbols)}\n")
    span = (run.end_ms - run.start_ms) if run.start_ms is not None and run.end_ms is not None else None
    t.append(f" {run.n_klines:,} klines" if run.n_klines is not None else " klines –")
    t.append(f"   {run.n_fills:,} fills   {fmt_time(run.start_ms)} → {fmt_time(run.end_ms)} UTC "
             f"({fmt_duration(span)})   stored {fmt_time(run.created_ms or None)} UTC\n")
    ret = _float(run.metrics.get("total_return"))
    t.append(" Return ")
    t.append(fmt_pct(ret), style=pal.profit if (ret or 0) > 0 else pal.loss if (ret or 0) < 0 else "")
    bh = _float((run.baselines.get("buy_and_hold") or {}).get("total_return"))
    t.append(f"   buy & hold {fmt_pct(bh)}   Sharpe {fmt_num(_float(run.metrics.get('sharpe')))}"
             f"   max drawdown {fmt_pct(_float(run.metrics.get('max_drawdown')))}"
             f"   start {fmt_num(run.starting_balance)} {run.quote_asset}")
    return t


# ---------------------------------------------------------------------------
# screens
# ---------------------------------------------------------------------------


#: The trades tab of a run without a fill.
NO_TRADES = "No trades: the strategy made no order fill in this run (see the summary's figures)."


def trade_rows(trades: Sequence[BacktestTrade], pnls: Sequence[Decimal | None], pal: Palette,
               first: int = 0) -> list[tuple]:
    """The trades table's rows of ``trades`` (fills ``first`` + 1 ... of their run), each with its
    trip's P&L from ``pnls`` (:func:`trip_pnl`)."""
    rows = []
    for i, (t, pnl) in enumerate(zip(trades, pnls, strict=True), start=first):
        side = Side(t.side)
        rows.append((
            fmt_time(int(t.ts_ms)),
            t.symbol,
            Text(side.value, style=pal.profit if side == Side.BUY else pal.loss),
            # each within its column less the gap (a pair quoted in IDR): never its first digits alone
            right(fmt_qty(t.quantity, width=10)),
            right(fmt_price(t.price)),
            pal.signed(fmt_money(pnl, sign=True, width=10), float(pnl)) if pnl is not None else right("–"),
            right(fmt_money(t.fee, 4 if t.fee < 1 else 2, width=8)),
            right(fmt_money(t.price * t.quantity, width=11)),
            right(str(i + 1)),
            f" {t.reason}",
        ))  # fmt: skip
    return rows


class BacktestReportScreen(Screen[None]):
    """One stored run, read-only. Loads it from ``db_path`` (own connection) unless
    ``run`` is given; ``loaded`` is set once shown (or the error is shown)."""

    DEFAULT_CSS = """
    BacktestReportScreen #bt-header { height: auto; max-height: 8; background: $panel; }
    BacktestReportScreen #bt-message { height: auto; padding: 1 2; display: none; }
    BacktestReportScreen #bt-tabs { height: 1fr; }
    BacktestReportScreen #bt-summary-box { height: 1fr; }
    BacktestReportScreen #bt-equity { height: 1fr; min-height: 8; }
    BacktestReportScreen FastTable { height: 1fr; scrollbar-size-vertical: 1; }
    BacktestReportScreen #bt-no-trades { height: auto; padding: 1 2; display: none; }
    BacktestReportScreen #bt-trades-note { height: auto; padding: 0 1; display: none; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("1", "tab('summary')", "Summary"),
        Binding("2", "tab('equity')", "Equity"),
        Binding("3", "tab('trades')", "Trades"),
        Binding("question_mark", "help", "Help"),
    ]

    #: the console's screen shows the engine's status bar; its help lists E too
    status_bar = False
    help_keys = REPORT_KEYS
    #: The most fills the trades tab lists (the last ones): a row costs about a millisecond to make
    #: and measure, and 20,000 fills made at once froze the console - in the console the engine
    #: too, whose loop it shares - for tens of seconds. Added in chunks, these take a few seconds
    #: of the loop's time, given back between chunks.
    TRADE_ROWS = 5_000
    #: Rows added at a time, the loop given back between (keys, the engine's feed and stop losses).
    TRADE_CHUNK = 100

    def __init__(self, db_path: str | Path, run_id: str, run: StoredRun | None = None) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.run_id = run_id
        self.stored: StoredRun | None = run
        self.error: str | None = None
        self.loaded = asyncio.Event()
        self._filled = False

    def compose(self) -> ComposeResult:
        if self.status_bar:
            yield StatusBar(id="status")
        yield Static(Text(f" Backtest {self.run_id}  loading…"), id="bt-header")
        yield Static("", id="bt-message")
        with TabbedContent(id="bt-tabs"):
            with TabPane("1 Summary", id="tab-summary"), VerticalScroll(id="bt-summary-box"):
                yield Static("", id="bt-summary")
            with TabPane("2 Equity", id="tab-equity"):
                yield EquityChart("equity", id="bt-equity")
            with TabPane("3 Trades", id="tab-trades"):
                yield Static("", id="bt-trades-note")
                yield FastTable(TRADE_COLS, id="bt-trades", cell_padding=0)
                yield Static(NO_TRADES, id="bt-no-trades")
        yield KeyFooter()  # E (in the console), ? and Esc stay on a narrow screen

    def on_mount(self) -> None:
        if self.stored is not None:
            self.call_after_refresh(self._show)
        else:
            self.run_worker(self._load(), group="bt-report-load", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            run = await read_run(self.db_path, self.run_id)
        except ReportError as exc:
            self._fail(str(exc))
            return
        except READ_ERRORS as exc:
            log.exception("reading backtest run %s failed", self.run_id)
            self._fail(f"cannot read {self.db_path}: {exc}")
            return
        if run is None:
            self._fail(unknown_run_message(self.run_id, self.db_path))
            return
        self.stored = run
        self._show()

    def _fail(self, message: str) -> None:
        self.error = message
        self.query_one("#bt-header", Static).update(Text(f" Backtest {self.run_id}", style="bold"))
        msg = self.query_one("#bt-message", Static)
        msg.update(message)
        msg.display = True
        self.query_one("#bt-tabs").display = False
        self.loaded.set()

    def _show(self, attempt: int = 0) -> None:
        run = self.stored
        assert run is not None
        table = self.query_one("#bt-trades", FastTable)
        if not table.columns and attempt < 20:  # the tab's table adds its columns on mount
            self.call_after_refresh(self._show, attempt + 1)
            return
        pal = Palette.from_variables(self.app.theme_variables)
        self.query_one("#bt-header", Static).update(header_text(run, pal))
        summary = summary_table(run.as_result())
        summary.title = f"Strategy vs baselines (money in {run.quote_asset})"
        summary.box = box.SIMPLE_HEAD
        self.query_one("#bt-summary", Static).update(summary)
        self.query_one("#bt-equity", EquityChart).show_run(run)
        if self._filled:
            self.loaded.set()
            return
        self._filled = True
        # a run without a fill showed the column titles over a blank tab, as if still loading
        table.display = bool(run.trades)
        self.query_one("#bt-no-trades", Static).display = not run.trades
        shown = min(len(run.trades), self.TRADE_ROWS)
        note = self.query_one("#bt-trades-note", Static)
        if shown < len(run.trades):
            note.update(f"The last {shown:,} of {len(run.trades):,} fills (# counts from the run's first; "
                        "each trip's P&L from all of them).")
            note.display = True
        self._focus_tab("summary")  # the tab shown first
        table.clear()
        self.run_worker(self._fill_trades_in_chunks(table, run, pal, shown), group="bt-report-fill",
                        exclusive=True, exit_on_error=False)

    async def _fill_trades_in_chunks(self, table: FastTable, run: StoredRun, pal: Palette, shown: int) -> None:
        """The last ``shown`` fills into ``table``, :attr:`TRADE_CHUNK` rows at a time; then loaded."""
        try:
            # every fill's trip, off the loop (a second for 100,000 fills)
            pnls = await asyncio.to_thread(trip_pnl, run.trades) if len(run.trades) > self.TRADE_CHUNK \
                else trip_pnl(run.trades)
            first = len(run.trades) - shown
            for start in range(first, len(run.trades), self.TRADE_CHUNK):
                stop = min(start + self.TRADE_CHUNK, len(run.trades))
                table.add_rows(trade_rows(run.trades[start:stop], pnls[start:stop], pal, start))
                await asyncio.sleep(0)
        finally:
            self.loaded.set()

    #: What the keys scroll on each tab: the focus goes there with the tab (1, 2, 3), so the
    #: arrows and PageDown scroll the summary and the trades at once (on the row of tabs they
    #: did nothing). The chart does not scroll: the row of tabs has the focus there.
    TAB_FOCUS = {"summary": "#bt-summary-box", "equity": "#bt-tabs Tabs", "trades": "#bt-trades"}

    def action_tab(self, name: str) -> None:
        if self.stored is not None:
            self.query_one("#bt-tabs", TabbedContent).active = f"tab-{name}"
            self._focus_tab(name)

    def _focus_tab(self, name: str) -> None:
        target = self.query_one(self.TAB_FOCUS[name])
        if not target.display:  # a run without a trade hides its table: the focus sat there and
            target = self.query_one(self.TAB_FOCUS["equity"])  # the arrows did nothing on the tab
        target.focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_keys, "Backtest report — keys", note="Esc closes."))


class BacktestRunsScreen(Screen[None]):
    """The stored runs, newest first; Enter opens the report of the highlighted run.
    Loads from ``db_path`` (own connection) unless ``runs`` is given."""

    DEFAULT_CSS = """
    BacktestRunsScreen #bt-runs-title { height: auto; max-height: 3; background: $panel; }
    BacktestRunsScreen #bt-runs-message { height: auto; padding: 1 2; display: none; }
    BacktestRunsScreen FastTable { height: 1fr; scrollbar-size-vertical: 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("enter", "open", "Open report"),
        Binding("question_mark", "help", "Help"),
    ]

    status_bar = False
    help_keys = RUNS_KEYS

    def __init__(self, db_path: str | Path, runs: list[RunInfo] | None = None) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.runs: list[RunInfo] | None = runs
        self.error: str | None = None
        self.loaded = asyncio.Event()

    def compose(self) -> ComposeResult:
        if self.status_bar:
            yield StatusBar(id="status")
        yield Static(Text(" Backtest runs  loading…", no_wrap=True, overflow="ellipsis"), id="bt-runs-title")
        yield Static("", id="bt-runs-message")
        yield FastTable(RUN_COLS, id="bt-runs")
        yield KeyFooter()  # E (in the console), ? and Esc stay on a narrow screen

    def on_mount(self) -> None:
        if self.runs is not None:
            self.call_after_refresh(self._show)
        else:
            self.run_worker(self._load(), group="bt-runs-load", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            self.runs = await read_runs(self.db_path)
        except ReportError as exc:
            self._message(str(exc))
            return
        except READ_ERRORS as exc:
            log.exception("listing backtest runs failed")
            self._message(f"cannot read {self.db_path}: {exc}")
            return
        self._show()

    def _message(self, text: str) -> None:
        self.error = text
        msg = self.query_one("#bt-runs-message", Static)
        msg.update(text)
        msg.display = True
        self.query_one("#bt-runs", FastTable).display = False
        self.loaded.set()

    def _show(self) -> None:
        runs = self.runs or []
        title = Text(overflow="fold")  # wraps: a long path cut "Enter opens" off at 80 columns
        title.append(" Backtest runs ", style="bold reverse")
        title.append(f"  {len(runs)} stored in {self.db_path}" + (" (newest shown)" if len(runs) >= RUNS_LIMIT else "")
                     + "   Enter opens, Esc goes back")
        self.query_one("#bt-runs-title", Static).update(title)
        if not runs:
            self._message(no_runs_message(self.db_path))
            return
        pal = Palette.from_variables(self.app.theme_variables)
        table = self.query_one("#bt-runs", FastTable)
        table.clear()
        for r in runs:
            table.add_row(
                r.run_id,
                pal.signed(fmt_pct(r.total_return), r.total_return or 0.0),
                pal.signed(fmt_pct(r.bh_return), r.bh_return or 0.0),
                right(fmt_pct(r.max_drawdown)),
                right(fmt_num(r.sharpe)),
                r.interval or "?",
                fmt_time(r.created_ms or None),
                Text(", ".join(r.symbols), no_wrap=True, overflow="ellipsis"),
                key=r.run_id,
            )
        table.focus()
        self.loaded.set()

    #: the report screen Enter opens (the console's has E)
    report_screen: type[BacktestReportScreen] = BacktestReportScreen

    def open_run(self, run_id: str) -> None:
        self.app.push_screen(self.report_screen(self.db_path, run_id))

    @on(DataTable.RowSelected, "#bt-runs")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        run_id = row_key_value(event.row_key)
        if run_id and self.app.screen is self:  # not a second Enter typed ahead
            self.open_run(run_id)

    def action_open(self) -> None:
        key = self.query_one("#bt-runs", FastTable).selected_key
        if key:
            self.open_run(key)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_keys, "Backtest runs — keys", note="Esc closes."))


class ConsoleReportScreen(BacktestReportScreen):
    """A report opened in the console (``B``) while trading goes on: E is the emergency stop, as
    on every console screen. The standalone viewer has no engine, and no E."""

    BINDINGS = [Binding("E", "app.emergency", "E-STOP")]
    status_bar = True
    help_keys = with_emergency(REPORT_KEYS)


class ConsoleRunsScreen(BacktestRunsScreen):
    """The runs list opened in the console (``B``): E is the emergency stop there too."""

    BINDINGS = [Binding("E", "app.emergency", "E-STOP")]
    report_screen = ConsoleReportScreen
    status_bar = True
    help_keys = with_emergency(RUNS_KEYS)


class BacktestReportApp(App[int]):
    """The standalone viewer (``tui-trader tui --report [RUN_ID]``): no engine, only the
    stored runs of ``db_path``. With ``run`` it opens that report (Escape quits), else the
    runs list (Escape there quits). Return code 0."""

    CSS_PATH = [Path(__file__).resolve().parent.parent / "global.tcss"]
    TITLE = "tui-trader: backtest reports"

    def __init__(self, db_path: str | Path, runs: list[RunInfo] | None = None, run: StoredRun | None = None,
                 theme: str = "", theme_dirs: list | None = None) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.stored_runs = runs
        self.stored = run
        self._wanted_theme = theme
        self._theme_set = discover_themes(theme_dirs)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    def on_mount(self) -> None:
        for t in self._theme_set.themes.values():
            self.register_theme(t)
        for name in (self._wanted_theme, DEFAULT_THEME, FALLBACK_THEME):
            if name and name in self.available_themes:
                self.theme = name
                break
        if self.stored is not None:
            self.push_screen(BacktestReportScreen(self.db_path, self.stored.run_id, self.stored),
                             callback=lambda _: self.exit(0))
        else:
            self.push_screen(BacktestRunsScreen(self.db_path, self.stored_runs), callback=lambda _: self.exit(0))
