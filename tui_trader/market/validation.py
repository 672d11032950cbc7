"""Market-data validation: reject, count and log bad rows; never raise on bad data.

Every feed runs its batches through :func:`validate_kline_batch` /
:func:`validate_price_batch` before anything downstream sees them. A rejected
row is dropped, counted under one short snake_case *reason* in a
:class:`RejectCounter`, and logged (rate-limited) on the
``tui_trader.market`` logger.

Reasons (a row is counted once, under the first rule it breaks, in this order):

``unknown_symbol``      symbol index outside ``[0, n_symbols)``
``malformed``           impossible times (negative open time, close before open) or negative trade count
``bad_time``            a closed kline whose times do not fit its interval (open time not on the
                        interval grid, for intervals that divide a day; ``close_time != open_time +
                        interval_ms - 1``) or that closes after ``now_ms + FUTURE_SLACK_MS`` (10 min; only
                        when the caller passes its clock's ``now_ms``): one such kline would raise
                        the symbol's last open time and make every real kline after it a "duplicate";
                        also an in-progress kline that opens after ``now_ms + FUTURE_SLACK_MS`` (its
                        close would be the symbol's price as of then), and a price whose event time
                        is after it
``non_finite``          NaN / inf in a price or volume
``non_positive_price``  open, high, low or close <= 0
``negative_volume``     volume, quote volume or taker-buy volume < 0
``taker_above_volume``  taker-buy base volume > base volume
``high_below_low``      high < low
``open_outside_range``  open outside [low, high]
``close_outside_range`` close outside [low, high]
``price_out_of_range``  a price (open, high, low, close; a ticker's price or known 24h open, high,
                        low) outside [``MIN_PRICE``, ``MAX_PRICE``] = [1e-12, 1e12]: finite, but no
                        market's (Binance's tick is at least 1e-8; BTC in the dearest quote asset is
                        ~1e9), and 1e308 would overflow quantity x price to inf
``volume_out_of_range`` a kline's volume, quote volume or taker-buy volume above ``MAX_VOLUME`` =
                        1e20: finite, but no market's (the largest real ones, a day of a meme coin's
                        base units or of a quote volume in rupiah, are ~1e14), and a period's sum of
                        two 1e308 volumes is inf, which spoiled its taker ratio (NaN score)
``duplicate``           a closed kline whose open time was already accepted for the symbol
``out_of_order``        a closed kline older than the newest accepted one for the symbol
``price_jump``          only with a :class:`PriceGuard`: a close (klines) or a price (tickers) more
                        than ``max_jump`` times above or below the last one accepted for the symbol
                        (``feed.max_price_jump``, 100 by default), e.g. a payload with its decimal
                        point shifted. Binance refuses trades far from the recent average price
                        (PERCENT_PRICE filters: a few times it at most), and the 2024-2025 klines
                        move at most 1.73x from one close to the next (1d; 1.19x at 1h; a 1d
                        kline's wick 6.8x): a real move never comes near 100x in one step. Klines and tickers keep a
                        reference each (the last accepted closed kline's close; the last accepted
                        price); in-progress klines are judged, never recorded. The first price of a
                        symbol has no reference: only the range above holds it. A single rejected
                        price never becomes the reference. A new level is taken, with a WARNING,
                        only when it is confirmed: by ``JUMP_CONFIRM_ROWS`` (3) consecutive far
                        rows of the symbol (closed klines, or tickers of three messages) each within
                        ``JUMP_AGREE`` (2x) of the one before - the third is accepted, the two
                        before stay rejected - or by the other stream (a far close within 2x of
                        the symbol's ticker reference, a far ticker within 2x of its last close).
                        An accepted close or price of the symbol, of either stream, ends the run.
                        A real move beyond the factor (none is known), or a first price that was
                        itself garbage, so no longer holds the symbol's prices back until the
                        feed restarts.

The parsers in :mod:`tui_trader.market.binance_payloads` use two more:
``bad_type`` (a field of the wrong JSON type) and ``malformed`` (missing fields,
unparsable numbers).

Units: times are integer milliseconds since the epoch (UTC); prices in quote
currency; volumes in base (``quote_volume`` in quote) currency.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np

from tui_trader.clock import MS_PER_DAY, utc_text
from tui_trader.models import KlineBatch, PriceBatch

log = logging.getLogger("tui_trader.market")

FUTURE_SLACK_MS = 600_000
"""How far past ``now_ms`` a closed kline's close time may be: a local clock up to ten minutes
slow (no NTP) still takes every kline; a garbled kline within that slack holds its symbol's later
klines back for at most that long."""

MIN_PRICE = 1e-12
"""The lowest price taken (quote per base): Binance's smallest tick is 1e-8."""
MAX_PRICE = 1e12
"""The highest price taken (quote per base): BTC in the dearest quote asset is ~1e9; quantities
up to 1e15 times it stay far from float overflow."""
MAX_VOLUME = 1e20
"""The highest kline volume taken (base, quote or taker-buy): see ``volume_out_of_range`` above; a
period's sum of a million of them stays far from float overflow."""
DEFAULT_MAX_PRICE_JUMP = 100.0
"""``feed.max_price_jump``'s default: see ``price_jump`` in the module doc."""
JUMP_CONFIRM_ROWS = 3
"""Consecutive agreeing far rows of a symbol that make its new level (see ``price_jump``)."""
JUMP_AGREE = 2.0
"""How close (a factor) consecutive far rows, or a far row and the other stream's reference, must
be to agree on a new level (at most ``max_jump``)."""

