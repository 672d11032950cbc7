"""Run a backtest: the paper-trading engine on replayed history, as fast as it goes.

:func:`run_backtest` hosts the SAME :class:`~tui_trader.engine.TradingEngine` as paper
trading (built by :func:`tui_trader.runtime.build_engine`): a replay feed at speed ``max``
driving a ``ManualClock``, the paper broker, and the configured signals, risk rules, fees,
slippage and exchange filters. Only the host differs: the engine persists nothing of its
own (the live/paper account in the database is never touched), starts in ``running`` state,
and the finished run is stored once, under its run id, in the ``backtest_runs`` tables.

Warm-up: before ``start_ms`` the engine is fed ``(max(moving_average_period,
volatility_window) + 1)`` rating periods of klines (fewer if the data starts later; a gap in
the data reaches back past it) to warm its ratings and z-scores; it does not trade on them and
no figure counts them. Without ``start_ms`` the warm-up is taken from the start of the data (at
most half of it), and trading starts after it. ``end_ms`` is exclusive (klines with ``open_time < end_ms``).

Figures: the strategy's equity is sampled by the engine at every rating period; the
buy-and-hold and cash baselines are computed on the closes of the same symbols at the same
period ends (:mod:`.baselines`); a symbol with no kline in the span, which could not be bought,
is left out of buy-and-hold (with a warning). Positions still open at the end are shown as open trades
marked at the last close (no exit fee); they are not counted in the closed-trade figures.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tui_trader.backtest import BacktestResult
from tui_trader.backtest.baselines import compute_baselines
from tui_trader.backtest.metrics import compute_metrics, json_safe, per_symbol_breakdown, trades_from_fills
from tui_trader.clock import ManualClock, interval_to_ms, utc_text
from tui_trader.config import Config, redacted_dump
from tui_trader.models import Fill
from tui_trader.rating.periods import period_ms_for

if TYPE_CHECKING:
    from tui_trader.market.replay import ReplayError

log = logging.getLogger("tui_trader.backtest")

Progress = Callable[[int, int], None]


def backtest_config(
    cfg: Config, data_path: str | Path, interval: str, symbols: Sequence[str] | None = None
) -> Config:
    """``cfg`` set up for a backtest: replay feed of ``data_path`` at ``interval``, speed max,
    paper broker (a backtest never trades live), ``symbols`` if given."""
    data = cfg.model_dump(mode="json")
    data["feed"]["kind"] = "replay"
    data["feed"]["speed"] = "max"
    data["feed"]["interval"] = interval
    data["feed"]["replay"]["path"] = str(data_path)
    data["feed"]["replay"]["start"] = ""
    data["feed"]["replay"]["end"] = ""
    if symbols is not None:
        data["feed"]["symbols"] = list(symbols)
    data["broker"]["kind"] = "paper"
    return Config.model_validate(data)


def warmup_from_data(want: int, n_times: int) -> int:
    """Without a start time, how many of the data's ``n_times`` open times warm the ratings up
    before trading: ``want``, but at most half of the data."""
    return int(min(want, n_times // 2))


def no_klines_error(
    interval: str, data_path: str | Path, start_ms: int | None, end_ms: int | None, dates: str = ""
) -> ReplayError:
    """The error for data with no klines to replay from ``start_ms`` to ``end_ms`` (``dates``:
    the data's own span, when known, for the hint)."""
    from tui_trader.market.replay import ReplayError

    if start_ms is None and end_ms is None:
        return ReplayError(f"no {interval} klines to replay in {data_path}")
    if end_ms is None:
        span = f"from {utc_text(start_ms)} UTC on"
    elif start_ms is None:
        span = f"before {utc_text(end_ms)} UTC"
    else:
        span = f"from {utc_text(start_ms)} to {utc_text(end_ms)} UTC"
    return ReplayError(f"no {interval} klines to replay {span}: check --start and --end against the data's "
                       f"dates{f' ({dates})' if dates else ''}")


def warmup_klines_needed(cfg: Config, interval_ms: int) -> int:
    """Klines (open times) of warm-up the engine asks its feed for at start-up."""
    periods = max(cfg.signal_generation.moving_average_period, cfg.rating.volatility_window) + 1
    return periods * (period_ms_for(cfg, interval_ms) // interval_ms)


def close_matrix(
    times: np.ndarray, sym: np.ndarray, close: np.ndarray, n_symbols: int
) -> tuple[np.ndarray, np.ndarray]:
    """Columnar closes: ``(open_times (T,), close (T, N))`` with NaN where a symbol has no kline."""
    ut, inv = np.unique(times, return_inverse=True)
    mat = np.full((ut.size, n_symbols), np.nan)
    mat[inv, sym] = close
    return ut, mat


def _last_closes(mat: np.ndarray) -> np.ndarray:
    """Last finite close per column (NaN if none)."""
    valid = np.isfinite(mat)
    rows = np.where(valid, np.arange(mat.shape[0])[:, None], -1).max(axis=0)
    out = np.full(mat.shape[1], np.nan)
    have = rows >= 0
    out[have] = mat[rows[have], np.flatnonzero(have)]
    return out


def exact_equity(pf: Any, marks: dict[str, float] | None = None) -> Decimal:
    """The book's equity as an exact decimal: cash plus each position's quantity times its mark
    (``marks``, else the book's own; a position never marked at its average entry), as the
    float :attr:`Portfolio.equity` sums it. A mark is a float close taken at its shortest decimal
    text (``repr``), which is the close as the data wrote it."""
    marks = pf.marks if marks is None else marks
    total = pf.cash
    for sym, pos in pf.positions.items():
        mark = marks.get(sym)
        total += pos.quantity * (pos.avg_entry if mark is None else Decimal(repr(float(mark))))
    return total


async def _data_dates(
    data_path: str | Path, interval: str, symbols: Sequence[str] | None, blacklist: Sequence[str] = ()
) -> str:
    """``"2024-01-01 00:00 to 2024-12-31 23:00 UTC"``: the span of the data's own klines, for the
    error of a ``--start`` / ``--end`` that holds none of them ("" if it cannot be told); those of
    ``blacklist`` (``feed.universe.blacklist``) left out, as the run left them out."""
    from tui_trader.market.replay import ReplayError, load_klines

    try:
        with kept_warnings():  # the run's own load has said them: a second load says nothing
            whole = await asyncio.to_thread(lambda: load_klines(data_path, interval, symbols, blacklist=blacklist))
    except (ReplayError, OSError, ValueError):
        return ""
    ot = whole.klines.open_time
    return f"{utc_text(int(ot.min()))} to {utc_text(int(ot.max()))} UTC" if ot.size else ""


async def probe_db(path: str | Path) -> None:
    """Open (create, migrate) and close the database ``path``, in which a run is to be stored:
    :class:`~tui_trader.storage.schema.StorageError` for one that cannot be used."""
    from tui_trader.storage import Database

    db = await Database.open(path, start_writer=False)
    await db.close()


def _new_run_id() -> str:
    return f"bt-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


async def run_backtest(
    cfg: Config,
    data_path: str | Path,
    interval: str,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    db_path: str | Path | None = None,
    progress: Progress | None = None,
    *,
    run_id: str | None = None,
    store: bool = True,
    data: Any = None,
    check_db: bool = False,
) -> BacktestResult:
    """Replay ``data_path`` (a folder or file of klines, see :mod:`tui_trader.market.replay`)
    at ``interval`` through the paper-trading engine and measure the result.

    ``symbols`` (default: ``cfg.feed.symbols``, else every symbol in the data but those of
    ``feed.universe.blacklist``; naming a blacklisted one is a ReplayError), ``start_ms``
    (inclusive) / ``end_ms`` (exclusive) select the data (see the module doc for warm-up).
    ``progress(done, total)`` counts replayed kline batches (one per open time). With
    ``store`` the run is saved in ``db_path`` (default: the configured database) under
    ``run_id`` (default: a new ``bt-YYYYMMDD-HHMMSS-xxxxxx``). ``data`` is an already loaded
    :class:`~tui_trader.market.replay.ReplayData` covering warm-up and span (sweeps reuse it).
    ``check_db`` (with ``store``): the database is opened (created, migrated) and closed once the
    data has passed its checks, before the replay: one it cannot use fails then, not after the
    whole replay, and a refused span (a ``--start`` after the data) leaves no new database behind.

    Raises ``ValueError`` for bad arguments and
    :class:`~tui_trader.market.replay.ReplayError` when no usable data is found.
    """
    from tui_trader.events import (
        FillEvent,
        OrderUpdate,
        PositionUpdate,
        PriceUpdate,
        RatingUpdate,
        StateChange,
    )
    from tui_trader.market.replay import drop_blacklisted_symbols, load_klines, refuse_blacklisted_symbols
    from tui_trader.runtime import build_engine

    interval_ms = interval_to_ms(interval)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ValueError(f"end {utc_text(end_ms)} UTC must be after start {utc_text(start_ms)} UTC")
    if symbols is None and cfg.feed.symbols:
        symbols = list(cfg.feed.symbols)
    black = cfg.feed.universe.blacklist
    if symbols is not None:
        refuse_blacklisted_symbols(symbols, black)
    bcfg = backtest_config(cfg, data_path, interval, symbols)
    want_warm = warmup_klines_needed(bcfg, interval_ms)
    wall0 = time.perf_counter()

    if data is None:
        load_start = None if start_ms is None else start_ms - want_warm * interval_ms
        # the configured price guard, as a replay run and a sweep's points load with
        jump = {"max_price_jump": bcfg.feed.max_price_jump, "blacklist": black}
        with said_warnings() as said:
            data = await asyncio.to_thread(lambda: load_klines(data_path, interval, symbols, load_start, end_ms, **jump))
        if start_ms is not None:
            ot = data.klines.open_time
            if np.unique(ot[ot < start_ms]).size < want_warm:
                # a gap in the data (or its beginning) inside the warm-up's span: the warm-up is
                # the klines before the start, from before the gap too, as a replay would see them;
                # that load says only the warnings the first did not
                with kept_warnings() as again:
                    data = await asyncio.to_thread(lambda: load_klines(data_path, interval, symbols, None, end_ms, **jump))
                for msg in again:
                    if msg not in said:
                        log.warning("%s", msg)
    if data.interval_ms != interval_ms:
        raise ValueError(f"loaded data is at {data.interval_ms} ms, the backtest asks for {interval}")
    kl = data.klines
    if end_ms is not None:  # the warm-up is cut below: the last klines before the start, however far back
        kl = kl.take(kl.open_time < end_ms)
    name_of = list(data.symbols)
    if symbols is None and set(name_of) & set(black):  # data loaded elsewhere (a sweep's), blacklisted symbols too
        symbols = drop_blacklisted_symbols(name_of, black, f"the {interval} klines in {data_path}")
        bcfg = backtest_config(cfg, data_path, interval, symbols)
    if symbols is not None:
        want = [s.strip().upper() for s in symbols]
        cols = [name_of.index(s) for s in want if s in name_of]
        if not cols:
            raise ReplayError(f"none of the symbols {', '.join(want)} is in the data")
        if len(cols) < len(name_of):
            kl = kl.take(np.isin(kl.sym, cols))
    else:
        cols = list(range(len(name_of)))
    times = np.unique(kl.open_time)
    if start_ms is not None:
        warm = int(min(want_warm, np.count_nonzero(times < start_ms)))
        times_before = np.count_nonzero(times < start_ms)
        kl = kl.take(kl.open_time >= (times[times_before - warm] if warm else start_ms))
        times = times[times_before - warm :]
    else:
        warm = warmup_from_data(want_warm, times.size)
    if times.size - warm < 1:
        raise no_klines_error(interval, data_path, start_ms, end_ms, await _data_dates(data_path, interval, symbols, black))
    if warm < want_warm:  # then the warm-up starts at the data's first kline: times[0]
        log.warning(
            "backtest warm-up: %d of %d klines before the start (the data begins %s UTC): "
            "ratings and z-scores settle inside the run",
            warm, want_warm, utc_text(int(times[0])),
        )  # fmt: skip
    live_start = int(times[warm])
    if check_db and store:  # after every refusal of the data above, before the replay
        await probe_db(db_path if db_path is not None else bcfg.db_path())

    from tui_trader.market.replay import ReplayData

    run_data = ReplayData(list(data.symbols), interval_ms, kl, dict(data.rejects), list(data.files))
    engine = build_engine(
        bcfg,
        persist=False,
        mode="paper",
        session_kind="backtest",
        autostart=True,
        clock=ManualClock(0),
        label=run_id or "",
        kind="replay",
        data=run_data,
        warmup_klines=warm,
        speed="max",
    )

    fills: list[Fill] = []
    open_syms: set[str] = set()
    pos_events: list[tuple[int, int]] = []
    total_batches = int(times.size - warm)
    done = [0]
    step = max(1, total_batches // 200)

    def on_fill(ev: FillEvent) -> None:
        fills.append(ev.fill)

    reasons: dict[str, str] = {}
    order_pnl: dict[str, Decimal] = {}

    def on_order(ev: OrderUpdate) -> None:
        o = ev.order
        reasons[o.client_order_id] = o.reason
        if o.status.is_final:
            order_pnl[o.client_order_id] = o.realized_pnl

    def on_position(ev: PositionUpdate) -> None:
        if ev.position is None or ev.position.quantity == 0:
            open_syms.discard(ev.symbol)
        else:
            open_syms.add(ev.symbol)
        pos_events.append((ev.ts_ms, len(open_syms)))

    state_changes: list[tuple[int, str, str, str]] = []

    def on_state(ev: StateChange) -> None:
        state_changes.append((int(ev.ts_ms), str(ev.old.value), str(ev.new.value), ev.reason))

    # the equity sample the engine takes at each period end, kept here whole: the engine's own
    # curve is a bounded ring (a console's chart) that a long backtest would overrun
    samples: dict[int, float] = {}
    exact: dict[int, Decimal] = {}  # the same samples without the float sum's drift, for equity.csv

    def on_period(ev: RatingUpdate) -> None:
        samples[int(ev.ts_ms)] = float(engine.portfolio.equity)  # published right after the sample
        exact[int(ev.ts_ms)] = exact_equity(engine.portfolio)

    def on_price(ev: PriceUpdate) -> None:
        done[0] += 1
        if progress is not None and (done[0] % step == 0 or done[0] == total_batches):
            progress(min(done[0], total_batches), total_batches)

    engine.bus.subscribe(on_fill, FillEvent)
    engine.bus.subscribe(on_order, OrderUpdate)
    engine.bus.subscribe(on_position, PositionUpdate)
    engine.bus.subscribe(on_price, PriceUpdate)
    engine.bus.subscribe(on_state, StateChange)
    engine.bus.subscribe(on_period, RatingUpdate)
    try:
        await engine.start_up()
        done[0] = 0  # warm-up publishes no PriceUpdate, but be safe
        await engine.run()
    finally:
        await engine.stop()
    wall = time.perf_counter() - wall0

    symbols_out = list(engine.symbols) or [name_of[c] for c in cols]
    starting = float(bcfg.broker.starting_balance)
    live = kl.open_time >= live_start
    ot, mat = close_matrix(kl.open_time[live], kl.sym[live], kl.close[live], len(name_of))
    mat = mat[:, cols]  # the backtest's symbols only
    last = dict(zip([name_of[c] for c in cols], _last_closes(mat).tolist(), strict=True))
    eq_ts = np.fromiter(samples.keys(), dtype=np.int64, count=len(samples))
    eq = np.fromiter(samples.values(), dtype=np.float64, count=len(samples))
    keep = eq_ts >= live_start
    eq_ts, eq = eq_ts[keep], eq[keep]
    eq_exact = [exact[int(t)] for t in eq_ts]
    if eq_ts.size == 0 or eq_ts[0] > live_start:
        eq_ts = np.concatenate(([live_start], eq_ts)).astype(np.int64)
        eq = np.concatenate(([starting], eq))
        eq_exact.insert(0, engine.portfolio.starting_cash)
    last_close_ms = int(times[-1]) + interval_ms
    if last_close_ms > int(eq_ts[-1]):
        # the data ends inside a rating period (of several klines): its last klines still move the
        # book (a stop loss may fill there) and buy-and-hold is measured to the last close, so the
        # strategy is too, its positions marked at their last closes
        eq_ts = np.append(eq_ts, last_close_ms).astype(np.int64)
        pf = engine.portfolio
        eq = np.append(eq, sum((float(p.quantity) * last[s] for s, p in pf.positions.items()), float(pf.cash)))
        eq_exact.append(exact_equity(pf, last))
    if pos_events:
        pts = np.array([t for t, _ in pos_events], dtype=np.int64)
        pcs = np.array([c for _, c in pos_events], dtype=np.int64)
        idx = np.searchsorted(pts, eq_ts, side="right") - 1
        counts = np.where(idx >= 0, pcs[np.maximum(idx, 0)], 0)
    else:
        counts = np.zeros(eq_ts.size, dtype=np.int64)

    # baselines on the same closes, sampled at the engine's period ends
    period_ms = period_ms_for(bcfg, interval_ms)
    close_ts = ot + interval_ms  # the moment each close is known
    on_grid = close_ts % period_ms == 0
    on_grid[-1] = True
    # carry the last close of each period onto its period end
    ffill_idx = np.maximum.accumulate(
        np.where(np.isfinite(mat), np.arange(mat.shape[0])[:, None], -1), axis=0
    )
    carried = np.where(ffill_idx >= 0, mat[np.maximum(ffill_idx, 0), np.arange(mat.shape[1])], np.nan)
    # a symbol without a kline in the span could never be bought: buy-and-hold splits the cash
    # among those that could be (a slice kept in cash for it dragged the baseline down)
    priced = np.isfinite(mat).any(axis=0)
    if not priced.all():
        log.warning(
            "buy-and-hold: no %s klines of %s from %s to %s UTC: left out of the baseline",
            interval, ", ".join(n for n, p in zip([name_of[c] for c in cols], priced, strict=True) if not p),
            utc_text(live_start), utc_text(int(close_ts[-1])),
        )  # fmt: skip
    baselines, curves = compute_baselines(
        close_ts[on_grid],
        carried[on_grid][:, priced],
        starting,
        bcfg.broker.fee_rate,
        interval_ms=period_ms,
        start_ms=live_start,  # as the strategy's curve: a start inside a period is not its period's start
    )

    end_ts = int(max(int(eq_ts[-1]), int(close_ts[-1])))
    marks = {s: (end_ts, Decimal(repr(last[s]))) for s in open_syms if s in last and np.isfinite(last[s])}
    trades = trades_from_fills(fills, marks=marks)
    # exposure from the trades' own times, not from the position counts at period ends: with a
    # rating period of several klines a trade held inside one was missed, or counted whole
    metrics = compute_metrics(eq_ts, eq, trades, fills=fills, period_ms=period_ms)

    result = BacktestResult(
        run_id=run_id or _new_run_id(),
        config=redacted_dump(bcfg),
        symbols=symbols_out,
        interval=interval,
        start_ms=live_start,
        end_ms=int(close_ts[-1]),
        equity_ts=eq_ts,
        equity=eq,
        fills=fills,
        trades=trades,
        metrics=metrics,
        baselines=baselines,
        per_symbol=per_symbol_breakdown(trades, fills, symbols_out),  # every symbol, traded or not
        n_klines=int(np.count_nonzero(live)),
        wall_time_s=wall,
        baseline_curves=curves,
        position_counts=counts,
        # the start-up switch to running is the host's doing, not news
        state_changes=[
            c for c in state_changes if not (c[0] <= live_start and c[1:3] == ("stopped", "running"))
        ],
        final_state=str(engine.state.value),
        order_reasons=reasons,
        order_pnl=order_pnl,
        equity_exact=eq_exact,
    )
    if store:
        await store_result(result, db_path if db_path is not None else bcfg.db_path(), str(data_path))
    return result


def _trades_to_store(result: BacktestResult) -> list:
    """The run's fills as stored trades, each with its order's reason, and the realised PnL of
    its order on the order's last fill (paper orders fill at once: one fill each)."""
    from tui_trader.storage import BacktestTrade

    last = {f.client_order_id: i for i, f in enumerate(result.fills)}
    return [
        BacktestTrade.from_fill(
            f,
            realized_pnl=result.order_pnl.get(f.client_order_id, Decimal(0)) if last[f.client_order_id] == i
            else Decimal(0),
            reason=result.order_reasons.get(f.client_order_id, ""),
        )
        for i, f in enumerate(result.fills)
    ]


async def store_result(result: BacktestResult, db_path: str | Path, data_desc: str = "") -> None:
    """Save the run (config, fills as trades, equity curve, figures) under ``result.run_id``."""
    from tui_trader.storage import Database

    desc = (
        f"{data_desc} {result.interval} {','.join(result.symbols)} {result.start_ms}..{result.end_ms}"
    ).strip()
    summary = json_safe({
        "metrics": result.metrics,
        "baselines": result.baselines,
        "per_symbol": result.per_symbol,
        "n_klines": result.n_klines,
        "wall_time_s": result.wall_time_s,
        # the report screen draws buy-and-hold beside the strategy
        "baseline_curves": {
            name: {"ts_ms": np.asarray(c[0]).tolist(), "equity": np.asarray(c[1]).tolist()}
            for name, c in (result.baseline_curves or {}).items() if name == "buy_and_hold"
        },
    })  # fmt: skip
    db = await Database.open(db_path, start_writer=False)
    try:
        await db.save_backtest_run(
            result.run_id,
            int(time.time() * 1000),  # bookkeeping stamp only, never a decision
            result.config,
            desc,
            summary,
            _trades_to_store(result),
            result.equity_ts,
            result.equity,
        )
    finally:
        await db.close()


# ---------------------------------------------------------------------------
# Sweep runner (top level: picklable for process pools)
# ---------------------------------------------------------------------------

_DATA_CACHE: dict[tuple, Any] = {}


def _black_key(blacklist: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted({b.strip().upper() for b in blacklist}))


def keep_data(
    path: str | Path, interval: str, symbols: Sequence[str] | None, data: Any, max_price_jump: float | None = None,
    blacklist: Sequence[str] = (),
) -> None:
    """Hand klines loaded elsewhere (the sweep's check of its data, with ``blacklist``:
    ``feed.universe.blacklist``) to this process's cache, so a sweep run in this process does not
    load them again."""
    _DATA_CACHE.clear()
    key = (os.path.abspath(path), interval, tuple(symbols) if symbols else None, max_price_jump, _black_key(blacklist))
    _DATA_CACHE[key] = data


def _cached_data(
    path: str, interval: str, symbols: tuple[str, ...] | None, max_price_jump: float | None = None,
    blacklist: Sequence[str] = (),
) -> Any:
    """The klines of a sweep's worker, loaded as the sweep's own check loaded them: without the
    blacklisted symbols' files (their warnings were said from the worker, under the progress bar,
    for symbols no point trades)."""
    from tui_trader.market.replay import load_klines
    from tui_trader.market.validation import DEFAULT_MAX_PRICE_JUMP

    key = (os.path.abspath(path), interval, symbols, max_price_jump, _black_key(blacklist))
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one data set per worker process
        jump = DEFAULT_MAX_PRICE_JUMP if max_price_jump is None else max_price_jump
        _DATA_CACHE[key] = load_klines(path, interval, list(symbols) if symbols else None, max_price_jump=jump,
                                       blacklist=blacklist)
    return _DATA_CACHE[key]


class _Kept(logging.Handler):
    """Keeps the messages of the records it gets, each once, in order."""

    def __init__(self, forward: logging.Handler | None = None) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.forward = forward  # also handles every record (see said_warnings)

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg not in self.messages:
            self.messages.append(msg)
        if self.forward is not None and record.levelno >= self.forward.level:
            self.forward.handle(record)


@contextmanager
def said_warnings() -> Iterator[list[str]]:
    """The warnings ``tui_trader`` logs inside the block, listed in what it yields (each once) and
    still said as usual."""
    logger = logging.getLogger("tui_trader")
    # With no handler configured (`tui-trader backtest` sets none up) a record goes to
    # logging.lastResort, on stderr; the handler added here took its place, and the data's
    # rejected rows were said nowhere: it passes them on to lastResort itself.
    kept = _Kept(None if logger.hasHandlers() else logging.lastResort)
    logger.addHandler(kept)
    try:
        yield kept.messages
    finally:
        logger.removeHandler(kept)


@contextmanager
def kept_warnings() -> Iterator[list[str]]:
    """The warnings ``tui_trader`` logs inside the block, kept in the list it yields instead of
    printed (each once). A sweep's runs report them with the point they came from, where the
    workers' own stderr would interleave them, unlabelled, under the progress bar."""
    logger = logging.getLogger("tui_trader")
    kept = _Kept()
    propagate = logger.propagate
    logger.addHandler(kept)
    logger.propagate = False
    try:
        yield kept.messages
    finally:
        logger.removeHandler(kept)
        logger.propagate = propagate


def sweep_runner(config_dict: dict[str, Any], data_spec: dict[str, Any]) -> dict[str, Any]:
    """Run one backtest for a sweep and return its metrics, with ``warnings``: what the run
    logged at warning level or above (see :func:`kept_warnings`).

    ``data_spec``: ``path`` and ``interval`` (required), ``symbols`` (list, optional),
    ``start_ms`` / ``end_ms`` (optional; set per window by walk-forward), ``max_price_jump``
    (optional, ``feed.max_price_jump``), ``db_path`` (optional: the run is stored there, as a
    plain backtest's, and its ``run_id`` returned with the metrics; without it nothing is
    stored), ``said`` (optional: the sweep loaded the same data itself and said its warnings, its
    rejected rows, once; a worker's load of it says them no more). The data is loaded once per
    worker process and reused.
    """
    for key in ("path", "interval"):
        if not data_spec.get(key):
            raise ValueError(f"sweep data_spec needs {key!r}")
    dp = dict(config_dict.get("data_processing") or {})
    if dp.get("rating_worker", "auto") == "auto":
        # the sweep's points already keep every core busy: no second process per point
        config_dict = {**config_dict, "data_processing": {**dp, "rating_worker": "off"}}
    cfg = Config.model_validate(config_dict)
    syms = tuple(data_spec["symbols"]) if data_spec.get("symbols") else None
    # each worker's load said the data's rejected rows again on its stderr, under the progress bar,
    # after the sweep's own load had said them once
    with kept_warnings() if data_spec.get("said") else nullcontext():
        data = _cached_data(str(data_spec["path"]), data_spec["interval"], syms, data_spec.get("max_price_jump"),
                            cfg.feed.universe.blacklist)
    with kept_warnings() as warnings:
        res = asyncio.run(
            run_backtest(
                cfg,
                data_spec["path"],
                data_spec["interval"],
                symbols=list(syms) if syms else None,
                start_ms=data_spec.get("start_ms"),
                end_ms=data_spec.get("end_ms"),
                db_path=data_spec.get("db_path"),
                store=bool(data_spec.get("db_path")),
                data=data,
            )
        )
    out = dict(res.metrics)
    if data_spec.get("db_path"):
        out["run_id"] = res.run_id
    out["buy_and_hold_return"] = res.baselines["buy_and_hold"]["total_return"]
    out["warnings"] = list(warnings)
    return out
