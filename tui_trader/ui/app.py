"""The operator console: a Textual app over a running trading engine.

Threading model: the engine runs in the app's asyncio loop as an async worker
(``start_up()`` then ``run()``); workers never touch widgets. ONE timer
(``ui.refresh_ms``) reads ``engine.snapshot()``, diffs it against what is
displayed and writes only changed cells inside ``batch_update()``; a second,
slower timer (``ui.chart_refresh_ms``) redraws charts that are visible and
whose data changed. Every operator action is a :mod:`tui_trader.events`
command sent with ``engine.submit`` (source UI); its
:class:`~tui_trader.events.CommandResult` is shown as a notification.

Safety: an engine crash shows a red banner, is logged and stops the engine
(its own ``stop()``) - the app keeps running so the operator sees why.
Quitting with open positions asks first; quitting, SIGHUP (SSH drop) and
SIGTERM all end in ``engine.stop()`` (storage flushed) before the app exits.

Entry points: :func:`run_tui` (used by the CLI through
:func:`tui_trader.ui.launch.main_tui`) and :class:`TuiTraderApp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.filter import LineFilter, Monochrome, NoColor
from textual.widgets import DataTable
from textual.worker import WorkerState

from tui_trader.config import Config
from tui_trader.events import (
    AcceptAccount,
    ClosePosition,
    Command,
    CommandResult,
    EmergencyStop,
    EngineSnapshot,
    FlattenAll,
    LockSymbol,
    ManualSell,
    Pause,
    PositionView,
    ResetEmergency,
    Resume,
    RiskAlert,
    SetZThreshold,
    Start,
    StartupProgress,
    StateChange,
    SymbolHistory,
)
from tui_trader.models import EngineState, Source
from tui_trader.ui.commands import TraderCommands
from tui_trader.ui.format import fmt_exact_price, fmt_money, fmt_qty, fmt_tick_price, fmt_when, one_line
from tui_trader.ui.palette import Palette
from tui_trader.ui.screens.detail import NOT_TRADED, SymbolDetailScreen
from tui_trader.ui.screens.help import DETAIL_KEYS, HelpScreen
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.screens.modals import (
    AbandonOrderScreen,
    BuyScreen,
    ConfirmScreen,
    EmergencyStopScreen,
    NoSnapshot,
    SellScreen,
    ThresholdScreen,
)
from tui_trader.ui.screens.report import BacktestReportScreen, BacktestRunsScreen, ConsoleRunsScreen
from tui_trader.ui.screens.too_small import TooSmallScreen, too_small
from tui_trader.ui.themes import APP_VARIABLES, DEFAULT_THEME, FALLBACK_THEME, discover_themes
from tui_trader.ui.widgets.charts import Series, history_key, price_z_series
from tui_trader.ui.widgets.health import HealthTable, health_rows
from tui_trader.ui.widgets.leaderboard import LeaderboardTable
from tui_trader.ui.widgets.logs import LogBuffer, LogPane
from tui_trader.ui.widgets.positions import PositionsTable
from tui_trader.ui.widgets.prices import PricesTable
from tui_trader.ui.widgets.signals import SignalsTable
from tui_trader.ui.widgets.status_bar import StatusBar
from tui_trader.ui.widgets.table import FastTable, row_key_value

log = logging.getLogger("tui_trader.ui")
UI_DIR = Path(__file__).resolve().parent
#: Seconds the app has, after a SIGHUP / SIGTERM stopped the engine, to restore the terminal and
#: exit. A hung-up terminal can block that for ever (Textual's output queue fills and nothing
#: drains it); everything is stored and closed by then, so the process leaves anyway.
SIGNAL_EXIT_S = 5.0

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
           "error": logging.ERROR}
SYMBOL_TABLES = ("prices", "leaderboard", "positions", "signals")
#: A snapshot that keeps failing: its traceback is logged once, then its repeats are counted and
#: said in one line about this often, counted in UI ticks (``ui.refresh_ms``), not on a clock: a
#: traceback at every tick (four a second) filled the log file and rotated the night's history out.
SNAPSHOT_FAILURE_SUMMARY_S = 60.0
#: The longest error text a summary line (and the stale banner, clipped further) repeats.
SNAPSHOT_ERROR_CHARS = 500


def _error_text(exc: BaseException) -> str:
    """``Type: message`` of ``exc``; its type alone when its message itself raises."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the handling of its error
        return f"{type(exc).__name__} (its message could not be read)"


class RepeatedFailures:
    """The log of a read of the engine (``what``: its snapshot, a chart's data) that fails at UI
    ticks, counted in ticks (never a clock). An error's
    first failure (its type and the line that raised it) is logged with its traceback; its repeats
    are counted and said in one line at most once every ``every`` ticks; the first good snapshot
    after a logged failure is logged once. A snapshot that fails every other tick writes two lines
    a window, not two a tick; after ``every`` good ticks in a row the error is over, and its
    return gets its traceback again."""

    def __init__(self, every: int, what: str, meanwhile: str) -> None:
        self.every = every
        self.what = what
        self.meanwhile = meanwhile  # what the console shows until it works again
        self.key: tuple[str, str] | None = None  # the error whose traceback was logged
        self.text = ""  # the last failure's text
        self.failing = False  # the last tick's snapshot failed
        self.failures = 0  # failures since the last recovery line
        self.unlogged = 0  # repeats not said in a line yet
        self.line_tick = 0  # the tick of the last failure line
        self.good_since = 0  # the first good tick since the last failure
        self.owe_recovery = False  # a failure line was logged since the last recovery line

    def failed(self, exc: BaseException, tick: int, about: str = "") -> str:
        """Count (and log, if due) one tick's failure (``about``: what it read, for its first
        line); returns its text."""
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        key = (type(exc).__name__, f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "")
        text = one_line(_error_text(exc), SNAPSHOT_ERROR_CHARS)
        self.failing = True
        self.failures += 1
        if key != self.key:
            self._repeats()
            self.key, self.text = key, text
            for_what = f" for {about}" if about else ""
            log.error("%s failed%s: %s until it works again", self.what, for_what, self.meanwhile, exc_info=exc)
        else:
            self.text = text
            self.unlogged += 1
            if tick - self.line_tick < self.every:
                return text
            self._repeats()
        self.line_tick, self.owe_recovery = tick, True
        return text

    def ok(self, tick: int) -> None:
        """One tick's snapshot worked."""
        if self.failing:
            self.failing, self.good_since = False, tick
            if self.owe_recovery:
                self._recovered()
        elif self.key is not None and tick - self.good_since >= self.every:
            if self.unlogged:  # the repeats of a snapshot that failed now and then, never said
                self._recovered()
            self.key, self.failures = None, 0

    def _repeats(self) -> None:
        if self.unlogged:
            log.warning("%s failed %d more times: %s", self.what, self.unlogged, self.text)
            self.unlogged = 0

    def _recovered(self) -> None:
        more = f" ({self.unlogged} more since the last line)" if self.unlogged else ""
        log.warning("%s works again after %d failed refreshes%s; last error: %s",
                    self.what, self.failures, more, self.text)
        self.failures, self.unlogged, self.owe_recovery = 0, 0, False


