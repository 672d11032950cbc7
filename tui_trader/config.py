"""Configuration: pydantic models loaded from TOML.

The trading groups keep the seed's names in snake_case
(``signal_generation``, ``risk_management``, ``order_execution``,
``data_processing``, ``monitoring``); the rest is what the product needs.
Unknown keys are errors, so a typo never falls back silently to a default.

Loading order without ``--config``: the model defaults (identical to the shipped
``config/default.toml``), then ``config/default.toml`` if it is present next to
the package (a checkout), then the user's file in the platform config directory
(``platformdirs.user_config_dir("tui-trader")/config.toml``) if it exists.
With ``--config FILE`` only FILE is laid over the defaults.

Secrets never live here: API keys come from ``BINANCE_API_KEY`` /
``BINANCE_API_SECRET`` in the environment.
"""

from __future__ import annotations

import datetime
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

ENV_API_KEY = "BINANCE_API_KEY"
ENV_API_SECRET = "BINANCE_API_SECRET"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DEFAULT_CONFIG = PACKAGE_DIR.parent / "config" / "default.toml"


class _Section(BaseModel):
    # nan and inf (TOML has both) are refused for every number: they failed deep in the engine
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_number(cls, v: Any, info: ValidationInfo) -> Any:
        """``true``/``false`` is not a number: pydantic read ``max_total_positions = true`` as 1."""
        if isinstance(v, bool) and info.field_name and cls.model_fields[info.field_name].annotation in (int, float):
            raise ValueError(f"expected a number (got {str(v).lower()})")
        return v


def plain_name(s: str) -> bool:
    """A symbol or asset as Binance names them: ASCII letters and digits only (``str.isalnum``
    alone took "ÉTHUSDT", a full-width "ＢＴＣUSDT" or Arabic-Indic digits, which no exchange
    lists: a replay or feed of them ran on without the symbol)."""
    return s.isascii() and s.isalnum()


def _symbol_names(v: list[str]) -> list[str]:
    """Symbols as the exchange names them ("btcusdt " is BTCUSDT); ValueError naming the first that
    is not ASCII letters and digits (``feed.symbols`` and the blacklist alike)."""
    out = [s.strip().upper() for s in v]
    for s in out:
        if not plain_name(s):
            raise ValueError(f"bad symbol {s!r} (letters and digits, e.g. BTCUSDT)")
    return out


def _asset(v: str) -> str:
    """An asset as the exchange names it: "usdt" in both quote assets passed, and then every
    order was refused for want of cash ("need 446.70 USDT, free 0": the cash was kept as "usdt")."""
    out = v.strip().upper()
    if not plain_name(out):
        raise ValueError(f"bad asset {v!r} (letters and digits, e.g. USDT)")
    return out


def _blank_is_empty(v: str) -> str:
    """A path of blanks is "" (the default), as ``monitoring.log_file`` reads it: ``storage.path =
    "   "`` kept the book in a file named three spaces in the working folder."""
    return v if v.strip() else ""


class SignalGeneration(_Section):
    z_score_threshold: float = Field(2.5, gt=0, description="enter when z >= this; exit when z <= -this")
    # bounded: 10**12 passed and failed at start-up with a numpy MemoryError
    moving_average_period: int = Field(200, ge=2, le=10_000, description="rating periods in the z-score window")
    confidence_threshold: float = Field(0.7, ge=0, le=1, description="entries below this confidence are dropped")
    signal_cooldown_ms: int = Field(300_000, ge=0, description="per-symbol quiet time after a signal")