REASONS = (
    "bad_time",
    "non_finite",
    "non_positive_price",
    "price_out_of_range",
    "volume_out_of_range",
    "price_jump",
    "negative_volume",
    "taker_above_volume",
    "high_below_low",
    "open_outside_range",
    "close_outside_range",
    "out_of_order",
    "duplicate",
    "unknown_symbol",
    "bad_type",
    "malformed",
)


class RejectCounter:
    """Exact counts of rejected rows per reason, with rate-limited logging.

    Counting is exact. Logging emits at most one WARNING line per reason per
    ``log_interval_s`` seconds of wall time (``time.monotonic``; logging only,
    never a decision), mentioning how many were suppressed since the last line.
    """

    def __init__(self, log_interval_s: float = 10.0, logger: logging.Logger | None = None) -> None:
        self.total: int = 0
        self.by_reason: dict[str, int] = {}
        self.log_interval_s = float(log_interval_s)
        self._log = logger or log
        self._last_log: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def reject(self, reason: str, n: int = 1, detail: str = "") -> None:
        """Count ``n`` rejected rows under ``reason`` (``n <= 0`` is ignored)."""
        n = int(n)
        if n <= 0:
            return
        self.total += n
        self.by_reason[reason] = self.by_reason.get(reason, 0) + n
        now = time.monotonic()
        last = self._last_log.get(reason)
        if last is not None and now - last < self.log_interval_s:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + n
            return
        suppressed = self._suppressed.pop(reason, 0)
        self._last_log[reason] = now
        extra = f" (+{suppressed} more since last report)" if suppressed else ""
        self._log.warning(
            "rejected %d market-data row(s): %s%s%s", n, reason, f": {detail}" if detail else "", extra
        )

    def snapshot(self) -> dict[str, int]:
        """A copy of the per-reason counts."""
        return dict(self.by_reason)

    def __repr__(self) -> str:
        return f"RejectCounter(total={self.total}, by_reason={self.by_reason})"


#: What a reject's log line says about the rows: a fixed text, or a function of the rejected
#: rows' mask (to name the first of them).
What = str | Callable[[np.ndarray], str]


def _count(counter: RejectCounter, reason: str, mask: np.ndarray, what: What) -> None:
    n = int(np.count_nonzero(mask))
    if n:
        counter.reject(reason, n, what if isinstance(what, str) else what(mask))


def _first_failure(rules: list[tuple[str, np.ndarray]], counter: RejectCounter, n: int, what: What) -> np.ndarray:
    """Apply ``rules`` in order; each row counts under its first failing rule. Returns the bad mask."""
    bad = np.zeros(n, dtype=bool)
    for reason, fails in rules:
        new = fails & ~bad
        if new.any():
            _count(counter, reason, new, what)
            bad |= new
    return bad


