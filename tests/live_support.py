"""Shared pieces of the tests that run the live broker and order manager against the stand-in
exchange (:mod:`exchange_standin`): its config, a journal that records what the order manager
writes, a MARKET order intent, and the order requests the exchange received."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from exchange_standin import StandinExchange, SteerableClock, ms

from tui_trader.config import Config
from tui_trader.execution.binance_broker import BinanceBroker
from tui_trader.models import Fill, Order, OrderStatus, OrderType, Side, Source

T0 = ms("2024-03-01T00:00:30")


def standin_config(ex: StandinExchange, **binance: Any) -> Config:
    """The config of a live broker talking to ``ex`` (``binance``: more ``[binance]`` settings)."""
    return Config.model_validate(
        {
            "binance": {
                "rest_url": ex.rest_url,
                "stream_url": ex.stream_url,
                "request_timeout_s": 2.0,
                **binance,
            }
        }
    )


def live_engine_config(ex: StandinExchange, monkeypatch: Any, key: str, secret: str) -> Config:
    """An engine's config with the live feed (three symbols, 1h) and broker on the stand-in, the
    keys in the environment."""
    monkeypatch.setenv("BINANCE_API_KEY", key)
    monkeypatch.setenv("BINANCE_API_SECRET", secret)
    return Config.model_validate({
        "feed": {"kind": "binance", "interval": "1h", "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"]},
        "broker": {"kind": "binance"},
        "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
        "monitoring": {"log_file": "off"},
    })


async def live_book_of_sol_and_eth(ex: StandinExchange, cfg: Config, db: str) -> tuple[Decimal, Decimal]:
    """A live engine on ``db`` (3000 USDT on the stand-in) buys 60 USDT each of SOL and ETH by hand
    and stops: the book's SOL quantity and SOLUSDT's step size."""
    from tui_trader.events import ManualBuy, Start
    from tui_trader.runtime import build_engine

    ex.balances = {"USDT": Decimal("3000")}
    e = build_engine(cfg, db_path=db, session_kind="run", clock=ex.clock)
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert (await e.submit(Start())).ok
        for sym in ("SOLUSDT", "ETHUSDT"):
            assert (await e.submit(ManualBuy(symbol=sym, quote_amount=Decimal(60)))).ok
        return e.portfolio.positions["SOLUSDT"].quantity, e.filters["SOLUSDT"].step_size
    finally:
        await asyncio.wait_for(e.stop(), 20)


@contextlib.asynccontextmanager
async def running_standin(
    shared_data: Path, api_key: str, t0: int = T0, max_sleep_s: float | None = None
) -> AsyncIterator[StandinExchange]:
    """The stand-in exchange, started on a steerable clock at ``t0`` (its sleeps capped at
    ``max_sleep_s`` of real time), accepting ``api_key``."""
    stand = await StandinExchange(SteerableClock(t0, max_sleep_s=max_sleep_s), shared_data, api_key=api_key).start()
    try:
        yield stand
    finally:
        await stand.stop()


@contextlib.asynccontextmanager
async def started_broker(ex: StandinExchange, key: str, secret: str) -> AsyncIterator[BinanceBroker]:
    """A live broker talking to ``ex``, started (and stopped after)."""
    b = BinanceBroker(standin_config(ex), ex.clock, key, secret)
    await asyncio.wait_for(b.start(), 5)
    try:
        yield b
    finally:
        await asyncio.wait_for(b.stop(), 5)


def standin_and_broker_fixtures(api_key: str, secret: str) -> tuple[Any, Any]:
    """The ``ex`` and ``broker`` fixtures of a test module: the stand-in exchange accepting
    ``api_key`` (its sleeps capped at 0.05 s of real time) and a live broker started on it. A module
    takes them with ``ex, broker = standin_and_broker_fixtures(KEY, SECRET)``."""

    @pytest.fixture
    async def ex(shared_data: Path) -> AsyncIterator[StandinExchange]:
        async with running_standin(shared_data, api_key, max_sleep_s=0.05) as stand:
            yield stand

    @pytest.fixture
    async def broker(ex: StandinExchange) -> AsyncIterator[BinanceBroker]:
        async with started_broker(ex, api_key, secret) as b:
            yield b

    return ex, broker


class Journal:
    """The order manager's journal: each status it records, and the fills."""

    def __init__(self) -> None:
        self.fills: list[Fill] = []
        self.states: list[OrderStatus] = []

    async def record_intent(self, order: Order) -> None:
        self.states.append(order.status)

    async def record_update(self, order: Order, fills: list[Fill]) -> None:
        self.states.append(order.status)
        self.fills.extend(fills)


def intent(cid: str, qty: str = "0.01", symbol: str = "BTCUSDT") -> Order:
    """A MARKET buy's intent, written at ``T0``."""
    return Order(
        cid,
        symbol,
        Side.BUY,
        OrderType.MARKET,
        Decimal(qty),
        None,
        OrderStatus.INTENT,
        Source.UI,
        "test",
        T0,
        T0,
    )


def posts(ex: StandinExchange) -> list:
    """The new-order requests ``ex`` received."""
    return [r for r in ex.requests if r.path == "order" and r.method == "POST"]
