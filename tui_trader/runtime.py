"""Build an engine for a host: choose the clock, the feed and the broker.

Only these three differ between the console, the headless runner and the
backtester; everything else is the same :class:`~tui_trader.engine.TradingEngine`.
"""

from __future__ import annotations

import os
from typing import Any

from tui_trader.clock import Clock, ManualClock, WallClock
from tui_trader.config import ENV_API_KEY, ENV_API_SECRET, Config
from tui_trader.engine import TradingEngine


def make_clock(cfg: Config, kind: str | None = None) -> Clock:
    """Simulated and replayed feeds drive a ManualClock from their event times
    (deterministic runs); the live feed uses real time. ``kind``: the feed's kind when it is not
    ``feed.kind`` (a ``kind`` override of :func:`build_engine`)."""
    return WallClock() if (kind or cfg.feed.kind) == "binance" else ManualClock(0)


def build_engine(
    cfg: Config,
    *,
    db_path: str | None = None,
    persist: bool = True,
    mode: str | None = None,
    session_kind: str = "tui",
    autostart: bool = False,
    keep_held: bool = False,
    clock: Clock | None = None,
    label: str = "",
    **feed_overrides: Any,
) -> TradingEngine:
    """A ready-to-start engine. ``mode`` defaults to "live" for the Binance broker, else "paper".

    ``feed_overrides`` go to the feed constructor (e.g. ``n_symbols=2000``, ``max_klines=50``,
    ``data=ReplayData``). Live mode reads the API keys from the environment here and
    nowhere else.
    """
    from tui_trader.market.factory import build_feed

    # the clock of the feed built: a sim asked for over a binance configuration ran on the wall
    # clock (its events' times and now far apart), a binance feed over a sim one on a clock at 0
    clock = clock or make_clock(cfg, feed_overrides.get("kind"))
    feed = build_feed(cfg, clock, **feed_overrides)
    broker = None
    if cfg.broker.kind == "binance":
        from tui_trader.execution.binance_broker import BinanceBroker

        key, secret = os.environ.get(ENV_API_KEY, ""), os.environ.get(ENV_API_SECRET, "")
        if not key or not secret:
            raise RuntimeError(f"live trading needs {ENV_API_KEY} and {ENV_API_SECRET} in the environment")
        broker = BinanceBroker(cfg, clock, key, secret)
        use_server_clock = getattr(feed, "use_server_clock", None)
        if use_server_clock is not None:  # the feed reads a ban's end on the exchange's clock
            live = broker
            use_server_clock(lambda: live.clock_offset_ms)
    mode = mode or ("live" if cfg.broker.kind == "binance" else "paper")
    return TradingEngine(
        cfg,
        feed=feed,
        clock=clock,
        broker=broker,
        db_path=db_path,
        persist=persist,
        mode=mode,
        session_kind=session_kind,
        autostart=autostart,
        keep_held=keep_held,
        label=label,
    )
