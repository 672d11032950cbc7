"""Pre-trade checks: every reason an order must not be sent.

:class:`PreTradeChecks` runs *all* checks and returns one human-readable
reason per failure (an empty list = pass), so the operator sees everything
that is wrong at once. Money is ``Decimal`` in the quote asset; prices are
quote per base unit; percentages are percent.

Entry checks (:meth:`PreTradeChecks.check_entry`):

1. **state** - the engine state allows the order (:func:`~tui_trader.risk.state.order_refusal`).
2. **max total positions** - ``open_positions < max_total_positions``.
3. **cash** - what the order may cost at the broker's worst fill, fee included, ``<= cash``
   (:meth:`PreTradeChecks.worst_buy_cost`): a MARKET buy at the last price moved up by
   ``order_execution.max_slippage_percent`` (the paper broker's slippage cap; on the tick, never
   below the last price's tick), a LIMIT IOC buy at most at its limit price; the fee rounded up
   to 8 decimals as the paper broker charges it. A buy that passes is never refused for cash
   because the price slipped.
4. **per-symbol limit** - not already holding the symbol, and
   ``position_value + notional <= max_position_percent % of equity``.
5. **diversification** - ``total_position_value + notional <= max_total_positions *
   max_position_percent % of equity``.
6. **market conditions** - ``stale_periods <= max_data_staleness_periods``,
   ``gaps <= max_gaps`` (constructor, default 0), volatility known and
   ``<= max_volatility``.
7. **liquidity** - ``notional <= max_liquidity_share * recent_quote_volume``
   (unknown or zero volume fails).
8. **filters** - exchange filters known, symbol ``TRADING``, ``min_qty <= qty
   <= max_qty``, qty a multiple of ``step_size``, ``min_notional <= notional
   <= max_notional``. A MARKET order (``TradeContext.order_type``, by default as the
   engine sends orders: MARKET unless ``order_execution.use_limit_orders``) must also
   meet MARKET_LOT_SIZE (:meth:`~tui_trader.models.SymbolFilters.for_market_orders`);
   a LIMIT order's notional is taken at its limit price
   (:func:`~tui_trader.execution.filters.limit_price`), as the exchange takes it, and that price
   must lie within PRICE_FILTER's ``min_price`` / ``max_price`` (a MARKET order's is not held to it).

``notional = quantity * price``. Position values should include pending (in-flight)
buy orders so that two quick entries cannot together break a limit.

Exit checks (:meth:`PreTradeChecks.check_exit`): state, ``0 < quantity <=
holding_qty``, filters (step, ``min_qty``, ``max_qty`` - for a MARKET sell also
MARKET_LOT_SIZE's - ``min_notional``, for a LIMIT sell at its limit price, and then
``max_notional`` and the limit price's PRICE_FILTER range too); a holding whose
whole value is below ``min_notional`` is dust that cannot be sold, and a
partial sell that would leave such dust behind - the rest valued at the worst fill price the
slippage cap allows, or a LIMIT sell's limit price when lower, as the sell may fill there - or
a rest below ``min_qty`` is refused too (sell it all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, InvalidOperation

from tui_trader.config import Config
from tui_trader.execution.filters import (
    fill_fee,
    fill_tick,
    is_multiple,
    limit_price,
    worst_buy_price,
    worst_fill_price,
)
from tui_trader.models import EngineState, OrderType, Side, Source, SymbolFilters
from tui_trader.risk.state import order_refusal

_ZERO = Decimal(0)
_Q8 = Decimal("0.00000001")  # amounts below 1 are shown to 8 decimals
_CTX = Context(prec=60)  # exact money sums (a cash of up to 1e15 with 16 decimals)


@dataclass(slots=True)
class TradeContext:
    """Everything the checks need about one intended order."""

    symbol: str
    quantity: Decimal  # base units
    price: Decimal  # expected fill price, quote per base
    fee_rate: Decimal  # fraction of notional, e.g. 0.001
    cash: Decimal  # free quote balance
    equity: Decimal  # cash + positions at market (quote)
    open_positions: int = 0
    holding: bool = False
    holding_qty: Decimal = _ZERO  # base units held in this symbol (for exits)
    position_value: Decimal = _ZERO  # quote value held / pending in this symbol
    total_position_value: Decimal = _ZERO  # quote value of all open / pending positions (all symbols)
    stale_periods: float = 0.0  # age of the symbol's last kline, rating periods
    gaps: int = 0  # missing klines in the recent window
    volatility: float = math.nan  # per-period return std-dev (fraction)
    recent_quote_volume: Decimal | float = math.nan  # quote volume of the recent window
    filters: SymbolFilters | None = None
    state: EngineState = EngineState.RUNNING
    source: Source = Source.STRATEGY  # UI = manual operator order
    urgent: bool = False  # a stop-loss exit
    order_type: OrderType | None = None  # None: as the engine sends it (LIMIT iff use_limit_orders)

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price


def _fmt(d: Decimal) -> str:
    """Money (quote): two decimals, or up to eight below 1 (a price taken from a float carries
    binary noise far below that: 0.85920000000000008 reads 0.8592)."""
    return f"{d:.2f}" if abs(d) >= 1 else f"{d.quantize(Decimal('1e-8')).normalize():f}"


def _fmt_up(d: Decimal) -> str:
    """An amount needed, as :func:`_fmt` but rounded up: never shown below what is needed."""
    return _fmt(d.quantize(Decimal("0.01") if abs(d) >= 1 else _Q8, rounding=ROUND_CEILING))


def _fmt_below(d: Decimal, limit: Decimal) -> str:
    """An amount short of ``limit``, as :func:`_fmt` unless that reads ``limit`` or more; then
    rounded down: 9.995 below 10 reads 9.99, never 10.00."""
    text = _fmt(d)
    if Decimal(text) < limit:
        return text
    return _fmt(d.quantize(Decimal("0.01") if abs(d) >= 1 else _Q8, rounding=ROUND_FLOOR))


def _qty(d: Decimal) -> str:
    """A base quantity with every significant digit and no exponent."""
    return f"{d.normalize(_CTX):f}"  # every digit: the default context keeps 28


def _dec(value: Decimal | float | int) -> Decimal | None:
    try:
        d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    except (InvalidOperation, TypeError, ValueError):
        return None
    return d if d.is_finite() else None


class PreTradeChecks:
    """Pre-trade checks on ``cfg.risk_management`` limits."""

    def __init__(self, cfg: Config, max_gaps: int = 0) -> None:
        self.cfg = cfg
        self.max_gaps = int(max_gaps)

    # ---------------------------------------------------------------- pieces

    def _order_type(self, ctx: TradeContext) -> OrderType:
        if ctx.order_type is not None:
            return ctx.order_type
        return OrderType.LIMIT if self.cfg.order_execution.use_limit_orders else OrderType.MARKET

    def worst_sell_price(
        self, price: Decimal, f: SymbolFilters | None, order_type: OrderType | None = None
    ) -> Decimal:
        """The lowest a SELL at last price ``price`` may fill: the slippage cap's worst fill, on
        the fill tick; for a LIMIT IOC sell (``order_type`` None: as the engine sends it) its
        limit price when that is lower (a buffer wider than the cap: the exchange may fill there)."""
        oe = self.cfg.order_execution
        slip = _dec(oe.max_slippage_percent) or _ZERO
        worst = worst_fill_price(price, Side.SELL, slip * 100, fill_tick(price, f))
        if order_type is None:
            order_type = OrderType.LIMIT if oe.use_limit_orders else OrderType.MARKET
        if order_type == OrderType.LIMIT:
            worst = min(worst, limit_price(price, Side.SELL, oe.limit_order_buffer_percent, f))
        return worst

    def worst_buy_cost(self, ctx: TradeContext) -> tuple[Decimal, Decimal, Decimal]:
        """``(cash needed, worst price a unit, fee)`` of a BUY of ``ctx.quantity`` at last price
        ``ctx.price``: the most the paper broker (and, within the same cap, the exchange) may take.

        MARKET: the fill moves up by at most ``max_slippage_percent``, on the tick (the tick's
        floor of that cap, but never below the last price's tick ceiling, as the broker fills).
        LIMIT IOC: a fill at most at the limit price (:func:`limit_price`, as the engine sets
        it), and an order that does not cross locks the limit amount. The fee is the fill's
        notional times ``ctx.fee_rate``, rounded up to 8 decimals."""
        price, qty = ctx.price, ctx.quantity
        oe = self.cfg.order_execution
        is_limit = self._order_type(ctx) == OrderType.LIMIT
        buffer = oe.limit_order_buffer_percent if is_limit else None
        worst = worst_buy_price(price, ctx.filters, oe.max_slippage_percent, buffer)
        fee_rate = _dec(ctx.fee_rate) or _ZERO
        # the amounts exact (60 digits), as the paper broker books them: a 28-digit rounding of a
        # 1e15 cost let a buy pass that the broker then refused for a cash short by 1e-16
        mul, add = _CTX.multiply, _CTX.add
        if is_limit:
            limit = limit_price(price, Side.BUY, oe.limit_order_buffer_percent, ctx.filters)
            fee = fill_fee(mul(qty, worst), fee_rate)
            return max(add(mul(qty, worst), fee), mul(qty, limit)), limit, fee
        fee = fill_fee(mul(qty, worst), fee_rate)
        return add(mul(qty, worst), fee), worst, fee

    @staticmethod
    def _basic(ctx: TradeContext) -> list[str]:
        out = []
        if not isinstance(ctx.quantity, Decimal) or not ctx.quantity.is_finite() or ctx.quantity <= 0:
            out.append(f"quantity must be a positive Decimal, got {ctx.quantity!r}")
        if not isinstance(ctx.price, Decimal) or not ctx.price.is_finite() or ctx.price <= 0:
            out.append(f"price must be a positive Decimal, got {ctx.price!r}")
        return out

    def _filters(self, ctx: TradeContext, exit_: bool) -> list[str]:
        f = ctx.filters
        if f is None:
            return [f"exchange filters for {ctx.symbol} are unknown"]
        out = []
        if f.status != "TRADING":
            out.append(f"{ctx.symbol} is not trading (status {f.status})")
        otype = ctx.order_type
        if otype is None:
            otype = OrderType.LIMIT if self.cfg.order_execution.use_limit_orders else OrderType.MARKET
        lot = f.for_market_orders() if otype == OrderType.MARKET else f
        q, notional, at = ctx.quantity, ctx.notional, ""
        if otype == OrderType.LIMIT:
            # the exchange holds a LIMIT order's value at its limit price (as the engine sets it:
            # below the last price for a sell), not at the last price
            side = Side.SELL if exit_ else Side.BUY
            lp = limit_price(ctx.price, side, self.cfg.order_execution.limit_order_buffer_percent, f)
            notional = q * lp
            at = " at its limit price"
            # PRICE_FILTER holds a LIMIT order's price (not a MARKET one's): the exchange (and the
            # paper broker) refuse a limit outside [min_price, max_price], or one that rounded to 0
            if lp <= 0:
                out.append(f"limit price {lp} is not positive (PRICE_FILTER)")
            elif f.min_price > 0 and lp < f.min_price:
                out.append(f"limit price {_qty(lp)} below the minimum price {_qty(f.min_price)} (PRICE_FILTER)")
            if f.max_price > 0 and lp > f.max_price:
                out.append(f"limit price {_qty(lp)} above the maximum price {_qty(f.max_price)} (PRICE_FILTER)")
        if q < lot.min_qty:
            out.append(f"quantity {_qty(q)} below the minimum {_qty(lot.min_qty)}")
        if lot.max_qty > 0 and q > lot.max_qty:
            extra = " for a market order" if lot.max_qty != f.max_qty else ""
            out.append(f"quantity {_qty(q)} above the maximum {_qty(lot.max_qty)}{extra}")
        if not is_multiple(q, lot.step_size):  # exact (60 digits): 1e20 on a 1e-8 step overflowed 28
            out.append(f"quantity {_qty(q)} is not a multiple of the step size {_qty(lot.step_size)}")
        if notional < f.min_notional:
            shown = _fmt_below(notional, f.min_notional)
            if exit_ and ctx.quantity >= ctx.holding_qty:  # the whole holding: no order can sell it
                out.append(
                    f"order value {shown}{at} below the minimum notional {_fmt(f.min_notional)}: "
                    "dust that cannot be sold"
                )
            else:
                out.append(f"order value {shown}{at} below the minimum notional {_fmt(f.min_notional)}")
        # a MARKET sell is not held to it (applyMaxToMarket is false), a LIMIT one is
        if (not exit_ or otype == OrderType.LIMIT) and f.max_notional > 0 and notional > f.max_notional:
            out.append(f"order value {_fmt(notional)}{at} above the maximum notional {_fmt(f.max_notional)}")
        return out

    # ----------------------------------------------------------------- entry

    def check_entry(self, ctx: TradeContext) -> list[str]:
        """Reasons a BUY of ``ctx.quantity`` at ``ctx.price`` must not be sent (empty = pass)."""
        basic = self._basic(ctx)
        if basic:
            return basic
        rm = self.cfg.risk_management
        out: list[str] = []
        refusal = order_refusal(ctx.state, Side.BUY, ctx.source, ctx.urgent)
        if refusal:
            out.append(refusal)

        notional = ctx.notional
        equity = _dec(ctx.equity) or _ZERO
        cash = _dec(ctx.cash) or _ZERO
        max_pct = Decimal(repr(rm.max_position_percent))

        if ctx.open_positions >= rm.max_total_positions:
            out.append(f"max total positions reached: {ctx.open_positions} of {rm.max_total_positions}")

        need, worst, fee = self.worst_buy_cost(ctx)
        if need > cash:
            slip = (
                f"with {self.cfg.order_execution.max_slippage_percent:g}% slippage"
                if self._order_type(ctx) == OrderType.MARKET
                else "its limit price"
            )
            out.append(
                f"insufficient cash: need {_fmt_up(need)} (at up to {_fmt(worst)} a unit {slip}, "
                f"incl. fee {_fmt(fee)}), have {_fmt(cash)}"
            )

        if ctx.holding:
            out.append(f"already holding {ctx.symbol}: one position per symbol")
        sym_limit = equity * max_pct / 100
        if ctx.position_value + notional > sym_limit:
            out.append(
                f"position in {ctx.symbol} would be {_fmt(ctx.position_value + notional)}, above "
                f"{rm.max_position_percent:g}% of equity ({_fmt(sym_limit)})"
            )

        total_limit = equity * max_pct * rm.max_total_positions / 100
        if ctx.total_position_value + notional > total_limit:
            out.append(
                f"diversification: positions would total {_fmt(ctx.total_position_value + notional)}, above "
                f"{rm.max_total_positions} x {rm.max_position_percent:g}% of equity ({_fmt(total_limit)})"
            )

        stale = float(ctx.stale_periods)
        if not math.isfinite(stale) or stale > rm.max_data_staleness_periods:
            out.append(
                f"market data stale: last kline {stale:.1f} periods old "
                f"(limit {rm.max_data_staleness_periods:g})"
            )
        if ctx.gaps > self.max_gaps:
            out.append(f"market data has {ctx.gaps} gap(s) in the recent window (allowed {self.max_gaps})")
        vol = float(ctx.volatility)
        if not math.isfinite(vol):
            out.append("volatility unknown: not enough market data")
        elif vol > rm.max_volatility:
            out.append(f"volatility {vol:.4f} above the limit {rm.max_volatility:g}")

        qv = _dec(ctx.recent_quote_volume)
        if qv is None or qv <= 0:
            out.append(f"liquidity unknown: no recent quote volume for {ctx.symbol}")
        else:
            share = Decimal(repr(rm.max_liquidity_share))
            if notional > share * qv:
                out.append(
                    f"illiquid: order value {_fmt(notional)} above {rm.max_liquidity_share * 100:g}% of "
                    f"recent quote volume {_fmt(qv)}"
                )

        out.extend(self._filters(ctx, exit_=False))
        return out

    # ------------------------------------------------------------------ exit

    def check_exit(
        self,
        ctx: TradeContext | str,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        holding_qty: Decimal | None = None,
        filters: SymbolFilters | None = None,
        order_type: OrderType | None = None,
    ) -> list[str]:
        """Reasons a SELL of ``ctx.quantity`` must not be sent (empty = pass).

        Short form: ``check_exit(symbol, quantity, price, holding_qty, filters[, order_type])``
        builds the context itself and skips the engine-state check (the caller
        has already decided the state allows the sell); ``order_type`` None: as the engine
        sends it.
        """
        if not isinstance(ctx, TradeContext):
            if quantity is None or price is None or holding_qty is None:
                raise TypeError("check_exit(symbol, quantity, price, holding_qty, filters): all of them are needed")
            ctx = TradeContext(
                symbol=str(ctx), quantity=quantity, price=price, fee_rate=_ZERO, cash=_ZERO, equity=_ZERO,
                holding=holding_qty > 0, holding_qty=holding_qty, filters=filters,
                state=EngineState.RUNNING, source=Source.UI, order_type=order_type,
            )
        basic = self._basic(ctx)
        if basic:
            return basic
        out: list[str] = []
        refusal = order_refusal(ctx.state, Side.SELL, ctx.source, ctx.urgent)
        if refusal:
            out.append(refusal)
        if ctx.holding_qty <= 0:
            out.append(f"no position in {ctx.symbol} to sell")
            return out
        if ctx.quantity > ctx.holding_qty:
            out.append(f"quantity {_qty(ctx.quantity)} exceeds the holding {_qty(ctx.holding_qty)}")
        out.extend(self._filters(ctx, exit_=True))
        f = ctx.filters
        if f is not None and ctx.quantity < ctx.holding_qty:
            rest = ctx.holding_qty - ctx.quantity
            # valued at the worst fill the slippage cap (and a LIMIT sell's price) allows, as the
            # write-off after the sell values it at the fill price: worth the minimum at the last
            # price alone, it was dust
            worst = self.worst_sell_price(ctx.price, f, ctx.order_type)
            value = rest * (worst if worst > 0 else ctx.price)
            # A remainder below one step is unavoidable dust (e.g. fees taken in base): not refused.
            # One below the minimum quantity is dust too, whatever it is worth (written off after).
            if rest >= f.step_size and (value < f.min_notional or rest < f.min_qty):
                below = (
                    f"below the minimum quantity {_qty(f.min_qty)}"
                    if rest < f.min_qty
                    else f"below the minimum notional {_fmt(f.min_notional)}"
                )
                out.append(
                    f"would leave {_qty(rest)} {ctx.symbol} worth {_fmt(value)}, {below}: dust that could "
                    "not be sold later - sell it all"
                )
        return out
