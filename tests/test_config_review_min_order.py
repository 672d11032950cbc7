"""The paper-balance warning of ``config check`` (a largest position below the smallest order)
compared the cap itself with the 5 USDT minimum notional: at ``starting_balance = 100`` (5 % = 5.00
USDT) it said nothing, yet the sizing keeps the slippage it may pay and the fee out of the cap
(at most 4.97 USDT bought): `run` made hundreds of signals and 0 orders, as at 50."""

from __future__ import annotations

from tui_trader.config import check


def _warned(data: dict) -> list[str]:
    return [w.message for w in check(data).warnings if w.path == "broker.starting_balance"]


def test_a_cap_at_the_smallest_order_is_warned_of_once_slippage_and_fee_are_kept_out() -> None:
    [msg] = _warned({"broker": {"starting_balance": 100}})
    assert "= 5 USDT a position, at most 4.97 USDT bought with the slippage and the fee kept out" in msg
    assert "below the smallest order (5 USDT notional)" in msg
    # a balance whose cap buys 5 USDT after them is not: 110 x 5 % = 5.50, 5.47 bought
    assert not _warned({"broker": {"starting_balance": 110}})
    assert not _warned({})


def test_limit_entries_keep_their_buffer_out_not_the_slippage() -> None:
    # a LIMIT entry pays at most its limit price (0.1 % over): 5.02 / 1.001 / 1.001 = 5.01 is bought
    limit = {"broker": {"starting_balance": 100.4}, "order_execution": {"use_limit_orders": True}}
    assert not _warned(limit)
    assert _warned({"broker": {"starting_balance": 100.4}})  # a MARKET entry: 5.02 / 1.005 / 1.001 = 4.99