class RiskManagement(_Section):
    max_position_percent: float = Field(5.0, gt=0, le=100, description="largest position, % of equity")
    max_total_positions: int = Field(10, description="open positions at most")
    stop_loss_percent: float = Field(2.5, gt=0, lt=100)
    profit_target_percent: float = Field(5.0, gt=0)
    max_daily_loss_percent: float = Field(10.0, gt=0, le=100, description="daily loss (UTC day) -> reducing")
    max_drawdown_percent: float = Field(15.0, gt=0, le=100, description="drawdown from peak -> emergency stop")
    max_liquidity_share: float = Field(
        0.01, gt=0, le=1, description="order notional at most this share of the symbol's recent quote volume"
    )
    max_volatility: float = Field(0.15, gt=0, description="no entry when per-period return volatility exceeds this")
    max_data_staleness_periods: float = Field(3.0, gt=0, description="no entry when the last kline is older")
    circuit_breaker_failures: int = Field(5, ge=1, description="consecutive failures that open a breaker")
    circuit_breaker_cooloff_ms: int = Field(60_000, ge=0)

    @field_validator("max_position_percent")
    @classmethod
    def _max_position(cls, v: float) -> float:
        if v > 20:
            raise ValueError(f"exceeds the safety limit of 20 % (got {v})")
        return v

    @field_validator("max_total_positions")
    @classmethod
    def _max_positions(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must allow at least 1 position (got {v})")
        return v


class OrderExecution(_Section):
    use_limit_orders: bool = False
    limit_order_buffer_percent: float = Field(0.1, ge=0, le=10)
    # 100 was taken: a paper sell then filled at 0, was refused as "fill price not positive" every
    # time, and the position could never be closed
    max_slippage_percent: float = Field(0.5, ge=0, le=50)
    order_timeout_ms: int = Field(30_000, gt=0)
    retry_attempts: int = Field(3, ge=0, le=20)


class DataProcessing(_Section):
    price_update_interval_ms: int = Field(1000, gt=0)
    rating_calculation_interval_ms: int = Field(
        300_000, gt=0, le=604_800_000,  # 1 week, Binance's longest interval; int64's last ms overflowed numpy
        description="rating period; rounded up to a whole number of kline intervals",
    )
    batch_processing_enabled: bool = True
    max_batch_size: int = Field(100, ge=1)
    # at most 100 years: 1e300 days is no SQLite integer, and every pruning failed
    kline_retention_days: float = Field(
        30.0, ge=0, le=36_500, description="closed klines kept in the database (0 = none)"
    )
    rating_retention_days: float = Field(
        30.0,
        gt=0,
        le=36_500,
        description="rating rows kept in the database (never less than the z-score warm-up window)",
    )
    rating_worker: Literal["auto", "on", "off"] = Field(
        "auto",
        description="rate periods ahead of the engine in a second process when the market is known in advance "
        "(sim or replay feed at speed max): auto = for runs of at least 2,000 open times or without end, "
        "on = whenever possible, off = never",
    )


class Monitoring(_Section):
    health_check_interval_ms: int = Field(30_000, gt=0)
    metrics_collection_enabled: bool = True
    alerting_enabled: bool = True
    log_level: Literal["debug", "info", "warn", "warning", "error"] = "info"
    log_file: str = Field("", description='"" = tui-trader.log in the platform log folder; "off" = none; or a path')


class Universe(_Section):
    top_n: int = Field(40, ge=1, description="with an empty symbol list: top N by 24h quote volume")
    quote_asset: str = Field("USDT", min_length=1)
    blacklist: list[str] = Field(default_factory=list)

    @field_validator("quote_asset")
    @classmethod
    def _quote(cls, v: str) -> str:
        return _asset(v)

    @field_validator("blacklist")
    @classmethod
    def _blacklist(cls, v: list[str]) -> list[str]:
        """Symbols as the feed names them: "BTC/USDT" or "btc usdt" matched nothing, so the symbol
        meant stayed in the universe without a word."""
        return _symbol_names(v)


#: The most symbols traded at once (``feed.sim.n_symbols``, a ``feed.symbols`` list).
MAX_SYMBOLS = 5000


class SimFeed(_Section):
    seed: int = Field(42, ge=0, description="the same seed gives the same market (numpy takes no negative one)")
    n_symbols: int = Field(40, ge=2, le=MAX_SYMBOLS)
    # bounded: 10**12 of either never finished starting, or failed with a numpy MemoryError
    warmup_periods: int = Field(300, ge=0, le=10_000, description="history generated instantly at start")
    ticks_per_kline: int = Field(4, ge=1, le=1_000, description="price updates inside each candle")


class ReplayFeed(_Section):
    path: str = Field("", description="folder (SYMBOL/INTERVAL/*.json or data.binance.vision files) or file")
    start: str = Field("", description="first open time replayed, e.g. 2024-01-01 or 2024-01-01T12:00Z (UTC)")
    end: str = Field("", description="first open time NOT replayed: the end is exclusive (same forms)")

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _blank_is_empty(v)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _toml_time(cls, v: Any) -> Any:
        """A TOML date or date-time (``start = 2024-01-01``, unquoted) as the same text: it was
        refused as "Input should be a valid string (got datetime.date(2024, 1, 1))"."""
        if isinstance(v, datetime.date | datetime.datetime):
            return v.isoformat()
        return v

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str) -> str:
        from tui_trader.clock import parse_time, utc_text

        ms = parse_time(v)  # a bad time is this field's error, not a traceback when the replay starts
        if ms is not None:
            try:
                utc_text(ms)  # "99999999999999999999" (epoch ms) passed, and `run` failed with a traceback
            except (ValueError, OverflowError, OSError):
                raise ValueError("out of range: a time from 0001-01-01 to 9999-12-31 (UTC) is expected") from None
        return v

    @model_validator(mode="after")
    def _order(self) -> ReplayFeed:
        from tui_trader.clock import parse_time

        start, end = parse_time(self.start), parse_time(self.end)
        if start is not None and end is not None and end <= start:  # equal: an empty span, refused later
            raise ValueError(f"end {self.end!r} is not after start {self.start!r} (the end is exclusive: nothing to replay)")
        return self


