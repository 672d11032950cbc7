"""The health pane's rejected-orders row: amber for an exchange's rejection, not for the engine's
own routine risk refusals (a position limit reached), which kept it amber for a whole run."""

from __future__ import annotations

from decimal import Decimal

from engine_helpers import MIN, T0, klines, make_engine

from tui_trader.events import ManualBuy
from tui_trader.ui.widgets.health import health_rows


async def test_a_risk_refusal_is_counted_apart_and_leaves_the_row_green() -> None:
    h = await make_engine().start()
    e = h.engine
    try:
        for k in range(3):
            await h.step(klines(T0 + k * MIN, [100.0] * 4, open_=[100.0] * 4))
        # 10 % of equity is the per-position limit: 2 000 USDT is refused by the risk checks
        res = await e.submit(ManualBuy(symbol="AAAUSDT", quote_amount=Decimal(2000)))
        assert not res.ok and "above 10% of equity" in res.message
        snap = e.snapshot()
        assert snap.counters["rejected_orders"] == 1 and snap.counters["risk_refusals"] == 1
        rows = {r.name: r for r in health_rows(snap, 10)}
        assert rows["rejected orders"].status == "healthy"
        assert rows["rejected orders"].detail == "1 (1 by risk checks)"
        assert "risk refusals" not in rows  # no row of its own: its name says no error
    finally:
        await h.stop()


def test_an_exchange_rejection_beside_risk_refusals_is_amber() -> None:
    from test_ui_units import _snapshot  # the health tests' snapshot builder

    rows = {r.name: r for r in health_rows(_snapshot([], {}, {"rejected_orders": 3, "risk_refusals": 2}), 10)}
    assert (
        rows["rejected orders"].status == "warning"
        and rows["rejected orders"].detail == "3 (2 by risk checks)"
    )
    # another host's snapshot, without the split: every rejection counts, as before
    rows = {r.name: r for r in health_rows(_snapshot([], {}, {"rejected_orders": 3}), 10)}
    assert rows["rejected orders"].status == "warning" and rows["rejected orders"].detail == "3"
