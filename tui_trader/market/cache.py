"""Bounded in-memory market state: per-symbol ring buffers of closed klines and latest prices.

Layout: one 2-D numpy array per kline field, shape ``(n_symbols, capacity)``;
``_pos[s]`` is the next write column of symbol ``s`` and ``count[s]`` how many
klines it holds (at most ``capacity``). Appending a whole batch is vectorised
(a few numpy operations whatever its size); reading the last ``k`` is O(k).
Memory is fixed at construction: 8 fields x 8 bytes x N x capacity (2000 x 1000
-> 128 MB).

Feed batches must be validated first (:mod:`tui_trader.market.validation`):
the cache assumes closed klines arrive in time order per symbol.

Units: times integer ms since the epoch (UTC); prices quote currency; ``volume``
and ``taker_buy_base`` base currency; ``quote_volume`` quote currency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tui_trader.models import KlineBatch, PriceBatch

CACHE_FIELDS = ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_base")


def _last_per_symbol(sym: np.ndarray) -> np.ndarray:
    """Row indices of the last occurrence of each distinct symbol in ``sym`` (batch order)."""
    n = sym.shape[0]
    _, idx = np.unique(sym[::-1], return_index=True)
    return n - 1 - idx


def _ring_slots(sym: np.ndarray, pos: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each row of ``sym`` (batch order) goes in a ring of ``capacity`` columns.

    Returns ``(rows_kept, cols, added_per_symbol)``: rows beyond the last
    ``capacity`` of a symbol in this batch are dropped (they would be overwritten
    anyway), so the target cells are unique.
    """
    n = sym.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64), pos[sym] % capacity, np.bincount(sym, minlength=pos.shape[0])
    counts = np.bincount(sym, minlength=pos.shape[0])
    order = np.argsort(sym, kind="stable")
    ss = sym[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[ss]
    keep = rank >= counts[sym] - capacity
    rows = np.flatnonzero(keep) if not keep.all() else np.arange(n)
    cols = (pos[sym[rows]] + rank[rows]) % capacity
    return rows, cols, counts


class MarketCache:
    """Closed klines (ring buffers) and the latest price of each of ``symbols``.

    ``capacity`` closed klines are kept per symbol. ``price_capacity > 0`` also
    keeps a ring of that many recent price updates per symbol
    (:meth:`last_prices`).

    Public arrays (length N, indexed like ``symbols``): ``price`` (last price, NaN
    until known), ``price_ts`` (ms, -1 until known), ``open_24h``, ``high_24h``,
    ``low_24h``, ``quote_volume_24h`` (NaN until a ticker gives them), ``count``
    (klines held).
    """

    def __init__(self, symbols: Sequence[str], capacity: int = 1000, price_capacity: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"MarketCache capacity must be >= 1, got {capacity}")
        if price_capacity < 0:
            raise ValueError(f"MarketCache price_capacity must be >= 0, got {price_capacity}")
        self.symbols = list(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        n = len(self.symbols)
        self.n = n
        self.capacity = int(capacity)
        self.open_time = np.full((n, capacity), -1, dtype=np.int64)
        self.open = np.full((n, capacity), np.nan)
        self.high = np.full((n, capacity), np.nan)
        self.low = np.full((n, capacity), np.nan)
        self.close = np.full((n, capacity), np.nan)
        self.volume = np.full((n, capacity), np.nan)
        self.quote_volume = np.full((n, capacity), np.nan)
        self.taker_buy_base = np.full((n, capacity), np.nan)
        self._pos = np.zeros(n, dtype=np.int64)
        self._upos = 0  # the write column shared by every symbol; -1 if they differ, None unknown
        self.count = np.zeros(n, dtype=np.int64)
        self.total_klines = 0

        self.price = np.full(n, np.nan)
        self.price_ts = np.full(n, -1, dtype=np.int64)
        self.open_24h = np.full(n, np.nan)
        self.high_24h = np.full(n, np.nan)
        self.low_24h = np.full(n, np.nan)
        self.quote_volume_24h = np.full(n, np.nan)

        self.price_capacity = int(price_capacity)
        if price_capacity:
            self._p_ring = np.full((n, price_capacity), np.nan)
            self._p_ring_ts = np.full((n, price_capacity), -1, dtype=np.int64)
            self._p_pos = np.zeros(n, dtype=np.int64)
            self.price_count = np.zeros(n, dtype=np.int64)

    # ------------------------------------------------------------------ writes

    def add_klines(self, batch: KlineBatch, ts_ms: int | None = None) -> int:
        """Append the closed klines of ``batch`` (any number per symbol, time-ordered per symbol).

        Every kline, closed or in progress, also sets ``price`` to its close if it is
        not older than the current price: a closed kline counts as of its
        ``close_time``, an in-progress one as of ``ts_ms`` (default: its open time).
        Rows with a symbol index out of range are ignored. Returns how many closed
        klines were appended.
        """
        if len(batch) == 0:
            return 0
        sym = np.asarray(batch.sym, dtype=np.int64)
        ok = (sym >= 0) & (sym < self.n)
        if not ok.all():
            batch = batch.take(ok)
            sym = sym[ok]
            if sym.size == 0:
                return 0
        closed = np.asarray(batch.closed, dtype=bool)
        unique = sym.shape[0] == 1 or bool(np.all(sym[1:] > sym[:-1]))  # sorted, one row per symbol
        if unique and sym.shape[0] == self.n and closed.all() and self._uniform_col() >= 0:
            return self._add_complete(batch)
        self._upos = None
        added = 0
        if closed.any():
            cb = batch if closed.all() else batch.take(closed)
            cs = sym if closed.all() else sym[closed]
            if unique:  # one kline per symbol: the next column of each
                rows, cols, rs = slice(None), self._pos[cs], cs
            else:
                rows, cols, counts = _ring_slots(cs, self._pos, self.capacity)
                rs = cs[rows]
            self.open_time[rs, cols] = cb.open_time[rows]
            self.open[rs, cols] = cb.open[rows]
            self.high[rs, cols] = cb.high[rows]
            self.low[rs, cols] = cb.low[rows]
            self.close[rs, cols] = cb.close[rows]
            self.volume[rs, cols] = cb.volume[rows]
            self.quote_volume[rs, cols] = cb.quote_volume[rows]
            self.taker_buy_base[rs, cols] = cb.taker_buy_base[rows]
            if unique:
                self._pos[cs] = (cols + 1) % self.capacity
                self.count[cs] = np.minimum(self.count[cs] + 1, self.capacity)
            else:
                self._pos = (self._pos + counts) % self.capacity
                np.minimum(self.count + counts, self.capacity, out=self.count)
            added = int(cs.shape[0])
            self.total_klines += added
        # Latest price from the newest row of each symbol.
        ts = np.where(closed, batch.close_time, batch.open_time if ts_ms is None else int(ts_ms))
        if unique:
            self._set_prices(sym, ts, batch.close)
        else:
            last = _last_per_symbol(sym)
            self._set_prices(sym[last], ts[last], batch.close[last])
        return added

    def _uniform_col(self) -> int:
        """The write column shared by every symbol, or -1 if their positions differ."""
        if self._upos is None:
            p = self._pos
            self._upos = int(p[0]) if self.n and bool((p == p[0]).all()) else -1
        return self._upos

    def _add_complete(self, batch: KlineBatch) -> int:
        """Closed klines of every symbol, one each in symbol order, while all write positions are
        equal: one column of each field (basic indexing); the same cells and prices as the general
        path."""
        c = self._upos
        assert c is not None
        self.open_time[:, c] = batch.open_time
        self.open[:, c] = batch.open
        self.high[:, c] = batch.high
        self.low[:, c] = batch.low
        self.close[:, c] = batch.close
        self.volume[:, c] = batch.volume
        self.quote_volume[:, c] = batch.quote_volume
        self.taker_buy_base[:, c] = batch.taker_buy_base
        nxt = (c + 1) % self.capacity
        self._pos.fill(nxt)
        self._upos = nxt
        np.minimum(self.count + 1, self.capacity, out=self.count)
        n = self.n
        self.total_klines += n
        ts = np.asarray(batch.close_time)
        newer = ts >= self.price_ts
        if self.price_capacity or not newer.all():
            self._set_prices(self._all_idx(), ts, batch.close)
        else:  # every price moves forward: whole arrays
            self.price[:] = batch.close
            self.price_ts[:] = ts
        return n

    def _all_idx(self) -> np.ndarray:
        idx = getattr(self, "_all", None)
        if idx is None:
            idx = self._all = np.arange(self.n, dtype=np.int64)
        return idx

    def update_prices(self, batch: PriceBatch) -> int:
        """Apply a PriceBatch (newest row per symbol wins; older than ``price_ts`` is ignored).

        Sets ``price``/``price_ts`` and, where the batch knows them (not NaN), the
        24h fields. Returns how many symbols changed.
        """
        if len(batch) == 0:
            return 0
        if len(batch) == self.n and not self.price_capacity and self._update_all(batch):
            return self.n
        sym = np.asarray(batch.sym, dtype=np.int64)
        ok = (sym >= 0) & (sym < self.n)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return 0
        if idx.size > 1:
            si = sym[idx]
            if not bool(np.all(si[1:] > si[:-1])):  # not already one row per symbol
                idx = idx[_last_per_symbol(si)]
        s = sym[idx]
        changed = self._set_prices(s, batch.event_time[idx], batch.price[idx])
        if changed.any():
            s2 = s[changed]
            for name, arr in (
                ("open_24h", batch.open_24h),
                ("high_24h", batch.high_24h),
                ("low_24h", batch.low_24h),
                ("quote_volume_24h", batch.quote_volume_24h),
            ):
                vals = arr[idx][changed]
                known = ~np.isnan(vals)
                getattr(self, name)[s2[known]] = vals[known]
        return int(changed.sum())

    def _update_all(self, batch: PriceBatch) -> bool:
        """:meth:`update_prices` of a batch holding every symbol once, in order, each newer than its
        price (what the simulated market and a full ticker array send): whole-array copies, no
        indexing. False (nothing changed) for any other batch."""
        ts = batch.event_time
        if not (np.array_equal(batch.sym, self._all_idx()) and bool((ts >= self.price_ts).all())):
            return False
        self.price[:] = batch.price
        self.price_ts[:] = ts
        for name in ("open_24h", "high_24h", "low_24h", "quote_volume_24h"):
            vals = getattr(batch, name)
            np.copyto(getattr(self, name), vals, where=~np.isnan(vals))
        return True

    def _set_prices(self, s: np.ndarray, ts: np.ndarray, px: np.ndarray) -> np.ndarray:
        """Set price where ``ts`` is not older than the current price; ``s`` must be unique."""
        newer = ts >= self.price_ts[s]
        if newer.all():
            s_n, ts_n, px_n = s, ts, px
        else:
            s_n, ts_n, px_n = s[newer], ts[newer], px[newer]
        self.price[s_n] = px_n
        self.price_ts[s_n] = ts_n
        if self.price_capacity and s_n.size:
            col = self._p_pos[s_n]
            self._p_ring[s_n, col] = px_n
            self._p_ring_ts[s_n, col] = ts_n
            self._p_pos[s_n] = (col + 1) % self.price_capacity
            self.price_count[s_n] = np.minimum(self.price_count[s_n] + 1, self.price_capacity)
        return newer

    # ------------------------------------------------------------------ reads

    def _cols(self, sym: int, k: int) -> np.ndarray:
        k = max(0, min(int(k), int(self.count[sym])))
        return (self._pos[sym] - k + np.arange(k)) % self.capacity

    def last_klines(self, sym: int, k: int, fields: Sequence[str] = CACHE_FIELDS) -> dict[str, np.ndarray]:
        """The last ``k`` (or fewer, if fewer are held) closed klines of symbol ``sym``, oldest first.

        Keys: ``fields`` (default all of ``CACHE_FIELDS``). Arrays are copies.
        """
        bad = [f for f in fields if f not in CACHE_FIELDS]
        if bad:
            raise ValueError(f"unknown kline field {bad[0]!r}; expected one of {CACHE_FIELDS}")
        cols = self._cols(sym, k)
        return {f: getattr(self, f)[sym, cols] for f in fields}

    def _last_matrix(self, arr: np.ndarray, k: int, fill: float = np.nan) -> np.ndarray:
        k = int(k)
        if k <= 0:
            return np.empty((self.n, 0), dtype=arr.dtype)
        j = np.arange(k)
        cols = (self._pos[:, None] - k + j[None, :]) % self.capacity
        out = np.take_along_axis(arr, cols, axis=1) if k <= self.capacity else None
        if out is None:  # more than held: pad on the left
            out = np.full((self.n, k), fill, dtype=arr.dtype)
            out[:, k - self.capacity :] = self._last_matrix(arr, self.capacity, fill)
            return out
        missing = j[None, :] < (k - self.count)[:, None]
        out[missing] = fill
        return out

    def last_closes(self, k: int) -> np.ndarray:
        """(N, k) closes, oldest first, the newest in the last column; NaN where a symbol has fewer."""
        return self._last_matrix(self.close, k)

    def last_field(self, name: str, k: int) -> np.ndarray:
        """Like :meth:`last_closes` for any of ``CACHE_FIELDS`` (open_time padded with -1)."""
        if name not in CACHE_FIELDS:
            raise ValueError(f"unknown kline field {name!r}; expected one of {CACHE_FIELDS}")
        arr = getattr(self, name)
        return self._last_matrix(arr, k, -1 if name == "open_time" else np.nan)

    def last_open_time(self) -> np.ndarray:
        """(N,) open time (ms) of each symbol's newest closed kline, -1 if none."""
        out = self.open_time[np.arange(self.n), (self._pos - 1) % self.capacity].copy()
        out[self.count == 0] = -1
        return out

    def recent_quote_volume(self, k: int) -> np.ndarray:
        """(N,) total quote volume of the last ``k`` closed klines; NaN for a symbol with none."""
        qv = self._last_matrix(self.quote_volume, k)
        out = np.nansum(qv, axis=1)
        out[self.count == 0] = np.nan
        return out

    def recent_quote_volume_of(self, sym: int, k: int) -> float:
        """:meth:`recent_quote_volume` of one symbol (the same value, bit for bit: the row is
        padded like the matrix's before the same ``nansum``)."""
        k = int(k)
        if k <= 0 or self.count[sym] == 0:
            return math.nan if self.count[sym] == 0 else 0.0
        held = self.quote_volume[sym, self._cols(sym, k)]  # a copy
        held[np.isnan(held)] = 0.0
        row = np.zeros(k)  # nansum's own steps (NaN -> 0, then sum), without its overhead
        row[k - held.shape[0] :] = held
        return float(row.sum())

    def return_volatility(self, k: int) -> np.ndarray:
        """(N,) sample std (ddof=1) of the simple returns between the last ``k`` closes.

        NaN for a symbol with fewer than 3 closes (fewer than 2 returns).
        """
        c = self.last_closes(k)
        if c.shape[1] < 3:
            return np.full(self.n, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = c[:, 1:] / c[:, :-1] - 1.0
            valid = ~np.isnan(r)
            nvalid = valid.sum(axis=1)
            r0 = np.where(valid, r, 0.0)
            mean = r0.sum(axis=1) / np.maximum(nvalid, 1)
            dev = np.where(valid, r - mean[:, None], 0.0)
            var = (dev * dev).sum(axis=1) / np.maximum(nvalid - 1, 1)
        out = np.sqrt(var)
        out[(np.minimum(self.count, k) < 3) | (nvalid < 2)] = np.nan
        return out

    def last_prices(self, sym: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The last ``k`` price updates of ``sym`` as ``(ts_ms, price)``, oldest first (needs price_capacity)."""
        if not self.price_capacity:
            raise ValueError("MarketCache was built with price_capacity=0: no price history kept")
        k = max(0, min(int(k), int(self.price_count[sym])))
        cols = (self._p_pos[sym] - k + np.arange(k)) % self.price_capacity
        return self._p_ring_ts[sym, cols], self._p_ring[sym, cols]

    def memory_bytes(self) -> int:
        """Bytes held by the cache's numpy arrays."""
        return int(sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray)))
