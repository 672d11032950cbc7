"""The per-symbol rows add up to the run's totals, with or without the fills."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tui_trader.backtest.metrics import Trade, compute_metrics, per_symbol_breakdown, trades_from_fills
from tui_trader.models import Fill, Side

D = Decimal


def _fill(sym: str, side: Side, price: str, qty: str, fee: str, ts: int) -> Fill:
    return Fill(f"c{ts}{sym}{side}", sym, side, D(price), D(qty), D(fee), "USDT", ts)


FILLS = [
    _fill("BTCUSDT", Side.BUY, "100", "1", "0.1", 10),
    _fill("BTCUSDT", Side.SELL, "110", "1", "0.11", 40),
    _fill("ETHUSDT", Side.BUY, "50", "2", "0.1", 50),  # still open at the end, marked at 60
]
TRADES = trades_from_fills(FILLS, marks={"ETHUSDT": (100, D(60))})
TS = np.array([0, 50, 100])
EQ = np.array([1000.0, 1009.79, 1029.69])


def _sums(rows: dict) -> dict:
    return {
        k: sum(r[k] for r in rows.values())
        for k in ("n_trades", "open_trades", "pnl", "fees", "traded_notional")
    }


def _totals(m: dict) -> dict:
    return {"n_trades": m["n_trades"], "open_trades": m["open_trades"], "pnl": m["trades_pnl"],
            "fees": m["fees_paid"], "traded_notional": m["traded_notional"]}  # fmt: skip


@pytest.mark.parametrize("with_fills", [True, False], ids=["fills", "trades only"])
def test_per_symbol_rows_sum_to_the_totals(with_fills: bool):
    fills = FILLS if with_fills else None
    m = compute_metrics(TS, EQ, TRADES, fills=fills)
    rows = per_symbol_breakdown(TRADES, fills)
    assert _totals(m) == pytest.approx(_sums(rows))
    # the open ETH trip's entry is traded notional (100), its virtual exit at the mark is not:
    # from the trades alone its row said 0 next to a total that counted the 100
    assert rows["ETHUSDT"]["traded_notional"] == pytest.approx(100.0)
    assert rows["BTCUSDT"]["traded_notional"] == pytest.approx(210.0)
    assert m["traded_notional"] == pytest.approx(310.0)


def test_an_open_trip_alone_is_its_entry_in_both():
    still_open = Trade("ETHUSDT", 50, 100, D(50), D(60), D(2), D("19.9"), D("0.1"), closed=False)
    m = compute_metrics(np.array([0, 100]), np.array([1000.0, 1019.9]), [still_open])
    rows = per_symbol_breakdown([still_open])
    assert rows["ETHUSDT"]["traded_notional"] == m["traded_notional"] == pytest.approx(100.0)
