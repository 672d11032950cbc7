"""The feed's counters of what it let go (price updates dropped for a slow consumer, late klines)
and of the price levels it took as new reach the operator: the health pane's feed row and the
headless run's summary. Before, they were only in ``feed.health()`` and a rate-limited log line."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import make_engine
from rich.console import Console

from tui_trader.config import Config
from tui_trader.headless import print_summary, run_headless
from tui_trader.monitor.health import feed_checks

COUNTS = {"prices_dropped": 1234, "late_dropped": 3, "relevels": 2}


def test_the_feed_row_ends_with_its_non_zero_counters_only() -> None:
    row = feed_checks({"connected": True, "streams": {}, **COUNTS}, "binance")[0]
    assert (row.name, row.status, row.critical) == ("feed", "healthy", True)
    assert row.message == (
        "binance connected; 1,234 price update(s) dropped, 3 late kline(s) dropped, 2 new price level(s) taken"
    )
    only_late = feed_checks({"connected": True, "prices_dropped": 0, "late_dropped": 5}, "binance")[0]
    assert only_late.message == "binance connected; 5 late kline(s) dropped"
    # all zero, or a feed that has no such counter: the row as before
    assert (
        feed_checks({"connected": True, "prices_dropped": 0, "relevels": 0}, "sim")[0].message
        == "sim connected"
    )
    assert feed_checks({"connected": True}, "sim")[0].message == "sim connected"
    # a failing feed keeps its own state and reason, with the counts after it
    down = feed_checks({"connected": False, "error": "boom", "late_dropped": 1}, "binance")[0]
    assert (down.status, down.message) == ("unhealthy", "disconnected: boom; 1 late kline(s) dropped")


async def test_the_console_health_rows_show_the_feed_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trader.ui.widgets.health import health_rows

    async with make_engine() as h:
        plain = {r.name: r for r in health_rows(h.engine.snapshot(), 5)}
        assert plain["feed"].detail == "sim connected"
        health = h.feed.health
        monkeypatch.setattr(h.feed, "health", lambda: {**health(), "prices_dropped": 7, "relevels": 1})
        rows = {r.name: r for r in health_rows(h.engine.snapshot(), 5)}
        assert rows["feed"].detail == "sim connected; 7 price update(s) dropped, 1 new price level(s) taken"
        assert rows["feed"].status == "healthy"


async def test_the_headless_summary_reports_the_feed_counters(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from tui_trader.market.sim import SimFeed

    health = SimFeed.health

    def counting(self: SimFeed) -> dict[str, Any]:
        return {**health(self), **COUNTS, "late_dropped": 0}

    monkeypatch.setattr(SimFeed, "health", counting)
    cfg = Config.model_validate(
        {
            "feed": {"kind": "sim", "speed": "max", "sim": {"n_symbols": 5}},
            "storage": {"path": str(tmp_path / "book.db")},
        }
    )
    summary = await run_headless(cfg, 0.3, Console(stderr=True, quiet=True))
    assert summary["feed_counts"] == {"prices_dropped": 1234, "relevels": 2}
    out = Console(record=True, width=160)
    print_summary(summary, out)
    text = out.export_text()
    assert "feed: price update(s) dropped" in text and "1,234" in text
    assert "feed: new price level(s) taken" in text
    assert "late kline" not in text  # zero: not listed


def test_a_summary_without_feed_counters_lists_none() -> None:
    s = {
        "feed": "sim",
        "wall_time_s": 1.0,
        "symbols": 2,
        "klines_per_symbol": 1.0,
        "events_per_s": 1.0,
        "feed_counts": {},
        "stopped_by": "data ended",
    }
    out = Console(record=True, width=160)
    print_summary(s, out)
    assert "feed:" not in out.export_text()


async def test_the_sim_and_binance_feeds_report_their_new_price_levels() -> None:
    # the guard counted them, but no feed's health() carried the count, so no row could show it
    from tui_trader.clock import ManualClock
    from tui_trader.market.binance import BinanceFeed
    from tui_trader.market.sim import SimFeed

    sim = SimFeed(Config(), ManualClock(), n_symbols=4, seed=3, speed="max", warmup_klines=10)
    assert sim.health()["relevels"] == 0  # before start: no guard yet
    await sim.start()
    try:
        sim._guard.relevels = 2
        assert sim.health()["relevels"] == 2
    finally:
        await sim.stop()
    live = BinanceFeed(Config(), ManualClock())
    live._guard.relevels = 3
    assert live.health()["relevels"] == 3
    assert feed_checks(live.health(), "binance")[0].message.endswith("3 new price level(s) taken")
