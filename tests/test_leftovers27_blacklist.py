"""``feed.universe.blacklist`` ("never traded") applies to replay runs, backtests and sweeps: a
blacklisted symbol's files are not loaded and it is not traded (one INFO line names it); a
blacklist that leaves no symbol, or ``feed.symbols`` / ``--symbols`` naming a blacklisted one,
is refused (exit 2) naming the fields. Before, a replay or a backtest traded it as any other."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tui_trader.backtest.runner import run_backtest
from tui_trader.cli import main
from tui_trader.config import Config
from tui_trader.market.replay import ReplayError, load_klines, parse_time

pytestmark = pytest.mark.shared_data

SYMS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
START = parse_time("2024-03-01")
END = parse_time("2024-03-08")


@pytest.fixture(scope="module")
def data3(klines_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three symbols' 1h klines (links to the shared data, for short runs)."""
    d = tmp_path_factory.mktemp("three")
    for s in SYMS:
        (d / s / "1h").mkdir(parents=True)
        for f in (klines_dir / s / "1h").iterdir():
            (d / s / "1h" / f.name).symlink_to(f)
    return d


def cfg(**feed) -> Config:
    return Config.model_validate(
        {
            "feed": feed,
            "signal_generation": {
                "z_score_threshold": 1.0,
                "moving_average_period": 50,
                "confidence_threshold": 0.0,
            },
        }
    )


def test_load_klines_leaves_the_blacklisted_files_out_and_says_so_once(data3: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="tui_trader")
    data = load_klines(data3, "1h", blacklist=["BTCUSDT"], file_cache=None)
    assert data.symbols == ["ETHUSDT", "SOLUSDT"]
    assert data.files and not any("BTCUSDT" in f for f in data.files)  # not even read
    said = [r for r in caplog.records if "blacklist" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO and "BTCUSDT" in said[0].getMessage()


def test_load_klines_refuses_a_symbol_list_naming_a_blacklisted_symbol(data3: Path) -> None:
    with pytest.raises(ReplayError) as ei:
        load_klines(data3, "1h", ["ETHUSDT", "btcusdt"], blacklist=["BTCUSDT"], file_cache=None)
    assert "feed.symbols (--symbols) names BTCUSDT" in str(ei.value)
    assert "feed.universe.blacklist" in str(ei.value)


def test_load_klines_refuses_a_blacklist_of_every_symbol(data3: Path) -> None:
    with pytest.raises(
        ReplayError, match=r"feed\.universe\.blacklist excludes every symbol .*nothing to trade"
    ):
        load_klines(data3, "1h", blacklist=SYMS, file_cache=None)


async def test_a_backtest_does_not_trade_a_blacklisted_symbol(data3: Path) -> None:
    res = await run_backtest(
        cfg(universe={"blacklist": ["BTCUSDT"]}), data3, "1h", None, START, END, store=False
    )
    assert res.symbols == ["ETHUSDT", "SOLUSDT"]
    assert res.fills and {f.symbol for f in res.fills} <= {"ETHUSDT", "SOLUSDT"}
    # the same as naming the other two, and the same with the data loaded beforehand blacklisted
    # symbol and all (a sweep's worker): the runner leaves it out then too
    named = await run_backtest(cfg(), data3, "1h", ["ETHUSDT", "SOLUSDT"], START, END, store=False)
    whole = load_klines(data3, "1h")
    pre = await run_backtest(
        cfg(universe={"blacklist": ["BTCUSDT"]}), data3, "1h", None, START, END, store=False, data=whole
    )
    for other in (named, pre):
        assert other.symbols == res.symbols
        assert [(f.symbol, f.side, f.price, f.quantity) for f in other.fills] == [
            (f.symbol, f.side, f.price, f.quantity) for f in res.fills
        ]
        assert other.metrics["total_return"] == res.metrics["total_return"]


async def test_a_backtest_refuses_symbols_naming_a_blacklisted_one(data3: Path) -> None:
    with pytest.raises(ReplayError, match="names BTCUSDT, which feed.universe.blacklist excludes"):
        await run_backtest(
            cfg(universe={"blacklist": ["BTCUSDT"]}), data3, "1h", ["BTCUSDT"], START, END, store=False
        )
    with pytest.raises(ReplayError, match="names BTCUSDT, which feed.universe.blacklist excludes"):
        await run_backtest(  # on data loaded beforehand (feed.symbols naming one is a config error)
            cfg(universe={"blacklist": ["BTCUSDT"]}),
            data3, "1h", ["ETHUSDT", "BTCUSDT"], START, END, store=False, data=load_klines(data3, "1h"),
        )  # fmt: skip


def _config(tmp_path: Path, blacklist: list[str], symbols: list[str] | None = None) -> Path:
    f = tmp_path / "c.toml"
    text = '[feed.replay]\nstart = "2024-03-01"\nend = "2024-03-08"\n'
    text += f"[feed.universe]\nblacklist = {json.dumps(blacklist)}\n"
    f.write_text(text)
    return f


def test_a_headless_replay_does_not_trade_a_blacklisted_symbol(data3: Path, quiet: Path, capsys) -> None:
    conf = _config(quiet, ["BTCUSDT"])
    args = ["run", "--headless", "--config", str(conf), "--db", str(quiet / "r.db"), "--feed", "replay",
            "--data", str(data3), "--interval", "1h", "--speed", "max", "--json"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["symbols"] == 2


@pytest.mark.parametrize(
    ("blacklist", "extra", "message"),
    [
        (SYMS, [], "error: feed.universe.blacklist excludes every symbol of the 1h klines in"),
        (["BTCUSDT"], ["--symbols", "BTCUSDT,ETHUSDT"], "\n  feed: feed.symbols names BTCUSDT, which "
         "feed.universe.blacklist excludes: take it out of one of the two"),
    ],
    ids=["all", "named"],
)  # fmt: skip
@pytest.mark.parametrize("command", ["console", "run", "backtest", "sweep"])
def test_the_commands_refuse_with_exit_2(
    data3: Path, quiet: Path, capsys, blacklist: list[str], extra: list[str], message: str, command: str
) -> None:
    conf = _config(quiet, blacklist)
    common = ["--config", str(conf), "--data", str(data3), "--interval", "1h", *extra]
    if command == "console":  # refused before it opens (``quiet`` fails the test if it does)
        args = ["--db", str(quiet / "c.db"), "--feed", "replay", *common]
    elif command == "run":
        args = [
            "run",
            "--headless",
            "--db",
            str(quiet / "r.db"),
            "--feed",
            "replay",
            "--speed",
            "max",
            *common,
        ]
    elif command == "backtest":
        args = ["backtest", "--db", str(quiet / "b.db"), *common]
    else:
        args = ["backtest", "sweep", "--param", "signal_generation.z_score_threshold=1.0,1.5", *common]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
