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
