"""A stop loss refused while the order circuit breaker is open is tried again on the first price
update after the breaker's cool-off, not only at the next rating period or after the signal
cooldown; and at most once per cool-off (the breaker's half-open trial)."""

from __future__ import annotations

from decimal import Decimal

from engine_helpers import MIN, T0, engine_config, klines, make_engine, prices

from tui_trader.events import ManualBuy
from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.execution.circuit import OPEN
from tui_trader.models import SignalType

D = Decimal
COOLOFF = 60_000


def _cfg():
    # an hour per rating period and the default 5 min signal cooldown: neither comes soon
    return engine_config(
        signal_generation={"signal_cooldown_ms": 300_000},
        data_processing={"rating_calculation_interval_ms": 3_600_000},
        risk_management={"circuit_breaker_failures": 2, "circuit_breaker_cooloff_ms": COOLOFF},
    )


async def _hold_and_open_the_breaker(h, held=("AAAUSDT",)) -> int:
    """Buys ``held`` at 100, then two failed buys of BBBUSDT open the breaker; returns when it opened."""
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    for sym in held:
        assert (await e.submit(ManualBuy(symbol=sym, quote_amount=500))).ok
    e.broker.fail_next(BrokerErrorKind.REJECTED, n=2)  # the exchange in trouble
    for _ in range(2):
        assert not (await e.submit(ManualBuy(symbol="BBBUSDT", quote_amount=500))).ok
    assert e.order_breaker.state == OPEN
    return e.order_breaker.opened_ms


def _stops(e) -> list:
    return [s for s in e.recent_signals if s.type is SignalType.SELL and s.kind == "stop_loss"]


async def test_a_stop_loss_refused_for_circuit_open_is_tried_when_the_cooloff_ends() -> None:
    h = await make_engine(_cfg()).start()
    e = h.engine
    try:
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
    finally:
        await h.stop()


async def test_a_failed_trial_waits_for_the_next_cooloff_and_other_stops_do_not_hammer() -> None:
    h = await make_engine(_cfg()).start()
    e = h.engine
    try:
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
    finally:
        await h.stop()