class PriceGuard:
    """A feed's references for the ``price_jump`` rule (see the module doc): per symbol, the last
    accepted closed kline's close and the last accepted ticker price (NaN: none yet).

    ``max_jump`` (> 1): a price more than that many times above or below its reference is
    rejected. Raises ``ValueError`` for a bad ``max_jump`` or ``n_symbols``.
    """

    REPORT_INTERVAL_S = 10.0

    def __init__(
        self, n_symbols: int, max_jump: float = DEFAULT_MAX_PRICE_JUMP, names: list[str] | None = None
    ) -> None:
        mj = float(max_jump)
        if not math.isfinite(mj) or mj <= 1:
            raise ValueError(f"max_jump must be a finite number above 1, got {max_jump!r}")
        if n_symbols < 0:
            raise ValueError(f"n_symbols must be >= 0, got {n_symbols}")
        self.max_jump = mj
        self._mul = min(mj, 1e200)
        self.kline_ref = np.full(int(n_symbols), np.nan)
        self.price_ref = np.full(int(n_symbols), np.nan)
        self._last: tuple[float, float] | None = None  # (price, reference) of the last rejected row
        self.names = list(names) if names is not None else None  # symbol names, for the warnings
        self._agree = min(JUMP_AGREE, mj)
        # per reference: the symbol's last far (rejected) row and how many agreeing far rows
        # in a row led to it (0: none pending)
        n = int(n_symbols)
        self._pend = {
            "kline": (np.full(n, np.nan), np.zeros(n, dtype=np.int64)),
            "price": (np.full(n, np.nan), np.zeros(n, dtype=np.int64)),
        }
        self._pending = False  # any count above 0 (the fast paths then reset the accepted symbols')
        self.relevels = 0  # new levels taken on confirmation, since the guard was made
        self._notes: list[str] = []  # their warnings, until report() logs them
        self._reported: float | None = None  # when report() last logged (time.monotonic)
        self._unreported = 0

    def _far(self, p: np.ndarray, ref: np.ndarray) -> np.ndarray:
        # p and ref lie in [MIN_PRICE, MAX_PRICE] (or ref is NaN: never far), and _mul <= 1e200:
        # no product overflows, no comparison warns
        return (p > ref * self._mul) | (p * self._mul < ref)

    def _streams(self, ref: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray] | None, np.ndarray | None, str]:
        """The pending state of ``ref``, the other stream's reference and ``ref``'s field name."""
        if ref is self.kline_ref:
            return self._pend["kline"], self.price_ref, "close"
        if ref is self.price_ref:
            return self._pend["price"], self.kline_ref, "price"
        return None, None, "price"

    def _agrees(self, p: float, q: float) -> bool:
        return q * self._agree >= p and p * self._agree >= q  # False for a NaN q

    def judge(self, ref: np.ndarray, sym: np.ndarray, px: np.ndarray, closed: np.ndarray | None) -> np.ndarray | None:
        """The rows of ``(sym, px)`` (batch order) too far from their symbol's reference ``ref``,
        or None when every row passes; ``ref`` is updated with the accepted rows (those of
        ``closed``, when given). Vectorised; a symbol with a rejected or an in-progress row is
        walked row by row (each row against the last accepted one; a far row that confirms a new
        level, see the module doc, is accepted and becomes the reference)."""
        m = sym.shape[0]
        pend, other, field = self._streams(ref)
        if (closed is None or closed.all()) and (m == 1 or (sym[1:] > sym[:-1]).all()):
            # one row per symbol (a tick or a kline of each): no chain within the batch; as many rows
            # as symbols (the rows are the feed's, so each symbol is known): every symbol, in order
            whole = m == ref.shape[0]
            r = ref if whole else ref[sym]
            if not ((px > r * self._mul) | (px * self._mul < r)).any():
                if whole:
                    np.copyto(ref, px)
                else:
                    ref[sym] = px
                if self._pending and pend is not None:
                    self._clear(pend, sym)
                return None
        s64 = sym.astype(np.int64)
        order = np.argsort(s64, kind="stable")
        ss, ps = s64[order], px[order]
        first = np.ones(m, dtype=bool)
        first[1:] = ss[1:] != ss[:-1]
        prev = np.empty(m)
        prev[1:] = ps[:-1]
        prev[first] = ref[ss[first]]
        far = self._far(ps, prev)
        slow = far if closed is None else far | ~closed[order]
        if slow.any():
            walk = np.isin(ss, np.unique(ss[slow]))
        else:
            walk = np.zeros(m, dtype=bool)
        last = np.ones(m, dtype=bool)
        last[:-1] = ss[1:] != ss[:-1]
        upd = last & ~walk
        ref[ss[upd]] = ps[upd]
        if self._pending and pend is not None and upd.any():
            self._clear(pend, ss[upd])
        if not walk.any():
            return None
        bad = np.zeros(m, dtype=bool)  # in batch order
        counted: set[int] = set()  # tickers: a symbol's far rows in one message count once
        for k in np.sort(order[walk]).tolist():
            s, p_k = int(s64[k]), float(px[k])
            r = float(ref[s])
            recorded = closed is None or bool(closed[k])
            if bool(self._far(np.float64(p_k), np.float64(r))):
                if recorded and pend is not None and s not in counted:
                    if closed is None:
                        counted.add(s)
                    if self._confirms(pend, other, s, p_k, r, field):
                        ref[s] = p_k
                        continue
                bad[k] = True
                if self._last is None:
                    self._last = (p_k, r)
            elif recorded:
                ref[s] = p_k
                if pend is not None:  # both streams' (see _clear)
                    self._pend["kline"][1][s] = self._pend["price"][1][s] = 0
        if pend is not None:
            self._pending = bool(self._pend["kline"][1].any() or self._pend["price"][1].any())
        return bad if bad.any() else None

    def _clear(self, pend: tuple[np.ndarray, np.ndarray], syms: np.ndarray) -> None:
        """Accepted rows of ``syms`` end their pending new levels, of both streams: a close at the
        old level between far tickers (or a ticker between far closes) breaks their run, else
        three far rows hours apart, each followed by real ones, made a level."""
        self._pend["kline"][1][syms] = 0
        self._pend["price"][1][syms] = 0
        self._pending = bool(self._pend["kline"][1].any() or self._pend["price"][1].any())

    def _confirms(
        self, pend: tuple[np.ndarray, np.ndarray], other: np.ndarray | None, s: int, p: float, r: float, field: str
    ) -> bool:
        """Whether the far recorded row ``p`` of symbol ``s`` (reference ``r``) confirms a new level
        (see the module doc); it is counted towards one otherwise. Notes a warning when it does."""
        cand, cnt = pend
        o = float(other[s]) if other is not None else math.nan
        if self._agrees(p, o):
            why = f"it agrees with the symbol's last {'price' if field == 'close' else 'close'} {o:.10g}"
        else:
            cnt[s] = cnt[s] + 1 if cnt[s] and self._agrees(p, float(cand[s])) else 1
            cand[s] = p
            if cnt[s] < JUMP_CONFIRM_ROWS:
                return False
            why = f"{JUMP_CONFIRM_ROWS} consecutive rows agree on it"
        cnt[s] = 0
        self.relevels += 1
        name = self.names[s] if self.names is not None and 0 <= s < len(self.names) else f"symbol #{s}"
        self._notes.append(
            f"{name}: {field} {p:.10g} after {r:.10g} (more than {self.max_jump:g}x away) taken as a new level: {why}"
        )
        return True

    def report(self, logger: logging.Logger | None = None) -> None:
        """Log (WARNING) the new levels taken since the last call: at most one line per
        ``REPORT_INTERVAL_S`` of wall time (logging only), saying how many were not logged."""
        if not self._notes:
            return
        notes, self._notes = self._notes, []
        now = time.monotonic()
        if self._reported is not None and now - self._reported < self.REPORT_INTERVAL_S:
            self._unreported += len(notes)
            return
        self._reported = now
        more = len(notes) - 1 + self._unreported
        self._unreported = 0
        (logger or log).warning("price_jump: %s%s", notes[0], f" (+{more} more new level(s))" if more else "")

    def detail(self, field: str, what: What, mask: np.ndarray) -> str:
        """The reject text: ``what`` of the rows, and the first rejected price against its reference."""
        head = what if isinstance(what, str) else what(mask)
        last, self._last = self._last, None
        if last is None:
            return head
        return f"{head}: {field} {last[0]:.10g} after {last[1]:.10g} (more than {self.max_jump:g}x away)"


