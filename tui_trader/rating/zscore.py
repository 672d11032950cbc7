"""Rolling per-symbol z-score of ratings (numpy ring buffer, O(1) per update).

For each symbol the window holds its last ``window`` values, the current one
included. ``z`` compares the CURRENT value with that window:

    z = (x_now - mean(window)) / std(window)

with the POPULATION standard deviation (ddof 0), as in the seed ("moving
average over the last N ratings, this one included"). z is 0 (never NaN or inf)
while a symbol has fewer than ``min_history`` values, and when the window's std
is 0 or tiny (``std <= REL_EPS * |mean|``, i.e. numerically constant).
Units are those of the values (rating points); z is in standard deviations.

Implementation: one (window, N) float64 ring buffer with a write position per
symbol, plus running sums of ``x - K`` and ``(x - K)^2`` around a per-symbol
shift ``K`` (which keeps the variance free of cancellation for large offsets
such as ratings near 1500 with a small spread). Every ``window`` updates the
sums (and K, set to the current mean) are recomputed exactly from the buffer,
so rounding errors never accumulate: O(window * N) every ``window`` updates,
amortised O(N) per update.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RollingZScore", "REL_EPS"]

REL_EPS = 1e-12
"""z is 0 when std <= REL_EPS * |mean| (a numerically constant window)."""


class RollingZScore:
    """Rolling mean / population std / z of the last ``window`` values per symbol.

    ``min_history`` (default ``min(window, 20)``, at least 2) is the number of
    values a symbol needs before its z is reported (z = 0 until then).
    The array attributes ``count``, ``mean``, ``std`` and ``z`` are read-only
    views of the current state (``mean``/``std`` are NaN for a symbol without
    any value yet).
    """

    def __init__(self, n_symbols: int, window: int, min_history: int | None = None) -> None:
        if isinstance(n_symbols, bool) or not isinstance(n_symbols, (int, np.integer)) or n_symbols < 0:
            raise ValueError(f"RollingZScore: n_symbols must be an int >= 0, got {n_symbols!r}")
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
            raise ValueError(f"RollingZScore: window must be an int >= 2, got {window!r}")
        if min_history is None:
            min_history = min(int(window), 20)
        if not 2 <= min_history <= window:
            raise ValueError(f"RollingZScore: min_history must be in [2, window], got {min_history!r}")
        self.n_symbols = int(n_symbols)
        self.window = int(window)
        self.min_history = int(min_history)
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        n, w = self.n_symbols, self.window
        self._buf = np.zeros((w, n))
        self._pos = np.zeros(n, dtype=np.int64)  # next write row per symbol
        self._count = np.zeros(n, dtype=np.int64)  # values in the window (<= window)
        self._shift = np.zeros(n)
        self._s1 = np.zeros(n)  # sum of (x - shift)
        self._s2 = np.zeros(n)  # sum of (x - shift)^2
        self._mean = np.full(n, np.nan)
        self._std = np.full(n, np.nan)
        self._z = np.zeros(n)
        self._since_exact = 0
        self._cols = np.arange(n)
        self._in_step = True  # every symbol has the same write position and count

    @property
    def count(self) -> np.ndarray:
        """Number of values in each symbol's window (int64, read-only)."""
        return _ro(self._count)

    @property
    def mean(self) -> np.ndarray:
        return _ro(self._mean)

    @property
    def std(self) -> np.ndarray:
        """Population std of each window (NaN before the first value)."""
        return _ro(self._std)

    @property
    def z(self) -> np.ndarray:
        return _ro(self._z)

    # ---------------------------------------------------------------- updates
    def update(
        self, values: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Push this period's values; returns copies of ``(z, mean, std)``.

        ``mask`` (bool, shape (N,)) marks the symbols that got a new value;
        the others keep their window, mean, std and previous z. Non-finite
        values are treated as "no new value" as well.
        """
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n_symbols,):
            raise ValueError(
                f"RollingZScore.update: values must have shape ({self.n_symbols},), got {x.shape}"
            )
        sel = np.isfinite(x)
        if mask is not None:
            mk = np.asarray(mask)
            if mk.shape != x.shape or mk.dtype != np.bool_:
                raise ValueError(f"RollingZScore.update: mask must be bool of shape {x.shape}")
            sel &= mk
        if np.count_nonzero(sel) == self.n_symbols:
            if self.n_symbols and self._step_check():
                self._push_all(x)  # the common case: whole-array arithmetic, no fancy indexing
            else:
                self._push(self._cols, x[self._cols])
        else:
            cols = np.flatnonzero(sel)
            if cols.shape[0]:
                self._in_step = False
                self._push(cols, x[cols])
        self._since_exact += 1
        if self._since_exact >= self.window:
            self._exact()
            self._since_exact = 0
        return self._z.copy(), self._mean.copy(), self._std.copy()

    def _push(self, cols: np.ndarray, xv: np.ndarray) -> None:
        w = self.window
        rows = self._pos[cols]
        cnt = self._count[cols]
        fresh = cnt == 0
        if np.count_nonzero(fresh):
            self._shift[cols[fresh]] = xv[fresh]
        k = self._shift[cols]
        old = self._buf[rows, cols] - k
        old[cnt < w] = 0.0  # the slot is empty: nothing leaves the window
        new = xv - k
        self._s1[cols] += new - old
        self._s2[cols] += new * new - old * old
        self._buf[rows, cols] = xv
        rows += 1
        rows[rows == w] = 0
        self._pos[cols] = rows
        cnt = np.minimum(cnt + 1, w)
        self._count[cols] = cnt
        self._stats(cols, xv, cnt)

    def _step_check(self) -> bool:
        """True when every symbol has the same write position and count (re-checked only after a
        partial update broke the lock-step)."""
        if not self._in_step:
            pos, cnt = self._pos, self._count
            self._in_step = bool((pos == pos[0]).all() and (cnt == cnt[0]).all())
        return self._in_step

    def _push_all(self, xv: np.ndarray) -> None:
        """:meth:`_push` for every symbol while they are in lock-step: the same arithmetic on
        whole arrays (bit-identical results)."""
        w = self.window
        p = int(self._pos[0])
        c0 = int(self._count[0])
        if c0 == 0:
            np.copyto(self._shift, xv)
        k = self._shift
        new = xv - k
        if c0 < w:  # empty slots: nothing leaves the window (old == 0.0, so new - old == new)
            self._s1 += new
            self._s2 += new * new
        else:
            old = self._buf[p] - k
            self._s1 += new - old
            self._s2 += new * new - old * old
        self._buf[p] = xv
        self._pos.fill(0 if p + 1 == w else p + 1)
        cnt = min(c0 + 1, w)
        self._count.fill(cnt)
        c = float(cnt)
        m1 = self._s1 / c
        var = self._s2 / c
        var -= m1 * m1
        np.maximum(var, 0.0, out=var)
        std = np.sqrt(var, out=var)
        mean = np.add(k, m1, out=self._mean)
        np.copyto(self._std, std)
        z = self._z
        z.fill(0.0)
        if cnt >= self.min_history:
            ok = np.abs(mean)
            ok *= REL_EPS
            ok = std > ok
            dev = xv - k  # (x - K) - m1: no cancellation against a large offset
            dev -= m1
            np.divide(dev, std, out=z, where=ok)

    def _stats(self, cols: np.ndarray, xv: np.ndarray, cnt: np.ndarray) -> None:
        """Recompute mean, std and z of ``cols`` whose current values are ``xv``."""
        c = cnt.astype(np.float64)
        m1 = self._s1[cols] / c
        var = self._s2[cols] / c - m1 * m1
        np.maximum(var, 0.0, out=var)
        std = np.sqrt(var)
        mean = self._shift[cols] + m1
        self._mean[cols] = mean
        self._std[cols] = std
        ok = (cnt >= self.min_history) & (std > REL_EPS * np.abs(mean))
        z = np.zeros(cols.shape[0])
        dev = xv - self._shift[cols]  # (x - K) - m1: no cancellation against a large offset
        dev -= m1
        np.divide(dev, std, out=z, where=ok)
        self._z[cols] = z

    def _exact(self) -> None:
        """Recompute shift and running sums exactly from the buffer (no drift)."""
        cnt = self._count
        have = cnt > 0
        if not np.count_nonzero(have):
            return
        filled = np.arange(self.window)[:, None] < cnt[None, :]  # rows 0..count-1 are used
        vals = np.where(filled, self._buf, 0.0)
        c = np.maximum(cnt, 1).astype(np.float64)
        shift = vals.sum(axis=0) / c
        dev = np.where(filled, self._buf - shift, 0.0)
        self._s1 = dev.sum(axis=0)
        self._s2 = (dev * dev).sum(axis=0)
        self._shift = np.where(have, shift, 0.0)

    # ------------------------------------------------------------ persistence
    def load(self, history: np.ndarray) -> None:
        """Rebuild the state from a (T, N) array of past values (oldest first,
        NaN = missing), as if each row had been passed to :meth:`update`
        (z of each symbol is that of its latest value)."""
        h = np.asarray(history, dtype=np.float64)
        if h.ndim != 2 or h.shape[1] != self.n_symbols:
            raise ValueError(f"RollingZScore.load: history must be (T, {self.n_symbols}), got {h.shape}")
        self._reset()
        w = self.window
        valid = np.isfinite(h)
        # rank from the end among each symbol's valid values: 1 = latest
        from_end = np.cumsum(valid[::-1], axis=0)[::-1]
        keep = valid & (from_end <= w)
        cnt = np.minimum(valid.sum(axis=0), w)
        t_idx, cols = np.nonzero(keep)
        slot = cnt[cols] - from_end[t_idx, cols]  # 0 = oldest kept value
        self._buf[slot, cols] = h[t_idx, cols]
        self._count = cnt.astype(np.int64)
        self._pos = np.where(cnt == w, 0, cnt).astype(np.int64)
        self._in_step = False  # re-checked at the next update
        self._exact()
        have = np.flatnonzero(cnt > 0)
        if have.shape[0]:
            last = self._buf[cnt[have] - 1, have]
            self._stats(have, last, cnt[have])

    def values_ordered(self, i: int) -> np.ndarray:
        """Symbol ``i``'s window, oldest first (a copy)."""
        if not 0 <= i < self.n_symbols:
            raise IndexError(f"RollingZScore.values_ordered: symbol index {i} out of range")
        c = int(self._count[i])
        col = self._buf[:, i]
        if c < self.window:
            return col[:c].copy()
        p = int(self._pos[i])
        return np.concatenate([col[p:], col[:p]])


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v