#: The slowest ``feed.speed`` (x real time): 1,000 s of wall time per simulated second.
MIN_SPEED = 0.001


class Feed(_Section):
    kind: Literal["sim", "replay", "binance"] = "sim"
    symbols: list[str] = Field(default_factory=list, description="empty = the universe rule")
    universe: Universe = Field(default_factory=Universe)
    interval: str = Field("1m", description="kline interval (1s 1m 5m 15m 1h 1d ...)")
    speed: float | Literal["max"] = Field(60.0, description="times real time, or 'max'")
    stale_after_s: float = Field(15.0, gt=0, description="a stream silent this long is stale and recreated")
    max_price_jump: float = Field(
        100.0, gt=1, description="a price more than this many times above or below the last one is rejected"
    )
    sim: SimFeed = Field(default_factory=SimFeed)
    replay: ReplayFeed = Field(default_factory=ReplayFeed)

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str, info: ValidationInfo) -> str:
        from tui_trader.clock import BINANCE_INTERVALS, MS_PER_UNIT, interval_to_ms

        if interval_to_ms(v) > MS_PER_UNIT["w"]:
            # the sim's per-kline moves grow with the interval: at 52w its prices overflowed to inf and
            # most were refused as bad data; at 10^20 s it failed with an OverflowError traceback
            raise ValueError("longer than 1w, the longest kline interval (a rating period is at most 1 week too)")
        # ``kind`` is declared first, so it is validated (and known) here
        if info.data.get("kind") == "binance" and v.strip() not in BINANCE_INTERVALS:
            raise ValueError(
                f"{v!r} is not a Binance kline interval (one of {', '.join(BINANCE_INTERVALS)}); "
                "the sim and replay feeds accept others"
            )
        return v.strip()  # " 1h " named the replay's folder " 1h ": "no  1h  klines in ..."

    @field_validator("speed", mode="before")
    @classmethod
    def _speed(cls, v: Any, info: ValidationInfo) -> float | str:
        """A positive number or "max" (any case), checked here as one rule: left to the union,
        "fast" got two errors named after pydantic's branches (speed.float, speed.literal['max'])."""
        if isinstance(v, str) and v.strip().lower() == "max":
            return "max"
        if isinstance(v, str) and (info.context or {}).get("strict"):
            # a file's quoted number is the wrong type, as for every other number (it was read as one)
            raise ValueError(f"must be a positive number or 'max' (got the text {v!r}: a number is written unquoted)")
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError("must be a positive number or 'max'") from None
        if isinstance(v, bool) or not math.isfinite(x) or x <= 0:
            raise ValueError("must be a positive number or 'max'")
        if x < MIN_SPEED:  # 1e-300 was taken: the feed's first period never came, the run did nothing
            raise ValueError(f"must be at least {MIN_SPEED:g} (x real time) or 'max'")
        return x

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        out = _symbol_names(v)
        if len(set(out)) != len(out):
            raise ValueError("duplicate symbols")
        if len(out) > MAX_SYMBOLS:  # 6,000 passed, beyond the sim's n_symbols bound, without a warning
            raise ValueError(f"{len(out):,} symbols: at most {MAX_SYMBOLS:,}")
        return out

    @model_validator(mode="after")
    def _symbols_not_blacklisted(self) -> Feed:
        """A symbol both listed and blacklisted is a contradiction: ``config check`` passed it, a
        replay refused it only when it ran, and the binance feed dropped it without a word."""
        from tui_trader.market.universe import refuse_blacklisted

        refuse_blacklisted(self.symbols, self.universe.blacklist, named_by="feed.symbols")
        return self


