"""Console lifecycle: engine crash, SIGHUP, live mode and the live confirmation gate."""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from textual.color import Color
from textual.widgets import Input, Static
from ui_support import commands_done, make_app, make_engine, notifications, ready, ui_config, until

from tui_trader.models import EngineState, KlineBatch
from tui_trader.runtime import build_engine
from tui_trader.ui import app as app_module
from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.screens.live_confirm import LiveConfirmApp
from tui_trader.ui.widgets.logs import LogPane
from tui_trader.ui.widgets.status_bar import StatusBar


def _explode_after(engine, n_klines: int) -> None:
    """The feed raises after ``n_klines`` kline batches (a crash inside the engine's loop)."""
    events = engine.feed.events

    async def broken():
        seen = 0
        async for ev in events():
            yield ev
            seen += isinstance(ev, KlineBatch)
            if seen >= n_klines:
                raise RuntimeError("feed exploded")

    engine.feed.events = broken


async def test_engine_crash_shows_banner_stops_engine_and_keeps_app(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=None)
    _explode_after(engine, 3)
    app = make_app(engine, cfg, run_engine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        assert await until(lambda: app.engine_failed is not None)
        assert await until(lambda: engine.db is None)  # the engine's own stop ran (storage closed)
        await pilot.pause()
        app.refresh_from_engine()
        await pilot.pause()
        assert app.is_running
        assert isinstance(app.engine_failed, RuntimeError)
        banner = app.main_screen.query_one("#banner")
        assert banner.display and "ENGINE CRASHED" in str(banner.render()) and "feed exploded" in str(banner.render())
        assert "-error" in banner.classes
        assert any("feed exploded" in n for n in notifications(app))
        assert engine.state != EngineState.RUNNING  # the engine stopped trading itself
        assert any("feed exploded" in ln.text for ln in app.log_buffer.lines)
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 1


@pytest.mark.parametrize("key", ["b", "x", "F", "l", "t", "A"])
async def test_order_keys_say_at_once_that_the_engine_stopped_after_the_feed_ended(tmp_path, key):
    from tui_trader.ui.screens.modals import _Dialog

    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, autostart=True, max_klines=3)  # a replay that ends
    app = make_app(engine, cfg, run_engine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        assert await until(lambda: app.engine_finished)
        assert await until(lambda: engine.db is None)
        app.selected_symbol = "BTCUSDT"
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, _Dialog)  # no dialog to fill in first
        assert app.screen is app.main_screen
        await commands_done(app)
        assert not app.command_results  # nothing sent to the stopped engine
        shown = notifications(app)
        assert any("the engine has stopped" in n and "market feed ended" in n for n in shown), shown


