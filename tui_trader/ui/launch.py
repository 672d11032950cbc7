"""CLI glue for ``tui-trader tui``: decide paper/live, build the summary, run the console
(or, with ``--report``, the backtest report viewer without an engine).

``tui_trader.cli.cmd_tui`` calls :func:`main_tui`; everything else lives in
:func:`tui_trader.ui.app.run_tui`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tui_trader.config import Config, live_errors


def account_summary(cfg: Config) -> str:
    """Plain-text account and limits summary shown on the live confirmation screen."""
    rm, b = cfg.risk_management, cfg.binance
    venue = "Binance spot TESTNET" if b.testnet else "Binance spot (REAL account)"
    lines = [
        f"Exchange:        {venue}",
        *([f"Endpoint:        {b.rest_url.strip()} (binance.rest_url: orders go here)"] if b.rest_url.strip() else []),
        f"Quote asset:     {cfg.broker.quote_asset}",
        f"Universe:        {', '.join(cfg.feed.symbols) if cfg.feed.symbols else f'top {cfg.feed.universe.top_n} by volume'}",
        f"Position size:   at most {rm.max_position_percent:g}% of equity, {rm.max_total_positions} positions",
        f"Exits:           stop-loss {rm.stop_loss_percent:g}%, target {rm.profit_target_percent:g}%",
        f"Breakers:        daily loss {rm.max_daily_loss_percent:g}% -> exits only; "
        f"drawdown {rm.max_drawdown_percent:g}% -> emergency stop",
        f"Orders:          {'LIMIT IOC' if cfg.order_execution.use_limit_orders else 'MARKET'}, "
        f"max slippage {cfg.order_execution.max_slippage_percent:g}%",
        "API keys:        from BINANCE_API_KEY / BINANCE_API_SECRET (not shown)",
    ]
    return "\n".join(lines)


def no_terminal() -> str | None:
    """Why the console cannot open here: its keys are read from stdin, which must be a terminal.
    At the end of a pipe or ``/dev/null``, Textual's input thread spun on the end of file (a core
    at ~80 %, and no key to quit with). None at a terminal."""
    from tui_trader.cli import _stdin_is_terminal

    if _stdin_is_terminal():
        return None
    return ("the console reads its keys at a terminal, and stdin is not one: start it in a terminal (tmux or "
            "screen to keep it running after you log out), or use `tui-trader run --headless` for a run without one")


def main_report(cfg: Config, run_id: str | None = None) -> int:
    """The standalone backtest report viewer on ``cfg.db_path()`` (no engine is built).

    Opens the runs list, or the report of ``run_id``. A missing database, no stored runs
    or an unknown ``run_id`` prints one line on stderr and returns 2; otherwise 0.
    """
    import asyncio

    from tui_trader.ui.screens.report import BacktestReportApp, check_report_target

    path = cfg.db_path()
    error, found = asyncio.run(check_report_target(path, run_id or None))
    if error is None:
        error = no_terminal()
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app = BacktestReportApp(path, run=found if run_id else None, runs=None if run_id else found,
                            theme=cfg.ui.theme)
    app.run()
    return int(app.return_code or 0)


def database_in_use(db_path: str) -> str | None:
    """The one-line error if another tui-trader's engine holds ``db_path``'s lock, else None.

    Takes the engine's lock for a moment and lets it go: the console then refuses at once, like
    ``tui-trader run`` (exit 2), instead of drawing empty panes under an error banner. Another
    process may still take the lock between this check and the engine's start-up; :func:`run_tui`
    then exits 2 with the same line. A lock file that cannot be created (the folder not writable)
    is said the same way: the console opened on it under an error banner. A lock file the check
    made is removed again (the engine makes its own as it starts)."""
    from tui_trader.storage.lock import DatabaseInUseError, EngineLock
    from tui_trader.storage.schema import StorageError

    lock = EngineLock.for_database(db_path)
    if lock is None:
        return None
    try:
        lock.acquire()
    except (DatabaseInUseError, StorageError) as exc:
        return str(exc)
    lock.release(remove_made=True)  # a console refused later (a replay's window) leaves no .lock it made
    return None


#: Why a configuration with the live broker does not go live by itself.
LIVE_NEEDS_FLAG = (
    'the configuration sets broker.kind = "binance" (live trading), but live trading needs the --live flag '
    'and a typed confirmation: run `tui-trader --live`, or set broker.kind = "paper"'
)


def main_tui(args: argparse.Namespace, cfg: Config) -> int:
    """Open the console; ``--live`` asks for the typed confirmation. A configuration that sets
    ``broker.kind = "binance"`` without ``--live`` is refused (exit 2): live trading always takes
    the explicit flag, whatever a config file says.
    ``--report [RUN_ID]`` opens the backtest report viewer instead (:func:`main_report`)."""
    from tui_trader.runtime import build_engine
    from tui_trader.ui.app import run_tui

    report = getattr(args, "report", None)
    if report is not None:
        return main_report(cfg, report.strip() or None)
    live = bool(getattr(args, "live", False))
    if cfg.broker.kind == "binance" and not live:
        print(f"error: {LIVE_NEEDS_FLAG}", file=sys.stderr)
        return 2
    if live:
        errors = [str(e) for e in live_errors(cfg)]
        if cfg.feed.kind != "binance":
            errors.append(f'feed.kind: live trading needs the Binance market feed, not "{cfg.feed.kind}": orders '
                          "would be sized and checked on prices that are not the exchange's (drop --feed / --data)")
        if errors:
            for e in errors:
                print(f"error: {e}", file=sys.stderr)
            return 2

    busy = database_in_use(str(cfg.db_path())) or no_terminal()  # the book: see TradingEngine.__init__
    if busy is not None:  # before any screen (the live gate included) is drawn
        print(f"error: {busy}", file=sys.stderr)
        return 2

    def factory():
        # paper trading starts at once (the README's promise: trades within a minute); live waits for `s`
        return build_engine(cfg, mode="live" if live else "paper", session_kind="tui", autostart=not live,
                            keep_held=True)

    from tui_trader.monitor.logfile import logging_to_file

    with logging_to_file(cfg, logging.getLogger("tui_trader.ui")):
        return run_tui(cfg, factory, live=live, account_summary=account_summary(cfg) if live else "")
