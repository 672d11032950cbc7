"""Round axis ticks for the text charts (plotext) of the console and the reports.

plotext divides an axis evenly and labels the rows or columns its ticks land on with their
exact values: an equity of 10,000-10,003 read 9999.39, 10000.57, 10001.16, 10002.34, a year
read 0.0, 89.3, 178.7 days. :func:`nice_ticks` gives round values instead (10,000, 10,001,
10,002; 0, 100, 200, 300 days), each drawn on the row or column nearest to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def nice_ticks(lo: float, hi: float, most: int = 5) -> tuple[list[float], list[str]]:
    """Round ticks in ``[lo, hi]``: the smallest step of 1, 2, 2.5 or 5 times a power of ten
    that gives at most ``most`` of them, and their labels with as many decimals as the step
    needs and thousands separators."""
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo) or most < 1:
        return [], []

    def count(step: float) -> int:
        return math.floor(hi / step + 1e-9) - math.ceil(lo / step - 1e-9) + 1

    top = math.floor(math.log10(hi - lo)) + 1  # 5 x 10^top spans more than the range: one tick at most
    step, mult = 5.0 * 10.0**top, 5.0
    for e in range(top, top - 4, -1):
        for m in (5.0, 2.5, 2.0, 1.0):
            if count(m * 10.0**e) > most:
                break
            step, mult = m * 10.0**e, m
        else:
            continue
        break
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if mult == 2.5 else 0))
    first = math.ceil(lo / step - 1e-9)
    ticks = [round(k * step, decimals) for k in range(first, first + count(step))]
    return ticks, [f"{t:,.{decimals}f}" for t in ticks]


def most_ticks(cells: int, per_tick: int, cap: int = 8) -> int:
    """How many ticks an axis of ``cells`` rows or columns holds with one every ``per_tick``
    (2 to ``cap``)."""
    return max(2, min(cap, cells // per_tick))


def _span(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in (np.asarray(x, dtype=np.float64) for x in arrays)]
    finite = [a for a in finite if a.size]
    if not finite:
        return math.nan, math.nan
    return min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)


def set_ticks(plt: Any, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], width: int, height: int) -> None:
    """Round ticks on both axes of a plotext figure of ``width`` x ``height`` cells whose
    series have the x values ``xs`` and the y values ``ys`` (the left axis): a label about
    every 12 columns and every 3 rows."""
    for axis, values, cells, per in ((plt.xticks, xs, width - 10, 12), (plt.yticks, ys, height - 5, 3)):
        lo, hi = _span(values)
        ticks, labels = nice_ticks(lo, hi, most_ticks(cells, per))
        if ticks:
            axis(ticks, labels)