def validate_kline_batch(
    batch: KlineBatch,
    n_symbols: int,
    last_open_time: np.ndarray,
    counter: RejectCounter,
    now_ms: int | None = None,
    source: str | None = None,
    guard: PriceGuard | None = None,
) -> KlineBatch:
    """The rows of ``batch`` that pass every rule (see module doc); the others are counted.

    ``source`` (e.g. a replay file's path): the log line of each reject names it and the open
    time of the first rejected row, so the operator can find the rows; default: just "kline".

    ``now_ms`` (the feed's clock): closed klines closing after ``now_ms + FUTURE_SLACK_MS``, and
    in-progress ones opening after it, are rejected as ``bad_time``; None (replays of history)
    skips that one rule.

    ``last_open_time`` (int64, shape ``(n_symbols,)``, ``-1`` = none yet) holds the
    newest accepted *closed* open time per symbol; it is updated in place for the
    accepted closed klines. Rows are judged in batch order, so a batch may hold
    several klines of one symbol (e.g. a whole replay file): each must be newer
    than every earlier accepted one. In-progress klines (``closed=False``) are
    checked for values only and never recorded. Fully vectorised; never raises on
    bad data.

    ``guard``: the feed's :class:`PriceGuard`; each kline's close is then judged against the
    symbol's last accepted close (``price_jump``), in batch order, and the accepted closed
    klines' closes become the references.
    """
    n = len(batch)
    if n == 0:
        return batch
    what: What = "kline" if source is None else _first_row(source, batch.open_time)
    sym = np.asarray(batch.sym)
    o, h, lo, c = batch.open, batch.high, batch.low, batch.close
    v, qv, tb = batch.volume, batch.quote_volume, batch.taker_buy_base
    ot = batch.open_time
    closed = batch.closed
    # Fast path: one combined mask (NaN fails every comparison; inf is caught by the isfinite
    # terms and by low > 0 / open <= high); the per-rule breakdown only runs when it fails.
    with np.errstate(invalid="ignore"):
        ok = (sym >= 0) & (sym < n_symbols) & (ot >= 0) & (batch.close_time >= ot) & (batch.trades >= 0)
        ok &= (lo >= MIN_PRICE) & (lo <= o) & (o <= h) & (lo <= c) & (c <= h) & (h <= MAX_PRICE)
        # v, qv <= MAX_VOLUME: also False for NaN and inf (as isfinite was), and tb <= v bounds tb
        ok &= (tb >= 0) & (tb <= v) & (qv >= 0) & (v <= MAX_VOLUME) & (qv <= MAX_VOLUME)
    bad_time = _bad_times(batch, now_ms)
    if bad_time is not None:
        ok &= ~bad_time
    if ok.all():
        bad = np.zeros(n, dtype=bool)
    else:
        bad = _value_rules(batch, sym, n_symbols, counter, what, bad_time)

    # Ordering of closed klines, judged in batch order per symbol.
    all_closed = bool(closed.all())
    if all_closed and not bad.any():
        cand = None
        s_c, t_c = sym, ot
    else:
        cand = np.flatnonzero(~bad & closed.astype(bool))
        s_c, t_c = sym[cand], ot[cand]
    if s_c.size:
        unique = s_c.size == 1 or bool(np.all(s_c[1:] > s_c[:-1]))  # one kline per symbol, sorted
        order_what = what if cand is None or source is None else _first_row(source, ot[cand])
        order_bad, accepted = _order_check(s_c, t_c, last_open_time, counter, order_what, unique)
        if order_bad.any():
            bad[order_bad if cand is None else cand[order_bad]] = True
        if accepted.size:
            s_acc, t_acc = s_c[accepted], t_c[accepted]
            if unique:
                last_open_time[s_acc] = t_acc  # newer than last by construction
            else:
                np.maximum.at(last_open_time, s_acc, t_acc)

    if guard is not None:
        rows = np.flatnonzero(~bad) if bad.any() else None
        s_g = sym if rows is None else sym[rows]
        if s_g.size:
            c_g = c if rows is None else c[rows]
            cl_g = closed.astype(bool) if rows is None else closed.astype(bool)[rows]
            jump = guard.judge(guard.kline_ref, s_g, c_g, cl_g)
            guard.report()
            if jump is not None:
                _count(counter, "price_jump", jump, guard.detail("close", what, jump))
                bad[jump if rows is None else rows[jump]] = True

    if not bad.any():
        return batch
    return batch.take(~bad)


