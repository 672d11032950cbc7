"""A long unattended run at small scale: what the engine keeps grows with its caps, not its uptime.

Weeks of ``run --headless`` are thousands of rating periods; here 1,500 one-minute periods of a
small simulated market stand in for them, with the caps and the rating retention made small so
that each one is reached many times over. Counts only, never timings.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from engine_helpers import TRADING_SIM

from tui_trader import engine as engine_module
from tui_trader.config import Config
from tui_trader.execution import paper as paper_module
from tui_trader.runtime import build_engine

PERIODS = 1500
PERIOD_MS = 60_000
RETENTION_PERIODS = 72  # rating_retention_days below: 72 one-minute periods (the z window needs 26)

SOAK_CONFIG = {
    **TRADING_SIM,
    "data_processing": {
        **TRADING_SIM["data_processing"],
        "rating_calculation_interval_ms": PERIOD_MS,
        "rating_retention_days": RETENTION_PERIODS * PERIOD_MS / 86_400_000,
    },
}


@pytest.fixture
def soaked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog):
    """Run the sim for PERIODS periods with small caps; yields (engine, summary, log records, db path)."""
    monkeypatch.setattr(engine_module, "ORDERS_KEPT", 25)
    monkeypatch.setattr(engine_module, "SIGNALS_KEPT", 30)
    monkeypatch.setattr(paper_module, "KEPT_ORDERS", 40)
    db = tmp_path / "soak.db"
    cfg = Config.model_validate({**SOAK_CONFIG, "storage": {"path": str(db)}})

    async def run():
        engine = build_engine(cfg, session_kind="run", autostart=True, max_klines=PERIODS)
        with caplog.at_level(logging.INFO, logger="tui_trader"):
            await engine.run()
            kept = {
                "orders": len(engine.orders),
                "signals": len(engine.recent_signals),
                "paper_orders": len(engine.broker._orders),
                "pending_rows": engine.db.writer.pending,
            }
            summary = engine.summary()
            await engine.stop()
        return kept, summary

    return run, db, caplog


async def test_weeks_of_periods_keep_memory_logs_and_rating_rows_bounded(soaked) -> None:
    run, db, caplog = soaked
    kept, summary = await run()
    assert summary["periods"] >= PERIODS - 1
    # enough trading that every cap below was reached many times over
    assert summary["orders"] > 4 * 40 and summary["signals"] > 4 * 30

    # memory: the recent orders, signals and the paper broker's order book stay at their caps
    assert kept["orders"] <= 25
    assert kept["signals"] <= 30
    assert kept["paper_orders"] <= 40
    assert kept["pending_rows"] < 10_000  # the writer keeps up: its buffer is not the whole run

    # the log: nothing per period or per tick at INFO; what scales with the run is one line per fill
    records = [r for r in caplog.records if r.name.startswith("tui_trader")]
    trades = [r for r in records if r.name == "tui_trader.trades"]
    others = [r for r in records if r.name != "tui_trader.trades"]
    assert len(trades) <= summary["fills"]
    assert len(others) <= 10, [r.getMessage() for r in others][:20]

    # the database: rating rows pruned to between one and one and a half retentions; the book's
    # history (orders, fills, equity) is kept whole, as the README says
    con = sqlite3.connect(str(db))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_ts, first, last = con.execute(
            "SELECT COUNT(DISTINCT ts_ms), MIN(ts_ms), MAX(ts_ms) FROM glicko_ratings"
        ).fetchone()
        orders = con.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        equity = con.execute("SELECT COUNT(*) FROM equity_snapshots").fetchone()[0]
    finally:
        con.close()
    assert n_ts <= 1.5 * RETENTION_PERIODS + 2
    assert last - first <= 1.5 * RETENTION_PERIODS * PERIOD_MS
    assert orders == summary["orders"]
    assert equity >= PERIODS - 1
