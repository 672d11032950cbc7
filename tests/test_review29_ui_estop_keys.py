"""E on the help screen and in a yes/no question did nothing, without a word: the help lists E
("EMERGENCY STOP") at its top, and neither has a text field that E would be typed into. It opens
the stop's dialog there (from the help, in place of the help); the standalone report viewer,
which has no engine, still ignores it."""

from __future__ import annotations

from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.screens.help import HelpScreen
from tui_trader.ui.screens.modals import ConfirmScreen, EmergencyStopScreen


async def test_e_opens_the_stop_from_the_help_and_from_a_question(tmp_path) -> None:
    cfg = ui_config()
    engine = make_engine(tmp_path, cfg)
    app = make_app(engine, cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        assert not any(isinstance(s, HelpScreen) for s in app.screen_stack)  # the help made way
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen
        answers = []
        app.push_screen(ConfirmScreen("Flatten all", "Close all 2 open position(s) at market now?", "Flatten"),
                        callback=answers.append)
        await pilot.pause()
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EmergencyStopScreen)
        assert answers == []  # the question is still open under the stop's dialog, unanswered
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)


async def test_e_on_the_standalone_viewers_help_does_nothing(tmp_path) -> None:
    from tui_trader.ui.screens.report import BacktestReportApp

    app = BacktestReportApp(tmp_path / "none.db", runs=[])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)  # nothing to stop, no error