def command_title(cmd: Command) -> str:
    """A command's name for people: ``ManualBuy`` -> ``Manual buy``, ``SetZThreshold`` -> ``Set z threshold``."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", type(cmd).__name__)
    return words.capitalize()


def trading_stays_off(res: CommandResult) -> bool:
    """The command was done, but trading stays off for another reason (its data says why)."""
    return res.ok and bool((res.data or {}).get("trading_stays_off"))


def result_title(cmd: Command, res: CommandResult) -> str:
    """A command outcome's title: its name when done, "refused" when not, and "incomplete" when
    it did only part: an emergency stop is in effect even when a position could not be closed or
    an order not cancelled, and a flatten keeps what it closed. Titled "refused", the operator
    read that the stop had not happened. A command done while trading stays off for another reason
    (``data["trading_stays_off"]``: an account accepted, an order abandoned, with another problem
    left) is titled so: "done" alone read as if trading could start."""
    name = command_title(cmd)
    if res.ok:
        return f"{name} done, trading stays off" if trading_stays_off(res) else name
    message = res.message or ""
    if (isinstance(cmd, EmergencyStop) and message.startswith("EMERGENCY STOP")
            or isinstance(cmd, FlattenAll) and message.startswith("flattened ")):
        return f"{name}: incomplete"
    return f"{name} refused"


#: The most of a reason or an error the banner shows. An emergency stop's reason is the operator's
#: free text (a paste goes in whole, and is stored and restored at the next start) and an error can
#: be pages long: the banner grew to fill the screen, hiding every pane and the hint at its end.
BANNER_TEXT_CHARS = 160


def clip(text: object, limit: int = BANNER_TEXT_CHARS) -> str:
    """``text`` as the banner shows it: :func:`~tui_trader.ui.format.one_line` of at most ``limit``."""
    return one_line(text, limit)


#: How to close positions during an emergency stop, added to a close or flatten it refused.
CLOSE_WHILE_STOPPED = "To close every position during the stop: E again, with 'Also close all positions' ticked"


#: What a key that needs the engine says while it starts up.
STARTING_UP = "the engine is starting up (recovering the book, warming the ratings up): try again once it has started"


def _order_key(action: Callable[[TuiTraderApp], None]) -> Callable[[TuiTraderApp], None]:
    """An order key's action (b, x, F, l, t, A): once the engine has stopped, refused at once
    with a toast (:meth:`TuiTraderApp._refused_engine_stopped`) instead of opening a dialog."""

    @functools.wraps(action)
    def key(app: TuiTraderApp) -> None:
        if not app._refused_engine_stopped() and not app._refused_starting_up():
            action(app)

    return key


def _engine_key(action: Callable[[TuiTraderApp], None]) -> Callable[[TuiTraderApp], None]:
    """A trading-state key's action (s, p, E, R): once the engine has stopped, refused at once with
    the toast the order keys give. They went to the stopped engine, whose answer read "Emergency
    stop refused: engine is not running (stopping)" as if the stop had failed and trading went on.
    Not refused while the engine starts up (E then is stored and takes effect when it has started)."""

    @functools.wraps(action)
    def key(app: TuiTraderApp) -> None:
        if not app._refused_engine_stopped():
            action(app)

    return key


class TuiTraderApp(App[int]):
    """The console. ``engine`` implements the host API in
    :class:`tui_trader.events.EngineHostAPI`.

    Options (tests and benchmarks): ``run_engine=False`` only runs
    ``start_up()`` (a still picture of the warmed-up engine);
    ``mask_volatile`` hides run-dependent figures (memory, events/s);
    ``handle_signals=False`` leaves SIGHUP/SIGTERM alone; ``freeze_gc=False``
    skips ``gc.freeze()`` after start-up (tests share one process).
    """

    CSS_PATH = [UI_DIR / "global.tcss", UI_DIR / "app.tcss"]  # absolute: subclasses live elsewhere
    TITLE = "tui-trader"
    COMMANDS = App.COMMANDS | {TraderCommands}
    # the emergency stop from anywhere: `E` is a letter while a dialog's field or the filter has the
    # focus, so it typed an "E" there; Ctrl+E comes before any widget (its "end of line" included)
    BINDINGS = [Binding("ctrl+e", "emergency_anywhere", "E-STOP", show=False, priority=True)]
    # above the engine's own bound on a quit (its feed, then its loop and commands, then its broker:
    # 10 s each at most): at 15 s a quit behind a slow exchange was cut off before storage closed
    STOP_TIMEOUT_S = 40.0

    def __init__(
        self,
        engine: Any,
        cfg: Config,
        *,
        run_engine: bool = True,
        mask_volatile: bool = False,
        handle_signals: bool = True,
        theme_dirs: list | None = None,
        log_capacity: int = 2000,
        freeze_gc: bool = True,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.cfg = cfg
        self.bells = 0  # terminal bells rung for critical alerts (monitoring.alerting_enabled)
        self.run_engine = run_engine
        self.mask_volatile = mask_volatile
        self.handle_signals = handle_signals
        self.freeze_gc = freeze_gc
        self.engine_ready = asyncio.Event()
        self.engine_failed: BaseException | None = None
        self.engine_finished = False
        self.selected_symbol: str | None = None
        self.palette = Palette()
        self.last_snapshot: EngineSnapshot | None = None
        self.refresh_times: deque[float] = deque(maxlen=20_000)  # seconds per UI refresh
        self.command_results: deque[tuple[Command, CommandResult]] = deque(maxlen=200)
        self.main_screen: MainScreen | None = None
        self._events: deque[Any] = deque(maxlen=500)
        self._unsubscribe: list[Callable[[], None]] = []
        self._signals: list[int] = []
        self._stopping = False
        self._asking_quit = False  # the quit question is on screen (action_quit asks it once)
        self._fill_pending = False  # panes came on screen: filled once, after the frame (PanesShown)
        self.starting_up = ""  # the engine's start-up step, shown until it is ready (see _startup_progress)
        self._exit_timer: threading.Timer | None = None  # armed after SIGHUP / SIGTERM (see SIGNAL_EXIT_S)
        self._engine_stopped = False
        self.pause_resumes = False  # the engine is paused: the footer's p reads "Resume" (KeyFooter)
        self._theme_set = discover_themes(theme_dirs)
        self.trader_themes = sorted(self._theme_set.themes)
        self._log_level = _LEVELS.get(cfg.monitoring.log_level, logging.INFO)
        self.log_buffer = LogBuffer(log_capacity, time_ms=self._engine_time_ms)
        self._chart_keys: dict[str, object] = {}
        self._ui_timers: list[Any] = []
        self._banner_override: tuple[str, str] | None = None
        self._stale_note = ""  # the last order key's snapshot failed: its dialog says so (_snapshot)
        self._logged_reason = ""  # the last banner reason logged whole (_clipped_reason)
        self._no_color_filters: dict[bool, LineFilter] = {True: NoColor(), False: Monochrome()}  # by ANSI theme
        # failing reads of the engine, logged by RepeatedFailures on the clock of their own timer's ticks
        self._ticks = 0  # UI refreshes since the engine was ready
        snap_every = max(1, round(SNAPSHOT_FAILURE_SUMMARY_S * 1000 / cfg.ui.refresh_ms))
        self._snap_failures = RepeatedFailures(snap_every, "engine snapshot", "the console shows the last good one")
        self._show_failures = RepeatedFailures(snap_every, "display refresh", "some panes may not be redrawn")
        self._chart_ticks = 0  # chart refreshes since the engine was ready
        chart_every = max(1, round(SNAPSHOT_FAILURE_SUMMARY_S / max(0.5, cfg.ui.chart_refresh_ms / 1000)))
        self._history_failures = RepeatedFailures(chart_every, "symbol history", "its chart is not redrawn")
        self._equity_failures = RepeatedFailures(chart_every, "equity curve", "its chart is not redrawn")
        self._redraw_failures = RepeatedFailures(chart_every, "chart redraw", "the charts are not redrawn")

    # ------------------------------------------------------------------ setup

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    def get_line_filters(self) -> list[LineFilter]:
        """With ``NO_COLOR``, the colour-removing filter of the theme shown now. Textual picks it
        once, in ``App.__init__``, for the theme of that moment (textual-dark: ``Monochrome``, the
        grey of each RGB colour); ``Monochrome`` reads every ANSI colour as black, so an ANSI theme
        (``tui-trader-lowcolor``, the one for plain terminals) drew black text on black. An ANSI
        theme gets ``NoColor`` (the terminal's own colours), as Textual would have chosen for it."""
        filters = list(super().get_line_filters())
        if not self.no_color:
            return filters
        wanted = self._no_color_filters[bool(self.native_ansi_color)]
        return [wanted if isinstance(f, Monochrome | NoColor) else f for f in filters]

    def get_default_screen(self) -> MainScreen:
        self.main_screen = MainScreen(self.log_buffer, self._log_level)
        return self.main_screen

    def on_mount(self) -> None:
        for theme in self._theme_set.themes.values():
            self.register_theme(theme)
        wanted = self.cfg.ui.theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.theme = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME
            log.warning("theme %r not found; using %s", wanted, self.theme)
        for err in self._theme_set.errors:
            log.warning("theme file ignored: %s", err)
        self.theme_changed_signal.subscribe(self, self._theme_changed)

        pkg_logger = logging.getLogger("tui_trader")
        pkg_logger.addHandler(self.log_buffer)
        if pkg_logger.level == logging.NOTSET:
            pkg_logger.setLevel(self._log_level)

        bus = getattr(self.engine, "bus", None)
        if bus is not None:
            self._unsubscribe.append(bus.subscribe(self._events.append, RiskAlert, StateChange))
            self._unsubscribe.append(bus.subscribe(self._startup_progress, StartupProgress))
        if self.handle_signals:
            self._install_signal_handlers()

    # -------------------------------------------------------- terminal size

    def on_resize(self, event: events.Resize) -> None:  # the App's own handler runs too
        self.check_terminal_size(event.size.width, event.size.height)

    def check_terminal_size(self, width: int | None = None, height: int | None = None) -> None:
        """Below 80x24 (:data:`~tui_trader.ui.screens.too_small.MIN_SIZE`) a notice covers the
        screen shown (:class:`TooSmallScreen`); large enough again, it goes. Only the display:
        the engine and the UI's refresh go on underneath, and ``q`` and ``E`` work on it.
        A dialog opened over the notice (q's question) keeps it until the dialog closes."""
        if width is None or height is None:
            width, height = self.size
        if width <= 0 or height <= 0 or self._stopping:  # no terminal size known (yet); quitting
            return
        shown = next((s for s in self.screen_stack if isinstance(s, TooSmallScreen)), None)
        if too_small(width, height):
            if shown is None:
                self.push_screen(TooSmallScreen())
            else:
                shown.show_size(width, height)
        elif shown is not None and self.screen is shown:
            self.pop_screen()

    def on_main_screen_ready(self, _event: MainScreen.Ready) -> None:
        main = self.main_screen
        assert main is not None
        self._status = main.query_one(StatusBar)
        self._prices = main.query_one(PricesTable)
        self._leaderboard = main.query_one(LeaderboardTable)
        self._positions = main.query_one(PositionsTable)
        self._signals_table = main.query_one(SignalsTable)
        self._health = main.query_one(HealthTable)
        self._logs = main.query_one(LogPane)

        self._theme_changed(self.current_theme)
        self._ui_timers = [
            self.set_interval(self.cfg.ui.refresh_ms / 1000, self.refresh_from_engine),
            # plotext builds cost 10-50 ms: at most 2 Hz whatever the configuration says
            self.set_interval(max(0.5, self.cfg.ui.chart_refresh_ms / 1000), self.refresh_charts),
        ]
        self.run_worker(self._engine_main(), name="engine", group="engine", exclusive=True, exit_on_error=False)
        self.call_after_refresh(self.check_terminal_size)  # started in a small terminal

    async def on_unmount(self) -> None:
        for timer in self._ui_timers:
            timer.stop()
        # a safety net: whatever ended the app, the engine is stopped and flushed
        if self.engine_ready.is_set() and not self._engine_stopped:
            await self._stop_engine()
        self._teardown()

    def _teardown(self) -> None:
        for unsub in self._unsubscribe:
            with contextlib.suppress(ValueError):
                unsub()
        self._unsubscribe.clear()
        logging.getLogger("tui_trader").removeHandler(self.log_buffer)
        if self._signals:
            loop = asyncio.get_running_loop()
            for sig in self._signals:
                loop.remove_signal_handler(sig)
            self._signals.clear()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        # Windows has neither SIGHUP nor loop signal handlers: the console then just has none
        for sig in (getattr(signal, name) for name in ("SIGHUP", "SIGTERM") if hasattr(signal, name)):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError, AttributeError):
                continue
            self._signals.append(sig)

    def _on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        log.warning("%s received: stopping the engine and exiting", name)
        self.shutdown(f"{name}: terminal hung up" if name == "SIGHUP" else name)

    def set_live_refresh(self, enabled: bool) -> None:
        """Pause / resume the UI and chart timers (a still picture; tests and screenshots).
        ``refresh_from_engine()`` / ``refresh_charts()`` still work when called directly."""
        for timer in self._ui_timers:
            timer.resume() if enabled else timer.pause()

    def _engine_time_ms(self) -> int:
        clock = getattr(self.engine, "clock", None)
        if clock is not None and hasattr(clock, "now_ms"):
            try:
                return int(clock.now_ms())
            except Exception:  # noqa: BLE001 - logging must not fail
                pass
        return self.last_snapshot.ts_ms if self.last_snapshot is not None else 0

    def _theme_changed(self, _theme: Any) -> None:
        self.palette = Palette.from_variables(self.theme_variables)
        main = self.main_screen
        if main is None or not main.is_mounted:
            return
        for w in (main.query_one(StatusBar), main.query_one(PricesTable), main.query_one(LeaderboardTable),
                  main.query_one(PositionsTable), main.query_one(SignalsTable), main.query_one(HealthTable),
                  main.query_one(LogPane)):
            w.restyle(self.palette)
        main.query_one(LeaderboardTable).force()
        self._chart_keys.clear()
        for chart in main.query("SeriesChart"):
            chart.data_key = None
        if isinstance(self.screen, SymbolDetailScreen):
            self.screen.palette = self.palette
        if self.last_snapshot is not None:
            self.refresh_from_engine()

    # ----------------------------------------------------------------- engine

    async def _engine_main(self) -> None:
        await self.engine.start_up()
        self.engine_ready.set()
        self.refresh_from_engine()
        if self.freeze_gc:
            # the warmed-up engine and the built tables are long-lived: keep them out of the
            # cyclic GC, whose full collections otherwise pause the loop for ~100 ms
            gc.collect()
            gc.freeze()
        if self.run_engine and not self._stopping:
            await self.engine.run()

    def on_worker_state_changed(self, event) -> None:
        worker = event.worker
        if worker.group != "engine":
            return
        if event.state == WorkerState.ERROR and self._stopping:
            log.warning("engine ended with an error while shutting down: %s", worker.error)
        elif event.state == WorkerState.ERROR:
            self._engine_crashed(worker.error)
        elif event.state == WorkerState.SUCCESS and self.run_engine and not self._stopping:
            self.engine_finished = True
            log.warning("engine run ended (feed finished or engine stopped)")
            self._banner("Engine stopped: the market feed ended. Press q to quit.", "warning")
            self._label_pause(False)
            self.run_worker(self._stop_engine(), group="engine-stop", exit_on_error=False)

    def _engine_crashed(self, err: BaseException | None) -> None:
        self.engine_failed = err or RuntimeError("unknown engine error")
        what = "failed to start" if not self.engine_ready.is_set() else "CRASHED"
        msg = f"ENGINE {what} — trading stopped: {type(self.engine_failed).__name__}: {self.engine_failed}"
        log.error(msg, exc_info=err)
        self._banner(clip(msg) + "  (q quits; see Logs)", "error")  # the whole of it is in the log
        self.notify(clip(msg), title="Engine error", severity="error", timeout=30)
        self._label_pause(False)
        self.run_worker(self._stop_engine(), group="engine-stop", exit_on_error=False)

    async def _stop_engine(self) -> None:
        if self._engine_stopped:
            return
        self._engine_stopped = True
        try:
            await asyncio.wait_for(self.engine.stop(), timeout=self.STOP_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - report, keep the console alive
            log.exception("engine stop failed")

    def _startup_progress(self, ev: StartupProgress) -> None:
        """The engine's warm-up steps, shown in the banner until the first snapshot."""
        step = f"{ev.done:,} / {ev.total:,} periods" if ev.total else "…"
        self.starting_up = f"Starting up: {ev.stage}, {step}"
        self._show_starting_up()  # now: the UI timer may not fire before the engine's next step

    def _show_starting_up(self) -> None:
        """Until the engine is ready: its log lines, and how far its start-up is (unless it failed)."""
        main = self.main_screen
        if self.engine_ready.is_set() or main is None or not main.is_mounted:
            return
        with contextlib.suppress(NoMatches):
            self._logs.drain()
            if self.starting_up and self.engine_failed is None:
                main.show_banner(self.starting_up, "info")

    def _banner(self, text: str, severity: str) -> None:
        self._banner_override = (text, severity)
        if self.main_screen is not None and self.main_screen.is_mounted:
            self.main_screen.show_banner(text, severity)

    def _engine_gone(self) -> bool:
        """The engine has stopped (feed ended, failed, or the console quits): s, p, E, R are refused."""
        return self.engine_failed is not None or self.engine_finished or self._stopping or self._engine_stopped

    def _label_pause(self, paused: bool) -> None:
        """The footer's p: "Resume" while paused, but not once the engine has stopped (the key is
        then refused, as the order keys are, and its label reads "Pause" as theirs read as usual)."""
        paused = paused and not self._engine_gone()
        if paused != self.pause_resumes:
            self.pause_resumes = paused
            self.refresh_bindings()

    # ---------------------------------------------------------------- refresh

    def refresh_from_engine(self) -> None:
        """Read one snapshot and apply only what changed (the UI timer)."""
        if not self.engine_ready.is_set():
            self._show_starting_up()  # no snapshot yet: a long start-up, or one that failed
            return
        t0 = time.perf_counter()
        self._ticks += 1
        try:
            snap = self.engine.snapshot()
        except Exception as exc:  # noqa: BLE001
            text = self._snap_failures.failed(exc, self._ticks)
            # the engine's alerts come by its bus, not in the snapshot: a risk alert or an emergency
            # stop (toast, bell) waited for the snapshot to work again
            self._drain_events()
            with contextlib.suppress(NoMatches):  # every screen's bar: the detail has no banner
                for screen in self.screen_stack:
                    for bar in screen.query(StatusBar):
                        bar.show_stale()
            main = self.main_screen
            if self._banner_override is None and main is not None and main.is_mounted:
                stale = clip(f"DISPLAY STALE: the engine's snapshot fails ({text})") + "  (see Logs)"
                last = self.last_snapshot
                # the last state seen (an emergency stop) stays first: the stale line alone hid it
                state = self._state_banner(last)[0] if last is not None else ""
                with contextlib.suppress(NoMatches):  # (the next good snapshot's apply replaces it)
                    main.show_banner(f"{state} · {stale}" if state else stale, "error")
            return
        self._snap_failures.ok(self._ticks)
        self.last_snapshot = snap
        self._label_pause(snap.state == EngineState.PAUSED)
        try:
            with self.batch_update():
                self._apply_main(snap)
                for screen in self.screen_stack:  # the detail's and the backtest reports' bars
                    if screen is not self.main_screen:
                        for bar in screen.query(StatusBar):
                            bar.show(snap)
                self._drain_events()
        except NoMatches:  # the app is being torn down (widgets already removed)
            return
        except Exception as exc:  # noqa: BLE001 - a snapshot the panes cannot show: from the timer, it ended the console
            self._show_failures.failed(exc, self._ticks)
            return
        self._show_failures.ok(self._ticks)
        self.refresh_times.append(time.perf_counter() - t0)

    def _apply_main(self, snap: EngineSnapshot) -> None:
        main = self.main_screen
        if main is None or not main.is_mounted:
            return
        self._status.show(snap)
        if main.is_visible("prices"):
            self._prices.apply(snap.market, snap.locked)
        held = frozenset(p.symbol for p in snap.positions)
        if main.is_visible("leaderboard"):
            self._leaderboard.apply(snap.leaderboard, snap.locked, held)
        self._positions.apply(snap.positions, snap.ts_ms, snap.locked)
        upnl = sum(p.unrealized_pnl for p in snap.positions)
        pos_pane = main.pane("positions")
        pos_pane.set_class(upnl > 0, "-profit")
        pos_pane.set_class(upnl < 0, "-loss")
        # the total in words too: the title's colour alone says nothing on a monochrome terminal
        title = f"Positions {len(snap.positions)} · uPnL {fmt_money(upnl, sign=True)}" if snap.positions else "Positions"
        if pos_pane.border_title != title:
            pos_pane.border_title = title
        health_pane = main.pane("health")
        for status in ("healthy", "warning", "unhealthy"):
            health_pane.set_class(snap.health.overall == status, f"-{status}")
        self._signals_table.apply(snap.signals, snap.ts_ms)
        if main.is_visible("health"):
            self._health.apply(health_rows(snap, self.cfg.risk_management.max_total_positions, self.mask_volatile))
        self._logs.drain()
        if self.selected_symbol is None and snap.market.symbols:
            # under a filter that shows nothing, nothing is selected (not a hidden symbol)
            fallback = None if self._prices.filter_text else snap.market.symbols[0]
            self.selected_symbol = self._prices.selected_key or fallback
        override = self._banner_override
        main.show_banner(*(override if override is not None else self._state_banner(snap)))

    def _state_banner(self, snap: EngineSnapshot) -> tuple[str, str]:
        """The banner of ``snap``'s engine state (empty text: none)."""
        if snap.state == EngineState.EMERGENCY_STOPPED:
            reason = self._clipped_reason("emergency stop", snap.state_reason or "stopped")
            return f"EMERGENCY STOP: {reason} — R resets", "error"
        if snap.state == EngineState.REDUCING:
            return f"REDUCING (exits only): {self._clipped_reason('reducing', snap.state_reason)}", "warning"
        if snap.state == EngineState.STOPPED and snap.positions:
            # after an emergency reset (or a book left so): nothing protects what is held, and
            # nothing on screen said so; x and F close without a start (875ca3d)
            return (f"STOPPED with {len(snap.positions)} open position(s): no stop loss or profit target "
                    "runs until s starts trading; x / F close them", "warning")
        return "", "info"

    def _clipped_reason(self, what: str, reason: str) -> str:
        """``reason`` as the banner shows it (:func:`clip`). A reason it cuts is logged whole, once:
        an operator's emergency stop is logged nowhere else in its session, so the end of a reason
        pasted into the dialog could not be read at all until a restart logged it."""
        shown = clip(reason)
        if shown != " ".join(str(reason).split()) and self._logged_reason != reason:  # cut, not only joined
            self._logged_reason = reason
            if not any(reason in ln.text for ln in self.log_buffer.since(0)):
                log.warning("%s reason in full: %s", what, reason)
        return shown

    def _drain_events(self) -> None:
        ring = False
        while self._events:
            ev = self._events.popleft()
            if isinstance(ev, RiskAlert):
                if ev.severity in ("warning", "critical"):
                    self.notify(ev.message, title=f"Risk: {ev.code}",
                                severity="error" if ev.severity == "critical" else "warning", timeout=8)
                ring |= ev.severity == "critical"
            elif isinstance(ev, StateChange) and ev.source != Source.UI:
                sev = "error" if ev.new == EngineState.EMERGENCY_STOPPED else "warning"
                self.notify(f"{ev.old} → {ev.new} ({ev.source}): {ev.reason}", title="Engine state", severity=sev)
                ring |= ev.new == EngineState.EMERGENCY_STOPPED
        if ring and self.cfg.monitoring.alerting_enabled:
            # an operator watching another window over SSH hears it (monitoring.alerting_enabled)
            self.bell()
            self.bells += 1

    def refresh_charts(self) -> None:
        """Redraw visible charts whose data changed (chart timer, ≤ 2 Hz)."""
        if not self.engine_ready.is_set():
            return
        self._chart_ticks += 1
        try:
            self._refresh_charts()
        except NoMatches:  # torn down meanwhile
            return
        except Exception as exc:  # noqa: BLE001 - data the chart cannot draw: from the timer, it ended the console
            self._redraw_failures.failed(exc, self._chart_ticks)
            return
        self._redraw_failures.ok(self._chart_ticks)

    def _history(self, symbol: str) -> SymbolHistory | None | KeyError:
        """``symbol``'s history; the KeyError when the session's market has no such symbol (a
        position or a signal restored from a book whose universe held it); None when it failed."""
        try:
            hist = self.engine.symbol_history(symbol)
        except KeyError as exc:  # no failure: nothing to log (at each chart tick, twice a second)
            return exc
        except Exception as exc:  # noqa: BLE001 - logged once, then counted (at each chart tick)
            self._history_failures.failed(exc, self._chart_ticks, symbol)
            return None
        self._history_failures.ok(self._chart_ticks)
        return hist

    def _uncarried_history(self, symbol: str) -> SymbolHistory | None:
        """The stored orders and fills of a symbol the session's market does not carry (the
        engine's ``uncarried_history``); None when there are none to show: the market carries it
        after all (charted at the next tick), or the read failed (logged once, then counted, as a
        chart's history is)."""
        try:
            hist = self.engine.uncarried_history(symbol)
        except KeyError:
            return None
        except Exception as exc:  # noqa: BLE001 - at each chart tick, twice a second
            self._history_failures.failed(exc, self._chart_ticks, symbol)
            return None
        self._history_failures.ok(self._chart_ticks)
        return hist

    def _refresh_charts(self) -> None:
        # the screen shown, under any dialog: a detail under one (b, x, E) stood still around it
        screen = next((s for s in reversed(self.screen_stack) if not s.is_modal), self.screen)
        if isinstance(screen, SymbolDetailScreen):
            hist = self._history(screen.symbol)
            snap = self.last_snapshot
            now_ms = snap.ts_ms if snap is not None else None
            if isinstance(hist, KeyError):
                screen.show_not_traded(self._uncarried_history(screen.symbol), now_ms=now_ms)
            elif hist is not None:
                # the last price is the market's (the prices pane's, the position's PnL), not the
                # last rating period's close: that lagged by up to a period (5 min by default)
                last = self._price_of(snap, screen.symbol) if snap is not None else None
                screen.show(hist, last_price=last if last is not None and math.isfinite(last) else None,
                            now_ms=now_ms, price_decimals=self._tick_decimals_of(snap, screen.symbol))
            return
        main = self.main_screen
        if main is None or not main.is_visible("charts") or not self._on_main():
            return
        sym = self.selected_symbol
        if sym:
            hist = self._history(sym)
            chart = main.query_one("#symbol-chart")
            if isinstance(hist, KeyError):  # not another symbol's chart under this one's name
                chart.draw(("not traded", sym), np.empty(0, dtype=np.int64), [], title=f"{sym}: {NOT_TRADED}")
            elif hist is not None:
                series, hl = price_z_series(hist)
                chart.draw(history_key(hist), hist.ts_ms, series, hl, title=f"{sym}: z (left) · price (right)")
        try:
            ts, eq = self.engine.equity_curve()
        except Exception as exc:  # noqa: BLE001 - from the timer, it ended the console
            self._equity_failures.failed(exc, self._chart_ticks)
            return
        self._equity_failures.ok(self._chart_ticks)
        key = (int(ts.size), float(eq[-1]) if eq.size else 0.0)
        main.query_one("#equity-chart").draw(key, ts, [Series("equity", eq, "green")], title="equity")

    def _on_main(self) -> bool:
        """The main screen is showing (possibly under a modal)."""
        for screen in reversed(self.screen_stack):
            if screen is self.main_screen:
                return True
            if not screen.is_modal:
                return False
        return False

    # --------------------------------------------------------------- commands

    def submit(self, cmd: Command) -> None:
        """Send ``cmd`` to the engine in a worker; the outcome is notified."""
        self.run_worker(self._submit(cmd), group="commands", exit_on_error=False)

    def _engine_failure(self) -> str | None:
        """Why the engine is gone after an error (None if it did not fail)."""
        failed = self.engine_failed
        if failed is None:
            return None
        what = "crashed" if self.engine_ready.is_set() else "did not start"
        return (f"the engine {what} ({clip(f'{type(failed).__name__}: {failed}')}); fix the cause, "
                "then quit (q) and start tui-trader again")

    def _refused_engine_stopped(self) -> bool:
        """For the order keys (b, x, F, l, t, A): once the engine has stopped (its feed ended, it
        failed, or the console is quitting) say so at once (True) instead of opening a dialog
        whose command the engine could only refuse."""
        why = self._engine_failure()
        if why is None:
            if self.engine_finished:
                why = "the engine has stopped (the market feed ended): nothing more is traded; quit (q)"
            elif self._stopping or self._engine_stopped:
                why = "the engine has stopped (the console is quitting)"
            else:
                return False
        self.notify(why, title="Engine stopped", severity="error", timeout=8)
        return True

    def _refused_starting_up(self) -> bool:
        """For the order keys: while the engine starts up say so at once (True); they said "the
        engine is not running", as if it had stopped, and the engine applies nothing before its
        start-up ends."""
        if self.engine_ready.is_set():
            return False
        self.notify(STARTING_UP, title="Starting up", severity="warning")
        return True

    async def _submit(self, cmd: Command) -> CommandResult:
        name = command_title(cmd)
        failure = self._engine_failure()
        try:
            if failure is not None:  # the engine is gone: say why, not just "not running"
                res = CommandResult(False, failure, command=type(cmd).__name__)
            else:
                res = await self.engine.submit(cmd)
        except Exception as exc:  # noqa: BLE001 - an engine bug must not kill the console
            log.exception("command %s failed", name)
            res = CommandResult(False, f"{type(exc).__name__}: {exc}", command=type(cmd).__name__)
        self.command_results.append((cmd, res))
        if (not res.ok and isinstance(cmd, ClosePosition | ManualSell | FlattenAll)
                and getattr(self.engine, "state", None) == EngineState.EMERGENCY_STOPPED):
            # the engine's "no orders until the operator resets it" left the operator who wants
            # out of a position during the stop with a reset (then a start) as the only way seen
            res = CommandResult(False, f"{res.message}. {CLOSE_WHILE_STOPPED}", command=res.command, data=res.data)
        if trading_stays_off(res):  # done, but not the all-clear its plain title would read as
            self.notify(res.message, title=result_title(cmd, res), severity="warning", timeout=8)
        elif res.ok:
            self.notify(res.message or "done", title=name, timeout=4)
        else:
            self.notify(res.message or "refused", title=result_title(cmd, res), severity="error", timeout=8)
        self.refresh_from_engine()
        return res

    def _symbol(self) -> str | None:
        # a symbol's detail (under any dialog): its own symbol. The main screen's table under it
        # keeps its focus, and a row removed there (the detail's position sold by a stop loss)
        # moved its cursor, and the selected symbol, onto another: x on one symbol's detail
        # opened the sell of another
        for screen in reversed(self.screen_stack):
            if isinstance(screen, SymbolDetailScreen):
                return screen.symbol
            if not screen.is_modal:
                break
        # the row under the focused table's cursor now: the RowHighlighted message that records
        # it reaches the app after the keys already queued (Down then b typed ahead over a slow
        # link acted on the symbol before the Down)
        table = self.focused
        if isinstance(table, FastTable) and table.screen is self.main_screen:
            sym = self._row_symbol(table, table.selected_key)
            if sym is not None:
                self.selected_symbol = sym
        sym = self.selected_symbol
        if not sym:
            self.notify("select a symbol first (prices, leaderboard, positions or signals)", severity="warning")
        return sym

    def _snapshot(self) -> EngineSnapshot | None:
        if not self.engine_ready.is_set():
            self.notify(STARTING_UP, title="Starting up", severity="warning")
            return None
        self._stale_note = ""
        try:
            return self.engine.snapshot()
        except Exception as exc:  # noqa: BLE001 - the UI timer logs it (RepeatedFailures)
            last = self.last_snapshot
            error = clip(_error_text(exc), 80)
            if last is None:
                self.notify(f"the engine's snapshot fails ({error}) and there is no earlier one: try again; see Logs",
                            title="Display stale", severity="error", timeout=8)
                return None
            # its figures were used without a word: an operator could buy or sell on old prices
            when = fmt_when(last.ts_ms, self._engine_time_ms())
            self._stale_note = (f"STALE: the engine's snapshot fails ({error}); the figures here are the last "
                                f"good snapshot's, of {when}")
            return last

    def _dialog(self, screen: Any, callback: Callable[[Any], Any]) -> None:
        """Open an order key's dialog, saying so when its figures are stale (:meth:`_snapshot`)."""
        screen.stale_note = self._stale_note
        self.push_screen(screen, callback=callback)

    @_engine_key
    def action_start(self) -> None:
        self.submit(Start(source=Source.UI))

    @_engine_key
    def action_pause(self) -> None:
        if self.engine.state == EngineState.PAUSED:
            self.submit(Resume(source=Source.UI))
        else:
            self.submit(Pause(source=Source.UI))

    @_engine_key
    def action_emergency(self) -> None:
        snap = self.last_snapshot  # none while the engine starts up: its book is not read yet
        n = len(snap.positions) if snap is not None else None
        screen = EmergencyStopScreen(n)
        if snap is not None and self._snap_failures.failing:  # its "(0 open)" may be out of date
            when = fmt_when(snap.ts_ms, self._engine_time_ms())
            screen.stale_note = (f"STALE: the engine's snapshot fails; the count of positions is the last good "
                                 f"snapshot's, of {when} (the stop closes them all the same)")
        self.push_screen(screen, callback=self._submit_if)

    def action_emergency_anywhere(self) -> None:
        """Ctrl+E: :meth:`action_emergency` over whatever has the focus (a dialog, a text field);
        nothing more when its dialog is already open."""
        if not isinstance(self.screen, EmergencyStopScreen):
            self.action_emergency()

    @_engine_key
    def action_reset_emergency(self) -> None:
        if self.engine.state != EngineState.EMERGENCY_STOPPED:
            # nothing to confirm: the engine says at once why there is nothing to reset
            self.submit(ResetEmergency(source=Source.UI))
            return
        self.push_screen(
            ConfirmScreen("Reset emergency stop", "Clear the emergency stop? Trading stays stopped until you "
                          "start it (s), and until then no stop loss or profit target runs; closing positions "
                          "(x, F) needs no start.", "Reset"),
            callback=lambda ok: ok and self.submit(ResetEmergency(source=Source.UI)),
        )

    @_order_key
    def action_accept_account(self) -> None:
        if self.engine.mode != "live":  # nothing to confirm: the engine says why it does not apply
            self.submit(AcceptAccount(source=Source.UI))
            return
        self.push_screen(
            ConfirmScreen("Accept the exchange account", "Live: the account holds less than the book (sold or moved "
                          "outside tui-trader). Cut each such position to what the account holds, booked as an "
                          "external sell at the last price? Nothing is sent to the exchange.", "Accept"),
            callback=lambda ok: ok and self.submit(AcceptAccount(source=Source.UI)),
        )

    @_order_key
    def action_abandon_order(self) -> None:
        """The engine command ``AbandonOrder`` (command palette only): the order id is prefilled
        with the one the reconciliation could not settle because its symbol is no longer listed."""
        self._stale_note = ""
        snap = self._snapshot() if self.engine_ready.is_set() else self.last_snapshot
        unlisted = {} if snap is None else dict(snap.unlisted_orders)
        self._dialog(AbandonOrderScreen(unlisted), self._submit_if)

    @_order_key
    def action_buy(self) -> None:
        sym = self._symbol()
        snap = self._snapshot()
        if not sym or snap is None:
            return
        if sym not in snap.market.symbols:  # no dialog for a buy the engine can only refuse
            self.notify(f"{sym}: {NOT_TRADED}: nothing to buy it at", title="Buy refused", severity="error")
            return
        price = self._price_of(snap, sym)
        if price is None or not math.isfinite(price):  # the feed has given none: the engine refuses it
            self.notify(f"{sym}: no price yet: nothing to buy it at; try again once the feed gives one",
                        title="Buy refused", severity="error")
            return
        pf = snap.portfolio
        pct = Decimal(str(self.cfg.risk_management.max_position_percent)) / 100
        default = min(Decimal(str(pf.equity)) * pct, pf.cash) if pf.equity > 0 else Decimal(0)
        default = max(default, Decimal(0)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        shown = fmt_tick_price(price, self._tick_decimals_of(snap, sym))
        self._dialog(BuyScreen(sym, shown, default, pf.quote_asset, cash=pf.cash, cash_now=self._cash_now),
                     self._submit_if)

    @_order_key
    def action_sell(self) -> None:
        sym = self._symbol()
        snap = self._snapshot()
        if not sym or snap is None:
            return
        pos = next((p for p in snap.positions if p.symbol == sym), None)
        if pos is None:
            self.notify(f"no open position in {sym}", severity="warning")
            return
        self._dialog(SellScreen(sym, f"{fmt_qty(pos.quantity)} @ {fmt_exact_price(pos.avg_entry)}", holding=pos.quantity,
                                position_now=functools.partial(self._position_now, sym)),
                     self._submit_if)

    def _cash_now(self) -> Decimal:
        """The book's cash in the engine's snapshot now, for the buy dialog's check at submit time;
        :class:`NoSnapshot` when the snapshot fails."""
        try:
            return self.engine.snapshot().portfolio.cash
        except Exception as exc:  # noqa: BLE001 - the engine then checks the amount itself
            raise NoSnapshot(_error_text(exc)) from exc

    def _position_now(self, sym: str) -> PositionView | None:
        """``sym``'s position in the engine's snapshot now (None: none), for the sell dialog's
        check at submit time; :class:`NoSnapshot` when the snapshot fails (the UI timer logs it)."""
        try:
            snap = self.engine.snapshot()
        except Exception as exc:  # noqa: BLE001 - the engine then checks the quantity itself
            raise NoSnapshot(_error_text(exc)) from exc
        return next((p for p in snap.positions if p.symbol == sym), None)

    @_order_key
    def action_flatten(self) -> None:
        snap = self._snapshot()
        if snap is None:
            return
        n = len(snap.positions)
        if n == 0:  # nothing to confirm ("Close all 0 open position(s)?")
            self.notify("no open positions: nothing to flatten", title="Flatten all", severity="warning")
            return
        self._dialog(
            ConfirmScreen("Flatten all", f"Close all {n} open position(s) at market now?", "Flatten", danger=True),
            lambda ok: ok and self.submit(FlattenAll(source=Source.UI)),
        )

    @_order_key
    def action_lock(self) -> None:
        sym = self._symbol()
        snap = self._snapshot()
        if not sym or snap is None:
            return
        if self._stale_note:  # the lock or unlock is chosen from the last good snapshot's locks
            self.notify(self._stale_note, title="Lock: display stale", severity="warning", timeout=8)
        self.submit(LockSymbol(source=Source.UI, symbol=sym, locked=sym not in snap.locked))

    @_order_key
    def action_threshold(self) -> None:
        snap = self._snapshot()
        if snap is None:
            return
        current = snap.leaderboard.threshold
        # the most a z-score over the window can be (config check's warning): a threshold at or
        # above it is never reached, and the dialog asks for a second Enter
        z_max = math.sqrt(max(1, self.cfg.signal_generation.moving_average_period - 1))
        self._dialog(ThresholdScreen(current, z_max=z_max),
                     lambda v: v is not None and self.submit(SetZThreshold(source=Source.UI, value=v)))

    def action_help(self) -> None:
        """The keys of the screen shown: the main screen's, or the symbol detail's (its own few)."""
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        if isinstance(screen, SymbolDetailScreen):
            self.push_screen(HelpScreen(DETAIL_KEYS, f"{screen.symbol} detail — keys"))
        else:
            self.push_screen(HelpScreen())

    def action_backtest_reports(self) -> None:
        """The stored backtest runs (read-only; own database connection, engine untouched)."""
        if not isinstance(self.screen, BacktestRunsScreen | BacktestReportScreen):
            self.push_screen(ConsoleRunsScreen(self.cfg.db_path()))

    def action_detail(self, symbol: str | None = None) -> None:
        sym = symbol or self._symbol()
        if not sym or not self.engine_ready.is_set():
            return
        if isinstance(self.screen, SymbolDetailScreen) and self.screen.symbol == sym:
            return  # shown already (the palette's entry on it): a second one took two Esc to leave
        self.selected_symbol = sym
        screen = SymbolDetailScreen(sym)
        screen.palette = self.palette
        self.push_screen(screen)
        self.call_after_refresh(self.refresh_charts)
        self.call_after_refresh(self.refresh_from_engine)

    def action_next_theme(self) -> None:
        names = self.trader_themes or [FALLBACK_THEME]
        i = names.index(self.theme) if self.theme in names else -1
        self.set_theme(names[(i + 1) % len(names)])

    def action_set_theme(self, name: str) -> None:
        self.set_theme(name)

    def set_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"unknown theme {name!r}", severity="error")
            return
        self.theme = name
        self.notify(f"theme: {name}", timeout=2)

    def _submit_if(self, cmd: Command | None) -> None:
        if cmd is not None:
            self.submit(cmd)

    @staticmethod
    def _market_row(snap: EngineSnapshot | None, sym: str, column: np.ndarray | None) -> Any:
        """``sym``'s value in a column of the snapshot's market view; None when there is none."""
        if snap is None or column is None:
            return None
        try:
            return column[snap.market.symbols.index(sym)]
        except (ValueError, IndexError):
            return None

    def _price_of(self, snap: EngineSnapshot, sym: str) -> float | None:
        got = self._market_row(snap, sym, snap.market.price)
        return None if got is None else float(got)

    def _tick_decimals_of(self, snap: EngineSnapshot | None, sym: str) -> int:
        """The decimals of ``sym``'s tick (its prices are shown with them), -1 unknown."""
        got = self._market_row(snap, sym, snap.market.price_decimals if snap is not None else None)
        return -1 if got is None else int(got)

    # ---------------------------------------------------------- table events

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        sym = self._row_symbol(event.data_table, row_key_value(event.row_key))
        if sym is not None and event.data_table.has_focus:
            self.selected_symbol = sym

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A symbol table takes the focus (1-7, Tab, a click): the selected symbol becomes the
        row under its cursor, so b, x, l and the charts act on the row the operator sees, not on
        one picked earlier in another pane. A table without rows keeps the selection."""
        table = event.widget
        if isinstance(table, FastTable) and table.screen is self.main_screen:
            sym = self._row_symbol(table, table.selected_key)
            if sym is not None:
                self.selected_symbol = sym

    def on_main_screen_panes_shown(self, _event: MainScreen.PanesShown) -> None:
        """Panes came on screen: fill them now, not at the next UI tick (and the charts). Once per
        frame: a held Tab switches several times a frame, and each switch rebuilt the pane shown
        (4-22 ms on 2,000 symbols); the fill runs after the frame, for the pane shown then."""
        if not self.engine_ready.is_set():  # nothing to fill them with yet (nor, at mount, a pane)
            return
        if not self._fill_pending:
            self._fill_pending = True
            self.call_after_refresh(self._fill_shown_panes)

    def _fill_shown_panes(self) -> None:
        self._fill_pending = False
        self.refresh_from_engine()
        self.refresh_charts()

    def on_main_screen_filter_changed(self, _event: MainScreen.FilterChanged) -> None:
        """The filter changed the rows shown: ``b``, ``x``, ``l``, the charts and Enter must keep
        acting on one and the same visible symbol. A selected symbol still shown gets the cursor;
        a hidden one gives way to the row under the cursor (the first shown; none if no row is)."""
        main = self.main_screen
        if main is None or not main.is_mounted:
            return
        table = main.filter_table()
        sym = self.selected_symbol
        key = table.key_for_symbol(sym) if sym else None
        if key is not None:
            table.move_to_key(key)
        else:
            self.selected_symbol = table.symbol_for_key(table.selected_key) if table.selected_key else None
        # the charts follow at the chart timer's next tick (at most 2 Hz), as after a cursor move:
        # drawn here, each key typed in the filter redrew the symbol chart (10-50 ms a plotext build)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.screen is not self.screen:  # a second Enter typed ahead: detail shown already
            return
        sym = self._row_symbol(event.data_table, row_key_value(event.row_key))
        if sym is not None:
            self.action_detail(sym)

    @staticmethod
    def _row_symbol(table: DataTable, key: str | None) -> str | None:
        if key is None or table.id not in SYMBOL_TABLES or not isinstance(table, FastTable):
            return None
        return table.symbol_for_key(key)

    # ------------------------------------------------------------------- quit

    async def action_quit(self) -> None:
        if self._stopping:
            return
        snap = self.last_snapshot
        open_pos = [p.symbol for p in snap.positions] if snap is not None else []
        # while the engine starts up (no snapshot yet) the book it recovers may hold positions:
        # q and Ctrl+Q quit at once, unasked; a start-up that failed has nothing left to protect
        unknown = snap is None and not self.engine_ready.is_set() and self.engine_failed is None
        # the snapshot fails: positions opened since the last good one are not known; q quit unasked
        stale = self.engine_ready.is_set() and self._snap_failures.failing and not self._engine_gone()
        if not open_pos and not unknown and not stale:
            self.shutdown("operator quit")
            return
        if self._asking_quit:  # Ctrl+Q again (or the palette's Quit): one question is enough
            return
        self._asking_quit = True
        if unknown:
            title = "Quit during the start-up?"
            text = ("The engine is starting up: positions not known yet (the book it recovers may hold some). Any "
                    "stay open and are recovered at the next start, but no stop-loss or target runs while the "
                    "console is closed. Quit anyway?")
        elif not open_pos:
            title = "Quit while the display is stale?"
            text = ("The engine's snapshot fails: positions opened since the last good one are not known (it had "
                    "none). Any stay open and are recovered at the next start, but no stop-loss or target runs "
                    "while the console is closed. Quit anyway?")
        else:
            names = ", ".join(open_pos[:6]) + (" …" if len(open_pos) > 6 else "")
            title = "Quit with open positions?"
            text = (f"{len(open_pos)} position(s) are open ({names}). They stay open and are recovered at the next "
                    "start, but no stop-loss or target runs while the console is closed. Quit anyway?")

        def answered(ok: bool | None) -> None:
            self._asking_quit = False
            if ok:
                self.shutdown("operator quit")

        self.push_screen(
            ConfirmScreen(title, text, "Quit", danger=True),
            callback=answered,
        )

    def shutdown(self, reason: str = "quit") -> None:
        """The one quit path: stop the engine (flush storage), then exit."""
        if self._stopping:
            return
        self._stopping = True
        self.run_worker(self._shutdown_sequence(reason), group="shutdown", exit_on_error=False)

    async def _shutdown_sequence(self, reason: str) -> None:
        log.info("shutting down: %s", reason)
        self._banner(f"Stopping engine ({reason})…", "info")
        for timer in self._ui_timers:
            timer.stop()
        if not self.engine_ready.is_set():
            # still starting up: abort the start-up first, then close what it opened
            self.workers.cancel_group(self, "engine")
            await asyncio.sleep(0)
        await self._stop_engine()  # the feed stops, run() returns, storage is flushed and closed
        self.workers.cancel_group(self, "engine")
        rc = 1 if self.engine_failed is not None else 0
        if reason.startswith(("SIGHUP", "SIGTERM")) and not self.is_headless:  # a real terminal
            self._exit_timer = _exit_if_still_running(rc, SIGNAL_EXIT_S)
        self.exit(rc, return_code=rc)


def _exit_if_still_running(rc: int, after_s: float) -> threading.Timer:
    """End the process with ``rc`` in ``after_s`` seconds unless the timer is cancelled first
    (:func:`run_tui` does once ``App.run`` returns) or the process has ended."""

    def leave() -> None:
        from tui_trader.monitor.logfile import say_lost_before_hard_exit

        with contextlib.suppress(Exception):
            log.warning("the terminal did not let the console exit within %.0f s: leaving anyway", after_s)
        with contextlib.suppress(Exception):  # no handler is closed by os._exit: the last lost lines' count
            say_lost_before_hard_exit()
        os._exit(rc)

    timer = threading.Timer(after_s, leave)
    timer.daemon = True
    timer.start()
    return timer


def run_tui(cfg: Config, engine_factory: Callable[[], Any], live: bool, account_summary: str) -> int:
    """Run the console; returns the process exit code.

    ``engine_factory()`` builds the (not yet started) engine; it is only called
    after the live gate passed. With ``live=True`` a full-screen warning shows
    ``account_summary`` (plain text: account, limits) and the operator must
    type ``LIVE``; anything else or Escape returns 3 without building the
    engine or trading. 0 = normal quit, 1 = the engine failed,
    2 = its database is in use by another tui-trader (DatabaseInUseError).
    """
    if live:
        from tui_trader.ui.screens.live_confirm import LiveConfirmApp

        if not LiveConfirmApp(account_summary).run():
            print("live trading not confirmed: nothing was traded")
            return 3
    engine = engine_factory()
    app = TuiTraderApp(engine, cfg)
    try:
        app.run()
    finally:
        if app._exit_timer is not None:
            app._exit_timer.cancel()  # the app did exit
    from tui_trader.storage.lock import DatabaseInUseError

    if isinstance(app.engine_failed, DatabaseInUseError):
        # another console or runner took the book after launch's own check: the same line and code
        print(f"error: {app.engine_failed}", file=sys.stderr)
        return 2
    if app.engine_failed is not None:
        print(f"engine error: {type(app.engine_failed).__name__}: {app.engine_failed}")
    return int(app.return_code or 0)
