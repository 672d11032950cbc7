"""A close above MARKET_LOT_SIZE's maximum sells what one order can - but not so much that the
rest is dust below the minimum notional, which no later order could sell."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from engine_helpers import T0, engine_config, klines, make_engine

from tui_trader.events import ClosePosition, ManualBuy

D = Decimal


async def _holding(h, quote: Decimal, **market: Decimal) -> None:
    """Three klines at 100, a manual buy of ``quote`` of AAA, then (given) MARKET_LOT_SIZE's
    rules changed (its maximum lowered below the holding), in the engine's filters and the
    broker's alike."""
    e = h.engine
    for k in range(3):
        await h.step(klines(T0 + k * 60_000, [100.0] * 4, open_=[100.0] * 4))
    assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=quote))).ok
    if market:
        lower = replace(h.feed.filters()["AAAUSDT"], **market)
        e.filters["AAAUSDT"] = lower
        e.broker.set_filters({"AAAUSDT": lower})


@pytest.mark.parametrize("slippage_bps", [0.0, 2.0])
async def test_a_close_cut_to_the_market_maximum_leaves_a_rest_that_can_still_be_sold(slippage_bps) -> None:
    # 9 held at 100 (minimum notional 5), MARKET_LOT_SIZE's maximum lowered to 8.99: the close
    # sold 8.99 and would leave 0.01 (worth 1). The pre-trade check refused that as "dust that
    # could not be sold later - sell it all", which no order can: every close, and every exit of
    # the strategy (stop losses too), was refused while the maximum stayed below the holding.
    # The rest is judged at the worst fill the slippage cap allows (0.5 %: 99.50), so the sell's
    # own slippage does not make it dust (written off) at once.
    h = make_engine(engine_config(broker={"slippage_bps": slippage_bps}))
    await h.start()
    e = h.engine
    try:
        await _holding(h, D(900), market_max_qty=D("8.99"))
        assert e.portfolio.positions["AAAUSDT"].quantity == D(9)
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert res.ok, res.message
        # the rest is worth the minimum notional (0.051 at 99.50 = 5.07): a second close sells it
        rest = e.portfolio.positions["AAAUSDT"].quantity
        assert rest == D("0.051") and res.message.startswith("SELL AAAUSDT: 8.949 @ "), res.message
        assert (await e.submit(ClosePosition(symbol="AAAUSDT"))).ok
        assert "AAAUSDT" not in e.portfolio.positions
    finally:
        await h.stop()


async def test_a_partial_sell_whose_rest_the_fill_would_make_dust_is_refused_not_written_off() -> None:
    # 9 held at 100 (minimum notional 5), 2 bps of slippage: a sell of 8.95 leaves 0.05, worth
    # 5.00 at the last price - the pre-trade check let it go - but the sell fills at 99.98, where
    # the rest is worth 4.999: taken off the book as dust right after the sell, realised as a loss
    # the operator never asked for. The rest is now judged at the worst fill price, as the
    # write-off after the sell judges it.
    from tui_trader.events import ManualSell

    h = make_engine(engine_config(broker={"slippage_bps": 2.0}))
    await h.start()
    e = h.engine
    try:
        await _holding(h, D(900))
        res = await e.submit(ManualSell(symbol="AAAUSDT", quantity=D("8.95")))
        assert not res.ok and "would leave 0.05 AAAUSDT worth 4.98" in res.message, res.message
        assert e.portfolio.positions["AAAUSDT"].quantity == D(9)  # nothing sold, nothing written off
        # a sell leaving a rest worth the minimum at the worst fill goes out, and the rest stays
        assert (await e.submit(ManualSell(symbol="AAAUSDT", quantity=D("8.949")))).ok
        assert e.portfolio.positions["AAAUSDT"].quantity == D("0.051")
    finally:
        await h.stop()


async def test_a_holding_too_small_to_split_is_not_written_off_by_the_cut() -> None:
    # 0.09 held at 100 (worth 9), MARKET_LOT_SIZE's maximum 0.08: selling 0.08 leaves 0.01 of dust,
    # and keeping the minimum notional back (0.051) leaves only 0.039 to sell - below it too. No
    # split sells it all, so the close stays refused as before (the operator may override, or
    # wait for the maximum to rise); it must not write the whole position off as dust.
    h = make_engine()
    await h.start()
    e = h.engine
    try:
        await _holding(h, D(9), market_max_qty=D("0.08"))
        assert e.portfolio.positions["AAAUSDT"].quantity == D("0.09")
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert not res.ok and "would leave 0.01 AAAUSDT" in res.message, res.message
        assert e.portfolio.positions["AAAUSDT"].quantity == D("0.09")  # still held, not written off
    finally:
        await h.stop()


async def test_a_close_cut_to_the_market_maximum_keeps_the_minimum_quantity_back() -> None:
    # 9 held at 100, MARKET_LOT_SIZE's maximum 8.5 and minimum 1: the close sold 8.5, and the
    # rest of 0.5 - worth 50, well above the minimum notional, so the checks let it go - was below
    # the minimum quantity: written off as dust right after the sell, a loss of 50 nobody asked for.
    from tui_trader.engine import _dust_reason

    h = make_engine()
    await h.start()
    e = h.engine
    try:
        await _holding(h, D(900), market_max_qty=D("8.5"), market_min_qty=D(1))
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert res.ok and res.message.startswith("SELL AAAUSDT: 8 @ "), res.message
        assert e.portfolio.positions["AAAUSDT"].quantity == D(1)  # sellable: the next close sells it
        assert (await e.submit(ClosePosition(symbol="AAAUSDT"))).ok
        assert "AAAUSDT" not in e.portfolio.positions
        # and the pre-trade check refuses a partial sell that would leave such a rest
        f = e.filters["AAAUSDT"].for_market_orders()
        assert _dust_reason(D("0.5"), D(100), f) == "below the minimum quantity 1"
        assert e.checks.check_exit("AAAUSDT", D("8.5"), D(100), D(9), f) == [
            "would leave 0.5 AAAUSDT worth 49.75, below the minimum quantity 1: dust that could not be "
            "sold later - sell it all"
        ]
    finally:
        await h.stop()
