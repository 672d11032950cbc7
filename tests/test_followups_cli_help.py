"""`tui-trader --help` says how to pick a colour theme, and what it says is true: the key, the
palette and the configuration field exist, and every theme it names is a shipped theme file."""

from __future__ import annotations

import re
import tomllib

from tui_trader.cli import main
from tui_trader.config import Config
from tui_trader.ui.screens.main import MainScreen
from tui_trader.ui.themes import BUILTIN_THEME_DIR, discover_themes


def _theme_help(capsys) -> str:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    start = out.index("colour theme: ")
    return " ".join(out[start:].split("\n\n")[0].split(" in the console.")[0].split()) + " in the console."


def test_the_help_says_how_to_choose_a_colour_theme(capsys) -> None:
    line = _theme_help(capsys)
    assert '[ui] theme = "tui-trader-lowcolor" in the configuration' in line
    assert line.endswith("or T / Ctrl+P in the console.")
    # the configuration snippet it shows is one the configuration takes
    snippet = tomllib.loads('[ui]\ntheme = "tui-trader-lowcolor"\n')
    assert Config.model_validate(snippet).ui.theme == "tui-trader-lowcolor"
    # T is the console's key for the next theme
    keys = {b.key: b.action for b in MainScreen.BINDINGS}
    assert keys.get("T") == "app.next_theme"


def test_every_theme_the_help_names_is_a_shipped_theme(capsys) -> None:
    named = set(re.findall(r"tui-trader-[a-z]+", _theme_help(capsys)))
    shipped = set(discover_themes([BUILTIN_THEME_DIR]).themes)
    assert named and named <= shipped, named - shipped
    assert named == {n for n in shipped if n.startswith("tui-trader-")}  # all of them: none left out
