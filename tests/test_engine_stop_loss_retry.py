"""When a refused stop loss is tried again.

- Refused while the order circuit breaker is open: on the first price update after the breaker's
  cool-off, not only at the next rating period or after the signal cooldown; and at most once per
  cool-off (the breaker's half-open trial).
- Its exit order failed at the exchange (timeout, network, rate limit, 5xx) while the breaker stays
  closed: on a price update a few seconds later (``engine.EXIT_RETRY_MS``), not a whole signal
  cooldown later; the breaker bounds the rate (it opens after ``circuit_breaker_failures``
  failures, then lets one trial through per cool-off).
- Blocked by an order of unknown outcome in its symbol: it waits for that order to settle (never
  selling twice) and is tried again as soon as it has.
- Other refusals keep the cooldown."""

from __future__ import annotations

from engine_helpers import MIN, T0, engine_config, klines, make_engine, prices

from tui_trader.engine import EXIT_RETRY_MS
from tui_trader.events import ManualBuy
from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.execution.circuit import CLOSED, OPEN
from tui_trader.models import SignalType

COOLOFF = 60_000
COOLDOWN = 300_000


def _cfg(failures: int = 2, retry_attempts: int | None = None):
    # an hour per rating period and the default 5 min signal cooldown: neither comes soon
    more = {} if retry_attempts is None else {"order_execution": {"retry_attempts": retry_attempts}}
    return engine_config(
        signal_generation={"signal_cooldown_ms": COOLDOWN},
        data_processing={"rating_calculation_interval_ms": 3_600_000},
        risk_management={"circuit_breaker_failures": failures, "circuit_breaker_cooloff_ms": COOLOFF},
        **more,
    )


async def _hold(h, held=("AAAUSDT",)) -> None:
    """Buys ``held`` at 100 after three minutes of klines."""
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    for sym in held:
        assert (await e.submit(ManualBuy(symbol=sym, quote_amount=500))).ok


async def _hold_and_open_the_breaker(h, held=("AAAUSDT",)) -> int:
    """Buys ``held`` at 100, then two failed buys of BBBUSDT open the breaker; returns when it opened."""
    e = h.engine
    await _hold(h, held)
    e.broker.fail_next(BrokerErrorKind.REJECTED, n=2)  # the exchange in trouble
    for _ in range(2):
        assert not (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=500))).ok
    assert e.order_breaker.state == OPEN
    return e.order_breaker.opened_ms


def _stops(e) -> list:
    return [s for s in e.recent_signals if s.type is SignalType.SELL and s.kind == "stop_loss"]


async def test_a_stop_loss_refused_for_circuit_open_is_tried_when_the_cooloff_ends() -> None:
    async with make_engine(_cfg()) as h:
        e = h.engine
        opened = await _hold_and_open_the_breaker(h)
        sent = e.broker.submit_calls
        await h.step(prices(opened + 1_000, [97.0], symbols=[0]))  # -3 %: stop loss at 2 %
        (first,) = _stops(e)
        assert not first.executed and "circuit open" in first.outcome
        assert e.broker.submit_calls == sent  # refused here, the exchange was not asked
        await h.step(prices(opened + COOLOFF - 1_000, [97.0], symbols=[0]))  # still cooling off
        assert len(_stops(e)) == 1 and e.broker.submit_calls == sent
        await h.step(prices(opened + COOLOFF + 1_000, [97.0], symbols=[0]))  # the first update after it
        latest = _stops(e)[0]
        assert latest.executed, latest.outcome
        assert "AAAUSDT" not in e.portfolio.positions
        assert e.broker.submit_calls == sent + 1


async def test_a_failed_trial_waits_for_the_next_cooloff_and_other_stops_do_not_hammer() -> None:
    async with make_engine(_cfg()) as h:
        e = h.engine
        opened = await _hold_and_open_the_breaker(h, ("AAAUSDT", "DDDUSDT"))
        sent = e.broker.submit_calls
        await h.step(prices(opened + 1_000, [97.0, 97.0], symbols=[0, 3]))  # two stop losses, both refused
        assert len(_stops(e)) == 2 and e.broker.submit_calls == sent
        e.broker.fail_next(BrokerErrorKind.REJECTED)  # the half-open trial fails: open again
        t_trial = opened + COOLOFF + 1_000
        await h.step(prices(t_trial, [97.0, 97.0], symbols=[0, 3]))
        assert e.broker.submit_calls == sent + 1  # one trial; the other stop loss is refused here
        assert e.order_breaker.state == OPEN and {"AAAUSDT", "DDDUSDT"} <= set(e.portfolio.positions)
        reopened = e.order_breaker.opened_ms
        for dt in (1_000, 20_000, COOLOFF - 1_000):  # no second try within the new cool-off
            await h.step(prices(reopened + dt, [97.0, 97.0], symbols=[0, 3]))
        assert e.broker.submit_calls == sent + 1
        await h.step(prices(reopened + COOLOFF + 1_000, [97.0, 97.0], symbols=[0, 3]))
        assert e.broker.submit_calls == sent + 3  # the trial passed: the breaker closed, both sold
        assert not {"AAAUSDT", "DDDUSDT"} & set(e.portfolio.positions)