class Rating(_Section):
    tau: float = Field(0.5, gt=0, le=2.0, description="Glicko-2 system constant")
    # 1e308 overflowed the z-scores to NaN: nothing ever traded, without a word
    initial_rating: float = Field(1500.0, ge=-1e6, le=1e6)
    # bounded: 1e6 threw the first period's ratings to +-800,000, and no z-score reached the threshold
    # lower bounds: below them the Glicko-2 step underflows (an RD of 0 the next period refuses, a tie
    # read as NaN); values that small mean nothing for a market anyway
    initial_rd: float = Field(350.0, ge=1e-3, le=10_000)
    initial_volatility: float = Field(0.06, ge=1e-6)
    max_volatility: float = Field(
        0.1, ge=1e-6, description="cap on the new volatility inside each period (keeps round-robin ratings sane)"
    )
    max_rd: float = Field(350.0, ge=1e-3, description="cap on the rating deviation")
    opponents: int = Field(0, ge=0, description="0 = round robin; k > 0 = k sampled opponents")
    outcome_mode: Literal["binary", "margin"] = "binary"
    margin_scale: float = Field(0.25, ge=1e-6, description="score gap giving outcome 0.73 in margin mode")
    volatility_window: int = Field(
        20, ge=3, le=10_000, description="klines in the return-volatility estimate (3 or more: two returns at least)"
    )
    draw_epsilon: float = Field(1e-9, ge=0, description="score gap treated as a draw in binary mode")


class Broker(_Section):
    kind: Literal["paper", "binance"] = "paper"
    # 1e308 failed the first order's quantity rounding with a decimal traceback
    starting_balance: float = Field(10_000.0, gt=0, le=1e15)
    quote_asset: str = Field("USDT", min_length=1)
    fee_rate: float = Field(0.001, ge=0, lt=0.1, description="fee per fill, fraction of notional")
    slippage_bps: float = Field(2.0, ge=0, description="fixed slippage in basis points")
    slippage_impact: float = Field(
        0.1, ge=0, description="size-dependent slippage: bps per 1% of recent quote volume"
    )

    @field_validator("quote_asset")
    @classmethod
    def _quote(cls, v: str) -> str:
        return _asset(v)


class Binance(_Section):
    testnet: bool = False
    rest_url: str = Field("", description='"" = Binance; or http(s)://host[:port], e.g. a local stand-in exchange')
    stream_url: str = Field("", description='"" = Binance; or ws(s)://host[:port]')
    recv_window_ms: int = Field(5000, ge=1, le=60_000)
    request_timeout_s: float = Field(10.0, gt=0)

    @field_validator("rest_url", "stream_url")
    @classmethod
    def _url(cls, v: str, info: ValidationInfo) -> str:
        """A URL the feed and broker can use: "not a url" failed only when the feed started, as a
        runtime error (exit 1) naming the path ``not a url/api/v3/ping``; "ftp://x" was not even that."""
        from urllib.parse import urlsplit

        if not v.strip():
            return v
        schemes = ("http", "https") if info.field_name == "rest_url" else ("ws", "wss")
        netloc = v.strip().partition("://")[2].partition("/")[0]
        if "@" in netloc:
            # a user or password here would be shown by config show, the live warning and errors
            raise ValueError(
                f"no user or password in the URL (got '***@{netloc.rpartition('@')[2]}'): it would be "
                f"shown; orders are signed with {ENV_API_KEY} / {ENV_API_SECRET} from the environment"
            )
        try:
            parts = urlsplit(v.strip())
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"expected {schemes[0]}:// or {schemes[1]}://host[:port], or \"\" for Binance")
        if parts.query or parts.fragment:
            # (a token there would be shown as a password would: and Binance's own URLs take none)
            raise ValueError("no query (?...) or fragment (#...) in the URL: it would be shown, and Binance's take none")
        return v


class Storage(_Section):
    path: str = Field("", description="SQLite file; empty = tui-trader.db in the platform data directory")
    synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL", description="FULL: an fsync per commit (survives a power loss, costs ~0.4 ms per money write)"
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _blank_is_empty(v)


class UI(_Section):
    theme: str = "tui-trader-dark"
    refresh_ms: int = Field(250, ge=50, le=5000)
    chart_refresh_ms: int = Field(500, ge=100)


