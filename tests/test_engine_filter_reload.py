"""A live order the exchange rejects for its filters (-1013 "Filter failure: ...": LOT_SIZE,
PRICE_FILTER or NOTIONAL changed since the start-up) reloads that symbol's filters, at most once
per symbol per ``FILTERS_RELOAD_MS`` of engine time, so the next order meets the new ones rather
than failing the same way for the rest of the run (the stand-in exchange, real signed requests)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from decimal import Decimal

import pytest
from engine_helpers import MIN, SYMBOLS, T0, Harness, engine_config, klines, make_engine, prices
from exchange_standin import StandinExchange, SteerableClock
from test_binance_broker import KEY, live_cfg
from test_binance_broker import T0 as LIVE_T0

from tui_trader.clock import ManualClock
from tui_trader.engine import EXIT_RETRY_MS, FILTERS_RELOAD_MS
from tui_trader.events import ManualBuy, Start
from tui_trader.execution.broker import BrokerErrorKind
from tui_trader.execution.paper import PaperBroker
from tui_trader.market.binance_payloads import synthetic_filters
from tui_trader.models import SignalType
from tui_trader.runtime import build_engine


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(LIVE_T0), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


def _set_lot_size(ex: StandinExchange, symbol: str, step: str) -> None:
    """The exchange changes the symbol's LOT_SIZE (served by exchangeInfo and enforced on orders)."""
    info = next(s for s in ex.exchange_info["symbols"] if s["symbol"] == symbol)
    lot = next(f for f in info["filters"] if f["filterType"] == "LOT_SIZE")
    lot["stepSize"] = lot["minQty"] = step


def _info_requests(ex: StandinExchange) -> int:
    return sum(1 for r in ex.requests if r.path == "exchangeInfo")


async def test_a_filter_failure_reloads_the_symbols_filters_once_per_interval(
    ex, tmp_path, monkeypatch, caplog
):
    cfg = live_cfg(ex, monkeypatch)
    e = build_engine(cfg, db_path=str(tmp_path / "live.db"), session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert (await e.submit(Start())).ok
        assert e.filters["ETHUSDT"].step_size < Decimal("0.01")
        _set_lot_size(ex, "ETHUSDT", "0.01")  # changed at the exchange since the start-up
        asked = _info_requests(ex)
        with caplog.at_level(logging.INFO, logger="tui_trader.engine"):
            res = await asyncio.wait_for(e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(200))), 10)
        assert not res.ok and "LOT_SIZE" in res.message, res.message
        assert _info_requests(ex) == asked + 1  # the filters asked again...
        assert e.filters["ETHUSDT"].step_size == Decimal("0.01")  # ...and in effect
        assert any(
            "ETHUSDT" in r.getMessage() and "filters reloaded" in r.getMessage() for r in caplog.records
        )
        res = await asyncio.wait_for(e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(200))), 10)
        assert res.ok, res.message  # the next order meets them
        qty = e.portfolio.positions["ETHUSDT"].quantity
        assert ex.executed[-1].orig_qty % Decimal("0.01") == 0 and qty > 0

        # changed again at once: rejected, but not asked again within the interval (a second ETH
        # position is over the risk limits: overridden, as only the exchange's answer counts here)
        _set_lot_size(ex, "ETHUSDT", "0.1")
        asked = _info_requests(ex)
        res = await asyncio.wait_for(
            e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(500), override_risk=True)), 10
        )
        assert not res.ok and "LOT_SIZE" in res.message, res.message
        assert _info_requests(ex) == asked and e.filters["ETHUSDT"].step_size == Decimal("0.01")

        # once the interval has passed (engine time), the next rejection asks again
        ex.clock.jump_to(ex.clock.now_ms() + FILTERS_RELOAD_MS)
        res = await asyncio.wait_for(
            e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(500), override_risk=True)), 10
        )
        assert not res.ok and "LOT_SIZE" in res.message, res.message
        assert _info_requests(ex) == asked + 1 and e.filters["ETHUSDT"].step_size == Decimal("0.1")
        res = await asyncio.wait_for(
            e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=Decimal(500), override_risk=True)), 10
        )
        assert res.ok, res.message
    finally:
        await asyncio.wait_for(e.stop(), 20)


