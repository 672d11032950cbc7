"""Helpers for the console tests: a real engine on a seeded sim feed, and the app over it.

Everything is deterministic: the sim feed is seeded and drives a ManualClock,
the feed runs at speed "max" for a bounded number of klines, and the app
masks run-dependent figures (memory, events/s).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tui_trader.config import Config
from tui_trader.runtime import build_engine
from tui_trader.ui.app import TuiTraderApp
from tui_trader.ui.widgets.prices import PricesTable


def ui_config(n_symbols: int = 40, interval: str = "1m", rating_ms: int = 60_000, warmup_periods: int = 60,
              speed: Any = "max", **ui: Any) -> Config:
    """A small, fast sim configuration (1 rating period per kline by default)."""
    return Config.model_validate(
        {
            "feed": {
                "kind": "sim",
                "interval": interval,
                "speed": speed,
                "sim": {"n_symbols": n_symbols, "warmup_periods": warmup_periods, "seed": 7},
            },
            "data_processing": {"rating_calculation_interval_ms": rating_ms},
            "ui": ui,
        }
    )


def make_engine(tmp_path: Path, cfg: Config | None = None, *, max_klines: int | None = 30,
                autostart: bool = False, mode: str = "paper", name: str = "ui.db"):
    cfg = cfg or ui_config()
    kw = {} if max_klines is None else {"max_klines": max_klines}
    return build_engine(cfg, db_path=str(tmp_path / name), mode=mode, session_kind="tui", autostart=autostart, **kw)


async def book_then_smaller_universe(tmp_path: Path) -> tuple[Config, Any, set[str]]:
    """A book traded on the default sim universe, then an engine (not started) on the same book
    whose universe is its first five symbols: ``(cfg, engine, held)``, ``held`` the symbols the
    book holds - those beyond the five are positions the market no longer carries."""
    first = make_engine(tmp_path, ui_config(), autostart=True, max_klines=30)
    await first.start_up()
    await first.run()
    await first.stop()
    held = {p.symbol for p in first.snapshot().positions}
    cfg = ui_config(n_symbols=5)  # the same book, a smaller universe
    return cfg, make_engine(tmp_path, cfg, max_klines=30), held


def make_app(engine, cfg: Config, **kw: Any) -> TuiTraderApp:
    kw.setdefault("handle_signals", False)
    kw.setdefault("mask_volatile", True)
    kw.setdefault("run_engine", False)
    kw.setdefault("freeze_gc", False)  # the test process is shared: leave its GC alone
    app = TuiTraderApp(engine, cfg, **kw)
    app.animation_level = "none"
    return app


async def ready(app: TuiTraderApp, pilot, within_s: float = 20.0) -> None:
    """Wait until the engine started up and the first refresh filled the panes."""
    await asyncio.wait_for(app.engine_ready.wait(), within_s)
    app.refresh_from_engine()
    await pilot.pause()


async def until(pred, within_s: float = 5.0, step: float = 0.01) -> bool:
    """Poll ``pred()`` until true (returns True) or the timeout (returns False)."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(step)
    return bool(pred())


async def commands_done(app: TuiTraderApp, within_s: float = 10.0) -> None:
    """Wait for every submitted command worker to finish."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        pending = [w for w in app.workers if w.group == "commands" and not w.is_finished]
        if not pending:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("commands still running")


async def key_to_effect(pilot, key: str, effect, within_s: float = 5.0) -> float:
    """Seconds from pressing ``key`` until ``effect()`` is true, watched by a task polling
    every millisecond (``pilot.press`` itself also waits for the UI to settle, which is
    not part of the latency)."""
    t0 = time.perf_counter()

    async def watch() -> float:
        while True:
            if effect():
                return time.perf_counter()
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    await pilot.press(key)
    return await asyncio.wait_for(watcher, within_s) - t0


def pause_feed_after(engine, n_klines: int) -> None:
    """Make ``engine.run()`` return after ``n_klines`` kline batches with the feed still
    connected (a still picture of a live session; ``max_klines`` would end the feed)."""
    from tui_trader.models import KlineBatch

    events = engine.feed.events

    async def limited():
        seen = 0
        async for ev in events():
            yield ev
            seen += isinstance(ev, KlineBatch)
            if seen >= n_klines:
                return

    engine.feed.events = limited


def notifications(app: TuiTraderApp) -> list[str]:
    """Titles and messages of the notifications currently shown."""
    return [f"{n.title}: {n.message}" for n in app._notifications]


def open_orders(engine) -> list:
    return [o for o in engine.orders.values() if not o.status.is_final]


def select_symbol(app: TuiTraderApp, sym: str) -> None:
    """Put the prices cursor on ``sym`` (as the operator would with the arrows)."""
    table = app.main_screen.query_one(PricesTable)
    table.focus()
    table.move_to_key(sym)
    app.selected_symbol = sym
