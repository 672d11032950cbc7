"""A live order the exchange rejects for its filters (-1013 "Filter failure: ...": LOT_SIZE,
PRICE_FILTER or NOTIONAL changed since the start-up) reloads that symbol's filters, at most once
per symbol per ``FILTERS_RELOAD_MS`` of engine time, so the next order meets the new ones rather
than failing the same way for the rest of the run (the stand-in exchange, real signed requests)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange, SteerableClock
from test_binance_broker import KEY, T0, live_cfg

from tui_trader.engine import FILTERS_RELOAD_MS
from tui_trader.events import ManualBuy, Start
from tui_trader.runtime import build_engine


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(T0), shared_data, api_key=KEY).start()
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
