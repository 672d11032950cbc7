"""The help lists every key of its screen: each binding of the main screen and of the symbol
detail is named in the help that ``?`` opens there (Esc, which restores a maximised pane and
clears the filter, was missing from the main screen's)."""

from __future__ import annotations

import pytest

from tui_trader.ui.screens.detail import SymbolDetailScreen
from tui_trader.ui.screens.help import DETAIL_KEYS, KEYS
from tui_trader.ui.screens.main import MainScreen

NAMES = {"question_mark": "?", "slash": "/", "tab": "Tab", "shift+tab": "Shift+Tab", "escape": "Esc"}


def _listed(keys) -> set[str]:
    out: set[str] = set()
    for _group, rows in keys:
        for key, _text in rows:
            for part in key.replace(" / ", " ").split():
                out.add(part)
            if key == "1 … 7":
                out.update(str(i) for i in range(1, 8))
    return out


@pytest.mark.parametrize(("screen", "keys"), [(MainScreen, KEYS), (SymbolDetailScreen, DETAIL_KEYS)])
def test_every_binding_of_a_screen_is_in_its_help(screen, keys):
    listed = _listed(keys)
    missing = sorted({NAMES.get(b.key, b.key) for b in screen.BINDINGS} - listed)
    assert missing == [], missing
