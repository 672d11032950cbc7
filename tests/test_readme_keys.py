"""The README's key table and the console's bindings say the same: every key the main screen
binds is in the table, and every key the table names is bound (the table had lost ``B``,
``Shift+Tab`` and ``Esc``)."""

from __future__ import annotations

import re
from pathlib import Path

from tui_trader.ui.screens.main import PANES, MainScreen

README = Path(__file__).resolve().parent.parent / "README.md"

#: Textual's key names as the README writes them.
SPELLING = {"slash": "/", "question_mark": "?", "tab": "Tab", "shift+tab": "Shift+Tab", "escape": "Esc"}
#: Keys the README names that the main screen does not bind itself: the app's command palette and a
#: table's row selection (Textual's own bindings).
NOT_SCREEN_BINDINGS = {"Ctrl+P", "Enter"}


def key_table() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index("| key | action |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        keys, action = line.strip("|").split("|", 1)
        rows.append((keys, action))
    return rows


def readme_keys() -> set[str]:
    named: set[str] = set()
    for keys, action in key_table():
        # the first column, and keys an action names in passing ("`o` cycles ...", "`Esc` clears it")
        for token in re.findall(r"`([^`]+)`", keys + action):
            if token.isdigit():  # the pane keys, named as a range
                continue
            if len(token) == 1 or token in SPELLING.values() or token in NOT_SCREEN_BINDINGS:
                named.add(token)
    return named


def test_every_main_screen_binding_is_in_the_readme() -> None:
    table = "\n".join(k + a for k, a in key_table())
    assert "`1`–`7`" in table and len(PANES) == 7  # the pane keys, named as a range
    bound = {SPELLING.get(b.key, b.key) for b in MainScreen.BINDINGS if not b.key.isdigit()}
    assert bound - readme_keys() == set()


def test_every_key_the_readme_names_is_bound() -> None:
    bound = {SPELLING.get(b.key, b.key) for b in MainScreen.BINDINGS}
    assert readme_keys() - bound - NOT_SCREEN_BINDINGS == set()
