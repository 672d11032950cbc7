"""A titled, maximisable dashboard pane around one main widget."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static


class Pane(Vertical):
    """Bordered container with a title; ``m`` maximises it (Screen.maximize)."""

    ALLOW_MAXIMIZE = True

    def __init__(self, *children: Widget, title: str, key: str, **kwargs) -> None:
        super().__init__(*children, id=f"pane-{key}", classes="pane", **kwargs)
        self.key = key
        self.border_title = title
        self._detail: Static | None = None

    @property
    def detail_text(self) -> str:
        """The text shown under the main widget ("" when none)."""
        d = self._detail
        return str(d.content) if d is not None and d.display else ""

    def show_detail(self, text: str) -> None:
        """Show ``text`` (plain: brackets are no markup) under the main widget, wrapped at the
        pane's width (at most a few lines, :file:`app.tcss`); ``""`` hides it."""
        if not text:
            if self._detail is not None and self._detail.display:
                self._detail.display = False
            return
        if self._detail is None:
            self._detail = Static(classes="pane-detail")
            self.mount(self._detail)
        if str(self._detail.content) != text:
            self._detail.update(Text(text))
        self._detail.display = True

    @property
    def main(self) -> Widget:
        """The widget that takes focus when the pane is activated."""
        for child in self.children:
            if child.can_focus:
                return child
        return self


class ChartsPane(Pane, can_focus=True):
    """The charts pane is itself focusable (plots are not)."""
