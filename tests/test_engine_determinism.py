"""End-to-end determinism: the same seed (sim) or the same recorded klines (replay of real 1h
data) twice give identical fills - client ids, prices, quantities, fees - and the same equity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from engine_helpers import engine_config

from tui_trader.config import Config
from tui_trader.market.replay import load_klines, parse_time
from tui_trader.runtime import build_engine


def _sim_cfg(seed: int) -> Config:
    return engine_config(
        feed={"kind": "sim", "interval": "1m", "speed": "max",
              "sim": {"n_symbols": 16, "seed": seed, "warmup_periods": 12}},
        signal_generation={"z_score_threshold": 0.9, "moving_average_period": 12, "confidence_threshold": 0.0,
                           "signal_cooldown_ms": 0},
        data_processing={"rating_calculation_interval_ms": 120_000, "kline_retention_days": 1},
        risk_management={"stop_loss_percent": 0.8, "profit_target_percent": 1.0},
        rating={"volatility_window": 10},
    )


async def _run(cfg: Config, db: Path, **feed: object) -> dict:
    engine = build_engine(cfg, db_path=str(db), session_kind="run", autostart=True, **feed)
    fills = []
    from tui_trader.events import FillEvent

    engine.bus.subscribe(lambda ev: fills.append(ev.fill), FillEvent)
    await engine.start_up()
    await engine.run()
    ts, eq = engine.equity_curve()
    summary = engine.summary()
    await engine.stop()
    return {
        "fills": [(f.client_order_id, f.symbol, f.side.value, f.price, f.quantity, f.fee, f.ts_ms) for f in fills],
        "equity_ts": ts,
        "equity": eq,
        "final": round(summary["final_equity"], 2),
        "cash": summary["cash"],
        "periods": summary["periods"],
    }


async def test_same_seed_same_fills_and_equity(tmp_path: Path) -> None:
    a = await _run(_sim_cfg(7), tmp_path / "a.db", max_klines=200)
    b = await _run(_sim_cfg(7), tmp_path / "b.db", max_klines=200)
    assert len(a["fills"]) >= 20
    assert a["fills"] == b["fills"]
    assert a["final"] == b["final"] and a["cash"] == b["cash"]
    np.testing.assert_array_equal(a["equity_ts"], b["equity_ts"])
    np.testing.assert_array_equal(a["equity"], b["equity"])
    c = await _run(_sim_cfg(8), tmp_path / "c.db", max_klines=200)
    assert c["fills"] != a["fills"]  # the seed matters


async def test_same_real_klines_same_trades_and_equity(klines_dir: Path, tmp_path: Path) -> None:
    start, end = parse_time("2024-02-01"), parse_time("2024-04-01")
    data = load_klines(klines_dir, "1h", start_ms=start - 48 * 3_600_000, end_ms=end)
    assert len(data.symbols) == 10
    cfg = engine_config(
        feed={"kind": "replay", "interval": "1h", "speed": "max"},
        signal_generation={"z_score_threshold": 1.5, "moving_average_period": 48, "confidence_threshold": 0.3,
                           "signal_cooldown_ms": 3_600_000},
        data_processing={"rating_calculation_interval_ms": 3_600_000},
        rating={"volatility_window": 20},
        risk_management={"stop_loss_percent": 2.5, "profit_target_percent": 5.0, "max_liquidity_share": 0.01,
                         "max_volatility": 0.15, "max_data_staleness_periods": 3.0},
    )
    runs = [await _run(cfg, tmp_path / f"r{k}.db", kind="replay", data=data, warmup_klines=48) for k in range(2)]
    a, b = runs
    assert a["periods"] == b["periods"] == 48 + (end - start) // 3_600_000
    assert len(a["fills"]) >= 10
    assert a["fills"] == b["fills"]
    assert a["final"] == b["final"] and a["cash"] == b["cash"]
    np.testing.assert_array_equal(a["equity"], b["equity"])
    assert a["equity_ts"][0] == start + 3_600_000 and a["equity_ts"][-1] == end
