"""``feed.symbols`` naming a symbol ``feed.universe.blacklist`` also names passed ``config
check``: only a replay or backtest refused it, and the live binance feed's ``select_universe``
dropped it without a word. It is a configuration error naming both fields now (exit 2), so no
feed is ever built from such a configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import Config, check

MESSAGE = "feed.symbols names BTCUSDT, which feed.universe.blacklist excludes: take it out of one of the two"


def test_config_check_refuses_a_blacklisted_symbol(tmp_path: Path, capsys) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[feed]\nsymbols = ["ETHUSDT", "BTCUSDT"]\n[feed.universe]\nblacklist = ["btcusdt"]\n')
    assert main(["config", "check", str(f)]) == 2
    out = capsys.readouterr().out
    assert "feed.symbols" in out and "feed.universe.blacklist" in out and "BTCUSDT" in out


def test_the_error_names_both_fields() -> None:
    res = check({"feed": {"symbols": ["ETHUSDT", "BTCUSDT"], "universe": {"blacklist": ["BTCUSDT"]}}})
    assert [(e.path, e.message) for e in res.errors] == [("feed", MESSAGE)]
    assert check({"feed": {"symbols": ["ETHUSDT"], "universe": {"blacklist": ["BTCUSDT"]}}}).ok


def test_no_binance_feed_is_configured_with_a_blacklisted_symbol() -> None:
    # select_universe dropped it silently on the live feed: such a configuration does not load
    with pytest.raises(ValueError, match="feed.universe.blacklist excludes"):
        Config.model_validate(
            {
                "feed": {
                    "kind": "binance",
                    "symbols": ["BTCUSDT", "ETHUSDT"],
                    "universe": {"blacklist": ["BTCUSDT"]},
                }
            }
        )


def test_run_on_the_binance_feed_refuses_it_before_starting(quiet: Path, capsys) -> None:
    f = quiet / "c.toml"
    f.write_text('[feed.universe]\nblacklist = ["BTCUSDT"]\n')
    argv = ["run", "--headless", "--config", str(f), "--feed", "binance", "--symbols", "BTCUSDT,ETHUSDT"]
    assert main([*argv, "--db", str(quiet / "r.db"), "--duration", "1s"]) == 2
    err = capsys.readouterr().err
    assert "feed.symbols" in err and "feed.universe.blacklist excludes" in err
