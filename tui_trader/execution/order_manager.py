"""The order manager: write-ahead intent, exactly-once submission, retries, timeouts, reconciliation.

Life of an order (:meth:`OrderManager.execute`):

1. The order (status ``INTENT``, with its deterministic client order id) is
   written through :class:`OrderJournal` ``record_intent`` - durably - *before*
   anything is sent. A crash after this point leaves a stored intent that
   :meth:`OrderManager.reconcile` resolves at the next start.
2. The :class:`~tui_trader.execution.circuit.CircuitBreaker` may refuse the
   submission (order ``REJECTED`` "circuit open").
3. Submit. On a *transient* :class:`BrokerError` (rate limit, timeout, network)
   the order is first looked up by client id: found -> that answer is used and
   the order is **never sent twice**; not found -> it is sent again with the
   same id. Waits back off exponentially (``backoff_base_s * 2**(n-1)``, capped
   at ``backoff_cap_s``, at least the broker's ``retry_after_s`` for rate
   limits - a rate-limited lookup's too; a wait longer than allowed ends the
   attempts), at most ``order_execution.retry_attempts`` retries. Final errors
   (insufficient balance, filter failure, rejected, auth) -> ``REJECTED`` with
   the error text, not retried.
4. An order still open is polled (no sooner than a rate limit asks; not again when that is past the
   timeout) until ``order_execution.order_timeout_ms``
   (clock time, or the summed waits when the injected sleep does not move the
   clock) has passed, then canceled -> ``CANCELED`` / ``EXPIRED`` - that cancel too no sooner than
   a rate limit asks (one asking longer than allowed, an IP ban: left open, a later lookup cancels it).
5. Every status change and every new fill goes through ``record_update``.

If retries run out while the outcome is unknown (the last send timed out and
no lookup succeeded since), the order is left ``NEW`` with ``error`` starting
with ``"outcome unknown"``; call :meth:`OrderManager.resolve` (or
:meth:`reconcile` at start-up) later - it is never resent automatically.

A lookup that does not find an order whose send timed out proves nothing while
that request may still reach the exchange: a broker says for how long with an
optional ``in_flight_ms`` (Binance rejects a request older than its
``recvWindow``), counted from the end of the call that got no answer (the request may have
been signed at any time during it) by the waits since, not by the clock, which NTP may step
forward. Within it, "not found" is no leave to send again: the manager
backs off and looks again until the window has passed (those lookups are not
counted as retries), and only then sends the order again. The windows a later lookup
(:meth:`OrderManager.resolve`) or a restart (:meth:`OrderManager.reconcile`) waits out are
counted, under a wall clock, on the monotonic clock: an NTP step either way neither ends one
early nor stretches it (another clock stepped back makes none longer than one window).

:meth:`OrderManager.halt` (an emergency stop) ends every order in flight that
has not reached the exchange: before each send, an order started before the
halt is not sent (``CANCELED``, "not sent: ..."); the orders placed after it
(e.g. the emergency stop's own closing sells) go through.

Waits use the injected ``sleep`` (default: ``clock.sleep``, i.e. virtual time
with a :class:`~tui_trader.clock.ManualClock`). Each broker call is also bounded
by ``order_timeout_ms`` of loop time; running over counts as a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol, TypeVar

from tui_trader.clock import Clock, WallClock
from tui_trader.config import Config
from tui_trader.execution.broker import Broker, BrokerError, BrokerErrorKind
from tui_trader.execution.circuit import HALF_OPEN, CircuitBreaker
from tui_trader.execution.client_ids import is_valid_client_order_id
from tui_trader.execution.filters import fill_fee, to_decimal
from tui_trader.models import Fill, Order, OrderRequest, OrderResult, OrderStatus, OrderType, Side

log = logging.getLogger(__name__)

T = TypeVar("T")

_monotonic = time.monotonic  # real time for the in-flight windows under a wall clock (NTP steps it)

AVG_PRICE_QUANTUM = Decimal("1e-12")  # order.avg_price is informational; fills carry exact prices
CIRCUIT_OPEN = "circuit open"
NOT_SENT_BEFORE_RESTART = "not sent before restart"
NOT_FOUND = "not found at the exchange"
OUTCOME_UNKNOWN = "outcome unknown"
#: The error of an order the exchange could not be asked about (cleared when it answers).
LOOKUP_FAILED = "could not query the exchange"
NOT_SENT = "not sent"
#: Binance's "Invalid symbol." (-1121): asked about an order, the exchange no longer lists its symbol.
INVALID_SYMBOL_CODE = -1121
NOT_LISTED = "the exchange no longer lists"
ABANDONED_NOT_LISTED = "abandoned: symbol no longer listed"

#: How far in its life an order is: a broker's answer moves an order forward (or leaves it), never back
#: - a stale lookup (NEW, from before the part fills already booked) does not undo PARTIALLY_FILLED.
_STAGE = {OrderStatus.INTENT: 0, OrderStatus.NEW: 1, OrderStatus.PARTIALLY_FILLED: 2, OrderStatus.FILLED: 3,
          OrderStatus.CANCELED: 3, OrderStatus.EXPIRED: 3, OrderStatus.REJECTED: 3}

# Errors caused by the order itself: the exchange answered coherently, so they do not trip the breaker.
_ORDER_FAULTS = (BrokerErrorKind.INSUFFICIENT_BALANCE, BrokerErrorKind.FILTER_FAILURE)


class OrderJournal(Protocol):
    """Durable order book-keeping, adapted to the database by the engine."""

    async def record_intent(self, order: Order) -> None:
        """Store a new order (status ``INTENT``); durably committed when this returns."""
        ...

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        """Durably commit the order's new state and its *new* fills (each fill is passed once).

        ``order`` is a snapshot; the journal may set its ``realized_pnl`` (e.g. from the portfolio in the
        same transaction) and the manager copies that one field back into the live order.
        """
        ...


def backoff_delay(
    retry: int, base_s: float = 0.5, cap_s: float = 30.0, retry_after_s: float | None = None
) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): ``min(cap_s, base_s * 2**(retry-1))``,
    but never less than ``retry_after_s`` when the broker gave one. The exponent is capped, so a
    retry count past ~1024 gives ``cap_s`` rather than OverflowError."""
    if retry < 1:
        raise ValueError(f"retry must be >= 1, got {retry}")
    d = min(cap_s, base_s * 2.0 ** min(retry - 1, 64))
    if retry_after_s is not None and retry_after_s > d:
        d = float(retry_after_s)
    return d