def _first_row(source: str, open_time: np.ndarray) -> Callable[[np.ndarray], str]:
    """A reject text naming ``source`` and the open time of the first row of a mask over ``open_time``."""

    def text(mask: np.ndarray) -> str:
        t = int(open_time[int(np.argmax(mask))])
        try:
            when = f"{utc_text(t)} UTC ({t})"
        except (ValueError, OverflowError, OSError):  # a time no calendar holds
            when = str(t)
        return f"{source}: kline(s), the first opening {when}"

    return text


def _bad_times(batch: KlineBatch, now_ms: int | None) -> np.ndarray | None:
    """The ``bad_time`` mask of the closed klines (None when every row passes)."""
    iv = int(batch.interval_ms)
    ot, ct = batch.open_time, batch.close_time
    bad = ct != ot + (iv - 1)
    if iv > 0 and MS_PER_DAY % iv == 0:  # weekly klines open on Mondays, not on the epoch's grid
        bad |= ot % iv != 0
    closed = batch.closed.astype(bool)
    bad &= closed
    if now_ms is not None:
        # an in-progress kline closes in the future but opens before now: one opening a year ahead
        # set its symbol's price as of then, and every real price before then was "older"
        late = int(now_ms) + FUTURE_SLACK_MS
        bad |= np.where(closed, ct > late, ot > late)
    return bad if bad.any() else None


