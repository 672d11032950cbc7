"""The threshold dialog set, with no word, a threshold no z-score can reach: over a window of
``w`` periods a z-score is at most sqrt(w - 1) (``config check`` warns of it), so with a 20-period
window 4.5 - inside the usual 1-5 - stopped every signal entry and exit. It warns, as of an
unusual value, and a second Enter sets it."""

from __future__ import annotations

import math

from textual.app import App
from textual.widgets import Input
from ui_support import make_app, make_engine, ready

from tui_trader.config import Config
from tui_trader.ui.screens.modals import ThresholdScreen


class _Host(App):
    def __init__(self, screen: ThresholdScreen) -> None:
        super().__init__()
        self.dialog = screen
        self.answers: list = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, callback=self.answers.append)


async def _enter(app: _Host, pilot, typed: str) -> str:
    app.dialog.query_one("#value", Input).value = typed
    await pilot.press("enter")
    await pilot.pause()
    return str(app.dialog.query_one("#error").render()) if app.screen is app.dialog else ""


async def test_a_threshold_no_z_score_reaches_is_set_only_on_a_second_enter():
    app = _Host(ThresholdScreen(2.5, z_max=math.sqrt(19)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        error = await _enter(app, pilot, "4.5")
        assert "4.5 is never reached" in error and "at most 4.36" in error and "Enter again" in error, error
        assert app.answers == []
        assert await _enter(app, pilot, "4.2") == ""  # reachable: at once
        assert app.answers == [4.2]
    app = _Host(ThresholdScreen(2.5, z_max=math.sqrt(19)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await _enter(app, pilot, "4.5")
        await _enter(app, pilot, "4.5")  # the second Enter sets it
        assert app.answers == [4.5]


async def test_the_console_tells_the_dialog_its_window(tmp_path):
    cfg = Config.model_validate({
        "feed": {"kind": "sim", "interval": "1m", "speed": "max", "sim": {"n_symbols": 10, "warmup_periods": 60,
                                                                           "seed": 7}},
        "data_processing": {"rating_calculation_interval_ms": 60_000},
        "signal_generation": {"moving_average_period": 20},
    })
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ThresholdScreen)
        assert app.screen.z_max == math.sqrt(19)
