"""The backtest's per-symbol figures (``--json``'s ``per_symbol``, ``report.json``, the table of
``report.txt``) listed only the symbols that traded: a symbol of the run without a trade was
missing, so "not traded" read as "not in the run". Every symbol of the run has its row now."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from tui_trader.backtest.metrics import PER_SYMBOL_KEYS, per_symbol_breakdown, trades_from_fills
from tui_trader.cli import main
from tui_trader.models import Fill, Side

FILLS = [
    Fill("c1", "BTCUSDT", Side.BUY, D("100"), D("1"), D("0.1"), "USDT", 10),
    Fill("c2", "BTCUSDT", Side.SELL, D("110"), D("1"), D("0.11"), "USDT", 40),
]


def test_a_symbol_of_the_run_without_trades_has_a_row_of_zeros() -> None:
    rows = per_symbol_breakdown(trades_from_fills(FILLS), FILLS, ["XRPUSDT", "BTCUSDT", "ADAUSDT"])
    assert list(rows) == ["ADAUSDT", "BTCUSDT", "XRPUSDT"]  # sorted by name, as before
    assert set(rows["ADAUSDT"]) == set(PER_SYMBOL_KEYS)
    assert rows["ADAUSDT"] == {
        "n_trades": 0, "wins": 0, "losses": 0, "win_rate": None, "gross_profit": 0.0, "gross_loss": 0.0,
        "profit_factor": None, "pnl": 0.0, "avg_pnl": None, "fees": 0.0, "traded_notional": 0.0,
        "open_trades": 0,
    }  # fmt: skip
    assert rows["BTCUSDT"]["n_trades"] == 1 and rows["BTCUSDT"]["pnl"] == pytest.approx(9.79)
    # without the universe: the symbols that traded, as before
    assert list(per_symbol_breakdown(trades_from_fills(FILLS), FILLS)) == ["BTCUSDT"]


def test_the_json_and_the_report_files_list_every_symbol_of_the_run(
    klines_dir: Path, quiet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = quiet / "out"
    args = ["backtest", "--data", str(klines_dir), "--interval", "1h", "--start", "2024-03-01", "--end",
            "2024-03-10", "--db", str(quiet / "b.db"), "--json", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    rows = rep["per_symbol"]
    assert sorted(rows) == sorted(rep["symbols"]) and len(rows) == 10
    idle = [s for s, r in rows.items() if r["n_trades"] == 0 and r["open_trades"] == 0]
    assert idle, "this span has a symbol that never trades (ETHUSDT)"
    for sym in idle:
        assert rows[sym]["pnl"] == 0 and rows[sym]["fees"] == 0 and rows[sym]["traded_notional"] == 0
    assert json.loads((out / "report.json").read_text())["per_symbol"] == rows
    text = (out / "report.txt").read_text()
    table = text[text.index("Per symbol") : text.index("Trades:")]
    names = {line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")}
    assert names == set(rep["symbols"]), table
