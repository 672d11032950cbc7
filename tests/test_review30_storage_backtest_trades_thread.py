"""A stored backtest run's fills became Decimals in a Python loop on the event loop: 100,000 fills
froze it for 0.5-0.9 s (the report viewer loads a run in an async worker). They are made in a
thread now, the same trades as before, and a damaged amount still fails the load."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

import tui_trader.storage.queries as queries
from tui_trader.models import Fill, Side
from tui_trader.storage import BacktestTrade, Database

TRADES = [
    BacktestTrade(1_000, "BTCUSDT", Side.BUY, D("50000.01"), D("0.001"), D("0.05")),
    BacktestTrade.from_fill(
        Fill("bt-2", "BTCUSDT", Side.SELL, D("51000"), D("0.001"), D("0.051"), "USDT", 2_000, "x"),
        realized_pnl=D("0.889"),
        reason="profit_target",
    ),
    BacktestTrade(3_000, "ETHUSDT", Side.BUY, D("3000.5"), D("1E-8"), D("0"), D("-1.5"), "c3", "z"),
]


@pytest.fixture
async def db(tmp_path: Path):
    database = await Database.open(tmp_path / "t.db", start_writer=False)
    await database.save_backtest_run("run-1", 10, None, "", {}, TRADES, np.arange(2), np.ones(2))
    yield database
    await database.close()


async def test_the_trades_are_made_off_the_event_loop_and_unchanged(db: Database, monkeypatch) -> None:
    threads: list[int] = []
    make = queries._backtest_trades

    def spy(rows):
        threads.append(threading.get_ident())
        return make(rows)

    monkeypatch.setattr(queries, "_backtest_trades", spy)
    loaded = await db.load_backtest_trades("run-1")
    assert threads and threads[0] != threading.get_ident()
    assert loaded == TRADES
    assert [str(t.quantity) for t in loaded] == ["0.001", "0.001", "1E-8"]  # the Decimals as stored
    assert all(t.side is want.side for t, want in zip(loaded, TRADES, strict=True))
    assert (await db.load_backtest_run("run-1"))["trades"] == TRADES


async def test_a_damaged_amount_still_fails_the_load(db: Database, tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "t.db")
    con.execute("UPDATE backtest_trades SET fee = 'abc' WHERE seq = 1")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="money column holds 'abc': not a decimal number"):
        await db.load_backtest_trades("run-1")
