"""A titled, maximisable dashboard pane around one main widget."""

from __future__ import annotations

from textual.containers import Vertical
from textual.widget import Widget


class Pane(Vertical):
    """Bordered container with a title; ``m`` maximises it (Screen.maximize)."""

    ALLOW_MAXIMIZE = True

    def __init__(self, *children: Widget, title: str, key: str, **kwargs) -> None:
        super().__init__(*children, id=f"pane-{key}", classes="pane", **kwargs)
        self.key = key
        self.border_title = title

    @property
    def main(self) -> Widget:
        """The widget that takes focus when the pane is activated."""
        for child in self.children:
            if child.can_focus:
                return child
        return self


class ChartsPane(Pane, can_focus=True):
    """The charts pane is itself focusable (plots are not)."""
