"""The help lists every key of its screen: each binding of the main screen and of the symbol
detail is named in the help that ``?`` opens there (Esc, which restores a maximised pane and
clears the filter, was missing from the main screen's)."""

from __future__ import annotations

import pytest

from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.screens.help import DETAIL_KEYS, KEYS, HelpScreen
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.screens.report import (
    BacktestReportScreen,
    BacktestRunsScreen,
    ConsoleReportScreen,
    ConsoleRunsScreen,
)

NAMES = {"question_mark": "?", "slash": "/", "tab": "Tab", "shift+tab": "Shift+Tab", "escape": "Esc", "enter": "Enter"}


def _listed(keys) -> set[str]:
    out: set[str] = set()
    for _group, rows in keys:
        for key, _text in rows:
            for part in key.replace(" / ", " ").split():
                out.add(part)
            if key == "1 … 7":
                out.update(str(i) for i in range(1, 8))
    return out


def _bindings(screen: type) -> set[str]:
    """The keys ``screen`` binds itself (its own and its bases' below Textual's Screen)."""
    keys: set[str] = set()
    for cls in screen.__mro__:
        if cls.__module__.startswith("tui_trader"):
            keys.update(b.key for b in cls.__dict__.get("BINDINGS", []))
    return {NAMES.get(k, k) for k in keys}


@pytest.mark.parametrize(("screen", "keys"), [
    (MainScreen, KEYS),
    (SymbolDetailScreen, DETAIL_KEYS),
    *[(s, s.help_keys) for s in (BacktestRunsScreen, BacktestReportScreen, ConsoleRunsScreen, ConsoleReportScreen)],
])
def test_every_binding_of_a_screen_is_in_its_help(screen, keys):
    missing = sorted(_bindings(screen) - _listed(keys))
    assert missing == [], missing


def test_the_help_names_no_key_its_screen_lacks():
    """The other way round, for the report screens: the standalone viewer's help has no E."""
    for screen in (BacktestRunsScreen, BacktestReportScreen):
        assert "E" not in _listed(screen.help_keys)
    for screen in (ConsoleRunsScreen, ConsoleReportScreen):
        assert "E" in _listed(screen.help_keys) and "E" in _bindings(screen)
    assert "E" in {b.key for b in HelpScreen.BINDINGS}  # the help's own E (the console's stop)
