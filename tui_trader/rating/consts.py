"""Read-only 0-d float64 arrays as ufunc operands.

numpy takes a 0-d array operand faster than a Python float (no conversion per call),
which matters on the small-N rating paths where a period is a few dozen ufunc calls
on arrays of ten elements. The values are the same, so results are bit-identical.
"""

from __future__ import annotations

import numpy as np

__all__ = ["C0", "C1", "const", "new_const"]

_CACHE_MAX = 64


def new_const(value: float) -> np.ndarray:
    """A new read-only 0-d float64 array holding ``value``."""
    c = np.full((), value, dtype=np.float64)
    c.flags.writeable = False
    return c


_CACHE: dict[float, np.ndarray] = {}


def const(value: float) -> np.ndarray:
    """:func:`new_const`, cached per value (tau, caps and thresholds repeat every period)."""
    c = _CACHE.get(value)
    if c is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        c = _CACHE[value] = new_const(value)
    return c


C0 = new_const(0.0)
C1 = new_const(1.0)
