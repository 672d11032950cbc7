"""The key footer, fitted to the terminal's width.

Textual's footer lays its keys out in one row and lets the ones that do not fit run off the
right edge, under the command-palette key: below ~120 columns the last keys, ``? Help`` and
``q Quit``, were not on screen at all. This footer goes compact (less space around each key)
when the keys do not fit, then leaves out the command-palette key and then the keys of
:data:`DROP_ORDER`, least needed first, until the rest fit. ``E`` (emergency stop), ``?`` and
``q`` always stay (``Esc`` too on the screens it closes); every key still works, and the help
(``?``) lists them all.

A label may follow the engine's state: ``p`` reads "Resume" while paused (the app's
``pause_resumes``), as the key then resumes. Only the label changes: the binding and its action
stay, so the key and the command palette's pause / resume entry work in every state.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: Actions whose keys leave the footer first when it is too narrow (the help lists them).
DROP_ORDER = (
    "maximize",
    "filter",
    "app.threshold",
    "app.lock",
    "app.flatten",
    "app.sell",
    "app.buy",
    "app.pause",
    "app.start",
    # the backtest report screens' (their title line says Enter opens; ? lists the tab keys)
    "open",
    "tab('trades')",
    "tab('equity')",
    "tab('summary')",
)


#: The label of ``p`` (``app.pause``) while the engine is paused: the key then resumes.
RESUME_LABEL = "Resume"


def key_width(key_display: str, description: str, compact: bool) -> int:
    """Cells one footer key takes: `` k Desc `` (``k Desc`` and a gap when compact)."""
    return len(key_display) + len(description) + (2 if compact else 3)


class KeyFooter(Footer):
    """A :class:`~textual.widgets.Footer` that keeps its most needed keys on screen."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shown_actions: tuple[str, ...] = ()  # the keys of the last layout (tests, resize)
        self._fit: tuple[bool, bool, frozenset[str]] | None = None

    def _label(self, action: str, description: str) -> str:
        """The footer label of ``action`` now (its binding's description but for ``p`` while paused)."""
        if action == "app.pause" and getattr(self.app, "pause_resumes", False):
            return RESUME_LABEL
        return description

    def _shown(self) -> list[tuple[str, str, str]]:
        """(action, key display, description) of the keys the footer shows, in order."""
        out: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for _node, binding, _enabled, _tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                out.append(
                    (
                        binding.action,
                        self.app.get_key_display(binding),
                        self._label(binding.action, binding.description),
                    )
                )
        return out

    def _fitting(self, width: int) -> tuple[bool, bool, frozenset[str]]:
        """(compact, palette key shown, actions left out) for a footer ``width`` cells wide."""
        keys = self._shown()
        palette = 13  # "^p palette" with its border and padding

        def need(compact: bool, with_palette: bool, dropped: set[str]) -> int:
            return sum(key_width(k, d, compact) for a, k, d in keys if a not in dropped) + (
                palette if with_palette else 0
            )

        if width <= 0 or need(False, True, set()) <= width:
            return False, True, frozenset()
        if need(True, True, set()) <= width:
            return True, True, frozenset()
        dropped: set[str] = set()
        present = {a for a, _, _ in keys}
        for action in DROP_ORDER:
            if need(True, False, dropped) <= width:
                break
            if action in present:
                dropped.add(action)
        return True, False, frozenset(dropped)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        compact, palette, dropped = self._fit = self._fitting(self.size.width)
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact")
        self.set_reactive(Footer.show_command_palette, palette)
        shown = []
        for widget in super().compose():
            action = getattr(widget, "action", None)
            if action in dropped:
                continue
            if action is not None and "-command-palette" not in widget.classes:
                shown.append(action)
                if isinstance(widget, FooterKey) and widget.description:
                    widget.description = self._label(action, widget.description)
            yield widget
        self.shown_actions = tuple(shown)

    def on_resize(self, event: Resize) -> None:
        if self._bindings_ready and self._fitting(event.size.width) != self._fit:
            self.call_after_refresh(self.recompose)
