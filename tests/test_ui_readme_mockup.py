"""The README's console mock-up names the panes' columns as the console does, in its order, and
its boxes close (every line of a row of panes as wide as the box's top)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui_trader.ui.widgets import leaderboard, positions, prices, signals

README = Path(__file__).resolve().parent.parent / "README.md"


def mockup() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = text[text.index("## The console") :].split("```\n", 2)[1]
    return block.splitlines()


def pane_headers() -> dict[str, str]:
    """Each pane's first line under its title, by title."""
    lines = mockup()
    out: dict[str, str] = {}
    for i, line in enumerate(lines):
        if line.startswith("╭"):
            titles = re.findall(r"╭─ ([^─]+?) ─", line)
            cells = lines[i + 1].strip("│").split("││")
            out.update(zip(titles, cells, strict=True))
    return out


@pytest.mark.parametrize(
    ("title", "columns"),
    [
        ("Prices", prices.COLUMNS),
        ("Leaderboard (z)", leaderboard.COLUMNS),
        ("Positions", positions.COLUMNS),
        ("Signals", signals.COLUMNS),
    ],
)
def test_mockup_column_headers_are_the_consoles(title: str, columns: list) -> None:
    # the mock-up's prices pane said "Vol" where the console says "Volume"
    shown = pane_headers()[title].replace("▲", "").split()
    app = " ".join(c[1] for c in columns).split()
    assert shown == app[: len(shown)] and len(shown) >= min(len(app), 8), (shown, app)


def test_mockup_boxes_close() -> None:
    # a row one character short or long left a pane's right border out of line
    lines = mockup()
    for i, line in enumerate(lines):
        if line.startswith("╭"):
            borders = [k for k, ch in enumerate(line) if ch in "╭╮"]
            j = i + 1
            while not lines[j].startswith("╰"):
                assert [k for k, ch in enumerate(lines[j]) if ch == "│"] == borders, lines[j]
                j += 1
            assert [k for k, ch in enumerate(lines[j]) if ch in "╰╯"] == borders, lines[j]
