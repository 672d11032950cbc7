"""The health pane: one row per check, coloured healthy / warning / unhealthy.

Rows: the overall state, the engine's own checks (database, broker, feed,
memory ...), circuit breakers, positions against the limit, error counters,
events per second, then the feed's streams with their staleness (engine time
since their last event): each one when there are a few, else a summary and the
stale ones. ``mask_volatile`` replaces figures that differ from run to
run (memory, events/s) by ``masked`` so screenshots are stable.

The detail column is as wide as the pane leaves it, and each row is one line: the check's
detail in a brief form (:func:`brief_detail`: "paper · circuit closed", "107 MB (peak 107)"),
a longer one ending in "…" as the other panes cut text. Wrapped, the 160x45 layout's narrow
pane showed "paper · order" over "circuit closed" and pushed the rows below out of view. The
whole detail of the selected row is shown under the table while the pane has the focus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.text import Text

from tui_trader.events import EngineSnapshot
from tui_trader.monitor.health import WARNING, feed_checks, positions_check
from tui_trader.ui.format import fmt_age, fmt_num
from tui_trader.ui.palette import Palette
from tui_trader.ui.widgets.pane import Pane
from tui_trader.ui.widgets.table import FastTable

#: (key, label, width): no cell padding (as the signals pane), each column one cell wider than its
#: longest text (a check's name at most 15, "● FAIL" 6) so that one cell parts it from the next.
COLUMNS = [("check", "Check", 16), ("status", "State", 7), ("detail", "Detail", 60)]
#: The detail column's width never goes below this (a pane too narrow scrolls sideways).
MIN_DETAIL = 16
STATUS_LABEL = {"healthy": "ok", "warning": "warn", "unhealthy": "FAIL", "info": ""}
#: A circuit breaker's row, as the engine's broker check judges it (``broker_check``): half open (the
#: next order a trial) lasts until an order is made, weeks in a quiet market, and is not amber.
_BREAKER = {"closed": "healthy", "half_open": "healthy", "open": "unhealthy"}
_ERROR_WORDS = ("error", "reject", "fail")
MASK = "masked"
#: Streams listed one by one up to this many; beyond, a summary row and the stale ones.
MAX_STREAM_ROWS = 8
#: A stale stream's row: the engine's feed check warns for stale streams (``feed_checks``; the feed
#: keeps one for minutes while it backs off recreating it); a FAIL here beside its ``warn`` said otherwise.
STALE_STATUS = WARNING
#: Counter names too long for the Check column.
COUNTER_LABELS = {"rating_worker_failures": "worker failures"}


@dataclass(frozen=True, slots=True)
class HealthRow:
    """One check: ``detail`` its whole text (the engine's message), ``brief`` the same said
    shorter for the pane's one line ("" : the detail itself; derived, so not compared)."""

    name: str
    status: str  # healthy | warning | unhealthy | info
    detail: str
    brief: str = field(default="", compare=False)

    @property
    def shown(self) -> str:
        """The text of the row's detail cell."""
        return self.brief or self.detail


_MEMORY = re.compile(r"([\d,.]+) MB RSS(?:, ([\d,.]+) MB peak)?")
_PEAK_ONLY = re.compile(r"([\d,.]+) MB peak RSS")
#: The broker check's words (``monitor.health.broker_check``) and their brief forms.
_BROKER_WORDS = (
    (" · order circuit ", " · circuit "),
    ("circuit half_open", "circuit half open"),
    (": no order is sent until it cools off", ": no order sent"),
    (": the next order is a trial", ": next order a trial"),
    (" order(s) of unknown outcome, looked up each period", " order(s) unsettled"),
)


def brief_detail(name: str, detail: str) -> str:
    """``detail`` of the check ``name`` in fewer words, its state and figures kept: the broker's
    "paper · order circuit closed" reads "paper · circuit closed", the memory's "107 MB RSS,
    107 MB peak" reads "107 MB (peak 107)". Any other text is returned as it is."""
    if name == "broker":
        for words, brief in _BROKER_WORDS:
            detail = detail.replace(words, brief)
    elif name == "memory":
        if m := _MEMORY.fullmatch(detail):
            return f"{m[1]} MB" + (f" (peak {m[2]})" if m[2] else "")
        if m := _PEAK_ONLY.fullmatch(detail):
            return f"{m[1]} MB (peak)"
    return detail


def health_rows(snap: EngineSnapshot, max_positions: int, mask_volatile: bool = False) -> list[HealthRow]:
    """What the pane shows, derived from one snapshot (pure; testable). The feed's streams come
    last: a live feed has one per symbol, and the breakers and error counters above them must
    not scroll out of view behind hundreds of them."""
    h = snap.health
    bad = [c.name for c in h.checks if c.status != "healthy"]
    overall_detail = f"{snap.state}" + (f"; check {', '.join(bad)}" if bad else "")
    rows = [HealthRow("overall", h.overall, overall_detail)]
    names = set()
    for c in h.checks:
        names.add(c.name.lower())
        detail = MASK if mask_volatile and "mem" in c.name.lower() else c.message
        brief = brief_detail(c.name, detail)
        rows.append(HealthRow(c.name, c.status, detail, brief if brief != detail else ""))
    feed = h.feed or {}
    # the engine sends its feed and positions rows in every snapshot; one without them (another
    # host's) gets the engine's own checks, never a judgement of the pane's
    if "feed" not in names and feed.get("connected") is not None:
        c = feed_checks(feed, snap.feed_kind)[0]
        rows.append(HealthRow(c.name, c.status, c.message))
    for name, st in sorted(h.circuit_breakers.items()):
        rows.append(HealthRow(f"breaker {name}", _BREAKER.get(st, "warning"), st))
    if "positions" not in names:
        c = positions_check(len(snap.positions), max_positions)
        rows.append(HealthRow(c.name, c.status, c.message))
    for k, v in sorted(snap.counters.items()):
        if any(w in k for w in _ERROR_WORDS):
            rows.append(_counter_row(k, v, snap.counters))
    rows.append(HealthRow("events/s", "info", MASK if mask_volatile else fmt_num(h.events_per_s, 1)))  # NaN: "—"
    # (no memory row of the pane's own: the engine always sends one, even with metrics off or when
    # reading the memory fails; the pane's figure was in 10^6-byte MB, and NaN without /proc)
    rows.extend(stream_rows(feed.get("streams") or {}, snap.ts_ms))
    return rows


def _counter_row(name: str, value: int, counters: dict[str, int]) -> HealthRow:
    """An error counter's row, amber while it is above 0. The rejected orders' counts the engine's
    own risk refusals too (``risk_refusals``: a position limit reached, routine in a busy market),
    which alone leave it green, with their count said: amber for a whole run, it was learnt to be
    ignored, and an exchange's rejection then went unseen."""
    label = COUNTER_LABELS.get(name, name.replace("_", " "))
    if name == "rejected_orders" and counters.get("risk_refusals"):
        refused = min(counters["risk_refusals"], value)
        return HealthRow(label, "warning" if value > refused else "healthy", f"{value} ({refused} by risk checks)")
    return HealthRow(label, "warning" if value else "healthy", str(value))


def _stream_label(name: str) -> str:
    """``stream <name>``, or the name alone when the prefix would not fit the column
    (``btcusdt@kline_1m`` says what it is)."""
    label = f"stream {name}"
    return label if len(label) < COLUMNS[0][2] else name


def stream_rows(streams: dict[str, dict], now_ms: int) -> list[HealthRow]:
    """One row per stream for a few streams; for more (a live feed has one per symbol) one
    summary row, then each stale stream (at most :data:`MAX_STREAM_ROWS`)."""
    def one(name: str, st: dict) -> HealthRow:
        last = st.get("last_event_ms") or 0
        stale = bool(st.get("stale"))
        age = f"{fmt_age(now_ms - last)} ago" if last > 0 else "none yet"
        reconnects = st.get("reconnects", 0)
        return HealthRow(_stream_label(name), STALE_STATUS if stale else "healthy",
                         f"{'STALE, ' if stale else ''}last event {age}, reconnects {reconnects}",
                         f"{'STALE ' if stale else ''}{age} · {reconnects} reconnects")

    items = sorted(streams.items())
    if len(items) <= MAX_STREAM_ROWS:
        return [one(name, st) for name, st in items]
    stale = [(name, st) for name, st in items if st.get("stale")]
    lasts = [int(st.get("last_event_ms") or 0) for _, st in items]
    waiting = sum(1 for t in lasts if t <= 0)
    seen = [t for t in lasts if t > 0]
    # one connection's reconnects are reported on each of its streams: count each connection once
    reconnects = sum({st.get("connection", name): int(st.get("reconnects", 0)) for name, st in items}.values())
    parts = [f"{len(items)} streams", f"{len(stale)} stale"]
    if seen:
        parts.append(f"oldest event {fmt_age(now_ms - min(seen))} ago")
    if waiting:
        parts.append(f"{waiting} none yet")
    parts.append(f"reconnects {reconnects}")
    rows = [HealthRow("streams", STALE_STATUS if stale else "healthy", ", ".join(parts))]
    rows.extend(one(name, st) for name, st in stale[:MAX_STREAM_ROWS])
    if len(stale) > MAX_STREAM_ROWS:
        rows.append(HealthRow("", STALE_STATUS, f"... and {len(stale) - MAX_STREAM_ROWS} more stale streams"))
    return rows


class HealthTable(FastTable):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cell_padding", 0)
        super().__init__(COLUMNS, **kwargs)
        self.palette = Palette()
        self._rows: list[HealthRow] = []
        self.detail_width = COLUMNS[2][2]

    def on_resize(self) -> None:  # FastTable's own handler runs too (Textual calls each class's)
        width = self.size.width
        if width <= 0:  # hidden (another tab): keep the width until shown
            return
        pad = 2 * self.cell_padding
        fixed = sum(w + pad for _, _, w in COLUMNS[:2]) + pad + 1  # and a vertical scrollbar
        detail = max(MIN_DETAIL, width - fixed)
        if detail != self.detail_width:
            self.detail_width = detail
            rows = self._rows
            self.set_columns([(key, label, detail if key == "detail" else w) for key, label, w in COLUMNS])
            self._rows = []
            self.apply(rows)

    def apply(self, rows: list[HealthRow]) -> int:
        """Show ``rows``; returns the cells written. The same checks as shown (a figure such as
        events/s changes at every tick) write only their changed cells: rebuilding the table
        re-rendered every row of the pane four times a second."""
        if rows == self._rows:
            return 0
        old, self._rows = self._rows, rows
        keys = self._keys(rows)
        if keys == self._keys(old):  # the same checks
            cells = [(key, col, value)
                     for key, r, was in zip(keys, rows, old, strict=True) if r != was
                     for col, value in zip(("status", "detail"), self._cells(r)[1:], strict=True)]
            written = self.write_cells(cells)
            self._show_detail()
            return written
        selected = self.selected_key
        self.clear()
        for key, r in zip(keys, rows, strict=True):
            self.add_row(*self._cells(r), key=key)
        self.move_to_key(selected)
        self._show_detail()
        return len(rows) * len(COLUMNS)

    @staticmethod
    def _keys(rows: list[HealthRow]) -> list[str]:
        seen: set[str] = set()
        keys = []
        for r in rows:
            key = r.name if r.name not in seen else f"{r.name}#{len(seen)}"
            seen.add(key)
            keys.append(key)
        return keys

    def _cells(self, r: HealthRow) -> tuple[object, object, object]:
        pal = self.palette
        return (
            Text(r.name, no_wrap=True, overflow="ellipsis"),
            pal.status(r.status, ("● " if r.status != "info" else "  ") + STATUS_LABEL.get(r.status, r.status)),
            # one line: a longer detail ends in "…" (the whole under the table, selected)
            Text(r.shown, style=pal.status_style(r.status) if r.status == "unhealthy" else "",
                 no_wrap=True, overflow="ellipsis"),
        )

    def selected_detail(self) -> str:
        """The whole detail of the row under the cursor while the pane has the focus, when its
        cell shows less of it (a brief form, or cut with "…"); "" otherwise."""
        key = self.selected_key if self.has_focus else None
        if key is None:
            return ""
        r = dict(zip(self._keys(self._rows), self._rows, strict=True)).get(key)
        if r is None or (r.shown == r.detail and cell_len(r.detail) <= self.detail_width):
            return ""
        return f"{r.name}: {r.detail}"

    def _show_detail(self) -> None:
        pane = self.parent
        if isinstance(pane, Pane):
            pane.show_detail(self.selected_detail())

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    # has_focus changes in the base class's handlers, which run after these: look once they have
    def on_focus(self) -> None:
        self.call_later(self._show_detail)

    def on_blur(self) -> None:
        self.call_later(self._show_detail)

    def restyle(self, palette: Palette) -> None:
        self.palette = palette
        self._rows = []
