"""An engine whose feed streams prices but never closes a kline makes no rating period at all:
the stall check took "no period yet" as nothing to judge, so such an engine read healthy forever
(no signal, no rating, every row green). It is judged from the feed's first event instead."""

from __future__ import annotations

from engine_helpers import T0, klines, make_engine, prices

MIN = 60_000


def _feed_row(h) -> tuple[str, str]:
    row = {c.name: c for c in h.engine.snapshot().health.checks}["feed"]
    return row.status, row.message


async def test_an_engine_whose_klines_never_close_is_flagged_from_its_first_event() -> None:
    h = await make_engine().start()
    try:
        period = h.engine.period_ms
        assert h.engine._period_ts == 0
        await h.step(prices(T0, [100.0, 100.0, 100.0, 100.0]))
        assert _feed_row(h) == ("healthy", "sim connected")
        for k in range(1, 4 * period // MIN + 1):  # prices every minute, no kline closes
            await h.step(prices(T0 + k * MIN, [100.0, 100.0, 100.0, 100.0]))
        assert h.engine._period_ts == 0
        status, message = _feed_row(h)
        assert status == "warning" and "no rating period for" in message, message
        h.clock.advance_to(T0 + 7 * period)
        assert _feed_row(h)[0] == "unhealthy"
    finally:
        await h.stop()


async def test_an_engine_with_no_event_yet_is_not_flagged_for_its_periods() -> None:
    h = await make_engine().start()
    try:
        h.clock.advance_to(T0 + 10 * h.engine.period_ms)
        assert _feed_row(h) == ("healthy", "sim connected")
        await h.step(klines(T0 + 10 * h.engine.period_ms, [100.0] * 4))
        assert _feed_row(h)[0] == "healthy"
    finally:
        await h.stop()