async def test_sighup_shuts_down_cleanly_with_state_flushed(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg, handle_signals=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await engine.submit(app_module.Start())
        assert signal.SIGHUP in app._signals  # never send the signal without the handler
        os.kill(os.getpid(), signal.SIGHUP)
        assert await until(lambda: not app.is_running, within_s=10)
    assert engine.db is None
    assert app.return_code == 0
    assert app._signals == []  # handlers removed on the way out
    again = make_engine(tmp_path, cfg)
    await again.start_up()
    try:
        assert again.state == EngineState.RUNNING  # the state the session had was saved
    finally:
        await again.stop()


async def test_a_platform_without_sighup_still_gets_its_console(tmp_path, monkeypatch):
    # Windows has no SIGHUP: looking it up raised AttributeError before any handler was set
    monkeypatch.delattr(signal, "SIGHUP")
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg, handle_signals=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        assert app._signals == [signal.SIGTERM]
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 0


async def test_live_mode_is_red_on_every_screen(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg, mode="live")  # paper broker, live labelling
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        bar = app.main_screen.query_one(StatusBar)
        assert "-live" in bar.classes and "LIVE" in str(bar.render())
        assert bar.styles.background == Color.parse(app.theme_variables["live-badge"])
        app.action_detail(engine.symbols[0])
        await pilot.pause(0.2)
        assert isinstance(app.screen, SymbolDetailScreen)
        detail_bar = app.screen.query_one(StatusBar)
        assert "-live" in detail_bar.classes and "LIVE" in str(detail_bar.render())
        assert detail_bar.styles.background == bar.styles.background


async def test_paper_mode_badge(tmp_path):
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        bar = app.main_screen.query_one(StatusBar)
        assert "-paper" in bar.classes and "PAPER" in str(bar.render()) and "LIVE" not in str(bar.render())


def _text(renderable, width: int) -> str:
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_live_gate_summary_wraps_values_in_their_own_column():
    """A long universe or endpoint wraps under its value, not under the labels."""
    from tui_trader.ui.launch import account_summary
    from tui_trader.ui.screens.live_confirm import summary_grid

    cfg = ui_config()
    cfg.binance.rest_url = "http://127.0.0.1:9000"
    cfg.feed.symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT"]
    lines = _text(summary_grid(account_summary(cfg)), 60).splitlines()
    start = lines[0].index("Binance")
    universe = next(i for i, line in enumerate(lines) if line.startswith("Universe:"))
    assert lines[universe].index("BTCUSDT") == start
    assert lines[universe + 1][:start].strip() == "" and lines[universe + 1][start:].startswith(("SOLUSDT", "XRPUSDT",
                                                                                                 "ADAUSDT", "DOGE"))
    assert all(line.strip() for line in lines)
    assert summary_grid("") == "(no account summary)" and summary_grid("no colon here") == "no colon here"


async def test_live_gate_accepts_only_the_exact_word():
    for typed, expected in (("LIVE", True), ("live", False), ("LIVE!", False), ("", False)):
        gate = LiveConfirmApp("Exchange: Binance spot (REAL account)")
        async with gate.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert "REAL account" in _text(gate.screen.query_one("#live-summary", Static).content, 70)
            gate.screen.query_one("#live-word", Input).value = typed
            await pilot.press("enter")
            await pilot.pause()
        assert gate.return_value is expected, typed


async def test_live_gate_answers_once_when_enter_is_typed_twice():
    """Two Enters reaching the gate together submitted the word twice; the second dismissal
    crashed the gate (ScreenStackError) after it had answered."""
    from textual import events

    for typed, expected in (("LIVE", True), ("nope", False)):
        gate = LiveConfirmApp("Exchange: Binance spot (REAL account)")
        async with gate.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            gate.screen.query_one("#live-word", Input).value = typed
            for _ in range(2):  # handled before the first one's submission closes the screen
                gate.post_message(events.Key("enter", "\r"))
            await pilot.pause()
            await pilot.pause()
        assert gate.return_value is expected and gate._exception is None, typed


async def test_live_gate_shows_its_title_warning_and_field_in_a_small_terminal():
    """At 80x24 the centred box was taller than the screen: its top (the LIVE TRADING title
    and the warning) was cut off. The summary gives way instead, and takes its room back."""
    from tui_trader.ui.launch import account_summary

    cfg = ui_config()
    cfg.feed.symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT"]
    gate = LiveConfirmApp(account_summary(cfg))
    async with gate.run_test(size=(160, 45)) as pilot:
        for width, height in ((80, 24), (60, 20), (160, 45)):
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            await pilot.pause()
            screen = gate.screen
            box = screen.query_one("#live-box").region
            title, field = screen.query_one("#live-title").region, screen.query_one("#live-word", Input).region
            assert box.y >= 0 and box.bottom <= height, (width, height, box)
            assert title.y >= box.y and field.bottom <= box.bottom, (width, height, title, field)
        summary = screen.query_one("#live-summary-box")
        assert summary.max_scroll_y == 0  # a big terminal: the whole summary again


async def test_live_gate_escape_aborts():
    gate = LiveConfirmApp("acct")
    async with gate.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"LIV")
        await pilot.press("escape")
        await pilot.pause()
    assert gate.return_value is False


def test_run_tui_builds_no_engine_when_live_is_declined(monkeypatch, capsys):
    built = []
    monkeypatch.setattr(LiveConfirmApp, "run", lambda self, **kw: False)  # the operator declines
    rc = app_module.run_tui(ui_config(), lambda: built.append(1), live=True, account_summary="acct")
    assert rc == 3 and built == []
    assert "not confirmed" in capsys.readouterr().out


