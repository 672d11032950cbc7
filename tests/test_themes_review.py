"""Theme files whose values Textual cannot use are refused when they are read, naming the key.

A user theme with a bad colour in one of Textual's own variables (``[variables] border =
"zzz"``) or an absurd ``luminosity_spread`` (nan, 1e300) was accepted; choosing it, in the
configuration or with ``T``, stopped the console with a StylesheetParseError, a ValueError or
an OverflowError. Such a file is now ignored with a warning, like one that is not TOML.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from ui_support import make_app, make_engine, ready, ui_config

from tui_trader.ui.themes import BUILTIN_THEME_DIR, ThemeError, discover_themes, theme_from_mapping

BASE = {"name": "mine", "primary": "#3B82F6"}


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"variables": {"border": "zzz"}}, "variables.border"),
        ({"variables": {"block-cursor-background": "nope"}}, "variables.block-cursor-background"),
        ({"variables": {"footer-key-foreground": "notacolor"}}, "variables.footer-key-foreground"),
        ({"variables": {"block-cursor-text-style": "shiny"}}, "variables.block-cursor-text-style"),
        ({"variables": {"text": "purple-ish"}}, "variables.text"),
        ({"luminosity_spread": float("nan")}, "luminosity_spread"),
        ({"luminosity_spread": 1e300}, "luminosity_spread"),
        ({"text_alpha": -1.0}, "text_alpha"),
        ({"variables": {"proft": "#00FF00"}}, "variables.proft"),  # a typo: no CSS reads it
    ],
)
def test_a_value_textual_cannot_use_is_a_theme_error(extra: dict, names: str) -> None:
    with pytest.raises(ThemeError, match=f"t.toml: {names}: "):
        theme_from_mapping({**BASE, **extra}, "t.toml")


@pytest.mark.parametrize(
    "variables",
    [
        {"block-cursor-text-style": "bold not underline"},
        {"text": "auto 87%", "link-background": "initial"},
        {"border": "ansi_bright_black", "footer-key-foreground": "#FFAA00"},
        {"background-muted": "ansi_black"},  # one of an ANSI theme's own
    ],
)
def test_values_textual_accepts_still_load(variables: dict) -> None:
    theme = theme_from_mapping({**BASE, "variables": variables}, "t.toml")
    assert all(theme.variables[k] == v for k, v in variables.items())


def test_every_shipped_theme_still_loads() -> None:
    found = discover_themes([BUILTIN_THEME_DIR])
    assert found.errors == []
    assert {"tui-trader-dark", "tui-trader-light", "tui-trader-lowcolor"} <= set(found.themes)


async def test_the_console_falls_back_from_a_bad_user_theme_with_a_warning(tmp_path: Path, caplog) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "bad.toml").write_text('name = "bad"\nprimary = "#3B82F6"\n[variables]\nborder = "zzz"\n')
    cfg = ui_config(theme="bad")
    app = make_app(make_engine(tmp_path, cfg), cfg, theme_dirs=[BUILTIN_THEME_DIR, themes])
    with caplog.at_level(logging.WARNING, logger="tui_trader.ui"):
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(app, pilot)
            await pilot.pause()
            assert app.theme == "tui-trader-dark"
            assert "bad" not in app.trader_themes
    messages = [r.getMessage() for r in caplog.records]
    assert any("bad.toml: variables.border" in m for m in messages), messages


async def test_a_theme_named_with_a_quote_is_chosen_from_the_palette(tmp_path: Path) -> None:
    # the palette's action was set_theme('it's'): an ActionError when chosen
    from tui_trader.ui.commands import TraderCommands

    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "q.toml").write_text('name = "it\'s \\"mine\\""\nprimary = "#3B82F6"\n')
    cfg = ui_config()
    app = make_app(make_engine(tmp_path, cfg), cfg, theme_dirs=[BUILTIN_THEME_DIR, themes])
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, pilot)
        provider = TraderCommands(app.screen)
        [action] = [a for label, a, _ in provider._entries() if label == 'Theme: it\'s "mine"']
        await provider._run(action)()
        await pilot.pause()
        assert app.theme == 'it\'s "mine"'


def _chart_colours(app) -> set[tuple[str, str]]:
    """(colour type, colour) of every coloured cell of the console's charts."""
    from textual.geometry import Region

    from tui_trader.ui.widgets.charts import SeriesChart

    out = set()
    charts = list(app.main_screen.query(SeriesChart))
    assert charts
    for chart in charts:
        for strip in chart.render_lines(Region(0, 0, chart.size.width, chart.size.height)):
            for seg in strip:
                for c in (seg.style.color, seg.style.bgcolor) if seg.style is not None else ():
                    if c is not None:
                        out.add((c.type.name, c.name))
    return out


async def test_the_charts_follow_the_low_colour_theme_and_back(tmp_path: Path) -> None:
    # textual_plotext read the ANSI theme's ansi_default surface and foreground as RGB black: the
    # charts were black boxes with black titles and ticks, on a 16-colour terminal too
    cfg = ui_config(theme="tui-trader-lowcolor")
    app = make_app(make_engine(tmp_path, cfg), cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, pilot)
        app.refresh_charts()
        await pilot.pause()
        low = _chart_colours(app)
        assert not any(kind == "TRUECOLOR" for kind, _ in low), low
        app.set_theme("tui-trader-light")
        await pilot.pause()
        app.refresh_charts()
        await pilot.pause()
        surface = app.theme_variables["surface"].lower()
        assert ("TRUECOLOR", surface) in _chart_colours(app)  # the light theme's own canvas
