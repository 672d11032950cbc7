"""Reports of a :class:`~tui_trader.backtest.BacktestResult`: terminal, JSON and files.

* :func:`render_report` prints rich tables (the strategy's figures next to the
  buy-and-hold and cash baselines, a per-symbol breakdown, a trades summary) and two
  plotext charts rendered as text (equity with the buy-and-hold baseline, and drawdown).
  Charts have a fixed size (``CHART_WIDTH`` x ``CHART_HEIGHT`` characters) and no colour
  unless the console is a colour terminal.
* :func:`report_json` is one JSON-ready object with every figure (keys ``REPORT_KEYS``;
  the metric dicts use :data:`~tui_trader.backtest.metrics.METRIC_KEYS`; non-finite
  numbers such as an infinite profit factor are ``null``).
* :func:`write_outputs` writes ``trades.csv``, ``equity.csv``, ``report.txt`` and
  ``report.json`` into a folder.

Percentages shown are the metric fractions times 100; money is in the quote asset.
"""

from __future__ import annotations

import copy
import csv
import errno
import functools
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tui_trader.axis import set_ticks
from tui_trader.backtest import BacktestResult
from tui_trader.backtest.metrics import drawdown_series, json_safe
from tui_trader.clock import MS_PER_DAY, UTC_SHORT, iso_utc, utc_text
from tui_trader.outdir import write_all_or_none
from tui_trader.private import make_folders

CHART_WIDTH = 100
CHART_HEIGHT = 20
MAX_CHART_POINTS = 1000
LAST_TRADES_SHOWN = 10
MAX_STATE_CHANGES_SHOWN = 8

REPORT_KEYS: tuple[str, ...] = (
    "run_id",
    "symbols",
    "interval",
    "start_ms",
    "end_ms",
    "n_klines",
    "n_fills",
    "wall_time_s",
    "klines_per_s",
    "quote_asset",
    "starting_balance",
    "metrics",
    "baselines",
    "per_symbol",
    "final_state",
    "state_changes",
    "config",
)

BASELINE_LABELS = {"buy_and_hold": "Buy & hold", "cash": "Cash"}

# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------

DASH = "–"


