"""Parity: the paper-trading path and `backtest` give identical trades and final equity.

Both host the same TradingEngine on the real 15m klines: once as a paper-trading session (replay
feed, ManualClock, PaperBroker, SQLite persistence on, fills read back from the database) and once
through :func:`run_backtest`. Only the host differs, so every fill must match exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tui_trader.backtest.runner import run_backtest, warmup_klines_needed
from tui_trader.clock import ManualClock, interval_to_ms
from tui_trader.config import Config
from tui_trader.events import FillEvent
from tui_trader.runtime import build_engine
from tui_trader.storage.db import Database


def _key(f):
    return (f.ts_ms, f.symbol, f.side.value, f.price, f.quantity, f.fee)


@pytest.mark.shared_data
def test_paper_path_and_backtest_trade_identically(klines_dir: Path, tmp_path: Path) -> None:
    cfg = Config.model_validate(
        {
            "feed": {"kind": "replay", "interval": "15m", "speed": "max", "replay": {"path": str(klines_dir)}},
            # trade often enough that the comparison means something
            "signal_generation": {"z_score_threshold": 2.0, "confidence_threshold": 0.5},
        }
    )
    interval_ms = interval_to_ms("15m")

    async def paper() -> tuple[list, float, list]:
        from tui_trader.market.replay import load_klines

        data = load_klines(klines_dir, "15m")
        times = sorted(set(data.klines.open_time.tolist()))
        warm = min(warmup_klines_needed(cfg, interval_ms), len(times) // 2)
        db_path = tmp_path / "paper.db"
        engine = build_engine(
            cfg, db_path=str(db_path), session_kind="run", autostart=True, clock=ManualClock(0),
            data=data, warmup_klines=warm,
        )
        seen: list = []
        engine.bus.subscribe(lambda ev: seen.append(ev.fill), FillEvent)
        await engine.start_up()
        await engine.run()
        equity = engine.summary()["final_equity"]
        await engine.stop()
        db = await Database.open(db_path)
        try:
            stored = await db.load_fills()
        finally:
            await db.close()
        return seen, equity, stored

    paper_fills, paper_equity, stored = asyncio.run(paper())
    result = asyncio.run(run_backtest(cfg, klines_dir, "15m", store=False))

    assert len(paper_fills) >= 10, "the scenario must trade for parity to mean anything"
    assert [_key(f) for f in paper_fills] == [_key(f) for f in result.fills]
    # what the paper path committed to SQLite is exactly what it traded
    assert sorted(_key(f) for f in stored) == sorted(_key(f) for f in paper_fills)
    assert isinstance(stored[0].price, Decimal)
    assert paper_equity == pytest.approx(float(result.equity[-1]), abs=0.005)


def _cli_json(args: list[str], tmp_path: Path) -> dict:
    """A ``tui-trader`` command as an operator runs it (shipped defaults, no user file)."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-user-config")}
    env.pop("BINANCE_API_KEY", None)
    env.pop("BINANCE_API_SECRET", None)
    proc = subprocess.run([sys.executable, "-m", "tui_trader", *args], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.shared_data
def test_the_documented_fingerprints_hold(klines_dir: Path, tmp_path: Path) -> None:
    """The two runs the README and the project notes quote: a change that moves a trade, a price
    or a fee moves them. (The tests above compare the two hosts and two runs with each other,
    which a change made in both alike would pass.)"""
    run = _cli_json(["run", "--headless", "--feed", "replay", "--data", str(klines_dir), "--interval", "1h",
                     "--speed", "max", "--db", str(tmp_path / "run.db"), "--json"], tmp_path)
    assert (run["fills"], run["book_resumed"]) == (733, False)
    assert round(run["final_equity"], 8) == 10_181.32772932
    bt = _cli_json(["backtest", "--data", str(klines_dir), "--interval", "1h", "--db", str(tmp_path / "bt.db"),
                    "--json", "--no-charts"], tmp_path)
    assert bt["n_fills"] == 727
    assert round(bt["metrics"]["total_return"] * 100, 4) == 1.4514
