"""Configuration: defaults, the shipped file, validation naming every bad field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tui_trader.config import (
    Config,
    ConfigError,
    check,
    load_config,
    redacted_dump,
    to_toml,
)

REPO = Path(__file__).resolve().parent.parent


def test_shipped_default_equals_model_defaults() -> None:
    data = tomllib.loads((REPO / "config" / "default.toml").read_text())
    assert Config.model_validate(data) == Config()


def test_seed_defaults() -> None:
    c = Config()
    assert c.signal_generation.z_score_threshold == 2.5
    assert c.signal_generation.moving_average_period == 200
    assert c.signal_generation.confidence_threshold == 0.7
    assert c.signal_generation.signal_cooldown_ms == 300_000
    rm = c.risk_management
    assert (rm.max_position_percent, rm.max_total_positions, rm.stop_loss_percent) == (5, 10, 2.5)
    assert (rm.profit_target_percent, rm.max_daily_loss_percent, rm.max_drawdown_percent) == (5.0, 10, 15)
    oe = c.order_execution
    assert (oe.limit_order_buffer_percent, oe.max_slippage_percent, oe.order_timeout_ms, oe.retry_attempts) == (
        0.1, 0.5, 30_000, 3)
    dp = c.data_processing
    assert (dp.price_update_interval_ms, dp.rating_calculation_interval_ms, dp.max_batch_size) == (1000, 300_000, 100)
    assert c.monitoring.health_check_interval_ms == 30_000
    assert c.feed.kind == "sim" and c.broker.kind == "paper"


def paths(res) -> set[str]:
    return {i.path for i in res.errors}


def test_every_bad_field_is_named_at_once() -> None:
    res = check(
        {
            "risk_management": {"max_position_percent": 25, "max_total_positions": 0, "stop_los_percent": 1},
            "feed": {"interval": "7x", "speed": -1},
            "broker": {"fee_rate": "cheap"},
        }
    )
    assert not res.ok
    assert paths(res) == {
        "risk_management.max_position_percent",
        "risk_management.max_total_positions",
        "risk_management.stop_los_percent",
        "feed.interval",
        "feed.speed",
        "broker.fee_rate",
    }
    msgs = {i.path: i.message for i in res.errors}
    assert "20" in msgs["risk_management.max_position_percent"]
    assert "unknown key" in msgs["risk_management.stop_los_percent"]


def test_speed_is_one_rule_a_positive_number_or_max() -> None:
    """A bad speed is one error on feed.speed, not two named after pydantic's union branches
    (feed.speed.float, feed.speed.literal['max']); 'MAX' is 'max', as on the command line."""
    for bad in ("fast", -1, 0, "nan", True, "inf"):
        res = check({"feed": {"speed": bad}})
        assert [(i.path, i.message) for i in res.errors] == [
            ("feed.speed", f"must be a positive number or 'max' (got {bad!r})")], bad
    assert check({"feed": {"speed": "MAX"}}).config.feed.speed == "max"
    assert check({"feed": {"speed": "120"}}).config.feed.speed == 120.0


def test_true_or_false_is_no_number() -> None:
    # pydantic read `max_total_positions = true` as 1 and `z_score_threshold = false` as 0.0
    res = check({"risk_management": {"max_total_positions": True, "stop_loss_percent": False},
                 "signal_generation": {"z_score_threshold": True}, "feed": {"sim": {"seed": False}}})
    assert {(i.path, i.message) for i in res.errors} == {
        ("risk_management.max_total_positions", "expected a number (got true)"),
        ("risk_management.stop_loss_percent", "expected a number (got false)"),
        ("signal_generation.z_score_threshold", "expected a number (got true)"),
        ("feed.sim.seed", "expected a number (got false)"),
    }
    # a boolean setting still takes one, and a number still takes a number
    ok = check({"order_execution": {"use_limit_orders": True}, "risk_management": {"max_total_positions": 3}})
    assert ok.ok and ok.config.order_execution.use_limit_orders is True


def test_a_blacklist_entry_must_be_a_symbol() -> None:
    # "BTC/USDT" matched no symbol: the one meant was traded, and nothing said so
    for bad in ("BTC/USDT", "btc usdt", ""):
        res = check({"feed": {"universe": {"blacklist": ["ETHUSDT", bad]}}})
        assert [(i.path, i.message) for i in res.errors] == [
            ("feed.universe.blacklist", f"bad symbol {bad.upper()!r} (letters and digits, e.g. BTCUSDT)")], bad
    ok = check({"feed": {"universe": {"blacklist": [" btcusdt", "ETHUSDT"]}}})
    assert ok.ok and ok.config.feed.universe.blacklist == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.parametrize("bad", ["ÉTHUSDT", "\uff22\uff34\uff23USDT", "BTC\u0661USDT"])
def test_symbols_and_assets_are_ascii_letters_and_digits(bad: str) -> None:
    # str.isalnum() took an accented, a full-width and an Arabic-Indic digit symbol: `config check`
    # said OK and the run went on without them (no exchange lists such a symbol)
    for where, setting in ((("feed", "symbols"), [bad]), (("feed", "universe", "blacklist"), [bad]),
                           (("broker", "quote_asset"), bad)):  # fmt: skip
        raw: dict = {}
        node = raw
        for key in where[:-1]:
            node = node.setdefault(key, {})
        node[where[-1]] = setting
        res = check(raw)
        assert [i.path for i in res.errors] == [".".join(where)], (where, res.errors)
        assert res.errors[0].message.startswith(("bad symbol", "bad asset")), res.errors[0].message
    from tui_trader.market.download import DownloadArgError, _check_args

    with pytest.raises(DownloadArgError, match="bad symbol"):
        _check_args(["BTCUSDT", bad], "1h", 0, None)


def test_exchange_urls_are_checked_with_the_configuration() -> None:
    # "not a url" failed only when the feed started: exit 1, "cannot start the Binance feed (not a url/api)"
    cases = {("rest_url", "not a url"): "expected http:// or https://host[:port]",
             ("rest_url", "ws://127.0.0.1:9"): "expected http:// or https://host[:port]",
             ("rest_url", "http://127.0.0.1:port"): "not a URL",
             ("stream_url", "ftp://x"): "expected ws:// or wss://host[:port]",
             ("stream_url", "wss://"): "expected ws:// or wss://host[:port]",
             # a token in the query was printed by config show, as a password in the URL would be
             ("rest_url", "http://proxy.example/?token=SECRET"): "no query (?...) or fragment",
             ("stream_url", "wss://x/ws#k"): "no query (?...) or fragment"}
    for (key, value), says in cases.items():
        res = check({"binance": {key: value}})
        assert [i.path for i in res.errors] == [f"binance.{key}"] and says in res.errors[0].message, (key, value)
    ok = check({"binance": {"rest_url": "http://127.0.0.1:8080", "stream_url": "wss://stream.binance.com:9443/ws"}})
    assert ok.ok and check({"binance": {"rest_url": "https://testnet.binance.vision/api", "stream_url": ""}}).ok


def test_a_binance_feed_takes_only_binance_intervals() -> None:
    # 7m is a fine simulated interval, but Binance would refuse the stream and the REST calls
    assert check({"feed": {"interval": "7m"}}).ok
    assert check({"feed": {"kind": "replay", "interval": "7m"}}).ok
    res = check({"feed": {"kind": "binance", "interval": "7m"}})
    assert paths(res) == {"feed.interval"}
    assert "not a Binance kline interval" in res.errors[0].message
    for ok in ("1s", "1m", "3m", "15m", "1h", "12h", "1d", "1w"):
        assert check({"feed": {"kind": "binance", "interval": ok}}).ok, ok


def test_replay_times_are_checked_with_the_configuration() -> None:
    # a bad time was accepted here and became a traceback when the replay feed started
    res = check({"feed": {"replay": {"start": "2024-13-01", "end": "soon"}}})
    assert paths(res) == {"feed.replay.start", "feed.replay.end"}
    assert all("expected e.g. 2024-01-01" in e.message for e in res.errors)
    res = check({"feed": {"replay": {"start": "2024-06-01", "end": "2024-03-01"}}})
    assert paths(res) == {"feed.replay"} and "not after start" in res.errors[0].message
    for start, end in (("2024-01-01", "2025-01-01"), ("2024-01-01T12:00Z", ""), ("", "1735689600000")):
        assert check({"feed": {"replay": {"start": start, "end": end}}}).ok, (start, end)


def test_the_cash_must_be_in_the_quote_asset_of_the_symbols() -> None:
    res = check({"broker": {"quote_asset": "EUR"}})  # EUR cash, USDT pairs: ran and booked nonsense
    assert paths(res) == {"broker.quote_asset"} and "feed.universe.quote_asset 'USDT'" in res.errors[0].message
    res = check({"feed": {"symbols": ["BTCUSDT", "ETHBTC", "USDT"]}})
    assert paths(res) == {"feed.symbols"} and "ETHBTC, USDT not quoted" in res.errors[0].message
    both_eur = {"broker": {"quote_asset": "EUR"}, "feed": {"symbols": ["BTCEUR"], "universe": {"quote_asset": "EUR"}}}
    assert check(both_eur).ok


def test_unknown_section_is_an_error() -> None:
    res = check({"signal_generaton": {"z_score_threshold": 2}})
    assert paths(res) == {"signal_generaton"}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"signal_generation": {"z_score_threshold": 6}}, "signal_generation.z_score_threshold"),
        ({"signal_generation": {"z_score_threshold": 0.5}}, "signal_generation.z_score_threshold"),
        ({"signal_generation": {"moving_average_period": 20}}, "signal_generation.moving_average_period"),
        ({"risk_management": {"stop_loss_percent": 6}}, "risk_management.stop_loss_percent"),
        ({"order_execution": {"max_slippage_percent": 6}}, "order_execution.max_slippage_percent"),
        ({"data_processing": {"price_update_interval_ms": 50}}, "data_processing.price_update_interval_ms"),
    ],
)
def test_seed_warnings(data: dict, path: str) -> None:
    res = check(data)
    assert res.ok
    assert path in {w.path for w in res.warnings}


def test_default_has_no_warnings() -> None:
    res = check({})
    assert res.ok and res.warnings == []


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"broker": {"starting_balance": 0}}, "broker.starting_balance"),
        ({"broker": {"starting_balance": -5}}, "broker.starting_balance"),
        ({"risk_management": {"stop_loss_percent": 150}}, "risk_management.stop_loss_percent"),
        ({"signal_generation": {"confidence_threshold": 1.5}}, "signal_generation.confidence_threshold"),
        ({"order_execution": {"order_timeout_ms": 0}}, "order_execution.order_timeout_ms"),
        ({"feed": {"symbols": ["BTCUSDT", "BTCUSDT"]}}, "feed.symbols"),
        ({"feed": {"sim": {"seed": -1}}}, "feed.sim.seed"),  # was a numpy traceback at start-up
        ({"rating": {"initial_rating": float("nan")}}, "rating.initial_rating"),  # these two were
        ({"broker": {"starting_balance": float("inf")}}, "broker.starting_balance"),  # tracebacks too
        # 2 klines give one return, whose sample deviation is always unknown: the volatility
        # term dropped out of every score without a word
        ({"rating": {"volatility_window": 2}}, "rating.volatility_window"),
        # 100 %: every paper sell filled at 0 and was refused, the position never closed
        ({"order_execution": {"max_slippage_percent": 100}}, "order_execution.max_slippage_percent"),
    ],
)
def test_careful_operator_errors(data: dict, path: str) -> None:
    assert path in paths(check(data))


def test_live_broker_without_keys_is_an_error() -> None:
    res = check({"broker": {"kind": "binance"}}, env={})
    assert "broker.kind" in paths(res)
    assert any("BINANCE_API_KEY" in i.message for i in res.errors)
    ok = check({"broker": {"kind": "binance"}}, env={"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"})
    assert ok.ok


@pytest.mark.parametrize("bad", ["k3y\n", " k3y", "k3y s", "k\u00e9y", "k3y\t"])
def test_a_key_with_whitespace_is_named_without_echoing_it(bad: str) -> None:
    # it failed at start-up as "server time: unexpected ValueError" from the signing code
    for var, other in (("BINANCE_API_KEY", "BINANCE_API_SECRET"), ("BINANCE_API_SECRET", "BINANCE_API_KEY")):
        res = check({"broker": {"kind": "binance"}}, env={var: bad, other: "fine0123"})
        assert not res.ok
        msgs = [i.message for i in res.errors]
        assert len(msgs) == 1 and var in msgs[0] and "whitespace" in msgs[0]
        assert bad.strip() not in msgs[0]


def test_load_config_file_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[feed]\nkind = "replay"\ninterval = "1h"\n[risk_management]\nmax_total_positions = 3\n')
    cfg, warnings = load_config(f, overrides={"feed": {"speed": "max"}})
    assert cfg.feed.kind == "replay" and cfg.feed.interval == "1h" and cfg.feed.speed == "max"
    assert cfg.risk_management.max_total_positions == 3
    assert cfg.risk_management.max_position_percent == 5.0  # untouched default
    assert warnings == []


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "not found"), ("x = [", "not valid TOML"), (b"\xff\xfe", "not UTF-8")],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, content, needle: str) -> None:
    f = tmp_path / "c.toml"
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content)
    with pytest.raises(ConfigError) as exc:
        load_config(f)
    assert needle in str(exc.value)


def test_redaction_and_toml_round_trip() -> None:
    d = redacted_dump(Config())
    text = to_toml(d)
    assert Config.model_validate(tomllib.loads(text)) == Config()
    # anything named like a secret is masked when set
    from tui_trader.config import SECRET_MARKERS

    assert "secret" in SECRET_MARKERS and "key" in SECRET_MARKERS


def test_a_value_where_a_table_belongs_is_named_in_toml_terms() -> None:
    # it said "Input should be a valid dictionary or instance of RiskManagement", a class of the code
    res = check({"risk_management": 5, "feed": {"sim": "x"}})
    assert {(i.path, i.message) for i in res.errors} == {
        ("risk_management", "expected a table of settings, [risk_management] (got 5)"),
        ("feed.sim", "expected a table of settings, [feed.sim] (got 'x')"),
    }


def test_the_rating_period_is_at_most_a_week() -> None:
    # 9223372036854775807 passed and the engine died in numpy (OverflowError, a traceback); 1000 days
    # of 1m klines made a warm-up that ran for ten minutes before Ctrl-C
    for bad in (604_800_001, 86_400_000_000, 2**63 - 1):
        res = check({"data_processing": {"rating_calculation_interval_ms": bad}})
        assert [i.path for i in res.errors] == ["data_processing.rating_calculation_interval_ms"], bad
        assert "less than or equal to 604800000" in res.errors[0].message
    assert check({"feed": {"interval": "1w"}, "data_processing": {"rating_calculation_interval_ms": 604_800_000}}).ok


def test_toml_round_trip_of_any_text() -> None:
    # `config show` wrote 😀 as \ud83d\ude00, which TOML refuses: its output was no configuration file
    for text in ("/tmp/café-😀.db", 'a "quoted" \\ path', "tab\there", "del\x7fchar", "nl\nand\x01"):
        cfg = Config.model_validate({"storage": {"path": text}, "monitoring": {"log_file": text}})
        back = Config.model_validate(tomllib.loads(to_toml(redacted_dump(cfg))))
        assert back.storage.path == back.monitoring.log_file == text, text


def test_db_path_default_and_explicit(tmp_path: Path) -> None:
    assert Config().db_path().name == "tui-trader.db"
    live = Config.model_validate({"broker": {"kind": "binance"}})
    # live keeps its book apart from paper's, in the same folder
    assert live.db_path().name == "tui-trader-live.db" and live.db_path().parent == Config().db_path().parent
    c = Config.model_validate({"storage": {"path": str(tmp_path / "x.db")}, "broker": {"kind": "binance"}})
    assert c.db_path() == tmp_path / "x.db"


def test_an_invalid_value_names_the_files_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the user's own file in the platform config folder is applied without --config: an error
    # from it must say so, or the operator looks for the bad value in the wrong place
    import tui_trader.config as config_module

    user = tmp_path / "user" / "config.toml"
    user.parent.mkdir()
    user.write_text("[risk_management]\nstop_loss_percent = -3\n")
    monkeypatch.setattr(config_module, "user_config_path", lambda: user)
    with pytest.raises(ConfigError, match=rf"invalid configuration \(from {user}\)") as exc:
        load_config()
    assert any("risk_management.stop_loss_percent" in str(i) for i in exc.value.issues)
    with pytest.raises(ConfigError, match=rf"\(from {user}, command-line options\)"):
        load_config(overrides={"feed": {"speed": "max"}})
    other = tmp_path / "other.toml"
    other.write_text("[feed]\nspeed = -1\n")
    with pytest.raises(ConfigError, match=rf"\(from {other}\)"):
        load_config(other)  # --config FILE: that file, not the user's
