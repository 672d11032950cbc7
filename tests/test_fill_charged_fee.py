"""``Fill.fee`` is quote-valued; ``Fill.charged_fee()`` gives the fee as the exchange charged it,
for the trades log and the symbol detail's fills table."""

from __future__ import annotations

from decimal import Decimal

from tui_trader.models import Fill, Side


def _fill(symbol: str, price: str, fee: Decimal, asset: str) -> Fill:
    return Fill("c1", symbol, Side.BUY, Decimal(price), Decimal("0.005"), fee, asset, 0)


def test_a_base_asset_commission_reads_in_the_base_asset() -> None:
    # the live broker books 0.000005 BTC charged on a buy at 61501.11 as 0.30750555 (USDT)
    f = _fill("BTCUSDT", "61501.11", Decimal("0.000005") * Decimal("61501.11"), "BTC")
    assert f.fee == Decimal("0.30750555")
    assert f.charged_fee() == (Decimal("0.000005"), "BTC")


def test_quote_and_third_asset_fees_read_as_booked() -> None:
    assert _fill("BTCUSDT", "61501.11", Decimal("0.30750555"), "USDT").charged_fee() == (Decimal("0.30750555"), "USDT")
    assert _fill("ETHUSDT", "3000", Decimal("0.0001"), "BNB").charged_fee() == (Decimal("0.0001"), "BNB")
    # BNB is the base of BNBUSDT (a BNB fee there is base-valued too), not of BNBETH's quote side
    assert _fill("BNBUSDT", "600", Decimal("0.06"), "BNB").charged_fee() == (Decimal("0.0001"), "BNB")
    assert _fill("ETHBNB", "5", Decimal("0.0001"), "BNB").charged_fee() == (Decimal("0.0001"), "BNB")
    assert _fill("BTCUSDT", "61501.11", Decimal(0), "").charged_fee() == (Decimal(0), "")
