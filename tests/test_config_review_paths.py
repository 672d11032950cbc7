"""A path of blanks reads as "" (the default), as monitoring.log_file already did.

``storage.path = "   "`` made the engine keep its book in a file named three spaces in the
working folder, where nobody would look for it, instead of the platform data folder.
"""

from __future__ import annotations

from tui_trader.config import Config, check


def test_a_blank_storage_path_is_the_default_database() -> None:
    cfg = check({"storage": {"path": "  \t "}}).config
    assert cfg is not None and cfg.storage.path == ""
    assert cfg.db_path() == Config().db_path()
    assert cfg.db_path(live=True) == Config().db_path(live=True)


def test_a_blank_replay_path_is_no_path() -> None:
    cfg = check({"feed": {"replay": {"path": "   "}}}).config
    assert cfg is not None and cfg.feed.replay.path == ""


def test_a_real_path_is_kept_as_written() -> None:
    cfg = check({"storage": {"path": "books/a.db"}, "feed": {"replay": {"path": "data/klines"}}}).config
    assert cfg is not None and (cfg.storage.path, cfg.feed.replay.path) == ("books/a.db", "data/klines")


def test_a_quote_asset_is_read_as_the_exchange_names_it() -> None:
    # "usdt" in both places passed, and then every order of a run or backtest was refused:
    # "insufficient balance ... need 446.70 USDT, free 0" (the cash was kept as "usdt")
    cfg = check({"broker": {"quote_asset": " usdt"}, "feed": {"universe": {"quote_asset": "Usdt "}}}).config
    assert cfg is not None
    assert (cfg.broker.quote_asset, cfg.feed.universe.quote_asset) == ("USDT", "USDT")
    assert check({"broker": {"quote_asset": "usdt"}}).ok  # the same as the default universe's USDT


def test_a_quote_asset_must_be_letters_and_digits() -> None:
    for bad in ("US DT", "USD/T", "   "):
        for section in ({"broker": {"quote_asset": bad}}, {"feed": {"universe": {"quote_asset": bad}}}):
            res = check(section)
            path = "broker.quote_asset" if "broker" in section else "feed.universe.quote_asset"
            assert path in {i.path for i in res.errors}, (bad, [str(i) for i in res.errors])


def test_an_interval_is_read_without_its_blanks() -> None:
    # " 1h " was checked stripped but kept as written: a replay then looked for SYMBOL/ 1h /
    cfg = check({"feed": {"interval": " 1h "}}).config
    assert cfg is not None and cfg.feed.interval == "1h"