async def test_the_banner_shows_how_far_the_start_up_is(tmp_path, monkeypatch):
    from tui_trader.ui.screens.main import MainScreen

    shown: list[str] = []
    show = MainScreen.show_banner
    monkeypatch.setattr(MainScreen, "show_banner",
                        lambda self, text, severity="error": (shown.append(text), show(self, text, severity))[1])
    engine = make_engine(tmp_path)
    app = make_app(engine, ui_config())
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(app, pilot)
        steps = [t for t in shown if t.startswith("Starting up: rating history, ")]
        assert steps and steps[-1].endswith(" / 60 periods"), shown  # the warm-up's 60 periods, counted
        assert not app.main_screen.query_one("#banner").display  # gone once the engine is ready


async def test_engine_that_fails_to_start_is_reported(tmp_path):
    cfg = ui_config()
    # the database path is a directory: storage cannot open, start-up fails
    engine = build_engine(cfg, db_path=str(tmp_path), session_kind="tui", max_klines=5)
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:  # every pane on one screen
        assert await until(lambda: app.engine_failed is not None)
        await pilot.pause()
        banner = app.main_screen.query_one("#banner")
        assert banner.display and "ENGINE failed to start" in str(banner.render())
        assert not app.engine_ready.is_set()
        # the banner says "see Logs": the error is there although no snapshot ever came
        logs = app.main_screen.query_one(LogPane)
        assert await until(lambda: any("failed to start" in line.text for line in logs.lines))
        # a command says why the engine cannot take it, not just "not running"
        await pilot.press("s")
        await commands_done(app)
        assert not app.command_results  # said at once, as the order keys do: nothing is sent
        shown = notifications(app)
        assert any("did not start" in n and "start tui-trader again" in n for n in shown), shown
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 1


def test_cli_glue_refuses_live_without_keys(monkeypatch, capsys):
    import argparse

    from tui_trader.ui.launch import account_summary, main_tui

    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    cfg = ui_config()
    cfg.broker.kind = "binance"
    assert main_tui(argparse.Namespace(live=True), cfg) == 2
    assert "BINANCE_API_KEY" in capsys.readouterr().err
    text = account_summary(cfg)
    assert "REAL account" in text and "5% of equity" in text and "not shown" in text
    assert "Endpoint" not in text  # Binance's own
    cfg.binance.rest_url = "http://127.0.0.1:9000"  # a proxy or a stand-in: where the orders go is shown
    assert "Endpoint:        http://127.0.0.1:9000 (binance.rest_url: orders go here)" in account_summary(cfg)


def test_a_second_console_on_a_database_in_use_exits_2_before_drawing_anything(tmp_path, monkeypatch, capsys):
    import argparse

    from tui_trader.storage.lock import EngineLock
    from tui_trader.ui.launch import main_tui

    cfg = ui_config()
    cfg.storage.path = str(tmp_path / "book.db")
    ran: list[str] = []
    monkeypatch.setattr(app_module, "run_tui", lambda *a, **kw: ran.append("app") or 0)
    monkeypatch.setattr("tui_trader.ui.launch.no_terminal", lambda: None)  # as at a terminal
    held = EngineLock(cfg.storage.path)  # what the first console's engine holds
    held.acquire()
    try:
        assert main_tui(argparse.Namespace(live=False, report=None), cfg) == 2
    finally:
        held.release()
    assert ran == []  # no app, no screen, no engine
    err = capsys.readouterr().err.strip()
    assert err == f"error: {cfg.storage.path} is in use by another tui-trader (pid {os.getpid()}): stop it, or use " \
                  "another --db"
    assert main_tui(argparse.Namespace(live=False, report=None), cfg) == 0 and ran == ["app"]  # free again
    assert held.path.exists() and held.path.read_text() == ""  # the check let the lock go


def test_a_database_taken_after_the_check_still_exits_2_with_the_same_line(tmp_path, monkeypatch, capsys):
    from textual.app import App

    from tui_trader.storage.lock import EngineLock

    cfg = ui_config()
    held = EngineLock(tmp_path / "ui.db")
    held.acquire()  # taken between launch's check and the engine's start-up

    async def quit_once_refused(pilot) -> None:
        assert await until(lambda: pilot.app.engine_failed is not None, 20)
        await pilot.press("q")

    monkeypatch.setattr(app_module.TuiTraderApp, "run",
                        lambda self, **kw: App.run(self, headless=True, auto_pilot=quit_once_refused))
    try:
        rc = app_module.run_tui(cfg, lambda: make_engine(tmp_path, cfg), live=False, account_summary="")
    finally:
        held.release()
    assert rc == 2
    out = capsys.readouterr()
    assert f"error: {tmp_path / 'ui.db'} is in use by another tui-trader" in out.err and "engine error" not in out.out


