"""Colour themes: TOML files parsed into :class:`textual.theme.Theme`.

One source of truth: the shipped themes live in the repository's top-level
``themes/`` folder (found next to the package, which the README's editable
install keeps in place). Users may add their own ``*.toml`` files in
``<platform config dir>/tui-trader/themes/``; a user theme with a shipped
theme's name overrides it.

File format (all keys but ``name`` and ``primary`` optional)::

    name = "my-theme"
    dark = true            # false for light themes
    ansi = false           # true: colours are the terminal's 16 ANSI colours
    primary = "#3B82F6"    # also secondary accent warning error success
                           # foreground background surface panel boost
    [variables]            # app colours used by the CSS, e.g.
    profit = "#22C55E"     # $profit $loss $healthy $warning-state $unhealthy
                           # $live-badge $paper-badge (any Textual variable too)

``luminosity_spread`` and ``text_alpha`` are numbers from 0 to 1; a ``[variables]`` name must
be the app's or Textual's, its value valid where Textual's CSS reads it.

A bad file raises :class:`ThemeError` naming the file and the key; discovery
collects those errors instead of failing, so one broken user theme never
stops the console.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.css.stylesheet import Stylesheet, StylesheetParseError
from textual.theme import BUILTIN_THEMES, Theme

from tui_trader.config import Issue

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# ``tui_trader/ui/themes`` is a symlink to the top-level ``themes/`` folder (the one source of
# truth in the repository); wheels carry the files themselves through that link.
BUILTIN_THEME_DIR = Path(__file__).resolve().parent / "themes"

DEFAULT_THEME = "tui-trader-dark"
FALLBACK_THEME = "textual-dark"

#: App-specific theme variables and their defaults (used when a theme lacks one).
APP_VARIABLES: dict[str, str] = {
    "profit": "#22C55E",
    "loss": "#EF4444",
    "healthy": "#22C55E",
    "warning-state": "#F59E0B",
    "unhealthy": "#EF4444",
    "live-badge": "#DC2626",
    "paper-badge": "#2563EB",
}

_COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_OTHER_KEYS = {"name": str, "dark": bool, "ansi": bool, "luminosity_spread": float, "text_alpha": float}


class ThemeError(ValueError):
    """A theme file that cannot be used."""


def user_theme_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("tui-trader")) / "themes"


def theme_dirs() -> list[Path]:
    """Folders searched for ``*.toml`` themes, later ones overriding earlier ones."""
    return [BUILTIN_THEME_DIR, user_theme_dir()]


def _colour(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{path}: {key}: expected a colour string, got {value!r}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{path}: {key}: not a colour: {value!r}") from None
    return value


@cache
def _textual_variables() -> dict[str, str]:
    """Textual's own theme variables with their default values (what its CSS reads); an ANSI
    theme's set has a few of its own."""
    ansi = Theme(name="ansi", primary="ansi_blue", ansi=True).to_color_system().generate()
    return {**ansi, **BUILTIN_THEMES["textual-dark"].to_color_system().generate()}


def _css_value(path: Path, key: str, value: str) -> None:
    """One of Textual's variables must be valid where its CSS uses it: a bad one ("zzz") was
    accepted here and stopped the console with a StylesheetParseError once the theme applied."""
    default = _textual_variables()[key]
    prop = "text-style" if "style" in key else "color" if default.startswith("auto") else "background"
    sheet = Stylesheet(variables={"v": value})
    sheet.add_source(f"Screen {{ {prop}: $v; }}", read_from=(str(path), key))
    try:
        sheet.parse()
    except StylesheetParseError:
        kind = "a text style" if prop == "text-style" else "a colour"
        raise ThemeError(f"{path}: variables.{key}: not {kind} Textual accepts: {value!r}") from None


def theme_from_mapping(data: dict, path: Path | str = "<theme>") -> Theme:
    """Build a Theme from a parsed TOML mapping; raises :class:`ThemeError`."""
    path = Path(path)
    known = set(_COLOUR_KEYS) | set(_OTHER_KEYS) | {"variables"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ThemeError(f"{path}: unknown key(s) {', '.join(unknown)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(f"{path}: name: required (a non-empty string)")
    if "primary" not in data:
        raise ThemeError(f"{path}: primary: required")
    kwargs: dict = {"name": name.strip()}
    for key in _COLOUR_KEYS:
        if key in data:
            kwargs[key] = _colour(path, key, data[key])
    for key, typ in _OTHER_KEYS.items():
        if key == "name" or key not in data:
            continue
        value = data[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ):
            raise ThemeError(f"{path}: {key}: expected {typ.__name__}, got {value!r}")
        if typ is float and not (math.isfinite(value) and 0 <= value <= 1):
            # nan or 1e300 failed in Textual's colour arithmetic when the theme was applied
            raise ThemeError(f"{path}: {key}: expected a number from 0 to 1, got {value!r}")
        kwargs[key] = value
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError(f"{path}: variables: expected a table")
    out_vars: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeError(f"{path}: variables.{key}: expected a string, got {value!r}")
        if key in APP_VARIABLES:
            _colour(path, f"variables.{key}", value)
        elif key in _textual_variables():
            _css_value(path, key, value)
        else:  # no CSS reads it: "proft" left the profit colour at its default without a word
            raise ThemeError(f"{path}: variables.{key}: unknown variable (typo?)")
        out_vars[key] = value
    kwargs["variables"] = out_vars
    return Theme(**kwargs)


def load_theme_file(path: str | Path) -> Theme:
    """Parse one theme file; raises :class:`ThemeError` with the file and key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))  # with or without a byte order mark
    except OSError as exc:
        raise ThemeError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ThemeError(f"{p}: not valid TOML: {exc}") from None
    return theme_from_mapping(data, p)


@dataclass
class ThemeSet:
    themes: dict[str, Theme] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def discover_themes(dirs: list[Path] | None = None) -> ThemeSet:
    """Every valid theme in ``dirs`` (default :func:`theme_dirs`); bad files become errors."""
    out = ThemeSet()
    for d in theme_dirs() if dirs is None else dirs:
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.toml")):
            try:
                theme = load_theme_file(f)
            except ThemeError as exc:
                out.errors.append(str(exc))
                continue
            out.themes[theme.name] = theme
    return out


def rich_colour(theme_variables: dict[str, str], name: str) -> str:
    """A theme variable as a Rich colour string (for styling table cells)."""
    value = theme_variables.get(name) or APP_VARIABLES.get(name, "default")
    try:
        return Color.parse(value).rich_color.name
    except (ColorParseError, AttributeError):
        return "default"


def theme_issues(name: str) -> list[Issue]:
    """``config check``'s warnings about themes: ``ui.theme`` naming no theme file (nor one of
    Textual's) - the console then uses :data:`DEFAULT_THEME` - and theme files that cannot be used."""
    found = discover_themes()
    out = [Issue("themes", f"file ignored: {err}") for err in found.errors]
    if name and name not in found.themes and name not in BUILTIN_THEMES:
        out.append(Issue("ui.theme", f"no theme named {name!r} (tui-trader's: {', '.join(sorted(found.themes))}; "
                                     f"or one of Textual's): the console uses {DEFAULT_THEME}"))
    return out
