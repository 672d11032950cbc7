"""The book: cash, long spot positions, realised PnL and fees (exact Decimal), marks and equity (float).

Money units are the quote asset (e.g. USDT); quantities are base units.

Booking a fill (:meth:`Portfolio.apply_fill`), exact ``Decimal`` arithmetic:

* **BUY** ``q`` at ``p`` with fee ``c``: ``cash -= q*p + c``; the position's open
  entry notional grows by ``q*p`` and its open fees by ``c``;
  ``avg_entry = entry notional / quantity`` (fees not included, shown to 12 decimals);
  ``cost = entry notional + open fees``.
* **SELL** ``q`` at ``p`` with fee ``c``: ``cash += q*p - c``;
  ``realised = q*p - c - (entry notional share) - (open fee share)``, i.e.
  ``(p - avg_entry)*q - sell fee - pro-rata buy fees``. The shares are
  ``q/Q`` of the open amounts rounded to 8 decimals; the last sell of a position
  takes exactly what is left, so over a round trip
  ``sum(realised) == sum(sell proceeds - sell fees) - sum(buy notional + buy fees)``.
  A position whose quantity reaches 0 is removed.

Fee assets (``Fill.fee`` is always quote-valued, ``Fill.fee_asset`` names the asset charged):

* quote asset (or empty): as above - the fee comes out of cash;
* the symbol's **base** asset (Binance charges a buy's commission in base; the
  live broker reports ``fee = commission * price``): the position receives
  ``q - commission`` (``commission = fee / p``) and cash pays ``q*p`` only; the
  fee still counts in ``Position.fees`` / ``fees_paid``. A **sell** with a base
  fee (Binance takes a BNBUSDT sell's commission in BNB when fees are paid in
  BNB): the commission coins leave the position too, as far as it holds them
  after the sale, as if sold at ``p`` to pay a quote fee of their value - the
  position shrinks by ``q + commission``, cash grows by ``q*p``, ``fees_paid``
  by the fee and realised PnL is ``q*p - (entry + fee shares of q +
  commission)``. A commission beyond what the position still holds is paid
  from coins outside the book and booked like a third-asset fee below;
* any other asset (e.g. BNB discount): the raw amount is added to
  ``other_fees[asset]`` and nothing is taken from cash (the exchange does not
  take it from the quote balance either); realised PnL excludes it.

The base asset of a symbol is the symbol without the quote-asset suffix
(``BTCUSDT`` -> ``BTC``).

``Position.fees`` holds the buy fees attributed to the *open* quantity (so
``cost - fees`` is the open entry notional); ``Position.realized_pnl`` what
this position realised so far. A fill that would make cash negative or sell
more than is held raises ``ValueError`` and changes nothing.

Marks, equity, daily PnL and drawdown are analytics and use float:
``equity = cash + sum(quantity * mark)``. The daily PnL is measured from
``day_start_equity``, reset at the first mark of each UTC day - the day is
taken from the *injected* timestamp (``mark(..., ts_ms=...)`` or the optional
clock), never from wall time. When the previous mark was on the day before, the
new day starts from the equity at that mark (the last known before midnight;
money moved outside the book since moves it too), so a move over a period
straddling midnight - held or sold meanwhile, fees included - counts for the new
day instead of escaping the daily-loss breaker; otherwise (the first mark, a gap of
days, a restart) from the equity at the new day's first mark. ``drawdown_pct`` is measured from the highest
equity seen (unrealised PnL included).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

import numpy as np

from tui_trader.clock import MS_PER_DAY, Clock
from tui_trader.models import Fill, Position, Side

SHARE_QUANTUM = Decimal("0.00000001")  # pro-rata shares of entry notional / fees: 8 decimals (quote)
AVG_QUANTUM = Decimal("1e-12")
DEFAULT_CURVE_CAPACITY = 20_000
_CTX = Context(prec=60)  # exact for fee / price with Binance's 8-decimal numbers

PriceSource = Mapping[str, float] | Callable[[str], float | None]


def _dec(x: Any, what: str) -> Decimal:
    if not isinstance(x, Decimal) or not x.is_finite():
        raise ValueError(f"{what} must be a finite Decimal, got {x!r}")
    return x


class Portfolio:
    """Cash and long positions of one account in ``quote_asset`` (see the module doc)."""

    def __init__(
        self,
        starting_cash: Decimal,
        quote_asset: str = "USDT",
        *,
        clock: Clock | None = None,
        curve_capacity: int = DEFAULT_CURVE_CAPACITY,
    ) -> None:
        starting_cash = _dec(starting_cash, "starting_cash")
        if starting_cash < 0:
            raise ValueError(f"starting_cash must not be negative, got {starting_cash}")
        if curve_capacity < 2:
            raise ValueError(f"curve_capacity must be >= 2, got {curve_capacity}")
        self.starting_cash = starting_cash
        self.quote_asset = quote_asset
        self.cash = starting_cash
        self.positions: dict[str, Position] = {}
        self.realized_pnl = Decimal(0)
        self.fees_paid = Decimal(0)  # quote-valued fees booked (quote and base-asset fees)
        self.other_fees: dict[str, Decimal] = {}  # fees charged in third assets (e.g. BNB), raw amounts
        self._clock = clock
        self.marks: dict[str, float] = {}  # last mark price per symbol (quote per base)
        self.equity = float(starting_cash)
        self.peak_equity = float(starting_cash)
        self.day_start_equity = float(starting_cash)
        self.day: int | None = None  # UTC day number (ts_ms // 86_400_000) of the last mark
        self.last_mark_ms: int | None = None
        # equity curve: a ring buffer (chronological view through equity_curve())
        self._cap = int(curve_capacity)
        self._curve_ts = np.zeros(self._cap, dtype=np.int64)
        self._curve_eq = np.zeros(self._cap, dtype=np.float64)
        self._curve_n = 0  # samples stored (<= cap)
        self._curve_head = 0  # next write index
        # the curve's peak and deepest drawdown over every sample before the last one, kept
        # beyond the ring buffer's reach (a run longer than its capacity)
        self._curve_peak = 0.0
        self._curve_max_dd = 0.0

    # -- booking -------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> Decimal:
        """Book ``fill``; returns its realised PnL in quote units (0 for buys). See the module doc."""
        # 60 digits: a cash of up to 1e15 (the config's largest) plus the 16 decimals of an 8-decimal
        # price times an 8-decimal quantity overflowed the default 28 and was rounded
        with localcontext(_CTX):
            return self._apply_fill(fill)

    def apply_fills(self, fills: Sequence[Fill]) -> Decimal:
        """Book an order's ``fills`` all or none: the sum of their realised PnL, or the first
        refusal's ValueError with the book as it was before the first of them."""
        if len(fills) <= 1:  # one fill is checked whole before it changes anything
            return self.apply_fill(fills[0]) if fills else Decimal(0)
        saved = (self.cash, self.fees_paid, self.realized_pnl, dict(self.other_fees), dict(self.positions))
        realized = Decimal(0)
        try:
            for fill in fills:
                realized += self.apply_fill(fill)
        except BaseException:
            self.cash, self.fees_paid, self.realized_pnl, self.other_fees, self.positions = saved
            raise
        return realized

    def _apply_fill(self, fill: Fill) -> Decimal:
        price = _dec(fill.price, "fill price")
        qty = _dec(fill.quantity, "fill quantity")
        fee = _dec(fill.fee, "fill fee")
        if price <= 0 or qty <= 0:
            raise ValueError(f"fill {fill.trade_id or fill.client_order_id}: price and quantity must be positive")
        if fee < 0:
            raise ValueError(f"fill {fill.trade_id or fill.client_order_id}: fee must not be negative")
        fee_kind = self._fee_kind(fill.symbol, fill.fee_asset) if fee != 0 else "quote"
        notional = price * qty
        pos = self.positions.get(fill.symbol)
        if fill.side == Side.BUY:
            received = qty
            if fee_kind == "base":
                received = _CTX.subtract(qty, _CTX.divide(fee, price))  # commission charged in base
                if received <= 0:
                    raise ValueError(f"fill {fill.trade_id or fill.client_order_id}: base fee exceeds the quantity")
            spend = notional + fee if fee_kind == "quote" else notional
            book_fee = fee if fee_kind != "other" else Decimal(0)
            if spend > self.cash:
                raise ValueError(
                    f"buy {qty} {fill.symbol} at {price} costs {spend} {self.quote_asset}, cash is {self.cash}"
                )
            if pos is None:
                new = Position(
                    symbol=fill.symbol,
                    quantity=received,
                    avg_entry=price,
                    entry_ms=fill.ts_ms,
                    fees=book_fee,
                    cost=spend,
                    updated_ms=fill.ts_ms,
                )
            else:
                q = pos.quantity + received
                entry = (pos.cost - pos.fees) + (spend - book_fee)
                new = replace(
                    pos,
                    quantity=q,
                    avg_entry=(entry / q).quantize(AVG_QUANTUM, rounding=ROUND_HALF_EVEN),
                    fees=pos.fees + book_fee,
                    cost=pos.cost + spend,
                    updated_ms=fill.ts_ms,
                )
            self.cash -= spend
            self.fees_paid += book_fee
            if fee_kind == "other":
                self.other_fees[fill.fee_asset] = self.other_fees.get(fill.fee_asset, Decimal(0)) + fee
            self.positions[fill.symbol] = new
            return Decimal(0)
        if fill.side != Side.SELL:
            raise ValueError(f"bad fill side {fill.side!r}")
        held = pos.quantity if pos is not None else Decimal(0)
        if pos is None or qty > held:
            raise ValueError(f"sell {qty} {fill.symbol}: only {held} held (spot, long only)")
        other_fee = Decimal(0)
        out = qty  # base units leaving the position
        gross = notional  # quote value of what leaves the position, fee coins at the fill price
        if fee_kind == "other":
            other_fee, fee = fee, Decimal(0)
        elif fee_kind == "base":
            # The fee coins leave the position as well, as far as it holds them (valued at the
            # fill price, like a sold coin whose proceeds paid a quote fee); the rest comes from
            # coins outside the book and is booked like a third-asset fee.
            commission = _CTX.divide(fee, price)
            from_book = min(commission, held - qty)
            other_fee = commission - from_book
            out = qty + from_book
            fee = _CTX.multiply(from_book, price) if other_fee else fee
            gross = notional + fee
        entry_open = pos.cost - pos.fees
        if out == pos.quantity:
            entry_share, fee_share = entry_open, pos.fees
        else:
            ratio_q, whole = out, pos.quantity
            entry_share = min(entry_open, (entry_open * ratio_q / whole).quantize(SHARE_QUANTUM, ROUND_HALF_EVEN))
            fee_share = min(pos.fees, (pos.fees * ratio_q / whole).quantize(SHARE_QUANTUM, ROUND_HALF_EVEN))
        if self.cash + gross - fee < 0:
            raise ValueError(f"sell {qty} {fill.symbol}: fee {fee} exceeds proceeds {notional} plus cash {self.cash}")
        realised = gross - fee - entry_share - fee_share
        self.cash += gross - fee
        self.fees_paid += fee
        if other_fee:
            self.other_fees[fill.fee_asset] = self.other_fees.get(fill.fee_asset, Decimal(0)) + other_fee
        self.realized_pnl += realised
        if out == pos.quantity:
            del self.positions[fill.symbol]
        else:
            self.positions[fill.symbol] = replace(
                pos,
                quantity=pos.quantity - out,
                fees=pos.fees - fee_share,
                cost=pos.cost - entry_share - fee_share,
                realized_pnl=pos.realized_pnl + realised,
                updated_ms=fill.ts_ms,
            )
        return realised

    def write_off(self, symbol: str) -> Decimal:
        """Take an unsellable remainder of ``symbol`` off the book (dust: less than one step or
        below the minimum notional, left when the exchange took a buy's fee in the base asset).
        Its cost is realised as a loss and cash is unchanged: the coins stay in the account as
        the operator's, outside the book. Returns the realised PnL (0 when not held)."""
        pos = self.positions.pop(symbol, None)
        if pos is None:
            return Decimal(0)
        realised = -pos.cost
        self.realized_pnl = _CTX.add(self.realized_pnl, realised)
        self.marks.pop(symbol, None)
        return realised

    def base_asset(self, symbol: str) -> str:
        """``symbol`` without the quote-asset suffix (``BTCUSDT`` -> ``BTC``), or "" if it has none."""
        q = self.quote_asset
        return symbol[: -len(q)] if symbol.endswith(q) and len(symbol) > len(q) else ""

    def _fee_kind(self, symbol: str, fee_asset: str) -> str:
        if not fee_asset or fee_asset == self.quote_asset:
            return "quote"
        if fee_asset == self.base_asset(symbol):
            return "base"
        return "other"

    @classmethod
    def replay_fills(cls, starting_cash: Decimal, fills: Iterable[Fill], quote_asset: str = "USDT") -> Portfolio:
        """A fresh portfolio with ``fills`` booked in the given order (crash tests compare it to the stored book)."""
        p = cls(starting_cash, quote_asset)
        for f in fills:
            p.apply_fill(f)
        return p

    # -- queries -------------------------------------------------------------

    def quantity(self, symbol: str) -> Decimal:
        pos = self.positions.get(symbol)
        return pos.quantity if pos is not None else Decimal(0)

    def unrealized(self, symbol: str, price: float | Decimal) -> float:
        """Unrealised PnL (quote) of ``symbol`` at ``price``: ``quantity * price - cost`` (buy fees included,
        so realised + unrealised = equity - starting cash). 0 when not held."""
        pos = self.positions.get(symbol)
        if pos is None:
            return 0.0
        return float(pos.quantity) * float(price) - float(pos.cost)

    @property
    def positions_value(self) -> float:
        """Market value (quote) of the positions at the last marks (entry price where never marked)."""
        if not self.positions:
            return 0.0
        qty = np.fromiter((float(p.quantity) for p in self.positions.values()), dtype=np.float64)
        px = np.fromiter(
            (self.marks.get(s, float(p.avg_entry)) for s, p in self.positions.items()), dtype=np.float64
        )
        return float(np.dot(qty, px))

    @property
    def unrealized_pnl(self) -> float:
        """Sum of unrealised PnL at the last marks (quote)."""
        return self.positions_value - float(sum((p.cost for p in self.positions.values()), Decimal(0)))

    def day_and_drawdown(self, equity: float, ts_ms: int | None = None) -> tuple[float, float, float, float]:
        """``(daily PnL, daily PnL %, peak equity, drawdown %)`` at ``equity`` (quote): at the last
        mark for the properties below; at the latest prices for an engine snapshot, which marks
        nothing. The daily figures are since the start of the current UTC day; the drawdown is
        the percent below the peak (0 at a new high). ``ts_ms`` (a snapshot's time) on a UTC day
        after the last mark's starts the day as the next :meth:`mark` will, without moving it: a
        snapshot between midnight and that mark showed the day before's loss again as today's."""
        day_start = self.day_start_equity
        day = None if ts_ms is None else int(ts_ms) // MS_PER_DAY
        if day is not None and self.day is not None and day > self.day:
            day_start = self.equity if day == self.day + 1 and self.last_mark_ms is not None else equity
        daily = equity - day_start
        peak = max(self.peak_equity, equity)
        return (
            daily,
            daily / day_start * 100.0 if day_start > 0 else 0.0,
            peak,
            max(0.0, (peak - equity) / peak * 100.0) if peak > 0 else 0.0,
        )

    @property
    def daily_pnl(self) -> float:
        """Equity change since the start of the current UTC day (quote)."""
        return self.day_and_drawdown(self.equity)[0]

    @property
    def daily_pnl_pct(self) -> float:
        return self.day_and_drawdown(self.equity)[1]

    @property
    def drawdown_pct(self) -> float:
        """Percent below the peak equity (0 at a new high)."""
        return self.day_and_drawdown(self.equity)[3]

    @property
    def total_pnl(self) -> float:
        return self.equity - float(self.starting_cash)

    # -- marking -------------------------------------------------------------

    def mark(self, prices: PriceSource, ts_ms: int | None = None) -> float:
        """Re-price the positions and return the equity (quote, float).

        ``prices`` maps symbol -> price or is a callable ``symbol -> price | None``; a missing,
        non-finite or non-positive price keeps the symbol's previous mark. ``ts_ms`` (else the
        clock given at construction, else no day logic) drives the UTC-day rollover of
        ``day_start_equity``.
        """
        get = prices if callable(prices) else prices.get
        if ts_ms is None and self._clock is not None:
            ts_ms = self._clock.now_ms()
        day = None if ts_ms is None else int(ts_ms) // MS_PER_DAY
        # The day's reference when the previous mark was on the day before: the equity at that
        # mark (the last known before midnight), so a move over the period that straddles
        # midnight counts for the new day rather than for none - sold meanwhile too: with the
        # book as it is now, a sale's cash already held the loss, which then counted for no day.
        before = None
        if day is not None and self.day is not None and day == self.day + 1 and self.last_mark_ms is not None:
            before = self.equity
        for sym in self.positions:
            p = get(sym)
            if p is None:
                continue
            try:
                pf = float(p)
            except (TypeError, ValueError):
                continue
            if math.isfinite(pf) and pf > 0:
                self.marks[sym] = pf
        for sym in [s for s in self.marks if s not in self.positions]:
            del self.marks[sym]
        self.equity = float(self.cash) + self.positions_value
        if ts_ms is not None and day is not None:
            if self.day is None or day > self.day:
                self.day = day
                self.day_start_equity = self.equity if before is None else before
            self.last_mark_ms = int(ts_ms)
        if self.equity > self.peak_equity:
            self.peak_equity = self.equity
        return self.equity

    # -- equity curve ----------------------------------------------------------

    def sample(self, ts_ms: int) -> None:
        """Append (``ts_ms``, current equity) to the bounded curve; oldest samples drop out when full.

        A sample at the same time as the last one replaces it; an earlier time raises ``ValueError``.
        """
        ts_ms = int(ts_ms)
        if self._curve_n:
            last = (self._curve_head - 1) % self._cap
            last_ts = int(self._curve_ts[last])
            if ts_ms < last_ts:
                raise ValueError(f"equity sample at {ts_ms} is before the last sample at {last_ts}")
            if ts_ms == last_ts:
                self._curve_eq[last] = self.equity
                return
            self._settle(float(self._curve_eq[last]))  # the last sample is final now
        self._curve_ts[self._curve_head] = ts_ms
        self._curve_eq[self._curve_head] = self.equity
        self._curve_head = (self._curve_head + 1) % self._cap
        self._curve_n = min(self._curve_n + 1, self._cap)

    def _settle(self, eq: float) -> None:
        self._curve_peak = max(self._curve_peak, eq)
        if self._curve_peak > 0:
            self._curve_max_dd = max(self._curve_max_dd, (self._curve_peak - eq) / self._curve_peak)

    def curve_max_drawdown_pct(self) -> float:
        """The deepest fall below the curve's running peak, in percent, over EVERY sample taken
        (also those the bounded curve no longer holds); 0 with no samples or a peak of 0 (an
        empty account has no drawdown, as the breakers judge it)."""
        if not self._curve_n:
            return 0.0
        peak, dd = self._curve_peak, self._curve_max_dd
        eq = float(self._curve_eq[(self._curve_head - 1) % self._cap])
        peak = max(peak, eq)
        if peak > 0:
            dd = max(dd, (peak - eq) / peak)
        return dd * 100.0

    def equity_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ts_ms int64, equity float64)`` arrays, oldest first (copies)."""
        if self._curve_n < self._cap:
            return self._curve_ts[: self._curve_n].copy(), self._curve_eq[: self._curve_n].copy()
        order = np.r_[self._curve_head : self._cap, 0 : self._curve_head]
        return self._curve_ts[order], self._curve_eq[order]

    # -- persistence -----------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON-safe state without the positions (stored separately); Decimals as exact strings."""
        return {
            "quote_asset": self.quote_asset,
            "starting_cash": str(self.starting_cash),
            "cash": str(self.cash),
            "realized_pnl": str(self.realized_pnl),
            "fees_paid": str(self.fees_paid),
            "other_fees": {a: str(v) for a, v in self.other_fees.items()},
            "equity": self.equity,
            "peak_equity": self.peak_equity,
            "day_start_equity": self.day_start_equity,
            "day": self.day,
            "last_mark_ms": self.last_mark_ms,
            "marks": dict(self.marks),
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        positions: Mapping[str, Position] | Iterable[Position],
        *,
        clock: Clock | None = None,
        curve_capacity: int = DEFAULT_CURVE_CAPACITY,
    ) -> Portfolio:
        """Rebuild from :meth:`to_state` output and the stored positions. Raises ``ValueError`` on bad data."""
        try:
            p = cls(
                Decimal(str(state["starting_cash"])),
                str(state.get("quote_asset", "USDT")),
                clock=clock,
                curve_capacity=curve_capacity,
            )
            p.cash = _dec(Decimal(str(state["cash"])), "cash")
            p.realized_pnl = _dec(Decimal(str(state.get("realized_pnl", "0"))), "realized_pnl")
            p.fees_paid = _dec(Decimal(str(state.get("fees_paid", "0"))), "fees_paid")
            p.other_fees = {
                str(a): _dec(Decimal(str(v)), f"other_fees {a}") for a, v in dict(state.get("other_fees", {})).items()
            }
            p.equity = float(state.get("equity", float(p.cash)))  # without one: cash + positions, below
            p.peak_equity = float(state.get("peak_equity", math.nan))
            p.day_start_equity = float(state.get("day_start_equity", math.nan))
            day = state.get("day")
            p.day = None if day is None else int(day)
            lm = state.get("last_mark_ms")
            p.last_mark_ms = None if lm is None else int(lm)
            p.marks = {str(k): float(v) for k, v in dict(state.get("marks", {})).items()}
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ValueError(f"bad portfolio state: {exc!r}") from None
        if p.cash < 0:
            raise ValueError(f"bad portfolio state: negative cash {p.cash}")
        items = positions.values() if isinstance(positions, Mapping) else positions
        for pos in items:
            if not isinstance(pos, Position):
                raise ValueError(f"bad position {pos!r}")
            for name in ("quantity", "avg_entry", "fees", "cost", "realized_pnl"):
                _dec(getattr(pos, name), f"position {pos.symbol} {name}")
            if pos.quantity <= 0:
                raise ValueError(f"position {pos.symbol}: quantity must be positive, got {pos.quantity}")
            if pos.symbol in p.positions:
                raise ValueError(f"duplicate position {pos.symbol}")
            p.positions[pos.symbol] = replace(pos)
        if "equity" not in state:
            # the book's worth until its first mark: the positions at their stored marks (entry price
            # where none), not the cash alone (a drawdown of the positions' whole value)
            p.equity = float(p.cash) + p.positions_value
        if math.isnan(p.peak_equity):
            p.peak_equity = p.equity
        if math.isnan(p.day_start_equity):
            p.day_start_equity = p.equity
        return p

    def __repr__(self) -> str:
        return (
            f"Portfolio(cash={self.cash} {self.quote_asset}, positions={len(self.positions)}, "
            f"equity={self.equity:.2f}, realized={self.realized_pnl})"
        )
