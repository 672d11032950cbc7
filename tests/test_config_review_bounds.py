"""Configuration: sizes and amounts the engine cannot use are refused, naming the field.

Each of these passed ``config check`` and then failed at start-up: a numpy MemoryError
traceback (a z-score window, a volatility window or a sim candle of 10**12), a start-up that
never finished (10**12 warm-up periods), a decimal traceback on the first order (a starting
balance of 1e308), ratings that overflowed to NaN so that nothing ever traded (an initial
rating of 1e308), and a retention older than SQLite's integers, whose pruning failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.config import check

HUGE = 10**12

CASES = [
    ("signal_generation", "moving_average_period", HUGE, 10_000),
    ("rating", "volatility_window", HUGE, 10_000),
    ("feed.sim", "warmup_periods", HUGE, 10_000),
    ("feed.sim", "ticks_per_kline", HUGE, 1_000),
    ("broker", "starting_balance", 1e308, 1e15),
    ("rating", "initial_rating", 1e308, 1e6),
    ("rating", "initial_rating", -1e308, -1e6),
    ("data_processing", "kline_retention_days", 1e300, 36_500),
    ("data_processing", "rating_retention_days", 1e300, 36_500),
]


def _nest(section: str, key: str, value: object) -> dict:
    out: dict = {key: value}
    for part in reversed(section.split(".")):
        out = {part: out}
    return out


@pytest.mark.parametrize(("section", "key", "bad", "limit"), CASES)
def test_an_absurd_size_is_a_configuration_error(section: str, key: str, bad: object, limit: object) -> None:
    path = f"{section}.{key}"
    res = check(_nest(section, key, bad))
    assert not res.ok
    assert [i.path for i in res.errors] == [path]
    # the limit itself is allowed: the range is closed
    assert check(_nest(section, key, limit)).ok


@pytest.mark.parametrize(("section", "key", "bad", "limit"), CASES[:2])
def test_config_check_and_run_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str, bad: object, limit: object
) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"[{section}]\n{key} = {bad}\n")
    assert main(["config", "check", str(f)]) == 2
    assert f"{section}.{key}" in capsys.readouterr().out
    assert (
        main(["run", "--headless", "--config", str(f), "--db", str(tmp_path / "x.db"), "--duration", "1s"])
        == 2
    )
    assert f"{section}.{key}" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_a_sim_warm_up_of_millions_of_klines_is_warned_of() -> None:
    # a week's rating period of 1m klines: 300 x 10,080 x 40 = 121 M klines before the first trade
    week = {"data_processing": {"rating_calculation_interval_ms": 604_800_000}}
    res = check(week)
    assert res.ok
    [w] = [w for w in res.warnings if w.path == "feed.sim.warmup_periods"]
    assert "120,960,000 klines" in w.message and "10,080 klines per rating period" in w.message
    assert not any(w.path == "feed.sim.warmup_periods" for w in check({}).warnings)
    # the replay feed generates nothing
    replay = {**week, "feed": {"kind": "replay"}}
    assert not any(w.path == "feed.sim.warmup_periods" for w in check(replay).warnings)


@pytest.mark.parametrize("interval", ["2w", "8d", "1000000h", "99999999999999999999s"])
def test_an_interval_longer_than_a_week_is_refused_for_every_feed(
    interval: str, tmp_path: Path, capsys
) -> None:
    # the sim's moves grow with the interval: at 52w its prices overflowed to inf and most were
    # refused as bad data; at 10^20 s `run` failed with an OverflowError traceback (exit 1)
    for kind in ("sim", "replay"):
        res = check({"feed": {"kind": kind, "interval": interval}})
        assert [e.path for e in res.errors] == ["feed.interval"], (kind, interval)
        assert "longer than 1w" in res.errors[0].message
    assert (
        main(["run", "--headless", "--feed", "sim", "--interval", interval, "--db", str(tmp_path / "x.db")])
        == 2
    )
    assert "--interval (feed.interval): longer than 1w" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_a_week_and_odd_intervals_below_it_stay_valid() -> None:
    for interval in ("1w", "7d", "168h", "7m", "1s"):
        assert check({"feed": {"interval": interval}}).ok, interval


def test_a_start_value_above_its_rating_cap_is_warned_of() -> None:
    # initial_rd = 500 under max_rd = 350 held for the first period only, then was cut to 350
    for start, cap, value in (("initial_rd", "max_rd", 500.0), ("initial_volatility", "max_volatility", 0.5)):
        res = check({"rating": {start: value}})
        assert res.ok
        [w] = [w for w in res.warnings if w.path == f"rating.{start}"]
        assert f"above rating.{cap}" in w.message and "first rating period only" in w.message
        assert not [
            w for w in check({"rating": {start: value, cap: value}}).warnings if w.path == f"rating.{start}"
        ]


def test_a_sim_warm_up_shorter_than_the_z_score_window_is_warned_of() -> None:
    res = check({"feed": {"sim": {"warmup_periods": 10}}})
    assert res.ok
    [w] = [w for w in res.warnings if w.path == "feed.sim.warmup_periods"]
    assert "below signal_generation.moving_average_period = 200" in w.message
    # a window as long as the warm-up, or a feed that makes no history, is not warned of
    ok = {"feed": {"sim": {"warmup_periods": 60}}, "signal_generation": {"moving_average_period": 60}}
    assert not [w for w in check(ok).warnings if w.path == "feed.sim.warmup_periods"]
    replay = {"feed": {"kind": "replay", "sim": {"warmup_periods": 10}}}
    assert not [w for w in check(replay).warnings if w.path == "feed.sim.warmup_periods"]


def test_a_paper_balance_whose_largest_position_is_below_the_smallest_order_is_warned_of() -> None:
    # 50 USDT at 5 %: 2.50 USDT positions under the 5 USDT minimum notional; every entry was refused
    # ("size rounds to zero") while `run` printed hundreds of signals and 0 orders, config check 0 warnings
    def warned(data: dict) -> list[str]:
        return [w.message for w in check(data).warnings if w.path == "broker.starting_balance"]

    [msg] = warned({"broker": {"starting_balance": 50}})
    assert "= 2.5 USDT a position, at most 2.48 USDT bought" in msg
    assert "below the smallest order (5 USDT notional)" in msg
    assert warned({"broker": {"starting_balance": 50}, "feed": {"kind": "replay"}})
    assert warned({"broker": {"starting_balance": 50}, "feed": {"kind": "binance"}})
    assert not warned({"broker": {"starting_balance": 110}})  # 5.50 USDT, 5.47 after slippage and fee
    assert not warned({"broker": {"starting_balance": 50}, "risk_management": {"max_position_percent": 20}})
    assert not warned({})


def test_a_symbol_list_counts_as_the_sims_symbols() -> None:
    from tui_trader.market.sim import generate_symbol_names

    # 4,000 names x 1,500 warm-up klines = 6 M klines: warned of as n_symbols = 4000 is (it was not)
    [w] = [
        w
        for w in check({"feed": {"symbols": generate_symbol_names(4000, 1)}}).warnings
        if "klines" in w.message
    ]
    assert (
        w.path == "feed.sim.warmup_periods"
        and "6,000,000 klines" in w.message
        and "4,000 symbols" in w.message
    )
    # beyond the sim's bound of 5,000 symbols (n_symbols), a list is refused as n_symbols is
    res = check({"feed": {"symbols": generate_symbol_names(5001, 1)}})
    assert [(e.path, e.message) for e in res.errors] == [("feed.symbols", "5,001 symbols: at most 5,000")]
    assert check({"feed": {"symbols": generate_symbol_names(5000, 1)}}).ok
