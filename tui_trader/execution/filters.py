"""Exact Decimal quantisation to the exchange's trading rules (:class:`SymbolFilters`).

Units: quantities are in the *base* asset, prices in *quote per base*, notionals
(``qty * price``) in the *quote* asset. Everything here is exact ``Decimal``
arithmetic; floats enter only through :func:`to_decimal`, which goes via
``repr`` so that ``42283.58`` stays ``Decimal("42283.58")``.

Rounding rules (deterministic, never in the trader's favour by accident):

* quantities round **down** to ``step_size`` (never order more than asked);
* a **BUY limit** price rounds **down** to ``tick_size`` and a **SELL limit**
  price rounds **up**, so a limit buffer never exceeds what was asked;
* without a side (marks, display) prices round half-up to the tick.

A ``tick_size`` / ``step_size`` of 0 means "no constraint" (the value is kept as is).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, InvalidOperation

from tui_trader.models import Side, SymbolFilters

# Enough digits for any step/tick ratio we meet (prices up to 1e12, steps down to 1e-18).
_CTX = Context(prec=60)


def to_decimal(x: float | int | str | Decimal) -> Decimal:
    """A finite ``Decimal`` from a float (via ``repr``), int, numeric string or Decimal.

    Raises ``ValueError`` for NaN, infinities, booleans and text that is not a number.
    """
    if isinstance(x, bool):
        raise ValueError(f"not a number: {x!r}")
    if isinstance(x, Decimal):
        d = x
    elif isinstance(x, numbers.Integral):  # int and numpy integers
        d = Decimal(int(x))
    elif isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"not a finite number: {x!r}")
        d = Decimal(float.__repr__(x))  # plain float repr, also for numpy.float64 (whose repr is np.float64(..))
    elif isinstance(x, str):
        try:
            d = Decimal(x.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {x!r}") from None
    else:
        # numpy scalars and similar: go through float repr
        try:
            f = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"not a number: {x!r}") from None
        return to_decimal(f)
    if not d.is_finite():
        raise ValueError(f"not a finite number: {x!r}")
    return d


def tick_decimals(tick: Decimal) -> int:
    """The decimals of a price on ``tick`` (2 for 0.01, 0 for 1 or 10, 3 for 0.005); -1 for no
    tick (0: Binance's PRICE_FILTER off) or a tick that is not a finite positive number."""
    if not isinstance(tick, Decimal) or not tick.is_finite() or tick <= 0:
        return -1
    return max(0, -int(tick.normalize().as_tuple().exponent))


def round_to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """``value`` rounded to a whole multiple of ``step`` with the given ``decimal`` rounding mode.

    The result carries the step's exponent (``0.00100000`` -> 3 decimals). ``step <= 0`` -> unchanged.
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"value must be a finite Decimal, got {value!r}")
    if not isinstance(step, Decimal) or not step.is_finite():
        raise ValueError(f"step must be a finite Decimal, got {step!r}")
    if step <= 0:
        return value
    step_n = step.normalize(_CTX)
    n = _CTX.divide(value, step_n).quantize(Decimal(1), rounding=rounding, context=_CTX)
    out = _CTX.multiply(n, step_n)
    # Present with the step's number of decimals (1E+1 steps stay integral).
    exp = min(step_n.as_tuple().exponent, 0)
    return out.quantize(Decimal((0, (1,), exp)), context=_CTX)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is a whole multiple of ``step`` (always True for ``step <= 0``)."""
    if step <= 0:
        return True
    return _CTX.remainder(value, step) == 0


FEE_QUANTUM = Decimal("0.00000001")  # fees are rounded up to 8 decimals (quote asset)
PRICE_QUANTUM = Decimal("0.00000001")  # fill prices' tick when the symbol has no PRICE_FILTER
_BPS = Decimal(10_000)


def fill_fee(notional: Decimal, fee_rate: Decimal) -> Decimal:
    """Fee in quote units for a fill of ``notional`` (quote): ``notional * fee_rate`` rounded up to 8 decimals."""
    return _CTX.multiply(notional, fee_rate).quantize(FEE_QUANTUM, rounding=ROUND_CEILING, context=_CTX)


def fill_tick(last: Decimal, f: SymbolFilters | None) -> Decimal:
    """The tick fills of a symbol are priced on: its PRICE_FILTER's, or without one Binance's price
    precision (8 decimals) - also when ``last`` has more (a float's digits: a fill at a 28-digit
    price left the book and the paper account apart in the last digit) - unless ``last`` is below
    that quantum (0: unrounded, a price no exchange quotes)."""
    tick = f.tick_size if f is not None else Decimal(0)
    if tick <= 0 and last >= PRICE_QUANTUM:
        return PRICE_QUANTUM
    return tick


def worst_fill_price(last: Decimal, side: Side, max_slippage_bps: Decimal, tick: Decimal) -> Decimal:
    """The furthest a fill at last price ``last`` may move against a ``side`` order: the slippage
    cap of ``max_slippage_bps`` on the tick (inside the cap), but never better for the trader than
    ``last`` on its tick (when the cap lies within one tick of it)."""
    if side == Side.BUY:
        cap = last * (1 + max_slippage_bps / _BPS)
        return max(round_to_step(cap, tick, ROUND_FLOOR), round_to_step(last, tick, ROUND_CEILING))
    cap = last * (1 - max_slippage_bps / _BPS)
    return min(round_to_step(cap, tick, ROUND_CEILING), round_to_step(last, tick, ROUND_FLOOR))


def worst_buy_price(
    last: Decimal, f: SymbolFilters | None, max_slippage_percent: float, limit_buffer_percent: float | None
) -> Decimal:
    """The most a unit of a BUY at last price ``last`` may cost: a MARKET buy's
    :func:`worst_fill_price` at the paper broker's slippage cap ``max_slippage_percent``, on the
    fill tick; a LIMIT IOC buy (``limit_buffer_percent`` given) at most at its :func:`limit_price`."""
    worst = worst_fill_price(last, Side.BUY, to_decimal(max_slippage_percent) * 100, fill_tick(last, f))
    if limit_buffer_percent is not None:
        worst = min(worst, limit_price(last, Side.BUY, limit_buffer_percent, f))
    return worst


def quantize_qty(qty: Decimal, f: SymbolFilters) -> Decimal:
    """Base quantity rounded **down** to ``f.step_size``. Raises ``ValueError`` if ``qty < 0``."""
    qty = to_decimal(qty)
    if qty < 0:
        raise ValueError(f"{f.symbol}: quantity must not be negative, got {qty}")
    return round_to_step(qty, f.step_size, ROUND_FLOOR)


def quantize_price(price: Decimal, f: SymbolFilters, side: Side | None = None) -> Decimal:
    """Price (quote per base) on ``f.tick_size``.

    ``Side.BUY`` (a buy limit) rounds down, ``Side.SELL`` (a sell limit) rounds up,
    ``None`` rounds half-up (marks). Raises ``ValueError`` if ``price <= 0``.
    """
    price = to_decimal(price)
    if price <= 0:
        raise ValueError(f"{f.symbol}: price must be positive, got {price}")
    if side is None:
        rounding = ROUND_HALF_UP
    elif side == Side.BUY:
        rounding = ROUND_FLOOR
    elif side == Side.SELL:
        rounding = ROUND_CEILING
    else:
        raise ValueError(f"bad side {side!r}")
    return round_to_step(price, f.tick_size, rounding)


def limit_price(price: Decimal, side: Side, buffer_percent: float, f: SymbolFilters | None = None) -> Decimal:
    """A LIMIT IOC order's price at last price ``price``: ``buffer_percent`` beyond it (above for a
    buy, below for a sell) so that it crosses, then on ``f``'s tick (:func:`quantize_price`)."""
    buf = Decimal(str(buffer_percent)) / Decimal(100)
    raw = price * (1 + buf) if side is Side.BUY else price * (1 - buf)
    return quantize_price(raw, f, side) if f is not None else raw


def check_order(
    qty: Decimal, price: Decimal, f: SymbolFilters, *, check_price_range: bool = True, market: bool | None = None
) -> str | None:
    """Why an order of ``qty`` (base) at ``price`` (quote/base) breaks ``f``, or ``None`` when it is fine.

    Checks symbol status, LOT_SIZE (min/max quantity, step multiple), PRICE_FILTER
    (tick multiple and min/max price, skipped with ``check_price_range=False`` -
    a market order's reference price is not an order price) and
    MIN_NOTIONAL / NOTIONAL (``qty * price`` against min/max notional). A MARKET order
    (``market``; by default ``not check_price_range``) must also meet MARKET_LOT_SIZE
    (:meth:`SymbolFilters.for_market_orders`; reasons then start with ``MARKET_LOT_SIZE``),
    and is not held to ``max_notional``: Binance spot's NOTIONAL filter has
    ``applyMaxToMarket`` false (a position worth more than that must still sell at market).
    Reasons start with the Binance filter name, e.g. ``"NOTIONAL: 5.00 below min_notional 10"``.
    """
    if market is None:
        market = not check_price_range
    if market:
        mf = f.for_market_orders()
        own_lot = mf is not f
        if f.max_notional > 0:
            f = replace(f, max_notional=Decimal(0))
        if own_lot:
            lot = _check_all(qty, price, f, check_price_range)
            if lot is not None:
                return lot
            why = _check_lot(qty, mf)
            return None if why is None else "MARKET_" + why
    return _check_all(qty, price, f, check_price_range)


def _check_lot(qty: Decimal, f: SymbolFilters) -> str | None:
    qty = to_decimal(qty)
    if qty < f.min_qty:
        return f"LOT_SIZE: quantity {qty} below min_qty {f.min_qty}"
    if f.max_qty > 0 and qty > f.max_qty:
        return f"LOT_SIZE: quantity {qty} above max_qty {f.max_qty}"
    if not is_multiple(qty, f.step_size):
        return f"LOT_SIZE: quantity {qty} is not a multiple of step_size {f.step_size}"
    return None


def _check_all(qty: Decimal, price: Decimal, f: SymbolFilters, check_price_range: bool) -> str | None:
    try:
        qty = to_decimal(qty)
        price = to_decimal(price)
    except ValueError as exc:
        return f"bad number: {exc}"
    if f.status != "TRADING":
        return f"symbol {f.symbol} is not trading (status {f.status})"
    if qty <= 0:
        return f"LOT_SIZE: quantity must be positive, got {qty}"
    if price <= 0:
        return f"PRICE_FILTER: price must be positive, got {price}"
    lot = _check_lot(qty, f)
    if lot is not None:
        return lot
    if check_price_range:
        if not is_multiple(price, f.tick_size):
            return f"PRICE_FILTER: price {price} is not a multiple of tick_size {f.tick_size}"
        if f.min_price > 0 and price < f.min_price:
            return f"PRICE_FILTER: price {price} below min_price {f.min_price}"
        if f.max_price > 0 and price > f.max_price:
            return f"PRICE_FILTER: price {price} above max_price {f.max_price}"
    notional = _CTX.multiply(qty, price)
    if notional < f.min_notional:
        return f"NOTIONAL: {notional} below min_notional {f.min_notional}"
    if f.max_notional > 0 and notional > f.max_notional:
        return f"NOTIONAL: {notional} above max_notional {f.max_notional}"
    return None
