"""Plotext charts: a symbol's price / rating / z-score and the equity curve.

A plotext build costs ~10-50 ms, so charts are redrawn by the app's chart
timer (at most ``ui.chart_refresh_ms``), only while visible, and only when
their data key changed. The x axis is hours before the latest point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from textual_plotext import PlotextPlot

from tui_trader.axis import most_ticks, nice_ticks
from tui_trader.events import SymbolHistory

MAX_POINTS = 400  # decimate longer series (plotext cost grows with points)


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    y: np.ndarray
    color: str
    yside: str = "left"


def _hours(ts_ms: np.ndarray) -> np.ndarray:
    if ts_ms.size == 0:
        return np.empty(0)
    return (ts_ms.astype(np.float64) - float(ts_ms[-1])) / 3_600_000.0


def flat_pad(value: float) -> float:
    """Half the y range around a constant series (plotext would span +-50 % of it: a flat
    equity of 10,000 read 5,000-15,000): 0.1 % of the value, or 1 around zero."""
    return abs(value) * 1e-3 if value else 1.0


def _decimate(x: np.ndarray, step: int) -> np.ndarray:
    return x[::step] if step > 1 else x


class SeriesChart(PlotextPlot):
    """A titled line chart of one or more series against time."""

    DEFAULT_CSS = """
    SeriesChart { height: 1fr; min-height: 5; }
    """

    def __init__(self, title: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.chart_title = title
        self.data_key: object = None
        self.draws = 0
        self.builds = 0
        self._built: tuple[object, object] | None = None  # (key, rendered text)

    def render(self):
        """The plot, rebuilt only when its data, size or theme changed: any repaint of the
        screen (a toast, a modal) would otherwise re-run plotext's 10-50 ms build."""
        key = (self.draws, self.data_key, self.size, self.app.theme)
        if self._built is None or self._built[0] != key:
            self.builds += 1
            self._follow_theme()
            self._built = (key, super().render())
        return self._built[1]

    def _follow_theme(self) -> None:
        """An ANSI theme (tui-trader-lowcolor) draws on plotext's "clear" theme, the terminal's own
        colours: textual_plotext's "auto" read its ansi_default surface and foreground as RGB
        black, so the chart was a black box with black title and ticks. Other themes keep "auto"
        (registered again here: a theme change while on "clear" was not)."""
        wanted = "clear" if self.app.current_theme.ansi else "auto"
        if self.theme != wanted:
            self.set_reactive(SeriesChart.theme, wanted)
            if wanted == "auto":
                self._register_theme(self.app.theme)

    def begin_drawing(self, key: object) -> bool:
        """False when ``key`` is the data already drawn; else note it and clear the figure
        for a new drawing (every chart's redraw starts here)."""
        if key == self.data_key:
            return False
        self.data_key = key
        self.draws += 1
        self.plt.clear_figure()
        return True

    def draw(
        self,
        key: object,
        ts_ms: np.ndarray,
        series: list[Series],
        hlines: list[tuple[float, str, str]] = (),
        title: str | None = None,
    ) -> bool:
        """Redraw unless ``key`` equals the last drawn key. Returns True if redrawn."""
        if not self.begin_drawing(key):
            return False
        plt = self.plt
        plt.title(title if title is not None else self.chart_title)
        x_all = _hours(np.asarray(ts_ms))
        step = max(1, int(np.ceil(x_all.size / MAX_POINTS)))
        x_all = _decimate(x_all, step)
        drawn = False
        spans: dict[str, tuple[float, float]] = {}
        for s in series:
            y = _decimate(np.asarray(s.y, dtype=np.float64), step)
            ok = np.isfinite(y) & np.isfinite(x_all[: y.size])
            if ok.sum() < 1:
                continue
            plt.plot(x_all[: y.size][ok].tolist(), y[ok].tolist(), label=s.label, color=s.color, yside=s.yside)
            lo, hi = spans.get(s.yside, (math.inf, -math.inf))
            spans[s.yside] = (min(lo, float(y[ok].min())), max(hi, float(y[ok].max())))
            drawn = True
        if drawn:
            for value, color, yside in hlines:
                plt.hline(value, color=color, yside=yside)
                lo, hi = spans.get(yside, (math.inf, -math.inf))  # a side may have lines but no data yet
                spans[yside] = (min(lo, value), max(hi, value))
            rows = self.size.height - 5  # the plot's own rows: less the title, x ticks, x label, frame
            for yside, (lo, hi) in spans.items():
                if lo == hi:
                    pad = flat_pad(lo)
                    lo, hi = lo - pad, hi + pad
                plt.ylim(lo, hi, yside=yside)
                marks = sorted({h[0] for h in hlines if h[2] == yside})
                if marks:  # the lines' own values (the z thresholds): a round tick on a few rows would sit on them
                    plt.yticks(marks, [f"{v:,g}" for v in marks], yside=yside)
                else:
                    plt.yticks(*nice_ticks(lo, hi, most_ticks(rows + 2, 2, 5) if rows > 0 else 5), yside=yside)
            xs = x_all[np.isfinite(x_all)]
            most = most_ticks(self.size.width - 8, 8) if self.size.width else 5  # a label about every 8 columns
            lo_x, hi_x = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 0.0)
            if hi_x == lo_x:  # one time (a fresh start): the hour before it, not +-1 h with half in the future
                lo_x -= 1.0
                plt.xlim(lo_x, hi_x)
            plt.xticks(*nice_ticks(lo_x, hi_x, most))
            plt.xlabel("hours")
        self.refresh()
        return True


def price_z_series(h: SymbolHistory) -> tuple[list[Series], list[tuple[float, str, str]]]:
    """z on the left axis with the entry/exit thresholds, price on the right."""
    series = [Series("z", h.z, "orange"), Series("price", h.price, "cyan", "right")]
    thr = float(h.threshold)
    return series, [(thr, "green", "left"), (-thr, "red", "left")]


def rating_series(h: SymbolHistory) -> list[Series]:
    return [Series("rating", h.rating, "cyan"), Series("moving avg", h.moving_average, "magenta")]


def z_series(h: SymbolHistory) -> tuple[list[Series], list[tuple[float, str, str]]]:
    thr = float(h.threshold)
    return [Series("z", h.z, "orange")], [(thr, "green", "left"), (-thr, "red", "left"), (0.0, "gray", "left")]


def history_key(h: SymbolHistory) -> tuple:
    """Changes whenever the history gains a point or the threshold moves."""
    n = int(h.ts_ms.size)
    last = int(h.ts_ms[-1]) if n else 0
    lastp = float(h.price[-1]) if h.price.size else 0.0
    return (h.symbol, n, last, lastp, float(h.threshold))