async def test_a_stop_loss_failed_at_the_exchange_is_tried_again_seconds_later() -> None:
    async with make_engine(_cfg(failures=3, retry_attempts=2)) as h:
        e = h.engine
        await _hold(h)
        e.broker.fail_next(BrokerErrorKind.NETWORK, n=3)  # the send and both retries fail
        t1 = T0 + 10 * MIN
        await h.step(prices(t1, [97.0], symbols=[0]))  # -3 %: stop loss at 2 %
        (first,) = _stops(e)
        assert not first.executed and "network" in first.outcome, first.outcome
        assert e.order_breaker.state == CLOSED and e.order_breaker.consecutive_failures == 1
        sent = e.broker.submit_calls
        t_done = e.clock.now_ms()  # after the order manager's own back-off
        await h.step(prices(t_done + EXIT_RETRY_MS - 1_000, [97.0], symbols=[0]))  # too soon
        assert len(_stops(e)) == 1 and e.broker.submit_calls == sent
        await h.step(prices(t_done + EXIT_RETRY_MS + 1_000, [97.0], symbols=[0]))  # seconds, not minutes
        latest = _stops(e)[0]
        assert latest.executed, latest.outcome
        assert "AAAUSDT" not in e.portfolio.positions
        assert e.broker.submit_calls == sent + 1


async def test_the_breaker_bounds_the_retries_of_a_failing_stop_loss() -> None:
    async with make_engine(_cfg(failures=3, retry_attempts=2)) as h:
        e = h.engine
        await _hold(h)
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, n=100)  # the exchange keeps timing out
        e.broker.fail_next(BrokerErrorKind.UNKNOWN_ORDER, n=100, op="query")  # ... and never got them
        t = T0 + 10 * MIN
        for _ in range(3):  # three failed stop losses, a few seconds apart: the breaker opens
            await h.step(prices(t, [97.0], symbols=[0]))
            t = e.clock.now_ms() + EXIT_RETRY_MS + 1_000
        assert len(_stops(e)) == 3 and not any(s.executed for s in _stops(e))
        assert e.order_breaker.state == OPEN
        opened = e.order_breaker.opened_ms
        sent = e.broker.submit_calls
        for dt in (EXIT_RETRY_MS + 1_000, 30_000, COOLOFF - 1_000):  # open: nothing is sent
            await h.step(prices(opened + dt, [97.0], symbols=[0]))
        assert e.broker.submit_calls == sent
        assert len(_stops(e)) == 3  # not even raised: it waits for the cool-off's one trial
        await h.step(prices(opened + COOLOFF + 1_000, [97.0], symbols=[0]))
        assert len(_stops(e)) == 4 and e.broker.submit_calls > sent  # the half-open trial


async def test_other_refusals_of_a_stop_loss_keep_the_cooldown() -> None:
    async with make_engine(_cfg(failures=3, retry_attempts=2)) as h:
        e = h.engine
        await _hold(h)
        e.broker.fail_next(BrokerErrorKind.INSUFFICIENT_BALANCE)  # the order's own fault
        t1 = T0 + 10 * MIN
        await h.step(prices(t1, [97.0], symbols=[0]))
        (first,) = _stops(e)
        assert not first.executed and "insufficient" in first.outcome, first.outcome
        sent = e.broker.submit_calls
        for dt in (EXIT_RETRY_MS + 1_000, 60_000, COOLDOWN - 1_000):
            await h.step(prices(t1 + dt, [97.0], symbols=[0]))
        assert len(_stops(e)) == 1 and e.broker.submit_calls == sent
        await h.step(prices(t1 + COOLDOWN + 1_000, [97.0], symbols=[0]))
        assert _stops(e)[0].executed


async def test_a_stop_loss_of_unknown_outcome_is_tried_again_once_it_settles_never_twice() -> None:
    async with make_engine(_cfg(failures=5, retry_attempts=2)) as h:
        e = h.engine
        await _hold(h)
        # the send times out before it reaches the exchange and every lookup times out too
        e.broker.fail_next(BrokerErrorKind.TIMEOUT)
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, n=2, op="query")
        t1 = T0 + 10 * MIN
        await h.step(prices(t1, [97.0], symbols=[0]))
        (first,) = _stops(e)
        assert not first.executed and "outcome unknown" in first.outcome, first.outcome
        assert e._unsettled  # the symbol takes no new order until a lookup settles it
        sent = e.broker.submit_calls
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, n=3, op="query")  # still no answer at the next try
        t2 = e.clock.now_ms() + EXIT_RETRY_MS + 1_000
        await h.step(prices(t2, [97.0], symbols=[0]))
        assert len(_stops(e)) == 2 and "unknown outcome" in _stops(e)[0].outcome, _stops(e)[0].outcome
        assert e.broker.submit_calls == sent  # never a second sell while the first may have gone out
        # the lookup now answers (the exchange never got it): the stop loss goes out seconds later
        t3 = e.clock.now_ms() + EXIT_RETRY_MS + 1_000
        await h.step(prices(t3, [97.0], symbols=[0]))
        assert not e._unsettled
        assert _stops(e)[0].executed, _stops(e)[0].outcome
        assert "AAAUSDT" not in e.portfolio.positions and e.broker.submit_calls == sent + 1


async def test_a_stop_loss_whose_unknown_sell_had_filled_does_not_sell_again() -> None:
    async with make_engine(_cfg(failures=5, retry_attempts=2)) as h:
        e = h.engine
        await _hold(h)
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, after_fill=True)  # it sold; the answer was lost
        e.broker.fail_next(BrokerErrorKind.TIMEOUT, n=2, op="query")
        t1 = T0 + 10 * MIN
        await h.step(prices(t1, [97.0], symbols=[0]))
        assert "outcome unknown" in _stops(e)[0].outcome and "AAAUSDT" in e.portfolio.positions
        sent = e.broker.submit_calls
        await h.step(prices(e.clock.now_ms() + EXIT_RETRY_MS + 1_000, [97.0], symbols=[0]))
        assert not e._unsettled and "AAAUSDT" not in e.portfolio.positions  # the lookup booked the sale
        assert e.broker.submit_calls == sent  # and nothing was sold twice
        assert len(_stops(e)) == 2 and not _stops(e)[0].executed, _stops(e)[0].outcome