def _console_on_a_pty(tmp_path):
    """``tui-trader tui`` as the session leader of a new pseudo-terminal (what sshd gives it);
    returns the process and the terminal's master end, once the engine has stored ratings."""
    import fcntl  # Unix only, like the pseudo-terminal
    import termios

    db = tmp_path / "console.db"
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 160, 0, 0))
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-m", "tui_trader", "tui", "--db", str(db), "--speed", "max",
                             "--n-symbols", "20"], env=env, cwd=str(tmp_path), pass_fds=(slave,),
                            preexec_fn=lambda: os.login_tty(slave))
    os.close(slave)
    deadline = time.monotonic() + 90
    stored = 0
    while not stored:
        assert proc.poll() is None, "the console exited on its own"
        assert time.monotonic() < deadline, "the console stored nothing"
        if select.select([master], [], [], 0.2)[0]:
            os.read(master, 1 << 16)  # a terminal that reads what the console draws
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            stored = con.execute("SELECT COUNT(*) FROM glicko_ratings").fetchone()[0]
            con.close()
        except sqlite3.Error:
            pass
    return proc, master, db


def _session_ended(db) -> bool:
    con = sqlite3.connect(db)
    try:
        return all(ended is not None for (ended,) in con.execute("SELECT ended_ms FROM sessions"))
    finally:
        con.close()


@pytest.mark.skipif(not hasattr(os, "login_tty"), reason="needs a pseudo-terminal (Unix)")
def test_a_hung_up_terminal_stops_the_console_and_its_process_exits(tmp_path):
    # an SSH connection that drops: the kernel hangs up the terminal. The console stops the engine
    # (storage flushed, session closed) and the process ends, although the dead terminal blocks
    # Textual's restoring of it for ever (it left after SIGNAL_EXIT_S)
    proc, master, db = _console_on_a_pty(tmp_path)
    try:
        os.close(master)
        assert proc.wait(timeout=app_module.SIGNAL_EXIT_S + 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _session_ended(db)


@pytest.mark.skipif(not hasattr(os, "login_tty"), reason="needs a pseudo-terminal (Unix)")
def test_sigterm_with_the_terminal_still_there_exits_at_once(tmp_path):
    proc, master, db = _console_on_a_pty(tmp_path)

    def read_terminal() -> None:
        with contextlib.suppress(OSError):
            while os.read(master, 1 << 16):
                pass

    threading.Thread(target=read_terminal, daemon=True).start()
    try:
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert time.monotonic() - t0 < app_module.SIGNAL_EXIT_S  # a clean exit, not the forced one
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert _session_ended(db)


async def test_a_critical_alert_rings_the_bell_when_alerting_is_on(tmp_path):
    from tui_trader.events import RiskAlert

    for alerting in (True, False):
        cfg = ui_config()
        cfg.monitoring.alerting_enabled = alerting
        engine = make_engine(tmp_path, cfg, name=f"bell{alerting}.db")
        app = make_app(engine, cfg)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(app, pilot)
            engine.bus.publish(RiskAlert(0, "warning", "daily_loss", "a warning is shown, not rung"))
            app.refresh_from_engine()
            await pilot.pause()
            assert app.bells == 0
            engine.bus.publish(RiskAlert(0, "critical", "health:feed", "feed unhealthy: disconnected"))
            app.refresh_from_engine()
            await pilot.pause()
            assert app.bells == (1 if alerting else 0)
            assert any("feed unhealthy" in str(n.message) for n in app._notifications)


def test_the_console_waits_longer_for_a_quit_than_the_engine_can_take() -> None:
    """A quit's engine.stop() runs its bounded waits one after the other (the feed, then the loop
    and the commands still being applied, then the broker); the console's own limit must outlast
    them all, or a quit behind a slow exchange is cut off before the book's storage is closed."""
    from tui_trader import engine as engine_mod

    assert app_module.TuiTraderApp.STOP_TIMEOUT_S > engine_mod.STOP_BOUND_S
