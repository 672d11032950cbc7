"""The status bar: mode (PAPER / LIVE), engine state, feed, money, clock.

The clock is the engine snapshot's ``ts_ms`` shown as UTC (engine time:
deterministic under a simulated feed, never the wall clock). LIVE is red on
every screen (the bar carries the ``-live`` class; the CSS paints it).

Three widths: from 120 columns everything; below, the short figures; below
:data:`NARROW` (a 60-column terminal) the feed's name and the clock go and the
emergency stop reads ``E-STOP``, so the money, the day's PnL and the drawdown
still fit. A text longer than its width sheds details until it fits
(:func:`status_text`).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui_trader.events import EngineSnapshot
from tui_trader.models import EngineState
from tui_trader.ui.format import fmt_clock, fmt_money, fmt_pct
from tui_trader.ui.palette import Palette

_STATE_LABEL = {
    EngineState.STOPPED: "STOPPED",
    EngineState.RUNNING: "RUNNING",
    EngineState.PAUSED: "PAUSED",
    EngineState.REDUCING: "REDUCING",
    EngineState.EMERGENCY_STOPPED: "EMERGENCY STOP",
}


#: The feed's mark where its word does not fit (a monochrome terminal shows no colour).
_FEED_MARK = {"healthy": "●", "warning": "▲", "unhealthy": "×", "stopped": "○"}
#: Below this width the bar leaves out the feed's name and the clock (see the module docstring).
NARROW = 76


def state_style(state: EngineState, pal: Palette) -> str:
    return {
        EngineState.RUNNING: f"bold {pal.healthy}",
        EngineState.PAUSED: f"bold {pal.warning}",
        EngineState.REDUCING: f"bold {pal.warning}",
        EngineState.EMERGENCY_STOPPED: f"bold reverse {pal.unhealthy}",
    }.get(state, "bold")


def status_text(snap: EngineSnapshot, pal: Palette, width: int) -> Text:
    """The bar's content for a terminal ``width`` cells wide: the most detail that fits.

    Each width starts from its own layout (see the module docstring); when that does not fit
    (an emergency stop's longer label, a longer feed name, a seven-figure equity) the details go
    one by one: the clock's date, then the feed's name, then the clock, then the narrow layout,
    then the equity's decimals (``Eq 1.2346B``).
    Cut at the terminal's edge instead, the bar lost the clock mid-number at 80 columns, and
    the drawdown too."""
    steps = _WIDE_STEPS if width >= 120 else _MEDIUM_STEPS if width >= NARROW else _NARROW_STEPS
    text = Text()
    for step in steps:
        text = _status_text(snap, pal, **step)
        if text.cell_len <= width:
            break
    return text


_NARROW_STEPS = (
    {"wide": False, "narrow": True, "feed_name": False, "clock": False, "date": False},
    # last, a ten-figure equity (a pair quoted in IDR): "Eq 1.2346B", not cut mid-number
    {"wide": False, "narrow": True, "feed_name": False, "clock": False, "date": False, "compact": True},
)
_MEDIUM_STEPS = (
    {"wide": False, "narrow": False, "feed_name": True, "clock": True, "date": False},
    {"wide": False, "narrow": False, "feed_name": False, "clock": True, "date": False},
    {"wide": False, "narrow": False, "feed_name": False, "clock": False, "date": False},
    *_NARROW_STEPS,
)
_WIDE_STEPS = (
    {"wide": True, "narrow": False, "feed_name": True, "clock": True, "date": True},
    {"wide": True, "narrow": False, "feed_name": True, "clock": True, "date": False},
    *_MEDIUM_STEPS,
)


def _status_text(snap: EngineSnapshot, pal: Palette, *, wide: bool, narrow: bool, feed_name: bool, clock: bool,
                 date: bool, compact: bool = False) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    live = snap.mode == "live"
    t.append(" LIVE " if live else " PAPER ", style="bold reverse" if live else "bold")
    t.append("" if narrow else " ")
    label = _STATE_LABEL.get(snap.state, str(snap.state).upper())
    if narrow and snap.state == EngineState.EMERGENCY_STOPPED:
        label = "E-STOP"
    t.append(f" {label} ", style=state_style(snap.state, pal))
    t.append(" │ ")
    h = snap.health
    if snap.state == EngineState.STOPPED and h.overall != "unhealthy" and not (h.feed or {}).get("connected"):
        # the engine finished (or never started its feed): nothing is connected, nothing failing.
        # A live console waiting for `s` is STOPPED too, with its feed streaming: that reads healthy.
        feed_status = "stopped"
    else:
        feed_status = h.overall if not h.feed else ("healthy" if h.feed.get("connected", True) else "unhealthy")
    if feed_name:
        t.append(f"{snap.feed_kind} ")
    # below 120 columns the word goes: the mark itself then tells the state, not its colour alone
    t.append("●" if wide else _FEED_MARK.get(feed_status, "●"), style=pal.status_style(feed_status))
    t.append(f" {feed_status}" if wide else "")
    t.append(" │ ")
    pf = snap.portfolio
    t.append(f"Eq {fmt_money(pf.equity, width=9 if compact else None)}" + (f" {pf.quote_asset}" if wide else ""))
    t.append(" │ Day ")
    day = f"{fmt_money(pf.daily_pnl, sign=True)} ({fmt_pct(pf.daily_pnl_pct)})" if wide else fmt_pct(pf.daily_pnl_pct)
    t.append(day, style=pal.profit if pf.daily_pnl > 0 else pal.loss if pf.daily_pnl < 0 else "")
    t.append(" │ DD ")
    t.append(fmt_pct(pf.drawdown_pct, sign=False), style=pal.loss if pf.drawdown_pct > 0 else "")
    if wide:
        t.append(f" │ Pos {len(snap.positions)}")
        if snap.locked:
            t.append(f" │ Locked {len(snap.locked)}")
    if clock:
        t.append(" │ ")
        t.append(fmt_clock(snap.ts_ms, with_date=date))
    return t


class StatusBar(Static):
    """One line at the top of every screen."""

    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.palette = Palette()
        self._last: tuple | None = None
        self._snap: EngineSnapshot | None = None

    def show(self, snap: EngineSnapshot, stale: bool = False) -> None:
        """``snap`` on one line; ``stale``: it is the last good snapshot (the engine's snapshot now
        fails), said at the bar's start: the symbol detail has no banner, and its bar went on
        showing the last good figures as if current."""
        self._snap = snap
        live = snap.mode == "live"
        self.set_class(live, "-live")
        self.set_class(not live, "-paper")
        self.set_class(snap.state == EngineState.EMERGENCY_STOPPED, "-emergency")
        width = self.size.width or 80
        if stale:
            text = Text(" STALE ", style=f"bold reverse {self.palette.unhealthy}", no_wrap=True, overflow="ellipsis")
            text.append_text(status_text(snap, self.palette, max(1, width - 7)))
        else:
            text = status_text(snap, self.palette, width)
        key = (text.plain, tuple(text.spans))
        if key != self._last:
            self._last = key
            # one line, its size set by the CSS: a new text never moves anything, and a layout
            # (the default of ``update``) re-rendered every widget of the screen at each tick
            self.update(text, layout=False)

    def restyle(self, palette: Palette) -> None:
        self.palette = palette
        self._last = None

    def show_stale(self) -> None:
        """The engine's snapshot fails: the last one shown, marked stale (until the next :meth:`show`)."""
        if self._snap is not None:
            self.show(self._snap, stale=True)