class Config(_Section):
    signal_generation: SignalGeneration = Field(default_factory=SignalGeneration)
    risk_management: RiskManagement = Field(default_factory=RiskManagement)
    order_execution: OrderExecution = Field(default_factory=OrderExecution)
    data_processing: DataProcessing = Field(default_factory=DataProcessing)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    feed: Feed = Field(default_factory=Feed)
    rating: Rating = Field(default_factory=Rating)
    broker: Broker = Field(default_factory=Broker)
    binance: Binance = Field(default_factory=Binance)
    storage: Storage = Field(default_factory=Storage)
    ui: UI = Field(default_factory=UI)

    def db_path(self, live: bool | None = None) -> Path:
        """The database file: ``storage.path`` (``--db``), else the platform data folder's file of
        the live or paper book (``live``; default: live when the broker is Binance)."""
        if self.storage.path:
            return Path(self.storage.path).expanduser()
        import platformdirs

        # live trading keeps its book apart from paper trading's (see TradingEngine._check_book_mode)
        live = self.broker.kind == "binance" if live is None else live
        name = "tui-trader-live.db" if live else "tui-trader.db"
        return Path(platformdirs.user_data_dir("tui-trader")) / name

    def log_path(self) -> Path | None:
        """Where the console and the headless runner append their log; None when ``log_file = "off"``.
        ``$TUI_TRADER_LOG_FILE`` (a path or ``off``), when set, wins over the configuration."""
        value = os.environ.get("TUI_TRADER_LOG_FILE", "").strip() or self.monitoring.log_file.strip()
        if value.lower() == "off":
            return None
        if value:
            return Path(value).expanduser()
        import platformdirs

        return Path(platformdirs.user_log_dir("tui-trader")) / "tui-trader.log"


@dataclass
class Issue:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class CheckResult:
    config: Config | None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors


class ConfigError(Exception):
    """A configuration that cannot be used. ``issues`` name the fields."""

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("function-after", "constrained-str"))


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """An unknown key's message: the key it is probably a typo of, else the keys of its table
    ("unknown key (typo?)" alone left the right spelling to be found in default.toml)."""
    import difflib

    model: Any = Config
    for part in loc[:-1]:  # down to the table holding the key
        field = model.model_fields.get(str(part)) if isinstance(model, type) else None
        model = field.annotation if field is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return "unknown key (typo?)"
    keys = list(model.model_fields)
    if close := difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.75):
        return f"unknown key (typo of {close[0]!r}?)"
    where = f"the keys of [{'.'.join(str(p) for p in loc[:-1])}] are" if loc[:-1] else "the tables are"
    return f"unknown key (typo?): {where} {', '.join(keys)}"


def _issues_from_validation(exc: ValidationError) -> list[Issue]:
    out: list[Issue] = []
    for err in exc.errors(include_url=False):
        path = _loc(err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1]).lower() if err["loc"] else ""
            if any(m in key for m in SECRET_MARKERS):  # never the value: it may be the real key
                msg = (f"API keys are never read from a file: delete it here and set {ENV_API_KEY} / "
                       f"{ENV_API_SECRET} in the environment")
            else:
                msg = _unknown_key(err["loc"])
        elif err["type"] == "model_type":  # not "a valid dictionary or instance of RiskManagement"
            msg = f"expected a table of settings, [{path}] (got {err['input']!r})"
        elif "input" in err and err["type"] not in ("missing",):
            inp = err["input"]
            if not isinstance(inp, dict | list) and "(got " not in msg:
                msg = f"{msg} (got {inp!r})"
        out.append(Issue(path, msg))
    return out


#: Above this many klines of sim warm-up history (~1 minute to generate here), a warning.
SIM_WARMUP_WARN_KLINES = 5_000_000


