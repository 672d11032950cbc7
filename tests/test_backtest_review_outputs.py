"""``backtest --out``: the CSV files of a real run read back as the book held it - the equity to
the last decimal, without the float sum's drift (``10016.537267439999`` for 10016.53726744)."""

from __future__ import annotations

import asyncio
import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tui_trader.backtest import BacktestResult
from tui_trader.backtest.report import EQUITY_COLUMNS, TRADE_COLUMNS, write_outputs
from tui_trader.backtest.runner import run_backtest
from tui_trader.config import Config
from tui_trader.market.replay import load_klines, parse_time
from tui_trader.models import Side

SYMS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
START = parse_time("2024-03-01")
END = parse_time("2024-03-15")
H = 3_600_000

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def result(klines_dir: Path) -> BacktestResult:
    cfg = Config.model_validate(
        {
            "signal_generation": {
                "z_score_threshold": 1.0,
                "moving_average_period": 50,
                "confidence_threshold": 0.0,
            }
        }
    )
    return asyncio.run(run_backtest(cfg, klines_dir, "1h", SYMS, START, END, store=False, run_id="bt-review"))


def _book_at(result: BacktestResult, closes: dict[str, list[tuple[int, float]]], ts: int) -> Decimal:
    """Cash after the fills up to ``ts`` plus each holding at its last close known at ``ts``, in Decimal."""
    cash = Decimal(str(result.starting_balance))
    held: dict[str, Decimal] = {}
    for f in sorted(result.fills, key=lambda f: f.ts_ms):
        if f.ts_ms > ts:
            break
        sign = 1 if f.side == Side.BUY else -1
        cash -= sign * f.price * f.quantity + f.fee
        held[f.symbol] = held.get(f.symbol, Decimal(0)) + sign * f.quantity
    total = cash
    for sym, qty in held.items():
        if qty:
            close = [c for close_ms, c in closes[sym] if close_ms <= ts][-1]
            total += qty * Decimal(repr(close))  # the close as the data file wrote it
    return total


def test_equity_csv_holds_the_exact_book_value(result, klines_dir, tmp_path):
    assert result.fills, "the test config should make the engine trade"
    paths = write_outputs(result, tmp_path / "out")
    with paths["equity.csv"].open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert (
            tuple(reader.fieldnames or ())
            == EQUITY_COLUMNS
            == ("ts_ms", "time", "equity", "drawdown", "positions")
        )
        rows = list(reader)
    assert len(rows) == len(result.equity)
    data = load_klines(klines_dir, "1h", SYMS, START - 30 * 24 * H, END)
    kl = data.klines
    closes: dict[str, list[tuple[int, float]]] = {}
    for s, t, c in sorted(zip(kl.sym.tolist(), kl.open_time.tolist(), kl.close.tolist(), strict=True),
                          key=lambda x: x[1]):  # fmt: skip
        closes.setdefault(data.symbols[s], []).append((t + H, c))
    wrong = [
        (r["ts_ms"], r["equity"], str(_book_at(result, closes, int(r["ts_ms"]))))
        for r in rows
        if Decimal(r["equity"]) != _book_at(result, closes, int(r["ts_ms"]))
    ]
    assert not wrong, f"{len(wrong)} of {len(rows)} rows differ from the book, e.g. {wrong[:3]}"
    # and the figures (floats) are the same samples
    np.testing.assert_allclose([float(r["equity"]) for r in rows], result.equity, rtol=1e-12, atol=0)


def test_trades_csv_headers_and_money_read_back_exact(result, tmp_path):
    paths = write_outputs(result, tmp_path / "out")
    with paths["trades.csv"].open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == TRADE_COLUMNS == (
            "symbol", "entry_ms", "entry_time", "exit_ms", "exit_time", "entry_price", "exit_price", "qty", "pnl",
            "fees", "return_pct", "closed",
        )  # fmt: skip  # the files' columns are a contract with the scripts that read them
        rows = list(reader)
    assert [(r["symbol"], Decimal(r["pnl"]), Decimal(r["fees"]), Decimal(r["qty"])) for r in rows] == [
        (t.symbol, t.pnl, t.fees, t.qty) for t in result.trades
    ]
    assert sum(Decimal(r["fees"]) for r in rows) == sum(f.fee for f in result.fills)
