"""Position sizing: how much base asset an entry signal buys.

The seed's formula, then hard limits::

    strength_mult   = min(signal.strength, 2)                  # clipped to [0, 2]
    confidence_mult = signal.confidence                        # clipped to [0, 1]
    vol_mult        = clip(TARGET_VOLATILITY / volatility, 0.25, 1.0)
                      (volatility NaN/inf -> 0.5; volatility 0 -> 1.0)
    percent         = max_position_percent * strength_mult * confidence_mult * vol_mult
    percent         = min(percent, max_position_percent)       # never above the cap
    quantity        = equity * percent / 100 / price           # base units
    cap             = equity * max_position_percent / 100
    quantity        = min(quantity, cap / (worst * (1 + fee))) # the cap holds after the fill

``volatility`` is the standard deviation of the symbol's per-kline simple returns
over the last ``rating.volatility_window`` klines, as the engine passes it (a
fraction, 0.02 = 2 % per kline); ``TARGET_VOLATILITY`` is 0.02. The
quantity is computed in ``Decimal`` with every step rounding *down*
(``ROUND_FLOOR``), so ``quantity * price <= equity * max_position_percent / 100``
always holds. So that the cap also holds once the order has filled, the quantity is at most
what ``cap`` buys at the worst fill ``worst`` - the last price moved up by
``order_execution.max_slippage_percent`` on the tick, as the cash check takes it (a LIMIT
entry: its limit price, the most the exchange fills it at) - with the fee (``broker.fee_rate``) paid on top: a position bought
at the cap is then at most ``max_position_percent`` of the equity left after its fee (at 5 %
and a 0.1 % fee, 500 at the last price was 500.10 at the fill). It is rounded down to the
symbol's step size (or to ``DEFAULT_QTY_STEP`` when no filters are given), cut to ``max_qty`` (for MARKET
entries, i.e. without ``use_limit_orders``, MARKET_LOT_SIZE's too) /
``max_notional`` when those are set (a LIMIT entry's notional at its limit price,
:func:`~tui_trader.execution.filters.limit_price`), and becomes ``Decimal(0)`` when it is
below ``min_qty`` or its notional below ``min_notional``.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal, InvalidOperation, localcontext

from tui_trader.config import Config
from tui_trader.execution.filters import fill_fee, limit_price, worst_buy_price
from tui_trader.models import Side, Signal, SymbolFilters

TARGET_VOLATILITY = 0.02  # per-period return std-dev at which the volatility multiplier is 1
MIN_VOL_MULT, MAX_VOL_MULT = 0.25, 1.0
UNKNOWN_VOL_MULT = 0.5
DEFAULT_QTY_STEP = Decimal("0.00000001")  # Binance's finest base precision, used without filters
_ZERO = Decimal(0)


def volatility_multiplier(volatility: float) -> float:
    """``clip(TARGET_VOLATILITY / volatility, 0.25, 1.0)``; NaN/inf -> 0.5; 0 -> 1.0.

    Raises ``ValueError`` for a negative volatility."""
    v = float(volatility)
    if math.isnan(v) or math.isinf(v):
        return UNKNOWN_VOL_MULT
    if v < 0:
        raise ValueError(f"volatility must be >= 0, got {volatility!r}")
    if v == 0:
        return MAX_VOL_MULT
    return min(max(TARGET_VOLATILITY / v, MIN_VOL_MULT), MAX_VOL_MULT)


def round_down_to_step(qty: Decimal, step: Decimal) -> Decimal:
    """``qty`` rounded down (toward zero) to a multiple of ``step`` (``step <= 0``: unchanged)."""
    if step <= 0:
        return qty
    with localcontext() as ctx:
        ctx.prec = 60
        return (qty // step) * step


def _finite_decimal(name: str, value: Decimal) -> Decimal:
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return d


def _cap_qty(cap: Decimal, price: Decimal, step: Decimal, cfg: Config, filters: SymbolFilters | None) -> Decimal:
    """The most base units (on ``step``) whose cost at the worst fill, fee included, is at most
    ``cap``: a MARKET buy may slip up to ``max_slippage_percent``, a LIMIT buy fill at its limit
    price (the exchange's bound, above the slippage cap when the buffer is), and the fee
    (``broker.fee_rate``, rounded up to 8 decimals as the paper broker charges it) is paid from
    the same equity."""
    oe = cfg.order_execution
    if oe.use_limit_orders:
        worst = limit_price(price, Side.BUY, oe.limit_order_buffer_percent, filters)
    else:
        worst = worst_buy_price(price, filters, oe.max_slippage_percent, None)
    if worst <= 0:  # a LIMIT buy's price below one tick rounds down to 0: no order can buy it
        return _ZERO
    fee_rate = Decimal(repr(cfg.broker.fee_rate))
    with localcontext() as ctx:
        ctx.prec = 60
        qty = round_down_to_step(cap / (worst * (1 + fee_rate)), step)
        fee = fill_fee(qty * worst, fee_rate)
        if qty * worst + fee > cap:  # the fee rounded up to 8 decimals: pay that fee from the cap
            qty = round_down_to_step((cap - fee) / worst, step)  # (a smaller order's fee is no more)
    return max(qty, _ZERO)


def position_size(
    signal: Signal,
    equity: Decimal,
    price: Decimal,
    volatility: float,
    cfg: Config,
    filters: SymbolFilters | None,
) -> Decimal:
    """Base quantity to buy for ``signal`` (see the module docstring).

    ``equity`` and ``price`` are in the quote asset (``price`` per base unit).
    Returns ``Decimal(0)`` when nothing can be bought (no equity, below
    ``min_qty`` / ``min_notional``). Raises ``ValueError`` for a non-positive
    or non-finite price, a non-finite equity, NaN strength/confidence or a
    negative volatility.
    """
    equity = _finite_decimal("equity", equity)
    price = _finite_decimal("price", price)
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    strength, confidence = float(signal.strength), float(signal.confidence)
    if not (math.isfinite(strength) and math.isfinite(confidence)):
        raise ValueError(f"signal strength/confidence must be finite, got {strength!r}/{confidence!r}")
    if equity <= 0:
        return _ZERO
    strength_mult = min(max(strength, 0.0), 2.0)
    confidence_mult = min(max(confidence, 0.0), 1.0)
    vol_mult = volatility_multiplier(volatility)

    max_pct = Decimal(repr(cfg.risk_management.max_position_percent))
    pct = Decimal(repr(strength_mult)) * Decimal(repr(confidence_mult)) * Decimal(repr(vol_mult)) * max_pct
    with localcontext() as ctx:
        ctx.prec = 40
        ctx.rounding = ROUND_FLOOR
        pct = min(pct, max_pct)
        qty = equity * pct / Decimal(100) / price
    if qty <= 0:
        return _ZERO

    if filters is not None and not cfg.order_execution.use_limit_orders:
        filters = filters.for_market_orders()  # the entry is a MARKET order: MARKET_LOT_SIZE too
    step = filters.step_size if filters is not None and filters.step_size > 0 else DEFAULT_QTY_STEP
    qty = min(round_down_to_step(qty, step), _cap_qty(equity * max_pct / 100, price, step, cfg, filters))
    if filters is not None:
        if filters.max_qty > 0 and qty > filters.max_qty:
            qty = round_down_to_step(filters.max_qty, step)
        # a LIMIT buy is held to max_notional at its limit price, the one the engine sends
        oe = cfg.order_execution
        cap_price = price
        if oe.use_limit_orders:
            cap_price = limit_price(price, Side.BUY, oe.limit_order_buffer_percent, filters)
        if filters.max_notional > 0 and qty * cap_price > filters.max_notional:
            with localcontext() as ctx:
                ctx.prec = 40
                ctx.rounding = ROUND_FLOOR
                qty = round_down_to_step(filters.max_notional / cap_price, step)
        if qty < filters.min_qty or qty * price < filters.min_notional:
            return _ZERO
    return qty if qty > 0 else _ZERO