def soft_warnings(cfg: Config) -> list[Issue]:
    """The seed's warnings: valid but probably unwise."""
    w: list[Issue] = []
    sg, rm, oe, dp = cfg.signal_generation, cfg.risk_management, cfg.order_execution, cfg.data_processing
    if not 1 <= sg.z_score_threshold <= 5:
        w.append(Issue("signal_generation.z_score_threshold", "outside the recommended range 1-5"))
    if sg.moving_average_period < 50:
        w.append(Issue("signal_generation.moving_average_period", "below 50: may be too short for reliable signals"))
    # the window holds the current value too, and its std is the population one: |z| <= sqrt(w - 1),
    # reached only when the other w - 1 values are all equal. A threshold at or above it never trades
    z_max = math.sqrt(sg.moving_average_period - 1)
    if sg.z_score_threshold >= z_max:
        w.append(Issue("signal_generation.z_score_threshold",
                       f"{sg.z_score_threshold:g} is never reached: over signal_generation.moving_average_period = "
                       f"{sg.moving_average_period} periods a z-score is at most sqrt({sg.moving_average_period} - 1) "
                       f"= {z_max:.3g}, so nothing is bought or sold by signal (lower the threshold or lengthen "
                       "the window)"))
    if rm.stop_loss_percent > rm.profit_target_percent:
        w.append(Issue("risk_management.stop_loss_percent", "higher than profit_target_percent"))
    if oe.max_slippage_percent > 5:
        w.append(Issue("order_execution.max_slippage_percent", "very high (> 5 %)"))
    if dp.price_update_interval_ms < 100:
        w.append(Issue("data_processing.price_update_interval_ms", "below 100 ms: may be too frequent"))
    if cfg.monitoring.health_check_interval_ms < 100:  # (tests run it at 20 ms to see a check change soon)
        w.append(Issue("monitoring.health_check_interval_ms", f"{cfg.monitoring.health_check_interval_ms} ms is below 100 ms: "
                       "health checks that often take the engine's time for no use (shipped: 30,000 ms)"))
    if cfg.feed.kind == "sim":
        # the sim's history is generated before the first frame: 300 periods of a week of 1m klines
        # (121 M klines) looked like a hang, its --duration counting only from the end of it
        from tui_trader.clock import interval_to_ms

        per = max(1, -(-dp.rating_calculation_interval_ms // interval_to_ms(cfg.feed.interval)))
        # a feed.symbols list names the sim's symbols, and n_symbols is not used (3,000 names: no warning)
        n_sym = len(cfg.feed.symbols) or cfg.feed.sim.n_symbols
        n = cfg.feed.sim.warmup_periods * per * n_sym
        if n > SIM_WARMUP_WARN_KLINES:
            w.append(
                Issue("feed.sim.warmup_periods", f"{n:,} klines of history to generate at start-up "
                      f"(warmup_periods x {per:,} klines per rating period x {n_sym:,} symbols): minutes before trading")
            )
        if cfg.feed.sim.warmup_periods < sg.moving_average_period:
            w.append(
                Issue("feed.sim.warmup_periods", f"{cfg.feed.sim.warmup_periods} is below "
                      f"signal_generation.moving_average_period = {sg.moving_average_period}: the z-scores "
                      "trade on a window not yet full, and settle only inside the run")
            )
    w.extend(_rating_cap_warnings(cfg))
    w.extend(_min_order_warnings(cfg))
    w.extend(_fraction_warnings(cfg))
    if rm.max_drawdown_percent <= rm.max_daily_loss_percent:
        w.append(
            Issue("risk_management.max_drawdown_percent", "not above max_daily_loss_percent: the drawdown "
                  "breaker will fire before the daily-loss one")
        )
    return w


def _min_order_warnings(cfg: Config) -> list[Issue]:
    """A paper book whose largest position is below the smallest order: ``starting_balance = 50`` at
    5 % made 2.50 USDT positions, under the 5 USDT minimum notional, and every entry was refused
    ("size rounds to zero") while ``run`` printed 600 signals and 0 orders."""
    from tui_trader.market.binance_payloads import synthetic_filters

    b, rm = cfg.broker, cfg.risk_management
    # the sim and replay feeds' symbols (synthetic filters) in any quote asset; Binance's USDT pairs
    if b.kind != "paper" or not (cfg.feed.kind != "binance" or b.quote_asset == "USDT"):
        return []
    least = float(synthetic_filters("X" + b.quote_asset, 1.0, b.quote_asset).min_notional)
    cap = b.starting_balance * rm.max_position_percent / 100
    # the sizing buys what the cap pays at the worst fill, the fee on top (risk.sizing._cap_qty): at
    # 100 USDT x 5 % = 5.00 it bought 4.97 at the most, and every entry was refused as at 50
    oe = cfg.order_execution
    over = oe.limit_order_buffer_percent if oe.use_limit_orders else oe.max_slippage_percent
    most = cap / (1 + over / 100) / (1 + b.fee_rate)
    if most >= least:
        return []
    return [Issue("broker.starting_balance",
                  f"{b.starting_balance:g} x risk_management.max_position_percent {rm.max_position_percent:g} % = "
                  f"{cap:g} {b.quote_asset} a position, at most {math.floor(most * 100) / 100:g} {b.quote_asset} "
                  f"bought with the slippage and the fee kept out, below the smallest order ({least:g} "
                  f"{b.quote_asset} notional): a new book's entries are all refused")]


def _rating_cap_warnings(cfg: Config) -> list[Issue]:
    """A new symbol's value above its own cap (``initial_rd = 500`` under ``max_rd = 350``): taken for
    the first period only, then cut to the cap, so the setting does not do what it says."""
    out: list[Issue] = []
    r = cfg.rating
    for start, cap in (("initial_rd", "max_rd"), ("initial_volatility", "max_volatility")):
        if getattr(r, start) > getattr(r, cap):
            out.append(Issue(f"rating.{start}", f"{getattr(r, start):g} is above rating.{cap} = {getattr(r, cap):g}: "
                                                f"it holds for the first rating period only, then is cut to {cap}"))
    return out


def _fraction_warnings(cfg: Config) -> list[Issue]:
    """A percent field given as a fraction (``stop_loss_percent = 0.05`` meant as 5 %) was taken as
    0.05 % without a word: exits within the round-trip fee, or a position or breaker of under 1 %."""
    rm = cfg.risk_management
    fees = 2 * cfg.broker.fee_rate * 100  # a buy and a sell, in percent
    hint = "perhaps? (in percent: 5 = 5 %)"
    out: list[Issue] = []
    for name in ("stop_loss_percent", "profit_target_percent"):
        v = getattr(rm, name)
        if v <= fees and v < 1:  # (not 2.5 under a fee_rate given in percent: that one is said below)
            out.append(Issue(f"risk_management.{name}",
                             f"{v:g} % is within the round-trip fee ({fees:g} %): {v * 100:g} %, {hint}"))
    # (the most each may be: max_position_percent = 0.5 is no fraction of 50 %, which is refused)
    for name, most in (("max_position_percent", 20), ("max_daily_loss_percent", 100), ("max_drawdown_percent", 100)):
        v = getattr(rm, name)
        if v < 1 and v * 100 <= most:
            out.append(Issue(f"risk_management.{name}", f"{v:g} % of equity: {v * 100:g} %, {hint}"))
    fee = cfg.broker.fee_rate  # the other way round: a fraction, 0.075 for Binance's 0.075 % was 7.5 %
    if fee > 0.01:
        out.append(Issue("broker.fee_rate", f"{fee:g} is a fee of {fee * 100:g} % per fill: "
                                            f"a fraction ({fee / 100:g} for {fee:g} %), perhaps?"))
    return out


def consistency_errors(cfg: Config) -> list[Issue]:
    """Values each valid alone that cannot work together: the cash must be in the quote asset of
    every symbol traded (EUR cash cannot buy BTCUSDT, and the book would mix the two)."""
    out: list[Issue] = []
    quote = cfg.broker.quote_asset
    if cfg.feed.universe.quote_asset != quote:
        out.append(Issue("broker.quote_asset", f"{quote!r} differs from feed.universe.quote_asset "
                         f"{cfg.feed.universe.quote_asset!r}: the cash must be in the symbols' quote asset"))
    odd = [s for s in cfg.feed.symbols if not (s.endswith(quote) and len(s) > len(quote))]
    if odd:
        out.append(Issue("feed.symbols", f"{', '.join(odd)} not quoted in broker.quote_asset {quote!r}"))
    return out


def live_errors(cfg: Config, env: Mapping[str, str] | None = None) -> list[Issue]:
    env = os.environ if env is None else env
    out: list[Issue] = []
    if cfg.broker.kind == "binance":
        for var in (ENV_API_KEY, ENV_API_SECRET):
            value = env.get(var)
            if not value:
                out.append(Issue("broker.kind", f"binance (live) broker needs {var} in the environment"))
            elif not all("!" <= ch <= "~" for ch in value):
                # A key pasted with a newline or a space fails later as an unreadable signing
                # error; say so here. The value itself is never echoed.
                out.append(
                    Issue(
                        "broker.kind",
                        f"{var} holds whitespace or characters outside printable ASCII "
                        f"(a stray newline or space from copying it?)",
                    )
                )
    return out


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base``: nested tables merge, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


#: The most a configuration file may hold: ``--config /dev/zero`` (or a data file given by mistake)
#: was read whole, a MemoryError traceback or all the machine's memory. A FIFO (``<(...)``) is read.
CONFIG_MAX_BYTES = 1 << 20


def read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(CONFIG_MAX_BYTES + 1)
        if len(raw) > CONFIG_MAX_BYTES:
            raise ConfigError(f"config file {p} is too large for a configuration (over 1 MiB): is it the right file?")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))  # a leading byte order mark (Notepad) is no TOML error
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None


