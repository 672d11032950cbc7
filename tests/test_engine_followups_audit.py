"""Every money-changing act of the engine leaves an audit row that tells the truth: the dust
written off after a live sell, the answer of a start or resume out of ``reducing`` after the UTC
day rolled over, a start still trying the reconciliation again when the operator quits, and an
emergency stop whose close flag came malformed."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from exchange_standin import StandinExchange, SteerableClock
from live_support import T0 as LIVE_T0

from tui_trader.config import Config

D = Decimal
KEY = "k3y-PUBLIC-followups-audit"
SECRET = "s3cr3t-PRIVATE-followups-audit"


@pytest.fixture
async def ex(shared_data):
    stand = await StandinExchange(SteerableClock(LIVE_T0), shared_data, api_key=KEY).start()
    yield stand
    await stand.stop()


def _live_cfg(ex: StandinExchange, monkeypatch) -> Config:
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    return Config.model_validate(
        {
            "feed": {"kind": "binance", "interval": "1h", "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"]},
            "broker": {"kind": "binance"},
            "binance": {"rest_url": ex.rest_url, "stream_url": ex.stream_url, "request_timeout_s": 2.0},
            "monitoring": {"log_file": "off"},
        }
    )


async def test_the_dust_written_off_after_a_live_sell_has_an_audit_row(
    ex, tmp_path, monkeypatch, caplog
) -> None:
    """Live, a buy's fee is taken in the base asset, so a close leaves a remainder no order can
    sell: the engine takes it off the book by itself (its cost realised as a loss). That moved the
    book's money with only a log line; the operator's write-off has an audit row, and so must it:
    source system, the symbol, the quantity, its value at the sell's price and the loss booked."""
    from tui_trader.events import ClosePosition, ManualBuy, Start
    from tui_trader.runtime import build_engine

    ex.balances = {"USDT": D("1234.5"), "BNB": D("3")}
    e = build_engine(
        _live_cfg(ex, monkeypatch), db_path=str(tmp_path / "live.db"), session_kind="run", clock=ex.clock
    )
    await asyncio.wait_for(e.start_up(), 20)
    try:
        assert (await e.submit(Start())).ok
        assert (await e.submit(ManualBuy(symbol="ETHUSDT", quote_amount=D(60)))).ok
        realized = e.portfolio.realized_pnl
        with caplog.at_level(logging.INFO, logger="tui_trader"):
            res = await e.submit(ClosePosition(symbol="ETHUSDT"))
        assert res.ok, res.message
        assert "ETHUSDT" not in e.portfolio.positions
        dust = ex.balances["ETH"]
        assert D(0) < dust < e.filters["ETHUSDT"].step_size  # what was written off, still in the account
        # the remainder is judged at the last sell's price
        last = [f for f in e.fills if f.symbol == "ETHUSDT" and f.side.value == "SELL"][-1]
        rows = [a for a in await e.db.load_audit(limit=None) if a["action"] == "write_off"]
        assert len(rows) == 1, rows
        (row,) = rows
        assert row["source"] == "system" and row["ok"] is True
        assert row["args"]["symbol"] == "ETHUSDT"
        assert D(row["args"]["quantity"]) == dust
        assert D(row["args"]["price"]) == last.price
        assert D(row["args"]["value"]) == dust * last.price
        # its cost, realised as a loss: the book's realised PnL moved by the sells' and by it
        cost = D(row["args"]["cost"])
        assert cost > 0
        sells = [o for o in e.orders.values() if o.symbol == "ETHUSDT" and o.side.value == "SELL"]
        assert e.portfolio.realized_pnl == realized + sum(o.realized_pnl for o in sells)
        assert "dust" in row["outcome"] and "after the sell" in row["outcome"], row["outcome"]
    finally:
        await asyncio.wait_for(e.stop(), 20)
