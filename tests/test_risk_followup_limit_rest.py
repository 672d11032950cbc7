"""A LIMIT sell's rest is valued at the lower of the slippage cap's worst fill and its limit
price: with a buffer wider than the cap the exchange may fill the sell at its limit, where a
rest judged at the cap's price alone is dust (written off right after the sell)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from engine_helpers import T0, engine_config, klines, make_engine

from tui_trader.config import Config
from tui_trader.events import ClosePosition, ManualBuy
from tui_trader.models import OrderType, SymbolFilters
from tui_trader.risk.checks import PreTradeChecks

WIDE = {"use_limit_orders": True, "limit_order_buffer_percent": 2.0, "max_slippage_percent": 0.5}
F = SymbolFilters("XUSDT", "X", "USDT", D("0.01"), D("0.001"), D("0.001"), D("1000000"), D("10"))


def test_a_limit_sell_leaving_a_rest_worth_less_than_the_minimum_at_its_limit_is_refused() -> None:
    checks = PreTradeChecks(Config.model_validate({"order_execution": WIDE}))
    # 1 held at 100: a sell of 0.899 leaves 0.101, worth 10.05 at the cap's 99.50 but 9.90 at
    # the limit price 98.00, where the sell may fill
    assert checks.worst_sell_price(D(100), F) == D("98.00")
    (why,) = checks.check_exit("XUSDT", D("0.899"), D(100), D(1), F)
    assert "would leave 0.101 XUSDT worth 9.90" in why, why
    assert checks.check_exit("XUSDT", D("0.897"), D(100), D(1), F) == []  # 0.103 at 98: 10.09
    # the same sell at market is judged at the cap (the limit does not apply to it)
    assert checks.check_exit("XUSDT", D("0.899"), D(100), D(1), F, order_type=OrderType.MARKET) == []
    # a buffer inside the cap: the cap's price is the lower one (unchanged)
    narrow = PreTradeChecks(
        Config.model_validate({"order_execution": {**WIDE, "limit_order_buffer_percent": 0.1}})
    )
    assert narrow.worst_sell_price(D(100), F) == D("99.50")


async def test_a_limit_close_cut_to_the_maximum_keeps_back_what_is_worth_the_minimum_at_its_limit() -> None:
    """A close above LOT_SIZE's maximum keeps back a rest worth the minimum notional at the price
    the check values it at: at the cap's price alone, the check refused the cut close."""
    h = make_engine(engine_config(order_execution=WIDE))
    f = h.feed.filters()["AAAUSDT"]
    await h.start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * 60_000, [100.0] * 4, open_=[100.0] * 4))
        assert (await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=D(900)))).ok
        assert e.portfolio.positions["AAAUSDT"].quantity == D(9)
        lower = replace(f, max_qty=D("8.99"))
        e.filters["AAAUSDT"] = lower
        e.broker.set_filters({"AAAUSDT": lower})
        res = await e.submit(ClosePosition(symbol="AAAUSDT"))
        assert res.ok, res.message
        # 5 / 98.00 = 0.0510..., up to the step: 0.052 kept (0.051 is worth 4.998 at the limit)
        assert e.portfolio.positions["AAAUSDT"].quantity == D("0.052")
    finally:
        await h.stop()
