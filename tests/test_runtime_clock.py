"""build_engine: the clock follows the feed actually built, also when ``kind`` overrides feed.kind."""

from __future__ import annotations

from pathlib import Path

from tui_trader.clock import ManualClock, WallClock
from tui_trader.config import Config
from tui_trader.runtime import build_engine, make_clock


def test_make_clock_follows_the_feed_kind() -> None:
    sim, live = Config(), Config.model_validate({"feed": {"kind": "binance"}})
    assert isinstance(make_clock(sim), ManualClock)
    assert isinstance(make_clock(live), WallClock)
    assert isinstance(make_clock(live, "sim"), ManualClock)
    assert isinstance(make_clock(sim, "binance"), WallClock)


def test_a_sim_feed_asked_for_over_a_binance_configuration_runs_on_a_manual_clock(tmp_path: Path) -> None:
    # it ran on the wall clock: the sim's event times (2025-01-01) and the engine's now apart
    cfg = Config.model_validate({"feed": {"kind": "binance"}})
    engine = build_engine(cfg, db_path=str(tmp_path / "x.db"), kind="sim", max_klines=1)
    assert engine.feed.kind == "sim"
    assert isinstance(engine.clock, ManualClock)
