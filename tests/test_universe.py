"""Universe selection: explicit list, top N by 24h quote volume, exclusions, determinism."""

from __future__ import annotations

import pytest

from tui_trader.market.universe import is_leveraged_token, select_universe


def t(sym: str, q: float | str, key: str = "q") -> dict:
    return {"s" if key == "q" else "symbol": sym, key: str(q) if isinstance(q, float) else q}


TICKERS = [
    t("BTCUSDT", 9e9),
    t("ETHUSDT", 5e9),
    t("ETHBTC", 9e12),  # wrong quote asset
    t("BTCUPUSDT", 8e9),  # leveraged
    t("ETHDOWNUSDT", 7e9),
    t("BULLUSDT", 6e9),
    t("XRPBEARUSDT", 6e9),
    t("SOLUSDT", 3e9),
    t("DOGEUSDT", 2e9),
    t("ADAUSDT", 2e9),  # tie with DOGE: by symbol
    t("USDT", 1e12),  # no base
    {"s": "BADUSDT", "q": "n/a"},
    {"s": "NOVOLUSDT"},
    {"s": None, "q": "1"},
    "junk",
]


def test_explicit_list_wins_in_its_order() -> None:
    out = select_universe(["ethusdt", " BTCUSDT", "ETHUSDT", "LUNAUSDT"], TICKERS, "USDT", 1, ["LUNAUSDT"])
    assert out == ["ETHUSDT", "BTCUSDT"]
    assert select_universe(["XUSDT"], None, "USDT", 5, []) == ["XUSDT"]


def test_top_n_by_quote_volume_with_exclusions_and_tie_break() -> None:
    assert select_universe([], TICKERS, "USDT", 10, []) == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT", "DOGEUSDT"]
    assert select_universe([], TICKERS, "USDT", 2, []) == ["BTCUSDT", "ETHUSDT"]
    assert select_universe([], TICKERS, "usdt", 3, ["ethusdt"]) == ["BTCUSDT", "SOLUSDT", "ADAUSDT"]
    assert select_universe([], TICKERS, "BTC", 3, []) == ["ETHBTC"]


def test_rest_ticker_keys_and_tradable_filter() -> None:
    rest = [t("AAAUSDT", 1.0, "quoteVolume"), t("BBBUSDT", 3.0, "quoteVolume"), t("CCCUSDT", 2.0, "quoteVolume")]
    assert select_universe([], rest, "USDT", 5, []) == ["BBBUSDT", "CCCUSDT", "AAAUSDT"]
    assert select_universe([], rest, "USDT", 5, [], tradable={"AAAUSDT", "CCCUSDT"}) == ["CCCUSDT", "AAAUSDT"]


def test_unreadable_volumes_are_ignored_not_raised() -> None:
    # NaN, inf, negative and an integer of 400 digits (too big for a float): ranked out
    bad = [t("AAAUSDT", "nan"), t("BBBUSDT", "inf"), t("CCCUSDT", -5), t("DDDUSDT", 10**400), t("EEEUSDT", True)]
    assert select_universe([], [*bad, t("FFFUSDT", 1.0)], "USDT", 5, []) == ["FFFUSDT"]


def test_deterministic_regardless_of_input_order() -> None:
    a = select_universe([], TICKERS, "USDT", 4, [])
    b = select_universe([], list(reversed(TICKERS)), "USDT", 4, [])
    assert a == b


def test_no_list_and_no_tickers_is_an_error() -> None:
    with pytest.raises(ValueError, match="24h tickers"):
        select_universe([], None, "USDT", 5, [])


@pytest.mark.parametrize(
    "sym,lev",
    [("BTCUPUSDT", True), ("BNBDOWNUSDT", True), ("BULLUSDT", True), ("EOSBEARUSDT", True),
     ("JUPUSDT", False), ("UPUSDT", False), ("BTCUSDT", False), ("SUPERUSDT", False),
     ("SYRUPUSDT", False), ("LINKDOWNUSDT", True), ("ETHBULLUSDT", True), ("BEARUSDT", True)],
)
def test_leveraged_token_detection(sym: str, lev: bool) -> None:
    assert is_leveraged_token(sym, "USDT") is lev
