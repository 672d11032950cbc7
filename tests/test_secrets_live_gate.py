"""The live gate cannot be passed by anything but the typed word and Enter: not Ctrl+C, not a
quit, not a paste that ends in a line break, not a near miss; and a declined or quit gate builds
no engine (so no key is read and nothing reaches the exchange)."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input
from ui_support import ui_config

from tui_trader.ui import app as app_module
from tui_trader.ui.screens.live_confirm import LiveConfirmApp, LiveConfirmScreen


async def test_ctrl_c_neither_confirms_nor_skips_the_gate_and_a_quit_declines():
    gate = LiveConfirmApp("Exchange: Binance spot (REAL account)")
    async with gate.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        gate.screen.query_one("#live-word", Input).value = "LIVE"
        await pilot.press("ctrl+c")  # copy / "press ctrl+q to quit": never an answer
        await pilot.pause()
        assert isinstance(gate.screen, LiveConfirmScreen) and gate.return_value is None
        await pilot.press("ctrl+q")  # the word typed but never submitted: quitting is no yes
        await pilot.pause()
    assert gate.return_value is not True


async def test_a_pasted_word_with_a_line_break_waits_for_enter():
    """A bracketed paste of ``LIVE`` copied with its line break fills the field; it does not
    submit it. Enter then does; surrounding blanks of a paste are forgiven."""
    gate = LiveConfirmApp("acct")
    async with gate.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        gate.screen.query_one("#live-word", Input).post_message(events.Paste(" LIVE \n"))
        await pilot.pause()
        assert isinstance(gate.screen, LiveConfirmScreen) and gate.return_value is None
        assert gate.screen.query_one("#live-word", Input).value == " LIVE "
        await pilot.press("enter")
        await pilot.pause()
    assert gate.return_value is True


@pytest.mark.parametrize("typed", ["LIVE.", "L IVE", "LIVE LIVE", "yes", "ＬＩＶＥ", "LIVE\u200b", "Live"])
async def test_near_misses_are_refused(typed):
    gate = LiveConfirmApp("acct")
    async with gate.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        gate.screen.query_one("#live-word", Input).value = typed
        await pilot.press("enter")
        await pilot.pause()
    assert gate.return_value is False, typed


@pytest.mark.parametrize("answer", [None, False])
def test_a_quit_or_declined_gate_builds_no_engine(monkeypatch, capsys, answer):
    def factory():
        pytest.fail("the engine was built although live trading was not confirmed")

    monkeypatch.setattr(LiveConfirmApp, "run", lambda self, **kw: answer)  # None: ctrl+q
    rc = app_module.run_tui(ui_config(), factory, live=True, account_summary="acct")
    assert rc == 3
    assert "not confirmed" in capsys.readouterr().out