def user_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("tui-trader")) / "config.toml"


def default_layers() -> list[Path]:
    layers = []
    if REPO_DEFAULT_CONFIG.is_file():
        layers.append(REPO_DEFAULT_CONFIG)
    up = user_config_path()
    if up.exists() or up.is_symlink():  # a folder or a dangling link there is read_toml's error, not skipped
        layers.append(up)
    return layers


def check(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None, require_keys: bool = True,
    strict: bool = False,
) -> CheckResult:
    """Validate a configuration mapping: errors (every bad field) and warnings.

    ``strict``: the mapping is TOML as read (a file, typed flags), so a value of the wrong type is an
    error: ``stop_loss_percent = "2"`` and ``alerting_enabled = 0`` were taken as 2.0 and false without
    a word. Not strict: text to be typed (a sweep's ``--param`` values, a stored run's configuration)."""
    try:
        cfg = Config.model_validate(data, strict=strict, context={"strict": strict})
    except ValidationError as exc:
        return CheckResult(None, errors=_issues_from_validation(exc))
    errors = consistency_errors(cfg) + (live_errors(cfg, env) if require_keys else [])
    return CheckResult(cfg if not errors else cfg, errors=errors, warnings=soft_warnings(cfg))


def load_data(path: str | Path | None = None) -> dict[str, Any]:
    """The merged raw mapping (defaults file, user file, or the given file)."""
    layers = [Path(path)] if path is not None else default_layers()
    data: dict[str, Any] = {}
    for layer in layers:
        data = deep_merge(data, read_toml(layer))
    return data


