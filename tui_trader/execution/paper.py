"""A deterministic paper broker: an exchange account simulated in memory.

Behaviour (spot, long only, no randomness):

* **Market orders** fill in full at the latest price (``price_fn(symbol)``, quote
  per base) moved *against* the order by a slippage of
  ``broker.slippage_bps + broker.slippage_impact * share_pct`` basis points, where
  ``share_pct`` is the order's notional as a percentage of the symbol's recent
  quote volume (``quote_volume_fn(symbol)``, quote units; without that function
  only the fixed part applies; a volume of 0 or NaN means "illiquid" and the
  cap applies). The slippage never exceeds ``order_execution.max_slippage_percent``.
  The fill price is put on the tick (without a PRICE_FILTER: 8 decimals, unless the
  last price is below 1e-8) against the trader (buys round up, sells round down)
  and pulled back inside the cap if the rounding crossed it.
* **LIMIT IOC** orders fill at that same price only if the limit crosses it
  (buy: ``limit >= fill``, sell: ``limit <= fill``); otherwise they expire
  with nothing filled (status ``EXPIRED``).
* **Fees**: ``broker.fee_rate`` of the fill's notional, charged in the quote
  asset, rounded **up** to 8 decimals.
* **Filters**: quantity must be on the step, a limit price on the tick, and
  notional/min/max rules must hold, else ``BrokerError(FILTER_FAILURE)`` (a MARKET
  order is not held to max notional: Binance's ``applyMaxToMarket`` is false).
* **Balances**: the broker keeps free balances per asset. A buy whose cost plus
  fee exceeds the free quote balance (a LIMIT buy: or whose limit amount, ``quantity x
  limit price``, does - the exchange locks it), a sell above the base holding, or a sell whose
  fee (rounded up to 8 decimals: a sale worth less than 1e-8 may pay more than it brings)
  exceeds its proceeds plus the free quote balance raises ``BrokerError(INSUFFICIENT_BALANCE)``. Cash never goes negative.
* **Orders** are remembered by client id: :meth:`query` returns the stored
  result (``None`` if never seen); reusing a client id raises
  ``BrokerError(REJECTED, "duplicate client order id")`` like Binance. Orders
  rejected by a filter or balance check are not stored (the exchange never
  created them).

Test hooks: :meth:`fail_next` injects broker errors (optionally *after* the
order executed, a lost response) and :meth:`hold_next` leaves the next orders
open (``NEW``) so timeouts and cancels can be exercised.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext

from tui_trader.clock import Clock
from tui_trader.config import Config
from tui_trader.execution.broker import BrokerError, BrokerErrorKind
from tui_trader.execution.client_ids import is_valid_client_order_id
from tui_trader.execution.filters import (
    check_order,
    fill_fee,
    fill_tick,
    round_to_step,
    to_decimal,
    worst_fill_price,
)
from tui_trader.models import Fill, OrderRequest, OrderResult, OrderStatus, OrderType, Side, SymbolFilters

_BPS = Decimal(10_000)
_CTX = Context(prec=60)  # booked amounts: exact for balances up to 1e15 with 16 decimals
_OPS = ("submit", "query", "cancel")
#: Finished orders the paper broker still answers lookups for (open ones are always kept).
KEPT_ORDERS = 10_000


@dataclass(slots=True)
class _Fault:
    kind: BrokerErrorKind
    after_fill: bool
    retry_after_s: float | None


class PaperBroker:
    """Simulated exchange account implementing the :class:`~tui_trader.execution.broker.Broker` protocol.

    ``balances`` defaults to ``{broker.quote_asset: broker.starting_balance}``.
    ``filters`` maps symbol -> :class:`SymbolFilters` (also gives each symbol's base/quote assets).
    """

    name = "paper"

    def __init__(
        self,
        cfg: Config,
        clock: Clock,
        price_fn: Callable[[str], float | None],
        filters: dict[str, SymbolFilters],
        quote_volume_fn: Callable[[str], float] | None = None,
        balances: dict[str, Decimal] | None = None,
    ) -> None:
        self._cfg = cfg
        self._clock = clock
        self._price_fn = price_fn
        self._filters = dict(filters)
        self._qv_fn = quote_volume_fn
        self.fee_rate = to_decimal(cfg.broker.fee_rate)
        self.slippage_bps = to_decimal(cfg.broker.slippage_bps)
        self.slippage_impact = to_decimal(cfg.broker.slippage_impact)
        self.max_slippage_bps = to_decimal(cfg.order_execution.max_slippage_percent) * 100
        if balances is None:
            balances = {cfg.broker.quote_asset: to_decimal(cfg.broker.starting_balance)}
        self._balances: dict[str, Decimal] = {}
        self.set_balances(balances)
        self._orders: dict[str, OrderResult] = {}  # the last KEPT_ORDERS orders and every open one
        self.kept_orders = KEPT_ORDERS
        self._symbol_of: dict[str, str] = {}
        self._held: dict[str, OrderRequest] = {}  # open orders (hold_next)
        self._faults: dict[str, deque[_Fault]] = {op: deque() for op in _OPS}
        self._hold = 0
        self._order_seq = 0
        self._trade_seq = 0
        self.submit_calls = 0  # every submit() call, including failed ones (tests)
        self.started = False

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    def set_balances(self, balances: dict[str, Decimal]) -> None:
        """Replace the account's free balances (e.g. restored from the stored book after a restart).

        Raises ``ValueError`` for a negative or non-numeric amount (nothing is changed then).
        """
        new: dict[str, Decimal] = {}
        for asset, amount in balances.items():
            d = to_decimal(amount)
            if d < 0:
                raise ValueError(f"paper balance of {asset} must not be negative, got {d}")
            new[str(asset)] = d
        self._balances = new

    # -- test hooks ----------------------------------------------------------

    def fail_next(
        self,
        kind: BrokerErrorKind,
        n: int = 1,
        after_fill: bool = False,
        retry_after_s: float | None = None,
        op: str = "submit",
    ) -> None:
        """Make the next ``n`` calls of ``op`` (``submit`` | ``query`` | ``cancel``) raise ``BrokerError(kind)``.

        With ``after_fill=True`` (submit only) the order is executed and booked first and the error is
        raised afterwards - a response lost in a timeout.
        """
        if op not in _OPS:
            raise ValueError(f"fail_next: op must be one of {_OPS}, got {op!r}")
        if after_fill and op != "submit":
            raise ValueError("fail_next: after_fill only applies to submit")
        if n < 1:
            raise ValueError(f"fail_next: n must be >= 1, got {n}")
        for _ in range(n):
            self._faults[op].append(_Fault(BrokerErrorKind(kind), after_fill, retry_after_s))

    def hold_next(self, n: int = 1) -> None:
        """Accept the next ``n`` orders but leave them open (``NEW``, nothing filled) until canceled."""
        if n < 1:
            raise ValueError(f"hold_next: n must be >= 1, got {n}")
        self._hold += n

    def _maybe_fail(self, op: str, after_fill: bool) -> None:
        q = self._faults[op]
        if q and q[0].after_fill == after_fill:
            f = q.popleft()
            when = "after the order executed" if after_fill else "before the order reached the exchange"
            raise BrokerError(f.kind, f"injected {f.kind.value} on {op} ({when})", retry_after_s=f.retry_after_s)

    # -- pricing -------------------------------------------------------------

    def _last_price(self, symbol: str) -> Decimal:
        p = self._price_fn(symbol)
        if p is None:
            raise BrokerError(BrokerErrorKind.REJECTED, f"no price for {symbol}")
        try:
            d = to_decimal(p)
        except ValueError:
            raise BrokerError(BrokerErrorKind.REJECTED, f"no price for {symbol} (got {p!r})") from None
        if d <= 0:
            raise BrokerError(BrokerErrorKind.REJECTED, f"no price for {symbol} (got {p!r})")
        return d

    def slippage_for(self, symbol: str, notional: Decimal) -> Decimal:
        """Slippage in basis points for an order of ``notional`` (quote) on ``symbol``, capped."""
        bps = self.slippage_bps
        if self._qv_fn is not None:
            qv = self._qv_fn(symbol)
            qv_f = float(qv) if qv is not None else math.nan
            if not math.isfinite(qv_f) or qv_f <= 0:
                return self.max_slippage_bps  # no liquidity known: worst allowed case
            share_pct = notional / to_decimal(qv_f) * 100
            bps = bps + self.slippage_impact * share_pct
        return min(bps, self.max_slippage_bps)

    def fill_price(self, symbol: str, side: Side, qty: Decimal, last: Decimal) -> Decimal:
        """Execution price (quote per base) of a ``qty`` order at last price ``last``: slipped, on the tick."""
        # no PRICE_FILTER: Binance's price precision (8 decimals), not a slipped price of 28 digits
        tick = fill_tick(last, self._filters[symbol])
        bps = self.slippage_for(symbol, qty * last)
        # Held within the slippage cap (worst_fill_price: never better for the trader than the last
        # price on its tick either; the risk check's cash test prices a buy there).
        if side == Side.BUY:
            px = round_to_step(last * (1 + bps / _BPS), tick, ROUND_CEILING)
            if px > last * (1 + self.max_slippage_bps / _BPS):
                px = worst_fill_price(last, side, self.max_slippage_bps, tick)
        else:
            px = round_to_step(last * (1 - bps / _BPS), tick, ROUND_FLOOR)
            if px < last * (1 - self.max_slippage_bps / _BPS):
                px = worst_fill_price(last, side, self.max_slippage_bps, tick)
        if px <= 0:
            raise BrokerError(BrokerErrorKind.REJECTED, f"no price for {symbol} (fill price {px} not positive)")
        return px

    # -- orders --------------------------------------------------------------

    def _validate(self, req: OrderRequest) -> SymbolFilters:
        if not is_valid_client_order_id(req.client_order_id):
            raise BrokerError(BrokerErrorKind.REJECTED, f"illegal client order id {req.client_order_id!r}")
        if req.client_order_id in self._orders:
            raise BrokerError(BrokerErrorKind.REJECTED, "duplicate client order id")
        f = self._filters.get(req.symbol)
        if f is None:
            raise BrokerError(BrokerErrorKind.REJECTED, f"invalid symbol {req.symbol!r}")
        if f.status != "TRADING":
            raise BrokerError(BrokerErrorKind.REJECTED, f"symbol {req.symbol} is not trading ({f.status})")
        if req.side not in (Side.BUY, Side.SELL):
            raise BrokerError(BrokerErrorKind.REJECTED, f"bad side {req.side!r}")
        if req.type not in (OrderType.MARKET, OrderType.LIMIT):
            raise BrokerError(BrokerErrorKind.REJECTED, f"unsupported order type {req.type!r}")
        if not isinstance(req.quantity, Decimal) or not req.quantity.is_finite():
            raise BrokerError(BrokerErrorKind.REJECTED, f"quantity must be a finite Decimal, got {req.quantity!r}")
        if req.type == OrderType.LIMIT and (
            not isinstance(req.price, Decimal) or not req.price.is_finite() or req.price <= 0
        ):
            raise BrokerError(BrokerErrorKind.REJECTED, f"LIMIT order needs a positive Decimal price, got {req.price!r}")
        return f

    async def submit(self, req: OrderRequest) -> OrderResult:
        """Execute ``req`` at once (MARKET or LIMIT IOC). Raises :class:`BrokerError`."""
        self.submit_calls += 1
        self._maybe_fail("submit", after_fill=False)
        f = self._validate(req)
        last = self._last_price(req.symbol)
        qty = req.quantity
        is_limit = req.type == OrderType.LIMIT
        ref_price = req.price if is_limit else last
        assert ref_price is not None
        reason = check_order(qty, ref_price, f, check_price_range=is_limit)
        if reason is not None:
            raise BrokerError(BrokerErrorKind.FILTER_FAILURE, f"Filter failure: {reason}")

        px = self.fill_price(req.symbol, req.side, qty, last)
        crosses = not is_limit or (px <= ref_price if req.side == Side.BUY else px >= ref_price)
        held = self._hold > 0
        # What the exchange locks / spends: the fill (cost + fee) if it executes, else the limit amount.
        # exact (60 digits): a balance of up to 1e15 with 16 decimals overflows the default 28
        if crosses and not held:
            cost = _CTX.multiply(qty, px)
            fee = fill_fee(cost, self.fee_rate)
            need_quote = _CTX.add(cost, fee)
            if is_limit and req.side == Side.BUY:
                # the exchange locks a LIMIT buy's limit amount until it fills, whatever it fills at
                need_quote = max(need_quote, _CTX.multiply(qty, ref_price))
        else:
            cost = fee = Decimal(0)
            need_quote = _CTX.multiply(qty, ref_price)
        if req.side == Side.BUY:
            free = self._balances.get(f.quote_asset, Decimal(0))
            if need_quote > free:
                raise BrokerError(
                    BrokerErrorKind.INSUFFICIENT_BALANCE,
                    f"Account has insufficient balance for requested action: need {need_quote} "
                    f"{f.quote_asset}, free {free}",
                )
        else:
            free = self._balances.get(f.base_asset, Decimal(0))
            if qty > free:
                raise BrokerError(
                    BrokerErrorKind.INSUFFICIENT_BALANCE,
                    f"Account has insufficient balance for requested action: sell {qty} {f.base_asset}, "
                    f"free {free}",
                )
            # with a fee rate, a sale worth less than 1e-8 still pays a fee of 1e-8 (rounded up):
            # from the quote balance
            quote = self._balances.get(f.quote_asset, Decimal(0))
            if fee > _CTX.add(quote, cost):
                raise BrokerError(
                    BrokerErrorKind.INSUFFICIENT_BALANCE,
                    f"Account has insufficient balance for requested action: fee {fee} {f.quote_asset} "
                    f"above the proceeds {cost} plus free {quote}",
                )

        self._order_seq += 1
        exch_id = str(self._order_seq)
        self._symbol_of[req.client_order_id] = req.symbol
        if held:
            self._hold -= 1
            res = OrderResult(req.client_order_id, OrderStatus.NEW, exchange_order_id=exch_id)
            self._held[req.client_order_id] = req
        elif not crosses:
            res = OrderResult(
                req.client_order_id,
                OrderStatus.EXPIRED,
                exchange_order_id=exch_id,
                reason=f"IOC limit {ref_price} did not cross the fill price {px}",
            )
        else:
            res = self._execute(req, f, px, cost, fee, exch_id)
        self._orders[req.client_order_id] = res
        self._forget_old_orders()
        self._maybe_fail("submit", after_fill=True)
        return _copy(res)

    def _forget_old_orders(self) -> None:
        """Keep the last :data:`KEPT_ORDERS` orders (and every open one): a console left running for
        weeks on the paced sim grew by ~4 MB a day of finished orders nobody asks about any more
        (lookups by client id are for the orders of the last moments, whose answer was lost)."""
        excess = len(self._orders) - self.kept_orders
        if excess <= 0:
            return
        old = []
        for cid in self._orders:  # oldest first; normally the first one is it
            if cid not in self._held:
                old.append(cid)
                if len(old) == excess:
                    break
        for cid in old:
            del self._orders[cid]
            self._symbol_of.pop(cid, None)

    def _execute(
        self, req: OrderRequest, f: SymbolFilters, px: Decimal, cost: Decimal, fee: Decimal, exch_id: str
    ) -> OrderResult:
        qty = req.quantity
        bal = self._balances
        with localcontext(_CTX):
            if req.side == Side.BUY:
                bal[f.quote_asset] = bal.get(f.quote_asset, Decimal(0)) - cost - fee
                bal[f.base_asset] = bal.get(f.base_asset, Decimal(0)) + qty
            else:
                bal[f.base_asset] = bal.get(f.base_asset, Decimal(0)) - qty
                bal[f.quote_asset] = bal.get(f.quote_asset, Decimal(0)) + cost - fee
        self._trade_seq += 1
        fill = Fill(
            client_order_id=req.client_order_id,
            symbol=req.symbol,
            side=req.side,
            price=px,
            quantity=qty,
            fee=fee,
            fee_asset=f.quote_asset,
            ts_ms=self._clock.now_ms(),
            trade_id=f"paper-{self._trade_seq}",
        )
        return OrderResult(
            req.client_order_id,
            OrderStatus.FILLED,
            exchange_order_id=exch_id,
            executed_qty=qty,
            quote_qty=cost,
            fills=[fill],
        )

    async def cancel(self, symbol: str, client_order_id: str) -> OrderResult:
        """Cancel an open (held) order. A final or unknown order raises ``BrokerError(UNKNOWN_ORDER)``."""
        self._maybe_fail("cancel", after_fill=False)
        if client_order_id not in self._held or self._symbol_of.get(client_order_id) != symbol:
            raise BrokerError(BrokerErrorKind.UNKNOWN_ORDER, f"Unknown order sent: {symbol} {client_order_id}")
        del self._held[client_order_id]
        res = replace(self._orders[client_order_id], status=OrderStatus.CANCELED, reason="canceled")
        self._orders[client_order_id] = res
        return _copy(res)

    async def query(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The stored result of ``client_order_id`` on ``symbol``, or None if this account never saw it."""
        self._maybe_fail("query", after_fill=False)
        res = self._orders.get(client_order_id)
        if res is None or self._symbol_of.get(client_order_id) != symbol:
            return None
        return _copy(res)

    async def open_orders(self) -> list[OrderResult]:
        return [_copy(self._orders[cid]) for cid in self._held]

    async def balances(self) -> dict[str, Decimal]:
        """Free balance per asset (assets with a zero balance are left out, the quote asset always shown)."""
        quote = self._cfg.broker.quote_asset
        return {a: v for a, v in self._balances.items() if v != 0 or a == quote}

    async def exchange_filters(self, symbols: Sequence[str]) -> dict[str, SymbolFilters]:
        missing = [s for s in symbols if s not in self._filters]
        if missing:
            raise BrokerError(BrokerErrorKind.REJECTED, f"invalid symbols: {', '.join(missing)}")
        return {s: self._filters[s] for s in symbols}

    def set_filters(self, filters: dict[str, SymbolFilters]) -> None:
        """Add or replace symbol filters (e.g. when the universe changes)."""
        self._filters.update(filters)


def _copy(res: OrderResult) -> OrderResult:
    return replace(res, fills=[replace(f) for f in res.fills])
