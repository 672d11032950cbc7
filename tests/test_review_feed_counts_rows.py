"""The feed counters on the feed health row must not bury what the row is there to say: a stall
of the rating periods (the feed reads healthy but nothing moves forward) is the row's reason to
warn, and comes before the counts; and the counts stay on the row of a stopped engine."""

from __future__ import annotations

import pytest
from engine_helpers import make_engine

from tui_trader.ui.widgets.health import health_rows


def _feed_row(snap):
    return next(c for c in snap.health.checks if c.name == "feed")


async def test_a_stalled_feed_says_so_before_its_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    async with make_engine() as h:
        eng = h.engine
        health = h.feed.health
        monkeypatch.setattr(h.feed, "health", lambda: {**health(), "prices_dropped": 1234, "relevels": 2})
        # the last rating period ten periods ago: the feed is connected, but nothing moves forward
        eng._period_ts = eng.clock.now_ms() - 10 * eng.period_ms
        row = _feed_row(eng.snapshot())
        assert row.status == "unhealthy"
        # the reason first (what fits an 80-column pane), then what the feed let go or took as new;
        # before, the counts came between, and "dropped, but no rating period" read as one phrase
        assert row.message.startswith("sim connected, but no rating period for "), row.message
        assert row.message.endswith("; 1,234 price update(s) dropped, 2 new price level(s) taken"), (
            row.message
        )
        detail = {r.name: r for r in health_rows(eng.snapshot(), 5)}["feed"].detail
        assert detail == row.message


async def test_a_stopped_engine_keeps_the_counts_on_its_feed_row(monkeypatch: pytest.MonkeyPatch) -> None:
    async with make_engine() as h:
        health = h.feed.health
        monkeypatch.setattr(h.feed, "health", lambda: {**health(), "late_dropped": 3})
        assert _feed_row(h.engine.snapshot()).message == "sim connected; 3 late kline(s) dropped"
        await h.engine.stop()
        row = _feed_row(h.engine.snapshot())
        # the feed closed on purpose: healthy, "stopped"; what it dropped on the way is still told
        assert (row.status, row.message) == ("healthy", "sim stopped; 3 late kline(s) dropped")
