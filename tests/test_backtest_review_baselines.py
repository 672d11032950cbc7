"""Buy-and-hold beside a backtest buys what could be bought: a symbol given with ``--symbols``
whose data ends before the run starts keeps no idle slice of cash in the baseline."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest

from tui_trader.backtest.runner import run_backtest
from tui_trader.config import Config
from tui_trader.market.replay import parse_time

pytestmark = pytest.mark.shared_data

LIVE = ["BTCUSDT", "ETHUSDT", "XRPUSDT"]
GONE = "SOLUSDT"  # its files stop at the end of February
START = parse_time("2024-04-01")
END = parse_time("2024-04-15")


@pytest.fixture(scope="module")
def data(klines_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("klines")
    for sym, months in [(s, ("01", "02", "03", "04")) for s in LIVE] + [(GONE, ("01", "02"))]:
        (out / sym / "1h").mkdir(parents=True)
        for m in months:
            shutil.copy(klines_dir / sym / "1h" / f"2024-{m}-01.json", out / sym / "1h")
    return out


def _run(data: Path, symbols: list[str]):
    return asyncio.run(
        run_backtest(Config(), data, "1h", symbols, START, END, store=False, run_id="bt-review")
    )


def test_a_symbol_without_klines_in_the_span_is_left_out_of_buy_and_hold(data, caplog):
    with caplog.at_level(logging.WARNING, logger="tui_trader"):
        with_gone = _run(data, [*LIVE, GONE])
    live_only = _run(data, LIVE)
    bh = with_gone.baselines["buy_and_hold"]
    # all the cash is invested: every slice pays its fee, none waits for a symbol with no price
    assert bh["fees_paid"] + bh["traded_notional"] == pytest.approx(10_000)
    assert bh == live_only.baselines["buy_and_hold"]
    assert with_gone.metrics == live_only.metrics  # the strategy could not trade it either
    assert f"no 1h klines of {GONE}" in caplog.text and "left out of the baseline" in caplog.text