# --- a stop loss rejected for its filters (a paper broker given to the engine stands in for the exchange)

COOLDOWN = 300_000


async def _stop_loss_rejected_for_filters(new_step: str) -> tuple[Harness, PaperBroker, int]:
    """A book holding 5.015 AAA bought at 100 on an "exchange" (a paper broker given to the
    engine: its filters asked at start-up); the exchange then sets AAA's step to ``new_step``
    and AAA falls 3 %: the stop loss's sell is rejected for the filters (-1013). Returns the
    harness, the exchange and when that attempt ended."""
    cfg = engine_config(
        signal_generation={"signal_cooldown_ms": COOLDOWN},
        data_processing={"rating_calculation_interval_ms": 3_600_000},
    )
    holder: dict = {}
    filters = {s: synthetic_filters(s, 100.0) for s in SYMBOLS}
    exchange = PaperBroker(cfg, ManualClock(0), lambda s: holder["e"].last_price(s), dict(filters))
    h = make_engine(cfg, broker=exchange)
    holder["e"] = h.engine
    await h.start()
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * MIN, [100.0] * 4))
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal("501.5")))).ok
    assert e.portfolio.positions["AAAUSDT"].quantity == Decimal("5.015")
    step = Decimal(new_step)
    exchange.set_filters({"AAAUSDT": replace(filters["AAAUSDT"], step_size=step, min_qty=step)})
    if 5 * step == Decimal(
        "0.005"
    ):  # the step still divides the holding: the exchange refuses it all the same
        exchange.fail_next(BrokerErrorKind.FILTER_FAILURE)
    await h.step(prices(T0 + 10 * MIN, [97.0], symbols=[0]))  # -3 %: the stop loss at 2 %
    (first,) = _stop_losses(e)
    assert not first.executed and "filter" in first.outcome.lower(), first.outcome
    return h, exchange, e.clock.now_ms()


def _stop_losses(e) -> list:
    return [s for s in e.recent_signals if s.type is SignalType.SELL and s.kind == "stop_loss"]


async def test_a_stop_loss_rejected_for_filters_that_changed_is_tried_again_seconds_later() -> None:
    h, exchange, t_done = await _stop_loss_rejected_for_filters("0.01")
    try:
        e = h.engine
        assert e.filters["AAAUSDT"].step_size == Decimal("0.01")  # reloaded: a retry meets them
        sent = exchange.submit_calls
        await h.step(prices(t_done + EXIT_RETRY_MS - 1_000, [97.0], symbols=[0]))  # too soon
        assert len(_stop_losses(e)) == 1 and exchange.submit_calls == sent
        await h.step(prices(t_done + EXIT_RETRY_MS + 1_000, [97.0], symbols=[0]))  # seconds, not the cooldown
        latest = _stop_losses(e)[0]
        assert latest.executed, latest.outcome
        assert "AAAUSDT" not in e.portfolio.positions
    finally:
        await h.stop()


async def test_a_stop_loss_rejected_for_filters_that_did_not_change_keeps_the_cooldown() -> None:
    """The reload finds the filters as they were: the order itself missed them, and a retry
    seconds later would fail the same way."""
    h, exchange, t_done = await _stop_loss_rejected_for_filters("0.001")
    try:
        e = h.engine
        assert e.filters["AAAUSDT"].step_size == Decimal("0.001")
        sent = exchange.submit_calls
        await h.step(prices(t_done + EXIT_RETRY_MS + 1_000, [97.0], symbols=[0]))
        assert len(_stop_losses(e)) == 1 and exchange.submit_calls == sent  # the cooldown holds
        await h.step(prices(t_done + COOLDOWN + 1_000, [97.0], symbols=[0]))
        assert _stop_losses(e)[0].executed and "AAAUSDT" not in e.portfolio.positions
    finally:
        await h.stop()