def _value_rules(
    batch: KlineBatch,
    sym: np.ndarray,
    n_symbols: int,
    counter: RejectCounter,
    what: What,
    bad_time: np.ndarray | None = None,
) -> np.ndarray:
    """Per-rule breakdown of the value checks (first failing rule counts); returns the bad mask."""
    o, h, lo, c = batch.open, batch.high, batch.low, batch.close
    v, qv, tb = batch.volume, batch.quote_volume, batch.taker_buy_base
    unknown = (sym < 0) | (sym >= n_symbols)
    malformed = (batch.open_time < 0) | (batch.close_time < batch.open_time) | (batch.trades < 0)
    if bad_time is None:
        bad_time = np.zeros(len(batch), dtype=bool)
    finite = (
        np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
        & np.isfinite(v) & np.isfinite(qv) & np.isfinite(tb)
    )
    with np.errstate(invalid="ignore"):
        rules = [
            ("unknown_symbol", unknown),
            ("malformed", malformed),
            ("bad_time", bad_time),
            ("non_finite", ~finite),
            ("non_positive_price", (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)),
            ("negative_volume", (v < 0) | (qv < 0) | (tb < 0)),
            ("taker_above_volume", tb > v),
            ("high_below_low", h < lo),
            ("open_outside_range", (o < lo) | (o > h)),
            ("close_outside_range", (c < lo) | (c > h)),
            ("price_out_of_range", _out_of_range(o) | _out_of_range(h) | _out_of_range(lo) | _out_of_range(c)),
            ("volume_out_of_range", (v > MAX_VOLUME) | (qv > MAX_VOLUME) | (tb > MAX_VOLUME)),
        ]
    return _first_failure(rules, counter, len(batch), what)


def _out_of_range(p: np.ndarray) -> np.ndarray:
    """Prices outside [MIN_PRICE, MAX_PRICE] (NaN is not: an unknown 24h field)."""
    with np.errstate(invalid="ignore"):
        return (p < MIN_PRICE) | (p > MAX_PRICE)


