"""Rich styles for table cells, resolved from the current theme's variables.

CSS cannot colour individual DataTable cells, so panes style cells with Rich
:class:`~rich.text.Text`. The colours come from the theme (``$profit``,
``$loss``, ``$healthy``, ``$warning-state``, ``$unhealthy`` ...) and are
re-resolved whenever the theme changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from tui_trader.ui.themes import rich_colour


@dataclass(frozen=True, slots=True)
class Palette:
    profit: str = "green"
    loss: str = "red"
    healthy: str = "green"
    warning: str = "yellow"
    unhealthy: str = "red"
    accent: str = "yellow"
    muted: str = "dim"

    @staticmethod
    def from_variables(variables: dict[str, str]) -> Palette:
        return Palette(
            profit=rich_colour(variables, "profit"),
            loss=rich_colour(variables, "loss"),
            healthy=rich_colour(variables, "healthy"),
            warning=rich_colour(variables, "warning-state"),
            unhealthy=rich_colour(variables, "unhealthy"),
            accent=rich_colour(variables, "accent"),
        )

    def signed(self, text: str, value: float) -> Text:
        """``text`` coloured profit (>0) / loss (<0) / plain."""
        if value > 0:
            return Text(text, style=self.profit, justify="right")
        if value < 0:
            return Text(text, style=self.loss, justify="right")
        return Text(text, justify="right")

    def status_style(self, status: str) -> str:
        return {"healthy": self.healthy, "warning": self.warning, "unhealthy": self.unhealthy}.get(
            status, self.muted
        )

    def status(self, status: str, text: str | None = None) -> Text:
        return Text(text if text is not None else status, style=self.status_style(status))


def right(text: str, style: str = "") -> Text:
    """Right-justified cell text (numbers)."""
    return Text(text, style=style, justify="right")