def _given_sources(
    path: str | Path | None, overrides: Mapping[str, Any] | None, layers: list[Path] | None = None
) -> list[str]:
    """The sources laid over the defaults: the user file (or ``path``), then the command-line
    options (``overrides``); ``layers``: :func:`default_layers`, if already read."""
    if path is not None:
        sources = [str(path)]
    else:
        sources = [str(p) for p in (default_layers() if layers is None else layers) if p != REPO_DEFAULT_CONFIG]
    if overrides:
        sources.append("command-line options")
    return sources


def config_sources(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """Where the values of :func:`load_config` come from, in the order laid on each other: the
    built-in defaults or the shipped defaults file, the user file (or ``path``), then the
    command-line options (``overrides``)."""
    layers = default_layers()
    shipped = path is None and REPO_DEFAULT_CONFIG in layers
    given = _given_sources(path, overrides, layers)
    if path is None and user_config_path() not in layers:
        given.insert(0, f"no user file at {user_config_path()}")
    return [str(REPO_DEFAULT_CONFIG) if shipped else "built-in defaults", *given]


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    require_keys: bool = True,
) -> tuple[Config, list[Issue]]:
    """Load, merge and validate. Raises :class:`ConfigError` naming every bad field.

    ``overrides`` is a nested mapping (e.g. from CLI flags) laid on top.
    Returns the config and its warnings.
    """
    data = load_data(path)
    if overrides:
        data = deep_merge(data, overrides)
    res = check(data, env=env, require_keys=require_keys, strict=True)
    if res.errors:
        # name where the values came from: a user file applied silently is easy to forget
        sources = _given_sources(path, overrides)
        where = f" (from {', '.join(sources)})" if sources else ""
        raise ConfigError(f"invalid configuration{where}", res.errors)
    assert res.config is not None
    return res.config, res.warnings


SECRET_MARKERS = ("key", "secret", "token", "password")


def redacted_dump(cfg: Config) -> dict[str, Any]:
    """The effective configuration as a mapping, with anything secret-looking redacted."""

    def walk(d: Any, path: str = "") -> Any:
        if isinstance(d, dict):
            return {
                k: ("***" if any(m in k.lower() for m in SECRET_MARKERS) and v else walk(v, f"{path}.{k}"))
                for k, v in d.items()
            }
        return d

    return walk(cfg.model_dump(mode="json"))


def to_toml(d: Mapping[str, Any]) -> str:
    """Minimal TOML writer for the effective configuration (tables of scalars/lists)."""
    import json

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        # not ASCII-escaped: json writes 😀 as a surrogate pair (\ud83d\ude00), which TOML refuses;
        # DEL is the one control character json leaves raw and TOML wants escaped
        return json.dumps(str(v), ensure_ascii=False).replace("\x7f", "\\u007f")

    lines: list[str] = []

    def table(prefix: str, m: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in m.items() if not isinstance(v, Mapping)}
        subs = {k: v for k, v in m.items() if isinstance(v, Mapping)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {scalar(v)}")
        if scalars:
            lines.append("")
        for k, v in subs.items():
            table(f"{prefix}.{k}" if prefix else k, v)

    table("", d)
    return "\n".join(lines).rstrip() + "\n"