@dataclass(slots=True)
class _Timer:
    """Time spent on one order: clock time, or the summed waits if the sleep does not move the clock."""

    start_ms: int
    slept_s: float = 0.0

    def elapsed_ms(self, now_ms: int) -> float:
        return max(float(now_ms - self.start_ms), self.slept_s * 1000.0)


class _LookupHalted(BrokerError):
    """A reconciliation's lookup whose back-off a :meth:`OrderManager.halt` ended: the last
    failure, the exchange not asked again (not an IP ban's wait, which ends a lookup too)."""


class _Outcome:
    """How a submission ended: a broker result, a final error, or unknown."""

    __slots__ = ("result", "error", "maybe_sent", "halted")

    def __init__(
        self,
        result: OrderResult | None = None,
        error: BrokerError | None = None,
        maybe_sent: bool = False,
        halted: str = "",
    ) -> None:
        self.result = result
        self.error = error
        self.maybe_sent = maybe_sent
        self.halted = halted  # why the order was not sent (a halt), "" otherwise


class OrderManager:
    """Executes orders through a :class:`Broker`, journaling every step (see the module doc)."""

    def __init__(
        self,
        broker: Broker,
        journal: OrderJournal,
        clock: Clock,
        cfg: Config,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        *,
        breaker: CircuitBreaker | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        poll_cap_s: float = 5.0,
    ) -> None:
        if backoff_base_s <= 0 or backoff_cap_s < backoff_base_s or poll_cap_s <= 0:
            raise ValueError("backoff_base_s > 0, backoff_cap_s >= backoff_base_s and poll_cap_s > 0 required")
        self.broker = broker
        self.journal = journal
        self.clock = clock
        self.cfg = cfg
        self._sleep = sleep if sleep is not None else clock.sleep
        rm, oe = cfg.risk_management, cfg.order_execution
        self.breaker = breaker or CircuitBreaker(rm.circuit_breaker_failures, rm.circuit_breaker_cooloff_ms, clock)
        self.retry_attempts = oe.retry_attempts
        self.timeout_ms = oe.order_timeout_ms
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.poll_cap_s = poll_cap_s
        # A rate-limit wait longer than this (e.g. an IP ban) gives the order up instead of blocking.
        self.max_wait_s = max(backoff_cap_s, self.timeout_ms / 1000.0)
        self.fee_rate = to_decimal(cfg.broker.fee_rate)
        self.quote_asset = cfg.broker.quote_asset
        # how long (ms) a request that got no answer may still reach the exchange
        self.in_flight_ms = max(0, int(getattr(broker, "in_flight_ms", 0) or 0))
        # An earlier process's orders (reconcile) were sent before this manager existed (the engine
        # holds the database's lock before it is made): none of its requests arrives after this,
        # counted by the window they were sent with (``earlier_in_flight_ms``, if the broker knows it).
        earlier_ms = max(self.in_flight_ms, int(getattr(broker, "earlier_in_flight_ms", 0) or 0))
        # In-flight windows are counted on the clock, but under a wall clock - which NTP may step
        # forward (a window ended at once) or back - on the monotonic clock: real time.
        self._real_windows = isinstance(clock, WallClock)
        self._earlier_sends_land_by_ms = self._window_ms() + earlier_ms
        self._earlier_in_flight_ms = earlier_ms  # (never wait longer than this: a clock stepped back)
        self._epoch = 0  # bumped by halt(): orders started before it are not sent any more
        self._halt_reason = ""
        self._halt_waiters: set[asyncio.Future[None]] = set()  # a reconciliation's waits, ended by halt()
        self._sent_unanswered: dict[str, float] = {}  # client id -> _window_ms() of its last unanswered send
        self._used: set[str] = set()  # client ids executed in this session
        self._open: dict[str, str] = {}  # client id -> symbol of our orders not yet final
        self._quote: dict[str, Decimal] = {}  # client id -> exact booked quote (sum price*qty)
        self._rejection: tuple[str, BrokerError] | None = None  # the last order the exchange rejected, and why
        self.total_slept_s = 0.0

    # -- public API ----------------------------------------------------------

    async def execute(self, order: Order, gate: Callable[[], str] | None = None) -> Order:
        """Run ``order`` (status ``INTENT``) to a final state if possible; returns the same, updated object.

        ``gate``: asked before each send (after the intent is stored, and before a send again);
        a reason it returns stops the order as a :meth:`halt` does (``CANCELED``, "not sent: ...").

        Raises ``ValueError`` for a malformed order or a client id already used in this session
        (nothing is journaled or sent then). Journal errors propagate (the intent is durable, so
        :meth:`reconcile` resolves the order after a restart).
        """
        self._validate(order)
        cid = order.client_order_id
        epoch = self._epoch
        self._used.add(cid)
        order.updated_ms = self.clock.now_ms()
        try:
            await self.journal.record_intent(_snapshot(order))
        except BaseException:
            self._used.discard(cid)  # nothing was sent: the order may be executed again
            raise
        self._open[cid] = order.symbol

        trial = self.breaker.state == HALF_OPEN  # this order is the breaker's one trial if allowed
        if not self.breaker.allow():
            order.status = OrderStatus.REJECTED
            order.error = CIRCUIT_OPEN
            await self._record(order, [])
            return order

        timer = _Timer(self.clock.now_ms())
        healthy: bool | None = False
        try:
            outcome = await self._submit(order, timer, epoch, gate)
            if outcome.halted:
                healthy = None  # stopped here, before the exchange: says nothing about its health
                order.status = OrderStatus.CANCELED
                order.error = f"{NOT_SENT}: {outcome.halted}"
                await self._record(order, [])
            elif outcome.result is not None:
                healthy = True
                await self._adopt(order, outcome.result)
                if not order.status.is_final:
                    await self._await_final(order, timer)
            elif outcome.error is not None and outcome.maybe_sent:
                order.status = OrderStatus.NEW
                order.error = f"{OUTCOME_UNKNOWN} after {order.attempts} attempt(s): {outcome.error}"
                await self._record(order, [])
            else:
                assert outcome.error is not None
                healthy = outcome.error.kind in _ORDER_FAULTS
                order.status = OrderStatus.REJECTED
                order.error = str(outcome.error)
                self._rejection = (cid, outcome.error)
                await self._record(order, [])
        finally:
            if healthy:
                self.breaker.record_success()
            elif healthy is not None:
                self.breaker.record_failure()
            elif trial:  # halted before the exchange: no verdict, but the trial is over
                self.breaker.abandon_trial()
        return order

    def halt(self, reason: str) -> None:
        """Stop every order now in flight from being sent (again): each ends ``CANCELED`` ("not
        sent: ``reason``") at its next send - which comes only after a lookup found it absent from
        the exchange. Orders executed after this call are unaffected."""
        self._epoch += 1
        self._halt_reason = reason or "halted"
        for fut in self._halt_waiters:
            if not fut.done():
                fut.set_result(None)

    def rejection(self, client_order_id: str) -> BrokerError | None:
        """The broker's error that rejected ``client_order_id``, when it is the last order
        :meth:`execute` ended ``REJECTED`` that way (None otherwise: a refusal by the circuit
        breaker, or an order executed since)."""
        last = self._rejection
        return last[1] if last is not None and last[0] == client_order_id else None

    def unsettled(self) -> dict[str, str]:
        """Client id -> symbol of the orders executed in this session that are not final yet."""
        return dict(self._open)

    async def resolve(self, order: Order) -> Order:
        """Look a non-final order up at the exchange and book what it says (never resends).

        Not found -> ``CANCELED`` with error ``"not found at the exchange"``. A lookup told by a
        rate limit to wait longer than allowed (an IP ban) is not waited out: the order keeps its
        status, with error ``"could not query the exchange: ..."`` (the caller looks again later).
        """
        if order.status.is_final:
            return order
        self._open[order.client_order_id] = order.symbol
        await self._resolve(order, NOT_FOUND)
        return order

    async def reconcile(self, open_orders: Sequence[Order], cancel_why: str = "") -> list[Order]:
        """Start-up reconciliation of stored non-final orders (final ones are returned untouched).

        Found at the exchange -> its real status and fills are recorded (still open and older than the
        order timeout -> canceled; with ``cancel_why`` - an emergency-stopped book - still open ->
        canceled at once, with that error; a :meth:`halt` meanwhile - an emergency stop sent during
        the start-up - cancels it at once too, with the halt's reason, as it does every order after
        it). Not found -> ``CANCELED`` with error ``"not sent before restart"``,
        but only once the earlier process's requests can no longer arrive (the broker's
        ``in_flight_ms`` after this manager was made; before that, it waits and looks again - a
        :meth:`halt` ends that wait, and the order is left as it is, outcome unknown). Never resends.
        Returns the orders (same objects, updated) in input order.
        """
        out: list[Order] = []
        epoch = self._epoch
        for order in open_orders:
            if not order.status.is_final:
                self._used.add(order.client_order_id)
                self._open[order.client_order_id] = order.symbol
                why = cancel_why or (self._halt_reason if epoch != self._epoch else "")
                await self._resolve(order, NOT_SENT_BEFORE_RESTART, self._earlier_sends_land_by_ms, why, epoch)
            out.append(order)
        return out

    async def unlisted_refusal(self, order: Order) -> str:
        """Before an operator abandons ``order`` (not final): look it up once more. Returns "" only
        when the exchange answers that its symbol is not listed (Binance -1121), else why it may
        not be abandoned (the exchange knows the order, or could not say). Never resends."""
        cid = order.client_order_id
        try:
            res = await self._call(self.broker.query(order.symbol, cid))
        except BrokerError as exc:
            if exc.code == INVALID_SYMBOL_CODE:
                return ""
            if exc.kind != BrokerErrorKind.UNKNOWN_ORDER:
                return f"the exchange did not say {order.symbol} is no longer listed ({exc})"
            res = None
        found = f"answers {res.status.value}" if res is not None else "does not know it"
        return (f"{order.symbol} is listed: the exchange {found}, so the reconciliation settles order "
                f"{cid} (start tries it again)")

    async def abandon(self, order: Order, why: str = ABANDONED_NOT_LISTED) -> None:
        """Book ``order`` (not final) ``CANCELED`` with ``why`` and no fill: the operator gave it up
        (see :meth:`unlisted_refusal`). Nothing is sent or canceled at the exchange."""
        if order.status.is_final:
            return
        self._used.add(order.client_order_id)
        order.status = OrderStatus.CANCELED
        order.error = why
        await self._record(order, [])

    async def cancel_all(self) -> int:
        """Cancel this session's open orders at the exchange (orders it does not know are left alone).

        Returns how many were canceled. The owning :meth:`execute` books the cancel on its next poll.
        """
        open_results = await self._call(self.broker.open_orders())
        n = 0
        for res in open_results:
            symbol = self._open.get(res.client_order_id)
            if symbol is None:
                continue
            try:
                await self._call(self.broker.cancel(symbol, res.client_order_id))
            except BrokerError as exc:
                if exc.kind != BrokerErrorKind.UNKNOWN_ORDER:
                    log.warning("cancel of %s failed: %s", res.client_order_id, exc)
                continue
            n += 1
        return n

    # -- submission ----------------------------------------------------------

    async def _submit(
        self, order: Order, timer: _Timer, epoch: int, gate: Callable[[], str] | None = None
    ) -> _Outcome:
        cid = order.client_order_id
        req = OrderRequest(cid, order.symbol, order.side, order.type, order.quantity, order.price)
        retries = 0
        maybe_sent = False
        sent_at = 0.0  # the waits' sum (s) when the last unanswered send ended
        while True:
            if epoch != self._epoch:
                return _Outcome(halted=self._halt_reason)  # (no earlier send can have reached it here)
            if gate is not None and (why := gate()):
                return _Outcome(halted=why)
            order.attempts += 1
            try:
                return _Outcome(await self._call(self.broker.submit(req)))
            except BrokerError as exc:
                err = exc
            if not err.kind.transient:
                return _Outcome(error=err, maybe_sent=maybe_sent)
            if err.kind == BrokerErrorKind.TIMEOUT:
                # in flight from the end of the call, not its start: the broker may sign its request
                # late in the call (e.g. sent again after a clock resync that took seconds)
                maybe_sent = True
                sent_at = timer.slept_s
                self._sent_unanswered[cid] = self._window_ms()
            log.info("order %s: %s (attempt %d)", cid, err, order.attempts)
            # Find out whether the exchange has it before any retry.
            waits = retries  # backoff steps taken (lookups inside the in-flight window included)
            lookup_after: float | None = None  # the wait a rate-limited lookup was told to keep
            while True:
                if retries >= self.retry_attempts:
                    return _Outcome(error=err, maybe_sent=maybe_sent)
                retries += 1
                waits += 1
                after = err.retry_after_s if err.kind == BrokerErrorKind.RATE_LIMIT else None
                if lookup_after is not None:  # (err is still the send's timeout: the lookup's wait counts too)
                    after, lookup_after = max(after or 0.0, lookup_after), None
                delay = backoff_delay(waits, self.backoff_base_s, self.backoff_cap_s, after)
                if delay > self.max_wait_s:
                    return _Outcome(error=err, maybe_sent=maybe_sent)
                await self._pause(delay, timer)
                try:
                    found = await self._call(self.broker.query(order.symbol, cid))
                except BrokerError as qexc:
                    if qexc.kind == BrokerErrorKind.UNKNOWN_ORDER:
                        found = None
                    elif qexc.kind.transient:
                        if qexc.kind == BrokerErrorKind.RATE_LIMIT:
                            lookup_after = qexc.retry_after_s  # asking sooner gets an IP banned
                        err = qexc if not maybe_sent else err
                        continue  # still unknown: back off and look again
                    else:
                        return _Outcome(error=qexc, maybe_sent=maybe_sent)
                # counted by the waits since, not the clock: a wall clock stepped forward (NTP)
                # meanwhile ended the window at once and sent the order again while the first
                # request could still arrive; the waits are never longer than the time that passed
                waited = (timer.slept_s - sent_at) * 1000.0
                if found is None and maybe_sent and waited < self.in_flight_ms:
                    # the unanswered request may still arrive: "not found" proves nothing yet, and
                    # this lookup is no retry - look again (backing off) until the window has passed
                    retries -= 1
                    continue
                break
            if found is not None:
                self._sent_unanswered.pop(cid, None)
                return _Outcome(found)
            maybe_sent = False  # the exchange does not know it: sending again is safe
            self._sent_unanswered.pop(cid, None)

    async def _await_final(self, order: Order, timer: _Timer, epoch: int | None = None) -> None:
        """Poll an open order until it is final or the order timeout passed; then cancel it. With
        ``epoch`` (a reconciliation's): a :meth:`halt` since ends the wait at once, and the order
        is canceled with the halt's reason."""
        polls = 0
        told_s = 0.0  # the wait a rate-limited poll was told to keep
        backoff_s = 0.0  # what is left of that wait when the order timeout came first
        while not order.status.is_final:
            if epoch is not None and epoch != self._epoch:
                await self._cancel(order, self._halt_reason)
                return
            elapsed = timer.elapsed_ms(self.clock.now_ms())
            if elapsed >= self.timeout_ms:
                break
            polls += 1
            remaining_s = (self.timeout_ms - elapsed) / 1000.0
            delay = min(max(backoff_delay(polls, self.backoff_base_s, self.poll_cap_s), told_s), remaining_s)
            # a rate limit's wait reaching past the order timeout: no poll after it (asked too soon),
            # the order is canceled once the timeout has passed
            no_poll = told_s >= remaining_s
            backoff_s, told_s = (told_s - delay if no_poll else 0.0), 0.0
            if epoch is None:
                await self._pause(delay, timer)
            elif not await self._pause_unless_halted(delay, timer, epoch):
                continue  # halted meanwhile: canceled above
            if no_poll:
                break
            try:
                res = await self._call(self.broker.query(order.symbol, order.client_order_id))
            except BrokerError as exc:
                log.info("order %s: poll failed: %s", order.client_order_id, exc)
                if exc.kind == BrokerErrorKind.RATE_LIMIT and exc.retry_after_s:
                    told_s = float(exc.retry_after_s)  # polling sooner gets an IP banned
                continue
            if res is not None:
                await self._adopt(order, res)
        if not order.status.is_final:
            why = f"timed out after {self.timeout_ms} ms"
            backoff_s = max(backoff_s, told_s)  # (told by the last poll, at the timeout: not waited yet)
            if backoff_s > self.max_wait_s:
                # the exchange's back-off (an IP ban) outlasts what an order waits: no cancel now (a
                # request sooner prolongs the ban); the order stays open, and a later lookup cancels it
                order.error = f"{why}; cancel not sent yet: the exchange asked to wait {backoff_s:g} s more"
                await self._record(order, [])
                return
            if backoff_s > 0:  # the cancel too waits as long as a rate limit asks
                if epoch is None:
                    await self._pause(backoff_s, timer)
                elif not await self._pause_unless_halted(backoff_s, timer, epoch):
                    why = self._halt_reason  # an emergency stop does not wait: canceled now, as above
            await self._cancel(order, why)

    async def _pause_unless_halted(self, seconds: float, timer: _Timer, epoch: int) -> bool:
        """:meth:`_pause`, ended early by a :meth:`halt` (True when it was not)."""
        if epoch != self._epoch:
            return False
        halted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._halt_waiters.add(halted)
        pause = asyncio.ensure_future(self._pause(seconds, timer))
        try:
            await asyncio.wait({pause, halted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._halt_waiters.discard(halted)
            pause.cancel()  # (no-op when it ended)
        if pause.done() and not pause.cancelled():
            pause.result()  # its error, if it failed
        return epoch == self._epoch

    async def _cancel(self, order: Order, why: str) -> None:
        cid = order.client_order_id
        res: OrderResult | None = None
        note = ""
        try:
            res = await self._call(self.broker.cancel(order.symbol, cid))
        except BrokerError as exc:
            note = f"; cancel failed: {exc}"
            try:  # it may have finished meanwhile (UNKNOWN_ORDER) - look; not while told to back off
                if exc.kind != BrokerErrorKind.RATE_LIMIT:
                    res = await self._call(self.broker.query(order.symbol, cid))
            except BrokerError as qexc:
                note += f"; query failed: {qexc}"
        before = order.status
        fills = self._apply(order, res) if res is not None else []
        if order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED) or not order.status.is_final:
            order.error = why + ("" if order.status.is_final else note)
        if fills or order.status != before or not order.status.is_final:
            await self._record(order, fills)

    async def _resolve(
        self,
        order: Order,
        not_found_reason: str,
        sends_land_by_ms: float = 0,
        cancel_why: str = "",
        epoch: int | None = None,
    ) -> None:
        """``sends_land_by_ms``: clock time by which every request of an earlier process has
        arrived or can no longer arrive; "not found" before it proves nothing, so the order is
        looked up once more when it has passed. ``cancel_why``: an order still open is canceled at
        once (not waited for until the order timeout), with that error; ``epoch``: so is one still
        open once a :meth:`halt` came after it (see :meth:`_await_final`)."""
        cid = order.client_order_id
        timer = _Timer(self.clock.now_ms())
        try:
            res = await self._query_retrying(order, timer, epoch)
            if self._real_windows:
                wait_ms = sends_land_by_ms - self._window_ms()
            else:  # (a virtual clock: a sleep that does not move it counts too)
                wait_ms = sends_land_by_ms - max(self.clock.now_ms(), timer.start_ms + timer.slept_s * 1000.0)
            # at most the window itself: more only when the clock stepped back (NTP) since
            wait_ms = min(wait_ms, self._earlier_in_flight_ms)
            if res is None and wait_ms > 0:
                log.info("order %s: not found yet, but the last run's request may still arrive: looking "
                         "again in %.1f s", cid, wait_ms / 1000.0)
                if epoch is None:
                    await self._pause(wait_ms / 1000.0, timer)
                elif not await self._pause_unless_halted(wait_ms / 1000.0, timer, epoch):
                    # an emergency stop does not wait for the window: the order is left unsettled,
                    # neither booked "not sent" (its request may still land) nor sent, and a later
                    # reconciliation (start tries it again) looks it up once the window has passed
                    order.error = (f"{OUTCOME_UNKNOWN}: not found yet, but the last run's request may still "
                                   f"arrive ({self._halt_reason}: not waited for)")
                    await self._record(order, [])
                    return
                res = await self._query_retrying(order, timer, epoch)
        except BrokerError as exc:
            order.error = f"{LOOKUP_FAILED}: {exc}"
            if exc.code == INVALID_SYMBOL_CODE:
                order.error += f" ({NOT_LISTED} {order.symbol})"
            elif isinstance(exc, _LookupHalted):
                order.error += f" ({self._halt_reason}: not asked again)"
            await self._record(order, [])
            return
        if res is None:
            sent, now = self._sent_unanswered.get(cid), self._window_ms()
            if sent is not None and now < sent:
                # the clock stepped back (NTP) since the send: the window counts from now, so it
                # ends at most one window later, not after the step too (the symbol blocked meanwhile)
                self._sent_unanswered[cid] = sent = now
            if sent is not None and now - sent < self.in_flight_ms:
                log.info("order %s: not found yet, but its unanswered request may still arrive", cid)
                return  # outcome still unknown: looked up again later
            self._sent_unanswered.pop(cid, None)
            order.status = OrderStatus.CANCELED
            order.error = not_found_reason
            await self._record(order, [])
            return
        await self._adopt(order, res)
        if not order.status.is_final and not cancel_why and epoch is not None and epoch != self._epoch:
            cancel_why = self._halt_reason  # halted while it was looked up
        if not order.status.is_final and cancel_why:
            await self._cancel(order, cancel_why)
        elif not order.status.is_final:
            age_timer = _Timer(min(order.created_ms, self.clock.now_ms()))
            await self._await_final(order, age_timer, epoch)
        log.info("order %s resolved: %s", cid, order.status)

    async def _query_retrying(self, order: Order, timer: _Timer, epoch: int | None = None) -> OrderResult | None:
        """Look ``order`` up, backing off and asking again after a transient failure. With
        ``epoch`` (a reconciliation's): a :meth:`halt` since ends the back-off at once and the
        last failure is raised (the order is left as it is, looked up again later)."""
        retries = 0
        while True:
            try:
                return await self._call(self.broker.query(order.symbol, order.client_order_id))
            except BrokerError as exc:
                if exc.kind == BrokerErrorKind.UNKNOWN_ORDER:
                    return None
                if not exc.kind.transient or retries >= self.retry_attempts:
                    raise
                retries += 1
                after = exc.retry_after_s if exc.kind == BrokerErrorKind.RATE_LIMIT else None
                delay = backoff_delay(retries, self.backoff_base_s, self.backoff_cap_s, after)
                if delay > self.max_wait_s:  # (an IP ban: the caller holds the trade lock - asked next time)
                    raise
                if epoch is None:
                    await self._pause(delay, timer)
                elif not await self._pause_unless_halted(delay, timer, epoch):
                    # an emergency stop does not wait for the exchange to answer again
                    raise _LookupHalted(exc.kind, exc.args[0] if exc.args else "", exc.code, exc.retry_after_s) from exc

    # -- booking -------------------------------------------------------------

    async def _adopt(self, order: Order, res: OrderResult) -> None:
        before = order.status
        fills = self._apply(order, res)
        if fills or order.status != before:
            await self._record(order, fills)

    def _quote_valued_fee(self, symbol: str, fee_asset: str) -> bool:
        """Whether a fill's ``fee`` is a quote amount, so it counts in ``Order.fees``: charged in
        the quote asset (or no asset named: paper) or in the symbol's base asset (the broker gives
        its quote value). A fee in a third asset (BNB) is that asset's raw amount: it stays on the
        fill (``fee`` / ``fee_asset``) and in the book's ``other_fees``, like the portfolio, whose
        ``fees_paid`` leaves it out too."""
        q = self.quote_asset
        return not fee_asset or fee_asset == q or (symbol.endswith(q) and fee_asset == symbol[: -len(q)])

    def _apply(self, order: Order, res: OrderResult) -> list[Fill]:
        """Merge a broker answer into ``order``; returns the fills not booked before."""
        if order.status.is_final:
            return []
        cid = order.client_order_id
        new = self._new_fills(order, res)
        if new:
            quote = self._quote.get(cid, order.avg_price * order.executed_qty)
            qty = order.executed_qty
            for f in new:
                quote += f.price * f.quantity
                qty += f.quantity
                if self._quote_valued_fee(order.symbol, f.fee_asset):
                    order.fees += f.fee
            self._quote[cid] = quote
            order.executed_qty = qty
            order.avg_price = (quote / qty).quantize(AVG_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
        if _STAGE[res.status] >= _STAGE[order.status]:  # never back: a stale lookup keeps what is booked
            order.status = res.status
        if res.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED) and order.error.startswith(
            (LOOKUP_FAILED, OUTCOME_UNKNOWN)
        ):
            order.error = ""  # the exchange answered: a FILLED order kept "could not query the exchange: ..."
        if res.exchange_order_id:
            order.exchange_order_id = res.exchange_order_id
        if res.reason and res.status in (OrderStatus.EXPIRED, OrderStatus.CANCELED, OrderStatus.REJECTED):
            order.error = res.reason
        order.updated_ms = self.clock.now_ms()
        return new

    def _new_fills(self, order: Order, res: OrderResult) -> list[Fill]:
        """Fills of ``res`` beyond the quantity ``order`` has booked.

        Brokers report fills cumulatively; the first ``order.executed_qty`` of them are already booked.
        When a broker reports more executed quantity than its fills cover (e.g. a bare order lookup),
        the rest is booked as one synthetic fill at the average price with an estimated fee.
        """
        booked = order.executed_qty
        new: list[Fill] = []
        cum = Decimal(0)
        aligned = True
        for f in res.fills:
            if f.quantity <= 0:
                continue
            if cum >= booked:
                new.append(f)
            elif cum + f.quantity > booked:
                aligned = False
                break
            cum += f.quantity
        if not aligned:
            new = []
        got_qty = booked + sum((f.quantity for f in new), Decimal(0))
        if res.executed_qty > got_qty:
            delta = res.executed_qty - got_qty
            booked_quote = self._quote.get(order.client_order_id, order.avg_price * booked)
            got_quote = booked_quote + sum((f.price * f.quantity for f in new), Decimal(0))
            delta_quote = res.quote_qty - got_quote
            if delta_quote > 0:
                price = (delta_quote / delta).quantize(AVG_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
            else:
                price = order.price or order.avg_price
            if price <= 0:
                log.error("order %s: cannot price %s executed without fills", order.client_order_id, delta)
                return new
            notional = price * delta
            new.append(
                Fill(
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side,
                    price=price,
                    quantity=delta,
                    fee=fill_fee(notional, self.fee_rate),
                    fee_asset=self.quote_asset,
                    ts_ms=self.clock.now_ms(),
                    trade_id=f"{order.client_order_id}-synthetic-{got_qty}",
                )
            )
        return new

    async def _record(self, order: Order, fills: list[Fill]) -> None:
        order.updated_ms = self.clock.now_ms()
        if order.status.is_final:
            self._open.pop(order.client_order_id, None)
            self._quote.pop(order.client_order_id, None)
            self._sent_unanswered.pop(order.client_order_id, None)
        snap = _snapshot(order)
        await self.journal.record_update(snap, [replace(f) for f in fills])
        order.realized_pnl = snap.realized_pnl  # the journal books realised PnL (the portfolio owns it)

    # -- plumbing ------------------------------------------------------------

    def _validate(self, order: Order) -> None:
        if not isinstance(order, Order):
            raise ValueError(f"execute needs an Order, got {type(order).__name__}")
        cid = order.client_order_id
        if not is_valid_client_order_id(cid):
            raise ValueError(f"invalid client order id {cid!r}: must match ^[a-zA-Z0-9-_]{{1,36}}$")
        if cid in self._used:
            raise ValueError(f"client order id {cid!r} was already used in this session")
        if order.status != OrderStatus.INTENT:
            raise ValueError(f"order {cid}: execute needs status INTENT, got {order.status}")
        if not order.symbol:
            raise ValueError(f"order {cid}: empty symbol")
        if order.side not in (Side.BUY, Side.SELL) or order.type not in (OrderType.MARKET, OrderType.LIMIT):
            raise ValueError(f"order {cid}: bad side/type {order.side!r}/{order.type!r}")
        q = order.quantity
        if not isinstance(q, Decimal) or not q.is_finite() or q <= 0:
            raise ValueError(f"order {cid}: quantity must be a positive Decimal, got {q!r}")
        if order.type == OrderType.LIMIT:
            p = order.price
            if not isinstance(p, Decimal) or not p.is_finite() or p <= 0:
                raise ValueError(f"order {cid}: LIMIT order needs a positive Decimal price, got {p!r}")

    def _window_ms(self) -> float:
        """Now, for the in-flight windows (ms): the monotonic clock under a wall clock, else the clock."""
        return _monotonic() * 1000.0 if self._real_windows else float(self.clock.now_ms())

    async def _pause(self, seconds: float, timer: _Timer) -> None:
        timer.slept_s += seconds
        self.total_slept_s += seconds
        await self._sleep(seconds)

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await a broker call bounded by the order timeout; anything unexpected counts as a timeout
        (outcome unknown), so the order is looked up before it could be sent again."""
        try:
            async with asyncio.timeout(self.timeout_ms / 1000.0):  # in this task: no extra Task per call
                return await coro
        except BrokerError:
            raise
        except TimeoutError:
            raise BrokerError(BrokerErrorKind.TIMEOUT, f"no answer within {self.timeout_ms} ms") from None
        except Exception as exc:
            raise BrokerError(BrokerErrorKind.TIMEOUT, f"unexpected broker failure: {exc!r}") from exc


def _snapshot(order: Order) -> Order:
    return replace(order)