def _order_check(
    s: np.ndarray, t: np.ndarray, last: np.ndarray, counter: RejectCounter, what: What, unique: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Duplicate / out-of-order flags for closed klines ``(s, t)`` in batch order.

    Returns ``(bad_mask, accepted_positions)``. A row is accepted iff its open time
    is newer than ``last[s]`` and than every earlier row of the same symbol (the
    running maximum of earlier rows equals that of earlier *accepted* rows, since a
    rejected row never exceeds it).
    """
    m = s.shape[0]
    s64 = s.astype(np.int64)
    t = t.astype(np.int64)
    prev_last = last[s64]
    if m == 1 or unique:
        prev_max = prev_last
        dup = t == prev_last
    else:
        # Previous max within the same symbol (exclusive running max, in batch order).
        by_sym = np.argsort(s64, kind="stable")
        ss, ts = s64[by_sym], t[by_sym]
        tmin = int(ts.min())
        span = int(ts.max()) - tmin + 2
        starts = np.empty(m, dtype=bool)
        starts[0] = True
        np.not_equal(ss[1:], ss[:-1], out=starts[1:])
        prev_in = np.full(m, -1, dtype=np.int64)
        if span * (int(ss.max()) + 1) < 2**62:
            key = ss * span + (ts - tmin + 1)
            cm = np.maximum.accumulate(key)
            pv = np.empty(m, dtype=np.int64)
            pv[0] = 0
            pv[1:] = cm[:-1]
            pv -= ss * span
            valid = ~starts
            prev_in[valid] = pv[valid] + tmin - 1
        else:  # pathological time span: per-symbol loop (still vectorised inside)
            bounds = np.flatnonzero(starts).tolist() + [m]
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                if b - a > 1:
                    prev_in[a + 1 : b] = np.maximum.accumulate(ts[a : b - 1])
        prev_max_sorted = np.maximum(prev_in, prev_last[by_sym])
        prev_max = np.empty(m, dtype=np.int64)
        prev_max[by_sym] = prev_max_sorted
        # Equal to an earlier row of the same symbol (or to the last accepted one).
        pos = np.arange(m)
        lx = np.lexsort((pos, t, s64))
        same = np.zeros(m, dtype=bool)
        same[1:] = (s64[lx][1:] == s64[lx][:-1]) & (t[lx][1:] == t[lx][:-1])
        dup = np.zeros(m, dtype=bool)
        dup[lx] = same
        dup |= t == prev_last
    late = t <= prev_max
    dups = late & dup
    ooo = late & ~dup
    _count(counter, "duplicate", dups, what)
    _count(counter, "out_of_order", ooo, what)
    return late, np.flatnonzero(~late)


def validate_price_batch(
    batch: PriceBatch,
    n_symbols: int,
    counter: RejectCounter,
    now_ms: int | None = None,
    guard: PriceGuard | None = None,
    plainly_ok: bool = False,
) -> PriceBatch:
    """The rows of ``batch`` that pass the price rules; the others are counted.

    ``plainly_ok``: the caller found that every row passes the rules below (the guard aside) with
    :func:`prices_plainly_ok` over the figures it made the batch from (the simulated market, once
    for all the price updates of a candle); they are not checked again.

    Rules (first failing one counts): ``unknown_symbol``; ``malformed`` (negative
    event time); ``bad_time`` (an event time after ``now_ms + FUTURE_SLACK_MS``, when the caller
    passes its clock's ``now_ms``: a price stamped in the future would outrank, and so freeze out,
    every real price of its symbol after it); ``non_finite`` (last price NaN/inf, or a 24h field infinite — the
    24h fields may be NaN = unknown); ``non_positive_price`` (price, or a known 24h
    open/high/low, <= 0); ``negative_volume`` (24h volumes < 0); ``high_below_low``
    (24h high < 24h low); ``price_out_of_range`` (price, or a known 24h open/high/low,
    outside [``MIN_PRICE``, ``MAX_PRICE``]); with the feed's ``guard``, ``price_jump`` (a price
    more than ``guard.max_jump`` times away from the symbol's last accepted one, judged in batch
    order; the accepted prices become the references). Never raises on bad data.
    """
    n = len(batch)
    if n == 0:
        return batch
    sym = np.asarray(batch.sym)
    p = batch.price
    o, h, lo = batch.open_24h, batch.high_24h, batch.low_24h
    v, q = batch.volume_24h, batch.quote_volume_24h
    if plainly_ok or prices_plainly_ok(sym, batch.event_time, p, o, h, lo, v, q, n_symbols, now_ms):
        # the usual batch: every rule below holds (checked by reductions, far fewer numpy calls
        # than the rules' row masks; a feed sends many small batches each rating period)
        if guard is not None:
            jump = guard.judge(guard.price_ref, sym, p, None)
            guard.report()
            if jump is not None:
                _count(counter, "price_jump", jump, guard.detail("price", "price", jump))
                return _keep_prices(batch, ~jump)
        return batch
    with np.errstate(invalid="ignore"):
        rules = [
            ("unknown_symbol", (sym < 0) | (sym >= n_symbols)),
            ("malformed", batch.event_time < 0),
            (
                "bad_time",
                np.zeros(n, dtype=bool) if now_ms is None else batch.event_time > int(now_ms) + FUTURE_SLACK_MS,
            ),
            (
                "non_finite",
                ~np.isfinite(p) | np.isinf(o) | np.isinf(h) | np.isinf(lo) | np.isinf(v) | np.isinf(q),
            ),
            ("non_positive_price", (p <= 0) | (o <= 0) | (h <= 0) | (lo <= 0)),
            ("negative_volume", (v < 0) | (q < 0)),
            ("high_below_low", h < lo),
            ("price_out_of_range", _out_of_range(p) | _out_of_range(o) | _out_of_range(h) | _out_of_range(lo)),
        ]
    bad = _first_failure(rules, counter, n, "price")
    if guard is not None:
        rows = np.flatnonzero(~bad)
        if rows.size:
            jump = guard.judge(guard.price_ref, sym[rows], p[rows], None)
            guard.report()
            if jump is not None:
                _count(counter, "price_jump", jump, guard.detail("price", "price", jump))
                bad[rows[jump]] = True
    if not bad.any():
        return batch
    return _keep_prices(batch, ~bad)


def _keep_prices(batch: PriceBatch, keep: np.ndarray) -> PriceBatch:
    return PriceBatch(
        sym=batch.sym[keep],
        event_time=batch.event_time[keep],
        price=batch.price[keep],
        open_24h=batch.open_24h[keep],
        high_24h=batch.high_24h[keep],
        low_24h=batch.low_24h[keep],
        volume_24h=batch.volume_24h[keep],
        quote_volume_24h=batch.quote_volume_24h[keep],
    )


def prices_plainly_ok(
    sym: np.ndarray,
    event_time: np.ndarray,
    p: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    v: np.ndarray,
    q: np.ndarray,
    n_symbols: int,
    now_ms: int | None = None,
) -> bool:
    """True when no row of a price batch breaks a rule of :func:`validate_price_batch` (the guard
    aside; the future-time rule too without ``now_ms``). NaN fails the price's checks (every
    comparison with it is false) and passes the 24h fields' (NaN there is "unknown"):
    ``fmin``/``fmax`` skip NaN, and infinities fail the bounds. The figures may be (M, N): M
    updates of the same N symbols ``sym``, each a row (a 24h field of shape (N,) is every row's):
    a feed that makes its updates from such figures (the simulated market, a candle's at once)
    judges them here and tells :func:`validate_price_batch` (``plainly_ok``)."""
    with np.errstate(invalid="ignore"):
        if not (sym.min() >= 0 and sym.max() < n_symbols and event_time.min() >= 0):
            return False
        if now_ms is not None and not event_time.max() <= int(now_ms) + FUTURE_SLACK_MS:
            return False
        if not (p.min() >= MIN_PRICE and p.max() <= MAX_PRICE):
            return False
        for x in (o, h, lo):
            if np.fmin.reduce(x, axis=None) < MIN_PRICE or np.fmax.reduce(x, axis=None) > MAX_PRICE:
                return False
        for x in (v, q):
            if np.fmin.reduce(x, axis=None) < 0 or np.fmax.reduce(x, axis=None) == np.inf:
                return False
        return not (h < lo).any()


def kline_batch_from_arrays(
    interval_ms: int,
    sym: np.ndarray,
    open_time: np.ndarray,
    close_time: np.ndarray,
    ohlcv: np.ndarray,
    trades: np.ndarray,
    closed: np.ndarray | bool = True,
) -> KlineBatch:
    """Build a :class:`KlineBatch` from column arrays with the canonical dtypes.

    ``ohlcv`` has shape ``(n, 7)``: open, high, low, close, volume, quote_volume,
    taker_buy_base (float64).
    """
    n = int(np.shape(sym)[0])
    f = np.asarray(ohlcv, dtype=np.float64).reshape(n, 7)
    cl = np.full(n, bool(closed)) if isinstance(closed, bool | np.bool_) else np.asarray(closed, dtype=bool)
    return KlineBatch(
        interval_ms=int(interval_ms),
        sym=np.asarray(sym, dtype=np.int32),
        open_time=np.asarray(open_time, dtype=np.int64),
        close_time=np.asarray(close_time, dtype=np.int64),
        open=np.ascontiguousarray(f[:, 0]),
        high=np.ascontiguousarray(f[:, 1]),
        low=np.ascontiguousarray(f[:, 2]),
        close=np.ascontiguousarray(f[:, 3]),
        volume=np.ascontiguousarray(f[:, 4]),
        quote_volume=np.ascontiguousarray(f[:, 5]),
        trades=np.asarray(trades, dtype=np.int64),
        taker_buy_base=np.ascontiguousarray(f[:, 6]),
        closed=cl,
    )
