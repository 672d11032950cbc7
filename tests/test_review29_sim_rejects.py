"""The simulated market's own bad-data rejects (a ``feed.max_price_jump`` set tight enough that its
real moves trip it).

The closed klines were validated when the market made them, up to 64 intervals ahead of the events
when a kline tap (the rating worker at ``--speed max``) ran the market ahead, and the price updates
only when they were yielded. So the price guard saw the two streams in another order with a tap
than without one, and took other new levels and rejected other rows: the engine got other data at
``--speed max`` than paced. The health counts (``rejected``, ``relevels``) also counted rejects of
klines not yet delivered, and after a stop of ones never delivered. A closed-kline batch rejected
whole made ``events()`` raise IndexError (its time was read from its first row).
"""

from __future__ import annotations

import numpy as np

from tui_trader.clock import ManualClock
from tui_trader.config import Config
from tui_trader.market.sim import SimFeed
from tui_trader.models import KlineBatch, PriceBatch

DAY = 86_400_000
WEEK = 7 * DAY


def _feed(max_jump: float, interval: str, n: int, klines: int) -> tuple[SimFeed, ManualClock]:
    cfg = Config()
    cfg.feed.max_price_jump = max_jump
    clock = ManualClock()
    feed = SimFeed(cfg, clock, n_symbols=n, seed=3, interval=interval, speed="max", max_klines=klines,
                   warmup_klines=5)
    return feed, clock


async def _run(lookahead: int, stop_after: int | None = None) -> tuple[list, list]:
    feed, _ = _feed(1.05, "1d", 10, 60)
    if lookahead:
        feed.tap_klines(lambda kb: None, lookahead=lookahead)
    events, counts = [], []
    async for ev in feed.events():
        h = feed.health()
        events.append((type(ev).__name__, ev.sym.tolist(),
                       (ev.close if isinstance(ev, KlineBatch) else ev.price).tolist()))
        counts.append((h["rejected"], dict(h["rejected_by_reason"]), h["relevels"]))
        if stop_after is not None and len(events) == stop_after:
            await feed.stop()
    return events, counts


async def test_a_kline_tap_changes_neither_the_rows_kept_nor_the_counts_as_they_are_delivered() -> None:
    plain_events, plain_counts = await _run(0)
    tapped_events, tapped_counts = await _run(5)
    assert plain_counts[-1][0] > 0 and plain_counts[-1][2] > 0  # the guard did reject and relevel here
    assert tapped_events == plain_events
    assert tapped_counts == plain_counts  # counted as each event is delivered, not when made


async def test_a_stopped_feed_counts_no_rejects_of_events_it_never_delivered() -> None:
    plain_events, plain_counts = await _run(0)
    cut = 40  # stop mid-run, with the tapped market several intervals ahead
    tapped_events, tapped_counts = await _run(5, stop_after=cut)
    assert tapped_events == plain_events[:cut]
    assert tapped_counts == plain_counts[:cut]


async def test_a_closed_kline_batch_rejected_whole_is_delivered_empty_at_its_close_time() -> None:
    feed, clock = _feed(1.000001, "1w", 2, 12)  # every close after the first is a "jump"
    await feed.start()
    start = feed.start_ms
    klines = []
    async for ev in feed.events():
        if isinstance(ev, KlineBatch):
            klines.append((len(ev), clock.now_ms()))
        else:
            assert isinstance(ev, PriceBatch)
    assert len(klines) == 12
    assert [t for _, t in klines] == [start + (k + 1) * WEEK for k in range(12)]
    assert klines[0][0] == 2 and any(n == 0 for n, _ in klines[1:])
    assert feed.health()["rejected_by_reason"]["price_jump"] > 0
    assert feed.open_times_left() == 0 and np.all(feed._last_open <= start + 11 * WEEK)