def plural(n: int, word: str) -> str:
    """``1 symbol``, ``2 symbols``, ``0 symbols``: ``n`` and ``word``, with an ``s`` unless ``n`` is 1."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(v)


def fmt_pct(v: float | None, digits: int = 2) -> str:
    """A fraction as a percentage (``0.1234`` -> ``12.34 %``); ``–`` when undefined."""
    if v is None:
        return DASH
    if not math.isfinite(v):
        return "∞ %" if v > 0 else "-∞ %"
    return f"{v * 100:,.{digits}f} %"


def fmt_num(v: float | None, digits: int = 2) -> str:
    if v is None:
        return DASH
    if not math.isfinite(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:,.{digits}f}"


def fmt_duration(ms: float | None) -> str:
    """Milliseconds as ``2d 3h``, ``5h 12m``, ``45m``, ``30s``; ``–`` when undefined."""
    if ms is None:
        return DASH
    s = int(round(ms / 1000))
    d, rem = divmod(s, 86_400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    if m:
        return f"{m}m"
    return f"{sec}s"


def fmt_time(ms: int | None) -> str:
    """UTC time ``YYYY-MM-DD HH:MM``."""
    if ms is None:
        return DASH
    return utc_text(ms)


def fmt_time_short(ms: int | None) -> str:
    """UTC time ``MM-DD HH:MM`` (for a narrow terminal)."""
    if ms is None:
        return DASH
    return utc_text(ms, UTC_SHORT)


#: Below this span the summary warns that annualised figures are extrapolations.
SHORT_SPAN_MS = 30 * MS_PER_DAY

# Summary rows: (label, metric key, formatter)
_SUMMARY_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("Final equity", "end_equity", fmt_num),
    ("P&L", "pnl", fmt_num),
    ("Total return", "total_return", fmt_pct),
    ("Annualised return", "annualised_return", fmt_pct),
    ("Volatility (ann.)", "volatility", fmt_pct),
    ("Sharpe", "sharpe", fmt_num),
    ("Sortino", "sortino", fmt_num),
    ("Max drawdown", "max_drawdown", fmt_pct),
    ("Max DD duration", "max_drawdown_duration_ms", fmt_duration),
    ("Trades", "n_trades", lambda v: DASH if v is None else str(v)),  # + the open ones: see summary_table
    ("Win rate", "win_rate", fmt_pct),
    ("Avg win", "avg_win", fmt_num),
    ("Avg loss", "avg_loss", fmt_num),
    ("Profit factor", "profit_factor", fmt_num),
    ("Exposure", "exposure", fmt_pct),
    ("Turnover", "turnover", lambda v: DASH if v is None else f"{v:,.2f}x"),
    ("Fees paid", "fees_paid", fmt_num),
)


def summary_table(result: BacktestResult) -> Table:
    """Strategy vs baselines, one row per figure."""
    q = result.quote_asset
    t = Table(title="Summary", title_justify="left", header_style="bold")
    t.add_column("Figure")
    t.add_column("Strategy", justify="right")
    names = [n for n in ("buy_and_hold", "cash") if n in result.baselines]
    names += [n for n in result.baselines if n not in names]
    for n in names:
        t.add_column(BASELINE_LABELS.get(n, n), justify="right")
    every = [result.metrics] + [result.baselines[n] for n in names]
    for label, key, fmt in _SUMMARY_ROWS:
        if key in ("end_equity", "pnl", "avg_win", "avg_loss", "fees_paid"):
            label = f"{label} ({q})"
        cells = [fmt(m.get(key)) for m in every]
        if key == "max_drawdown_duration_ms":
            # a drawdown still open at the end lasted at least this long (to the end of the run):
            # "292d 14h" alone read as a fall that had been made good
            open_dd = [m.get("max_drawdown_recovered") is False for m in every]
            cells = [f"≥ {c}" if o else c for c, o in zip(cells, open_dd, strict=True)]
        if key == "n_trades":
            # the closed trades, and the positions still open at the end: buy-and-hold's "0" alone
            # read as if it had held nothing, next to its 99.99 % exposure
            opened = [m.get("open_trades") for m in every]
            cells = [f"{c} ({o:,} open)" if isinstance(o, int) and o > 0 else c
                     for c, o in zip(cells, opened, strict=True)]  # fmt: skip
        t.add_row(label, *cells)
    span = result.metrics.get("span_ms")
    if isinstance(span, int | float) and 0 < span < SHORT_SPAN_MS:
        # a day's +3.6 % compounds to +43,584,009 % a year: true arithmetic, no forecast
        t.caption = (f"The run spans {fmt_duration(span)}: annualised figures extrapolate it to a year "
                     f"and mean little under {SHORT_SPAN_MS // MS_PER_DAY} days.")
        t.caption_justify = "left"
    return t


def table_frame(title: str, compact: bool) -> Table:
    """A report table: ruled, or for a narrow terminal :func:`fit`'s compact form (no
    column rules, one space between columns)."""
    if compact:
        return Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, padding=0,
                     show_edge=False)
    return Table(title=title, title_justify="left", header_style="bold")


def report_table(title: str, compact: bool, spec: Sequence[tuple[str, str]], rows: list[list[str]]) -> Table:
    """A report's table of ``rows`` (strings) under ``spec``'s (header, justify) columns, ruled
    or compact (see :func:`fit`). A column is at least as wide as its widest cell; compact,
    exactly that (or its header's longest word), the header wrapping inside: rich's own
    narrowing takes the widest columns first and would cut a symbol or a time."""
    t = table_frame(title, compact)
    for i, (col, just) in enumerate(spec):
        cell = max((len(r[i]) for r in rows), default=0)
        if compact:
            t.add_column(col, justify=just, width=max(cell, *(len(w) for w in col.split())))
        else:
            t.add_column(col, justify=just, min_width=cell)
    for r in rows:
        t.add_row(*r)
    return t


def fit(console: Console, build: Any, keep: int = 1) -> Any:
    """``build(compact=False)`` when it fits the console as it is, else ``build(compact=True)``
    (:func:`fit_tables`: cut into parts when even that is too wide)."""
    return fit_tables(console, [lambda: build(compact=False), lambda: build(compact=True)], keep)


def table_width(console: Console, table: Table) -> int:
    """The width ``table`` takes laid out with no limit (its cells uncut)."""
    return Measurement.get(console, console.options.update_width(10**4), table).maximum


def fit_tables(console: Console, builds: Sequence[Any], keep: int = 1) -> Any:
    """The first of the tables ``builds`` make (widest form first) that fits the console; when
    none does, the last cut by :func:`split_columns` into parts that do. Rich would otherwise cut
    the figures of a table wider than the terminal ("-205.…" for -205.11, a Max DD of 0.36 %
    shown "0.3" with the columns after it gone) without a word."""
    table = None
    for build in builds:
        table = build()
        if table_width(console, table) <= console.width:
            return table
    assert table is not None
    if isinstance(table, Group):  # (a line and a table: the trades)
        return Group(*(split_columns(console, r, keep) if isinstance(r, Table) else r for r in table.renderables))
    return split_columns(console, table, keep)


def split_columns(console: Console, table: Table, keep: int = 1) -> Group:
    """``table`` as tables one under the other, each of its first ``keep`` columns (the row's
    name: a symbol, a window, a grid point) and as many of the next ones as fit the console's
    width (at least one), its title on the first ("(continued)" on the others), its caption
    under the last, its rows' styles (a best row in bold) in each."""
    cols = table.columns
    keep = max(0, min(keep, len(cols) - 1))

    def part(idx: list[int], title: Any, caption: Any) -> Table:
        t = copy.copy(table)
        t.columns = [copy.copy(cols[i]) for i in idx]
        t.rows = list(table.rows)
        t.title, t.caption = title, caption
        return t

    parts: list[Table] = []
    i = keep
    while i < len(cols):
        j = i + 1  # one column at least, even when it alone is too wide
        while j < len(cols) and table_width(console, part([*range(keep), *range(i, j + 1)], None, None)) <= console.width:
            j += 1
        title = table.title if not parts else ("(continued)" if table.title else None)
        parts.append(part([*range(keep), *range(i, j)], title, None))
        i = j
    if parts:
        parts[-1].caption = table.caption
    return Group(*parts)


def per_symbol_table(result: BacktestResult, compact: bool = False) -> Table:
    """Per-symbol breakdown, best pnl first."""
    spec = (
        ("Symbol", "left"),
        ("Trades", "right"),
        ("Open", "right"),
        ("Win rate", "right"),
        (f"P&L ({result.quote_asset})", "right"),
        ("Avg P&L", "right"),
        ("Profit factor", "right"),
        ("Fees", "right"),
        ("Notional", "right"),
    )
    rows = [
        [
            sym,
            str(r["n_trades"]),
            str(r["open_trades"]),
            fmt_pct(r["win_rate"], 1),
            fmt_num(r["pnl"]),
            fmt_num(r["avg_pnl"]),
            fmt_num(r["profit_factor"]),
            fmt_num(r["fees"]),
            fmt_num(r["traded_notional"], 0),
        ]
        for sym, r in sorted(result.per_symbol.items(), key=lambda kv: (-(kv[1].get("pnl") or 0.0), kv[0]))
    ]
    return report_table("Per symbol", compact, spec, rows)


def trades_table(result: BacktestResult, compact: bool = False) -> Group:
    """A one-line trades summary and the last trades."""
    closed = [t for t in result.trades if t.closed]
    m = result.metrics
    if closed:
        best = max(closed, key=lambda t: t.pnl)
        worst = min(closed, key=lambda t: t.pnl)
        line = (
            f"{plural(len(closed), 'closed trade')} ({m.get('open_trades', 0)} open), "
            f"best {best.symbol} {fmt_num(float(best.pnl))}, worst {worst.symbol} {fmt_num(float(worst.pnl))}, "
            f"average holding {fmt_duration(m.get('avg_holding_ms'))}, "
            f"average return {fmt_num(float(np.mean([t.return_pct for t in closed])))} %"
        )
    else:
        line = f"no closed trades ({m.get('open_trades', 0)} open)"
    # compact (a narrow terminal): times without the year (the header gives the period) and an
    # open trade marked in its exit column rather than beside its symbol
    when = fmt_time_short if compact else fmt_time
    spec = (
        ("Symbol", "left"),
        ("Entry (UTC)", "left"),
        ("Exit (UTC)", "left"),
        ("Qty", "right"),
        ("Entry", "right"),
        ("Exit", "right"),
        ("P&L", "right"),
        ("Return", "right"),
        ("Held", "right"),
    )
    rows = [
        [
            tr.symbol + ("" if tr.closed or compact else " (open)"),
            when(tr.entry_ms),
            "open" if compact and not tr.closed else when(tr.exit_ms),
            f"{tr.qty.normalize():f}",
            f"{float(tr.entry_price):,.6g}",
            f"{float(tr.exit_price):,.6g}",
            fmt_num(float(tr.pnl)),
            f"{tr.return_pct:,.2f} %",
            fmt_duration(tr.holding_ms),
        ]
        for tr in result.trades[-LAST_TRADES_SHOWN:]
    ]
    if not rows:  # no trade at all: the line says so, an empty table with nine headers adds nothing
        return Group(Text("Trades: " + line))
    t = report_table(f"Last {LAST_TRADES_SHOWN} trades", compact, spec, rows)
    return Group(Text("Trades: " + line), t)


# ---------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------


def _bucket(ts: np.ndarray, y: np.ndarray, n: int, how: str = "last") -> tuple[np.ndarray, np.ndarray]:
    """At most ``n`` points: the last (or the max) value of each of ``n`` equal index buckets."""
    if ts.size <= n:
        return ts, y
    edges = np.linspace(0, ts.size, n + 1).astype(np.int64)[:-1]
    ends = np.append(edges[1:], ts.size) - 1
    if how == "max":
        return ts[ends], np.maximum.reduceat(y, edges)
    return ts[ends], y[ends]


def _plot(
    series: Sequence[tuple[str, np.ndarray, np.ndarray, str]],
    title: str,
    ylabel: str,
    t0: int,
    color: bool,
    width: int,
    height: int,
) -> str:
    """Line chart of ``(label, ts_ms, y, colour)`` series as text. Without colour the first
    series is drawn in braille and the others with dots, so they stay distinguishable."""
    import plotext as plt

    plt.clf()
    plt.limit_size(False, False)  # the size asked for: plotext cut it to its guess of the terminal's,
    plt.plotsize(width, height)  # so report.txt's charts depended on the terminal the run was in
    plt.theme("pro" if color else "clear")
    for i, (label, ts, y, colour) in enumerate(series):
        x = (ts - t0) / MS_PER_DAY
        if color:
            plt.plot(x.tolist(), y.tolist(), label=label, color=colour)
        else:
            plt.plot(x.tolist(), y.tolist(), label=label, marker="braille" if i == 0 else ".")
    set_ticks(plt, [(ts - t0) / MS_PER_DAY for _, ts, _, _ in series], [y for _, _, y, _ in series], width, height)
    plt.title(title)
    plt.xlabel(f"days since {fmt_time(t0)} UTC")
    plt.ylabel(ylabel)
    out = plt.build()
    plt.clf()
    return out if color else plt.uncolorize(out)


def equity_chart(
    result: BacktestResult, color: bool = False, width: int = CHART_WIDTH, height: int = CHART_HEIGHT
) -> str:
    """The strategy's equity and the buy-and-hold baseline, as text."""
    ts = np.asarray(result.equity_ts, dtype=np.int64)
    eq = np.asarray(result.equity, dtype=np.float64)
    series = [("strategy", *_bucket(ts, eq, MAX_CHART_POINTS), "cyan")]
    t0 = int(ts[0])  # the run's first sample, not the end of the first bucket a long run is cut into
    if "buy_and_hold" in result.baseline_curves:
        bts, beq = result.baseline_curves["buy_and_hold"]
        series.append(("buy & hold", *_bucket(np.asarray(bts), np.asarray(beq), MAX_CHART_POINTS), "orange"))
        t0 = min(t0, int(np.asarray(bts)[0]))
    return _plot(series, "Equity", result.quote_asset, t0, color, width, height)


def drawdown_chart(
    result: BacktestResult, color: bool = False, width: int = CHART_WIDTH, height: int = CHART_HEIGHT
) -> str:
    """Drawdown in percent below the running peak (plotted as negative numbers), as text."""
    ts = np.asarray(result.equity_ts, dtype=np.int64)
    dd = drawdown_series(np.asarray(result.equity, dtype=np.float64)) * 100
    bts, bdd = _bucket(ts, dd, MAX_CHART_POINTS, how="max")
    series = [("strategy", bts, -bdd, "red")]
    t0 = int(ts[0])  # as for the equity chart: the axis counts from the run's first sample
    if "buy_and_hold" in result.baseline_curves:
        hts, heq = result.baseline_curves["buy_and_hold"]
        hdd = drawdown_series(np.asarray(heq, dtype=np.float64)) * 100
        # each bucket's worst, as the strategy's: its last sample lost a fall inside the bucket
        hts_b, hdd_b = _bucket(np.asarray(hts), hdd, MAX_CHART_POINTS, how="max")
        series.append(("buy & hold", hts_b, -hdd_b, "orange"))
        t0 = min(t0, int(np.asarray(hts)[0]))
    return _plot(series, "Drawdown", "%", t0, color, width, height)


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def header(result: BacktestResult) -> Panel:
    syms = result.symbols
    shown = ", ".join(syms[:12]) + (f" (+{len(syms) - 12} more)" if len(syms) > 12 else "")
    kps = result.n_klines / result.wall_time_s if result.wall_time_s > 0 else None
    lines = [
        f"Run {result.run_id}   interval {result.interval}   {plural(len(syms), 'symbol')}: {shown}",
        f"From {fmt_time(result.start_ms)} to {fmt_time(result.end_ms)} UTC "
        f"({fmt_duration(result.end_ms - result.start_ms)})",
        f"{result.n_klines:,} klines, {len(result.fills):,} fills, replayed in {result.wall_time_s:,.2f} s"
        + (f" ({kps:,.0f} klines/s)" if kps else ""),
        f"Starting balance {fmt_num(result.starting_balance)} {result.quote_asset}"
        + (f"   final engine state: {result.final_state}" if result.final_state else ""),
    ]
    changes = result.state_changes
    for ts, old, new, reason in changes[:MAX_STATE_CHANGES_SHOWN]:
        lines.append(f"  {fmt_time(ts)} {old} -> {new}: {reason}")
    if len(changes) > MAX_STATE_CHANGES_SHOWN:
        lines.append(f"  ... {plural(len(changes) - MAX_STATE_CHANGES_SHOWN, 'more state change')}")
    return Panel("\n".join(lines), title="Backtest", title_align="left")


def render_report(result: BacktestResult, console: Console, charts: bool = True) -> None:
    """Print the full terminal report on ``console``."""
    console.print(header(result))
    console.print(summary_table(result))
    if result.per_symbol:
        console.print(fit(console, lambda compact: per_symbol_table(result, compact)))
    console.print(fit(console, lambda compact: trades_table(result, compact)))
    if charts and len(result.equity) >= 2:
        color = bool(console.is_terminal and console.color_system and not console.no_color)
        width = max(40, min(CHART_WIDTH, console.width))
        for chart in (equity_chart(result, color, width), drawdown_chart(result, color, width)):
            console.print(Text.from_ansi(chart) if color else Text(chart), no_wrap=True, crop=True)


def report_json(result: BacktestResult) -> dict[str, Any]:
    """Every figure of the run as one JSON-ready object (keys ``REPORT_KEYS``)."""
    kps = result.n_klines / result.wall_time_s if result.wall_time_s > 0 else None
    out = {
        "run_id": result.run_id,
        "symbols": list(result.symbols),
        "interval": result.interval,
        "start_ms": int(result.start_ms),
        "end_ms": int(result.end_ms),
        "n_klines": int(result.n_klines),
        "n_fills": len(result.fills),
        "wall_time_s": float(result.wall_time_s),
        "klines_per_s": kps,
        "quote_asset": result.quote_asset,
        "starting_balance": result.starting_balance,
        "metrics": result.metrics,
        "baselines": result.baselines,
        "per_symbol": result.per_symbol,
        "final_state": result.final_state,
        "state_changes": [
            {"ts_ms": ts, "old": old, "new": new, "reason": reason}
            for ts, old, new, reason in result.state_changes
        ],
        "config": result.config,
    }
    return json_safe(out)


TRADE_COLUMNS = (
    "symbol", "entry_ms", "entry_time", "exit_ms", "exit_time", "entry_price", "exit_price",
    "qty", "pnl", "fees", "return_pct", "closed",
)  # fmt: skip
EQUITY_COLUMNS = ("ts_ms", "time", "equity", "drawdown", "positions")

#: The files :func:`write_outputs` writes into its folder, in this order.
OUTPUT_FILES = ("trades.csv", "equity.csv", "report.txt", "report.json")


def report_text(result: BacktestResult, width: int = 120, charts: bool = True) -> str:
    """The terminal report as plain text (no colour)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False)
    render_report(result, console, charts=charts)
    return buf.getvalue()


class NotAFolderError(NotADirectoryError, ValueError):
    """The ``--out`` path is a file, not a folder: an ``OSError`` (naming the path) as every failed
    write of the report files is, so that the CLI says it in one line (exit 2) when a folder
    checked up front was replaced by a file during the run; a ``ValueError`` as it was before."""


def write_outputs(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    """Write ``trades.csv``, ``equity.csv``, ``report.txt`` and ``report.json`` into
    ``out_dir`` (created if needed). Prices, quantities, pnl and fees in trades.csv are
    exact decimals, and so is the equity in equity.csv when the run kept it exact
    (``BacktestResult.equity_exact``; else the float, losslessly); times are ms and ISO-8601 UTC.
    All four or none: a failure (OSError naming the file) leaves the folder's earlier files as
    they were. Returns name -> path."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotAFolderError(errno.ENOTDIR, "not a folder", str(out_dir))
    make_folders(out_dir)
    paths = {name: out_dir / name for name in OUTPUT_FILES}
    # each file under a temporary name, renamed into place once all are written: a write failing
    # partway (a full disk) left new files next to an earlier run's, a report of two runs
    write_all_or_none(out_dir, {name: functools.partial(_WRITERS[name], result) for name in OUTPUT_FILES})
    return paths


def _write_trades(result: BacktestResult, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(TRADE_COLUMNS)
        for t in result.trades:
            w.writerow([
                t.symbol, t.entry_ms, iso_utc(t.entry_ms), t.exit_ms, iso_utc(t.exit_ms), f"{t.entry_price:f}",
                f"{t.exit_price:f}", f"{t.qty:f}", f"{t.pnl:f}", f"{t.fees:f}", f"{t.return_pct:.6f}",
                int(t.closed),
            ])  # fmt: skip


def _write_equity(result: BacktestResult, path: Path) -> None:
    ts = np.asarray(result.equity_ts, dtype=np.int64)
    eq = np.asarray(result.equity, dtype=np.float64)
    dd = drawdown_series(eq)
    counts = result.position_counts
    exact = result.equity_exact if result.equity_exact is not None and len(result.equity_exact) == ts.size else None
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(EQUITY_COLUMNS)
        for i in range(ts.size):
            w.writerow([
                int(ts[i]), iso_utc(int(ts[i])), repr(float(eq[i])) if exact is None else f"{exact[i]:f}",
                f"{dd[i]:.10f}",
                "" if counts is None else int(counts[i]),
            ])  # fmt: skip


def _write_text(result: BacktestResult, path: Path) -> None:
    path.write_text(report_text(result), encoding="utf-8")


def _write_json(result: BacktestResult, path: Path) -> None:
    path.write_text(json.dumps(report_json(result), indent=2, allow_nan=False) + "\n", encoding="utf-8")


_WRITERS = {"trades.csv": _write_trades, "equity.csv": _write_equity, "report.txt": _write_text,
            "report.json": _write_json}  # fmt: skip
