"""Command line: ``tui-trader [tui|run|backtest|config|data] ...``.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration
(the message names the field), 3 live trading not confirmed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from tui_trader import __version__

SUBCOMMANDS = ("tui", "run", "backtest", "config", "data", "export")

DESCRIPTION = """\
tui-trader - a terminal operator console for a crypto trading bot.

Every period the bot rates each symbol with Glicko-2 (symbols "play" each other on a
performance score built from price momentum, taker-buy volume ratio and volatility),
turns rating z-scores into BUY/SELL signals, passes them through risk management and
executes them - in paper mode by default, live on Binance only with --live.

Without a subcommand it opens the console (`tui`) on the built-in simulated market, in
paper mode: no network, no keys needed.
"""

EPILOG = """\
examples:
  tui-trader                                   open the console (sim market, paper)
  tui-trader --report                          the stored backtest reports (no engine)
  tui-trader run --headless --feed sim --duration 60s --speed max
  tui-trader run --headless --feed replay --data ../shared/data/binance_spot_klines --interval 1h --speed max \\
      --db replay-2024.db
  tui-trader backtest --data ../shared/data/binance_spot_klines --interval 1h
  tui-trader backtest sweep --data DIR --interval 1h --param signal_generation.z_score_threshold=1.5:3.0:0.25
  tui-trader config check config/default.toml
  tui-trader config show
  tui-trader data download --symbols BTCUSDT,ETHUSDT --interval 1h --start 2024-01-01
  tui-trader export --out book-csv             the paper book's fills, orders, ... as CSV

configuration: config/default.toml, overlaid by your file in the platform config
directory (see `tui-trader config show`), or --config FILE.
secrets: BINANCE_API_KEY and BINANCE_API_SECRET, from the environment only.
kline cache: parsed kline files are kept in the platform cache directory
(TUI_TRADER_CACHE_DIR=PATH to move it, TUI_TRADER_CACHE_DIR=off to disable).
log: tui-trader.log in the platform log folder (monitoring.log_file, or
TUI_TRADER_LOG_FILE=PATH, or =off).
colour theme: [ui] theme = "tui-trader-lowcolor" in the configuration (shipped
also: tui-trader-dark, tui-trader-light), or T / Ctrl+P in the console.
the console's own options (--feed, --live, --report, ...): `tui-trader tui --help`.
options may come before or after the command (`tui-trader --db x.db run`; given twice,
the later one counts);
`tui-trader COMMAND --help` explains each command, with examples.
exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration,
3 live trading not confirmed (nothing traded), 130 interrupted.
"""

#: Each command's examples, shown at the end of its --help (tests parse every line).
EXAMPLES = {
    "tui": """\
  tui-trader                                       the sim market, paper broker
  tui-trader --feed replay --data ../shared/data/binance_spot_klines --interval 1h --speed 3600 --db replay.db
                                                   replay kline files, an hour a second, on a book of their own
  tui-trader --live                                Binance, real money (keys from the environment)
  tui-trader --report                              the backtest reports stored in the database""",
    "run": """\
  tui-trader run --headless --feed sim --duration 60s --speed max
  tui-trader run --headless --feed replay --data ../shared/data/binance_spot_klines --interval 1h --speed max \\
      --db replay-2024.db
  tui-trader run --feed sim --duration 5m --json --db /tmp/scratch.db
                                                   a fresh book; the summary as JSON""",
    "backtest": """\
  tui-trader backtest --data ../shared/data/binance_spot_klines --interval 1h
  tui-trader backtest --data ../shared/data/binance_spot_klines --interval 1h --symbols BTCUSDT,ETHUSDT \\
      --start 2024-03-01 --end 2024-07-01 --out reports/h1
  tui-trader backtest sweep --data ../shared/data/binance_spot_klines --interval 1h \\
      --param signal_generation.z_score_threshold=1.5:3.0:0.25 --param risk_management.stop_loss_percent=1,2,3
  tui-trader backtest sweep --data ../shared/data/binance_spot_klines --interval 1h \\
      --param signal_generation.z_score_threshold=2,2.5,3 --walk-forward 4""",
    "config check": """\
  tui-trader config check config/default.toml
  tui-trader config check ~/.config/tui-trader/config.toml""",
    "config show": """\
  tui-trader config show                           the defaults with your user file laid over them
  tui-trader config show my.toml                   the defaults with my.toml laid over them""",
    "data download": """\
  tui-trader data download --symbols BTCUSDT,ETHUSDT --interval 1h --start 2024-01-01 --out data/klines
  tui-trader data download --symbols SOLUSDT --interval 1m --start 2024-06-01 --end 2024-07-01""",
    "export": """\
  tui-trader export --out book-csv                 the paper book in the platform data folder
  tui-trader export --book live --out live-csv     the live book
  tui-trader export --db /tmp/scratch.db --out scratch-csv""",
}


def _subparser(sub: Any, name: str, *, help: str, description: str, examples: str = "") -> argparse.ArgumentParser:
    """A (sub)command's parser: ``description`` wrapped to the usual width, paragraph by paragraph,
    then its examples line by line."""
    import textwrap

    text = "\n\n".join(textwrap.fill(" ".join(par.split()), 79, break_on_hyphens=False) for par in description.split("\n\n"))
    examples = EXAMPLES.get(examples or name, "")
    return sub.add_parser(name, help=help, description=text, epilog=f"examples:\n{examples}" if examples else None,
                          formatter_class=_Formatter)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; option help wrapped, never inside a word such as
    ``YYYY-MM-DD`` (argparse broke it at a hyphen)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class UsageError(Exception):
    """Bad arguments: printed as one line, exit code 2."""


def _common(p: argparse.ArgumentParser, *, uses_db: bool = True) -> None:
    """--config and --db, which every command takes (before or after it); one that reads no
    database says so rather than describe a --db it ignores."""
    g = p.add_argument_group("common options")
    g.add_argument("--config", metavar="FILE", help="configuration file (TOML); default: shipped defaults + user file")
    g.add_argument("--db", metavar="PATH", help="SQLite database file (default: storage.path or the platform data dir)"
                   if uses_db else "not used by this command (taken as by every command)")


def _at_least_one(text: str) -> int:
    """A count flag: a whole number >= 1 (argparse turns the ValueError into a usage error, exit 2)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


class _NotForBacktest(argparse.Action):
    """A flag of the engine's other hosts that a backtest has no use for: a clear usage error,
    not a flag silently dropped."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        parser.error(f"{option_string} does not apply to a backtest: it replays the files of --data "
                     "as fast as possible (use `tui-trader run` for the sim market or another speed)")


def _feed_options(p: argparse.ArgumentParser, *, replay_only: bool = False) -> None:
    """The market-data flags; a backtest (``replay_only``) always replays files at speed max, so
    it takes no --feed, --speed, --seed or --n-symbols (argparse refuses them, exit 2)."""
    g = p.add_argument_group("market data")
    if not replay_only:
        g.add_argument("--feed", choices=("sim", "replay", "binance"),
                       help="data source (default: feed.kind, shipped: sim; --data alone means replay)")
    g.add_argument("--data", metavar="PATH", help="replay: folder (SYMBOL/INTERVAL/*.json or data.binance.vision files) or file")
    g.add_argument("--interval", metavar="IV",
                   help="kline interval, e.g. 1m, 15m, 1h (default: feed.interval, shipped: 1m)")
    g.add_argument("--symbols", metavar="LIST", help="comma-separated symbols (default: feed.symbols; else "
                   + ("the files' symbols less feed.universe.blacklist)" if replay_only else "the sim's --n-symbols, "
                      "or the replay files' or the binance feed's top_n symbols less feed.universe.blacklist)"))
    if replay_only:
        for flag in ("--feed", "--speed", "--seed", "--n-symbols"):
            g.add_argument(flag, action=_NotForBacktest, help=argparse.SUPPRESS)
        return
    g.add_argument("--speed", metavar="X", help="sim/replay: times real time, e.g. 60 (at least 0.001), or 'max' for as fast as "
                   "it goes (default: feed.speed, shipped: 60)")
    g.add_argument("--seed", type=int, metavar="N", help="sim: random seed; the same seed gives the same market "
                   "(default: feed.sim.seed, shipped: 42)")
    g.add_argument("--n-symbols", type=int, dest="n_symbols", metavar="N",
                   help="sim: number of symbols, 2 to 5000 (default: feed.sim.n_symbols, shipped: 40)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-trader",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"tui-trader {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _subparser(sub, "tui", help="open the operator console (the default)", description="""
        Open the operator console: the default command. As shipped, on the built-in simulated market
        (40 symbols, 1m klines at 60x real time) with the paper broker: no network, no keys. Press ?
        in the console for its keys and q to quit.""")
    _common(p)
    _feed_options(p)
    p.add_argument("--live", action="store_true",
                   help="trade for real on Binance, on its live feed (needs BINANCE_API_KEY / BINANCE_API_SECRET "
                   "in the environment, and LIVE typed at a terminal: not typed, exit 3 and nothing traded)")
    p.add_argument("--report", nargs="?", const="", default=None, metavar="RUN_ID",
                   help="open the stored backtest reports of the database (--db) without starting an engine: "
                   "the runs list, or RUN_ID directly")

    p = _subparser(sub, "run", help="run the engine without the console (headless)", description="""
        Run the console's engine without the console and print a summary at the end. It stops when
        --duration has passed, when replayed data ends, or on SIGINT, SIGTERM or SIGHUP (storage
        flushed, exit 0). It never trades live.

        A database that already holds a book (the same --db again, or the default one) goes on from
        that book; use a fresh --db for an independent run.""")
    _common(p)
    _feed_options(p)
    p.add_argument("--headless", action="store_true", help="no console (always true for `run`; accepted for clarity)")
    p.add_argument("--duration", metavar="T", help="wall-clock limit, the start-up included, e.g. 30s, 5m, 2h; a bare "
                   "number is seconds (default: until the data ends or Ctrl-C)")
    p.add_argument("--live", action="store_true",
                   help="refused: live trading needs the console's typed confirmation (tui-trader --live)")
    p.add_argument("--status-every", dest="status_every", metavar="T",
                   help="log a status line (state, periods, equity, positions, feed) every T of wall time, "
                   "at least 1s, e.g. 30s, 15m, 1h; 0 for none (default: 15m)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")

    p = _subparser(sub, "backtest", help="judge the strategy on historical klines", description="""
        Run the same engine as paper trading over historical klines, as fast as possible, and report
        the strategy beside buy-and-hold and cash. Without --start, the first moving_average_period + 1
        rating periods of the data (rating.volatility_window + 1 when that is larger; 201 as shipped; at
        most half of the data) warm the ratings up; with --start, those before it. The run is stored in the database (--db)
        under a run id: `tui-trader --report` shows it again.

        `backtest sweep --param PATH=START:STOP:STEP` (or PATH=a,b,c; one or two --param) runs a
        parameter grid over all cores; --walk-forward N picks the best point in sample and reports it
        out of sample. A sweep stores its runs only when given --db: each point's run (with
        --walk-forward each window's runs) under its own run id, the run_id of each in --json.""")
    _common(p)
    _feed_options(p, replay_only=True)
    p.add_argument("mode", nargs="?", choices=("run", "sweep"), default="run",
                   help="run (default): one backtest; sweep: a grid of --param values (--param, --processes "
                   "and --walk-forward are the sweep's alone)")
    p.add_argument("--start", help="first open time replayed (YYYY-MM-DD[THH:MM], UTC; default: feed.replay.start)")
    p.add_argument("--end", help="first open time NOT replayed: the end is exclusive (YYYY-MM-DD[THH:MM], UTC; "
                   "default: feed.replay.end)")
    p.add_argument("--json", action="store_true", help="print one JSON object with all figures (a sweep: a list, one per point or walk-forward window)")
    p.add_argument("--out", metavar="DIR", help="write trades.csv, equity.csv, report.txt and report.json here "
                   "(a plain backtest: a sweep writes no files)")
    p.add_argument("--no-charts", action="store_true", help="omit the plotext charts")
    p.add_argument("--param", action="append", default=[], metavar="PATH=SPEC", help="sweep: a parameter grid, e.g. "
                   "signal_generation.z_score_threshold=1.5:3.0:0.25 or risk_management.stop_loss_percent=1,2,3")
    p.add_argument("--processes", type=_at_least_one, metavar="N",
                   help="sweep: worker processes (default: all cores; at most one per point and "
                   "4 per core)")
    p.add_argument("--walk-forward", type=_at_least_one, metavar="N", dest="walk_forward",
                   help="sweep: N in-sample / out-of-sample windows (70 %% / 30 %% of each)")

    p = sub.add_parser("config", help="check or show configuration", description="Check or show configuration.")
    csub = p.add_subparsers(dest="config_cmd", metavar="ACTION")
    c = _subparser(csub, "check", help="validate FILE: errors and warnings; exit 0 valid, 2 invalid",
                   examples="config check", description="""
        Validate FILE laid over the built-in defaults. Every bad field is named by its dotted path
        (risk_management.stop_loss_percent); warnings name values that are valid but probably unwise.
        Exit code 0 when valid (warnings or not), 2 when invalid.""")
    c.add_argument("file", nargs="?", metavar="FILE",
                   help="a TOML configuration file, or --config FILE (config/default.toml documents every key)")
    _common(c, uses_db=False)
    c = _subparser(csub, "show", help="print the effective configuration (secrets redacted)",
                   examples="config show", description="""
        Print the effective configuration as TOML, secrets redacted: the shipped defaults, your file in
        the platform config directory (or FILE, or --config FILE) and --db laid over them. A first
        comment line names the sources; the output is itself a valid configuration file.""")
    c.add_argument("file", nargs="?", metavar="FILE", help="a TOML configuration file (default: your user file)")
    _common(c)

    p = sub.add_parser("data", help="download historical klines", description="Market data tools.")
    dsub = p.add_subparsers(dest="data_cmd", metavar="ACTION")
    d = _subparser(dsub, "download", help="fetch klines from Binance REST into files the replay feed reads",
                   examples="data download", description="""
        Fetch closed historical klines from Binance REST (paged, rate-limit aware) into
        OUT/SYMBOL/INTERVAL/YYYY-MM-01.json, one file per month, which --data reads. Resumable: a run
        interrupted (Ctrl-C, exit 130) keeps the files it completed, and the same command again goes on
        from them. Needs the network; no API keys.""")
    d.add_argument("--symbols", required=True, metavar="LIST", help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    d.add_argument("--interval", required=True, metavar="IV", help="a Binance kline interval, e.g. 1m, 15m, 1h, 1d")
    d.add_argument("--start", required=True, help="first open time fetched (YYYY-MM-DD[THH:MM], UTC)")
    d.add_argument("--end", help="first open time NOT fetched: the end is exclusive (YYYY-MM-DD[THH:MM], UTC; "
                   "default: now)")
    d.add_argument("--out", default="data/klines", metavar="DIR", help="output folder (default: data/klines)")
    _common(d, uses_db=False)

    p = _subparser(
        sub, "export",
        help="write a book's history (fills, orders, positions, equity, audit log, sessions) as CSV",
        description="Write the history of a paper or live book as CSV files into DIR: fills.csv, orders.csv, "
                    "positions.csv, equity.csv, audit.csv and sessions.csv (each session's start, end, how it "
                    "ended - clean, unclean or open - and summary; exact decimals, times in ms and ISO-8601 UTC). "
                    "It changes nothing in the book; the database may be in use by a running tui-trader.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--book", choices=("paper", "live"),
                   help="which default database to read: paper or live (default: paper); not with --db or "
                   "storage.path, which name the file")
    _common(p)
    return parser


def _value_flags(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The option strings of ``parser`` and its subcommands that take a value (``--db PATH``),
    each with its ``nargs`` (``"?"``: the value may be left out, as in ``--report [RUN_ID]``)."""
    flags: dict[str, Any] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _value_flags(sub)
        elif action.option_strings and action.nargs != 0:
            flags.update(dict.fromkeys(action.option_strings, action.nargs))
    return flags


#: The commands whose first word is an action (``config show``): options before the action go after it.
_ACTIONS = ("config", "data")


def _skip_value(argv: list[str], i: int, value_flags: dict[str, Any]) -> int:
    """The index after ``argv[i]`` and its value, when it is an option that takes one."""
    a = argv[i]
    if "=" not in a and a in value_flags:
        optional = value_flags[a] == "?"
        if not (optional and i + 1 < len(argv) and argv[i + 1].startswith("-")):
            i += 1  # its value, whatever it looks like (a left-out optional one: the next option)
    return i + 1


def _asks_version(argv: list[str], value_flags: dict[str, Any]) -> bool:
    """--version anywhere, as an option and not another option's value (``tui-trader --db x.db
    --version`` said "invalid choice: 'x.db'", ``tui-trader run --version`` "unrecognized arguments")."""
    i = 0
    while i < len(argv):
        if argv[i] == "--":
            return False
        if argv[i] == "--version":
            return True
        i = _skip_value(argv, i, value_flags)
    return False


def _normalise_argv(argv: list[str]) -> list[str]:
    """No subcommand means `tui` (so `tui-trader --live` opens the console in live mode).
    The subcommand goes first (``tui-trader --db x.db run`` is ``tui-trader run --db x.db``), and
    an action before its options (``config --db x.db show`` is ``config show --db x.db``): an
    option's value is never taken for the subcommand. The options keep the order they were typed
    in, so an option given twice is the later one, wherever it stands (``--db a.db run --db b.db``
    is b.db, as ``run --db a.db --db b.db`` is).
    --version anywhere is the version."""
    if argv[:1] in (["-h"], ["--help"]):
        return argv  # (a later --help is the command's: `tui-trader --db x.db --help` is the console's)
    value_flags = _value_flags(build_parser())
    if _asks_version(argv, value_flags):
        return ["--version"]
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            if a not in SUBCOMMANDS:  # the console takes no word: a typo said "unrecognized arguments: bakctest"
                raise UsageError(f"unknown command {a!r} (commands: {', '.join(SUBCOMMANDS)}; see tui-trader --help)")
            rest = [*argv[:i], *argv[i + 1:]]
            return [a, *(_action_first(rest, value_flags) if a in _ACTIONS else rest)]
        i = _skip_value(argv, i, value_flags)
    return ["tui", *argv]


def _action_first(argv: list[str], value_flags: dict[str, Any]) -> list[str]:
    """``argv`` with its first word (the action) moved before the options, which keep their order; with no action,
    --help is the command's help and anything else "expected an action" (not "invalid choice" of
    an option's value)."""
    i = 0
    while i < len(argv):
        if argv[i] in ("-h", "--help"):
            return ["--help"]  # the command's own help (`config --db x.db --help`)
        if not argv[i].startswith("-"):
            return [argv[i], *argv[:i], *argv[i + 1:]]
        i = _skip_value(argv, i, value_flags)
    return []


#: Flags whose value may look negative ("-5s"): argparse would take it for an unknown option and
#: say only "expected one argument"; joined as "--duration=-5s" the value gets its own clear error.
_SIGNED_VALUE_FLAGS = ("--duration", "--status-every", "--speed", "--seed", "--n-symbols", "--processes", "--walk-forward", "--interval")


def _join_signed_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a in _SIGNED_VALUE_FLAGS:
            nxt = next(it, None)
            if nxt is None:
                out.append(a)
            elif len(nxt) > 1 and nxt[0] == "-" and (nxt[1].isdigit() or nxt[1] == "."):
                out.append(f"{a}={nxt}")
            else:
                out.extend((a, nxt))
        else:
            out.append(a)
    return out


def refuse_empty_values(args: argparse.Namespace) -> None:
    """An option given an empty value (``--duration "$UNSET"``) is a usage error: it was taken for the
    option left out, so ``run --duration ""`` ran without end, ``--db ""`` traded the default book
    and ``--out ""`` wrote into the current folder. (``--report`` alone is its own "" and
    ``--symbols`` says so itself.)"""
    for dest, value in vars(args).items():
        if dest not in ("report", "symbols") and isinstance(value, str) and not value.strip():
            name = "FILE" if dest == "file" else "--" + dest.replace("_", "-")
            raise UsageError(f"{name}: empty value {value!r}")


def feed_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """CLI flags as a nested config override mapping."""
    feed: dict[str, Any] = {}
    if getattr(args, "feed", None):
        feed["kind"] = args.feed
    if getattr(args, "data", None):
        feed.setdefault("replay", {})["path"] = args.data
        feed.setdefault("kind", "replay")
    if getattr(args, "interval", None):
        feed["interval"] = args.interval
    if getattr(args, "symbols", None) is not None:
        feed["symbols"] = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
        if not feed["symbols"]:  # "" or "," used to mean no --symbols: the universe rule's 40 symbols
            raise UsageError(f"--symbols: no symbols given in {args.symbols!r} (e.g. BTCUSDT,ETHUSDT)")
    if getattr(args, "speed", None):
        sp = args.speed.strip().lower()
        if sp == "max":
            feed["speed"] = "max"
        else:
            try:
                feed["speed"] = float(sp.rstrip("x"))
            except ValueError:
                raise UsageError(f"--speed: expected a number or 'max', got {args.speed!r}") from None
    if getattr(args, "seed", None) is not None:
        feed.setdefault("sim", {})["seed"] = args.seed
    if getattr(args, "n_symbols", None) is not None:
        feed.setdefault("sim", {})["n_symbols"] = args.n_symbols
    out: dict[str, Any] = {"feed": feed} if feed else {}
    if getattr(args, "db", None):
        out["storage"] = {"path": args.db}
    if getattr(args, "live", False):
        out["broker"] = {"kind": "binance"}
        # live means the exchange's own prices too (a sim or replay market would trade real money
        # on made-up or past prices): unless --feed or --data says otherwise, and then it is refused
        out.setdefault("feed", {}).setdefault("kind", "binance")
    return out


def _print_issues(res_errors: list, res_warnings: list, stream=sys.stderr) -> None:
    for e in res_errors:
        print(f"error: {e}", file=stream)
    for w in res_warnings:
        print(f"warning: {w}", file=stream)


def load_cfg(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    """Load the configuration for a subcommand; ConfigError propagates (exit 2)."""
    from tui_trader.config import deep_merge, load_config

    overrides = feed_overrides(args)
    if extra:
        overrides = deep_merge(overrides, extra)
    cfg, warnings = load_config(getattr(args, "config", None), overrides=overrides)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return cfg


def cmd_config(args: argparse.Namespace) -> int:
    from tui_trader.config import check, config_sources, load_data, redacted_dump, to_toml

    if args.config_cmd in ("check", "show") and args.file and args.config and args.file != args.config:
        # one of them was dropped without a word (FILE won)
        raise UsageError(f"config {args.config_cmd}: two files given ({args.file} and --config {args.config}): "
                         "give one")
    if args.config_cmd == "check":
        args.file = args.file or args.config  # every command takes its file with --config
        if args.file is None:
            raise UsageError("config check: give the FILE to check, e.g. tui-trader config check config/default.toml")
        data = load_data(args.file)
        res = check(data, require_keys=True, strict=True)
        if res.config is not None:
            from tui_trader.ui.themes import theme_issues

            res.warnings.extend(theme_issues(res.config.ui.theme))
        _print_issues(res.errors, res.warnings, stream=sys.stdout)
        if res.errors:
            # a file that does not validate is read no further: "0 warning(s)" beside its errors said
            # its other values were fine, and a z_score_threshold = 0.1 beside a typo went unsaid
            warned = (f"{len(res.warnings)} warning(s)" if res.config is not None
                      else "warnings are checked once the errors are fixed")
            print(f"{args.file}: INVALID ({len(res.errors)} error(s), {warned})")
            return 2
        print(f"{args.file}: OK ({len(res.warnings)} warning(s))")
        return 0
    if args.config_cmd == "show":
        path = args.file or args.config
        ns = argparse.Namespace(config=path, db=getattr(args, "db", None))
        cfg = load_cfg(ns)
        if sys.stdout is None:  # started with stdout closed (`>&-`): the writes below failed with a traceback
            print("error: config show: stdout is closed: nothing to print the configuration to", file=sys.stderr)
            return 1
        # which files it used, as a TOML comment: the output stays a valid configuration file
        sys.stdout.write(f"# sources: {', '.join(config_sources(path, feed_overrides(ns)))}\n")
        sys.stdout.write(to_toml(redacted_dump(cfg)))
        return 0
    raise UsageError("config: expected an action: check FILE | show [FILE]")


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_cmd != "download":
        raise UsageError("data: expected an action: download")
    from tui_trader.market.download import main_download

    # the download's --symbols/--interval are its own arguments, not feed settings
    cfg = load_cfg(argparse.Namespace(config=args.config, db=args.db))
    return main_download(args, cfg)


def check_feed_flags(args: argparse.Namespace, cfg: Any) -> None:
    """Refuse a market-data flag the chosen feed has no use for (``--feed sim --data DIR``,
    ``--seed`` on a replay): a clear usage error, not a flag silently dropped."""
    kind = cfg.feed.kind
    if getattr(args, "data", None) and kind != "replay":
        raise UsageError(f"--data is for the replay feed, not the {kind} feed "
                         "(drop --feed to replay --data, or drop --data)")
    for flag, given in (("--seed", getattr(args, "seed", None)), ("--n-symbols", getattr(args, "n_symbols", None))):
        if given is not None and kind != "sim":
            raise UsageError(f"{flag} is for the sim feed, not the {kind} feed")
    if getattr(args, "speed", None) and kind == "binance":  # the exchange's market runs in real time
        raise UsageError("--speed is for the sim and replay feeds, not the binance feed (it runs in real time)")
    if getattr(args, "n_symbols", None) is not None and cfg.feed.symbols:
        # the sim market takes the named symbols and dropped the count without a word
        where = "--symbols" if getattr(args, "symbols", None) else "the configuration's feed.symbols"
        raise UsageError(f"--n-symbols is not used when {where} names the sim market's symbols "
                         f"({len(cfg.feed.symbols)}): give one of them")


def check_replay_data(args: argparse.Namespace, cfg: Any) -> None:
    """Refuse a replay whose files are not there before anything starts: a missing --data, or no
    klines of the interval, failed in the engine's start-up (the console opened on the error, a
    headless run logged it twice before its one-line error)."""
    if cfg.feed.kind != "replay":
        return
    path = cfg.feed.replay.path
    if not path:
        raise UsageError("--feed replay needs --data PATH (or feed.replay.path)")
    found = check_kline_files(args, path, cfg.feed.interval, cfg.feed.symbols)
    # feed.universe.blacklist leaving nothing: refused here, not in the console's start-up (a symbol
    # both listed and blacklisted is the configuration's own error)
    if not cfg.feed.symbols and found and set(found) <= set(cfg.feed.universe.blacklist):
        raise UsageError(f"feed.universe.blacklist excludes every symbol of the {cfg.feed.interval} klines in "
                         f"{path} ({', '.join(found)}): nothing to trade")


def check_kline_files(args: argparse.Namespace, path: str, interval: str, symbols: Any) -> list[str]:
    """The kline files at ``path`` (``--data`` or ``feed.replay.path``) hold ``interval`` klines of
    each of ``symbols`` (of some symbol when none are given); a UsageError naming the flag or the
    setting and the symbols without them otherwise (a misspelt one among others ran on the rest),
    for ``run --feed replay`` and ``backtest`` alike. Returns the symbols found with ``interval``
    klines."""
    from tui_trader.market.replay import ReplayError, discover

    name = "--data" if getattr(args, "data", None) else "feed.replay.path"
    try:
        files = discover(path)
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file or folder: {path}") from None
    except ReplayError as exc:
        raise UsageError(f"{name}: {exc}") from None
    if not files:
        raise UsageError(f"{name}: no kline files found in {path} (SYMBOL/INTERVAL/*.json or "
                         "data.binance.vision SYMBOL-INTERVAL-YYYY-MM.csv|zip)")
    have = sorted({iv for _, _, iv in files})
    if interval not in have:
        given = getattr(args, "interval", None)
        raise UsageError(f"{'--interval' if given else 'feed.interval'}: no {interval} klines in {path} "
                         f"(intervals found: {', '.join(have)}{'' if given else '; choose one with --interval'})")
    found = sorted({sym for _, sym, iv in files if iv == interval})
    missing = [s for s in dict.fromkeys(symbols or ()) if s not in found]
    if missing:
        name = "--symbols" if getattr(args, "symbols", None) else "feed.symbols"
        listed = ", ".join(found[:20]) + (f" and {len(found) - 20} more" if len(found) > 20 else "")
        which = (f"none of {', '.join(missing)} has" if len(missing) == len(set(symbols))
                 else f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no")
        raise UsageError(f"{name}: {which} {interval} klines in {path} (symbols found: {listed})")
    return found


def check_db_path(args: argparse.Namespace, cfg: Any, *, writes: bool = True) -> None:
    """A database path that is a folder: said as such before anything starts (the console opened
    on "unable to open database file"); ``writes``: one that cannot be written too."""
    check_db_not_folder(cfg.db_path(), "--db" if getattr(args, "db", None) else "storage.path", writes=writes)


def check_db_not_folder(path: str | Path, name: str, *, writes: bool = True) -> None:
    """:class:`UsageError` when the database file ``path`` (given by ``name``) is a folder, or no
    file at all (``/dev/null`` failed as "disk I/O error", a named pipe as "no database"), or, for a
    command that ``writes`` it, a file that cannot be written (a backtest ran the whole replay, then
    failed storing it with a traceback)."""
    path = Path(path)
    if str(path) != ":memory:" and path.is_dir():
        raise UsageError(f"{name}: {path} is a folder, not a database file (e.g. {path / 'tui-trader.db'})")
    if str(path) != ":memory:" and path.exists() and not path.is_file():
        raise UsageError(f"{name}: {path} is not a regular file: a database is a file (e.g. tui-trader.db)")
    if writes and str(path) != ":memory:" and path.is_file():
        try:
            with path.open("r+b"):  # opened for writing, nothing written
                pass
        except OSError as exc:
            raise UsageError(f"{name}: {path} cannot be written ({exc.strerror or exc}): export and --report "
                             "read a read-only book") from None
    if writes and str(path) != ":memory:":
        _check_db_folder_writable(path, name)


def _check_db_folder_writable(path: Path, name: str) -> None:
    """SQLite writes its journal (``-wal``, ``-shm``) and the engine its ``.lock`` beside the file:
    in a folder that cannot be written, a sound book was "not a usable SQLite database: unable to
    open database file". Probed with a file made and removed at once; a folder still to be made is
    probed at the nearest one that exists."""
    import tempfile

    folder = path.expanduser().absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return  # (a file where a folder should be: the storage's own error names it)
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".tui-trader-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{name}: the folder {folder} cannot be written ({exc.strerror or exc}): SQLite keeps "
                         "its journal beside the database file; export and --report read a book there") from None


#: The shortest ``--status-every`` (seconds): 0.001s wrote a thousand log lines a second, and the
#: snapshot each one reads took its share of the engine's time.
STATUS_EVERY_MIN_S = 1.0


def check_status_every(args: argparse.Namespace) -> None:
    """``--status-every``: 0 (off) or at least :data:`STATUS_EVERY_MIN_S`; a :class:`UsageError` else."""
    from tui_trader.headless import parse_status_every

    text = getattr(args, "status_every", None)
    if text is None:
        return
    try:
        every = parse_status_every(text)
    except ValueError as exc:
        raise UsageError(f"--status-every: {exc}; 0 turns the status line off") from None
    if 0 < every < STATUS_EVERY_MIN_S:
        raise UsageError(f"--status-every: at least {STATUS_EVERY_MIN_S:g}s (got {text!r}); "
                         "0 turns the status line off")


def warn_status_hidden(args: argparse.Namespace, cfg: Any) -> None:
    """A warning when ``--status-every`` asks for status lines that the log level leaves out: they
    are logged at INFO, and under ``monitoring.log_level = "warning"`` none was written, unsaid."""
    from tui_trader.headless import parse_status_every

    text = getattr(args, "status_every", None)
    level = cfg.monitoring.log_level
    if text is not None and parse_status_every(text) > 0 and level in ("warn", "warning", "error"):
        print(f"warning: --status-every {text}: status lines are logged at INFO, which monitoring.log_level = "
              f'"{level}" leaves out: none will be written (set log_level = "info" to see them)', file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from tui_trader.headless import main_run

    if args.live:
        # no flag or variable confirms live trading unattended: a restarted live session comes back
        # paused until `s` anyway; a console in tmux or screen outlives the login that started it
        raise UsageError("run --live is not supported headless: live trading needs the console's typed confirmation "
                         f"({LIVE_UNATTENDED})")
    check_status_every(args)
    cfg = load_cfg(args)
    warn_status_hidden(args, cfg)
    check_feed_flags(args, cfg)
    check_replay_data(args, cfg)
    check_db_path(args, cfg)
    if cfg.broker.kind == "binance":
        # a config file must not make a headless run trade real money: there is no confirmation here
        raise UsageError('the configuration sets broker.kind = "binance" (live trading), which `run` does not do: '
                         "live trading needs the console's --live flag and typed confirmation "
                         '(`tui-trader --live`); set broker.kind = "paper" to run headless')
    return main_run(args, cfg)


def cmd_backtest(args: argparse.Namespace) -> int:
    from tui_trader.backtest.cli import main_backtest

    cfg = load_cfg(args)
    return main_backtest(args, cfg)


def cmd_export(args: argparse.Namespace) -> int:
    from tui_trader.outdir import cannot_write, names_in
    from tui_trader.storage.export import export_book

    # --book picks the paper or the live default file; --db and storage.path name the file themselves
    cfg = load_cfg(args)
    if args.book and cfg.storage.path:  # `--book live --db paper.db` exported the paper book without a word
        name = "--db" if args.db else "storage.path"
        raise UsageError(f"--book does not apply with {name}: the book is the file {name} names (drop one of them)")
    db = cfg.db_path(live=args.book == "live")
    # (said "no database at DIR"); an export only reads. The file --book names is checked, not the
    # paper one: a folder there refused `--book live` as "storage.path", a setting never given
    name = "--db" if args.db else f"--book {args.book}" if args.book else "storage.path"
    check_db_not_folder(db, name, writes=False)
    out = Path(args.out)
    try:
        out_is_file = out.exists() and not out.is_dir()
    except OSError as exc:  # a parent that cannot be searched: it was a traceback (exit 1)
        raise UsageError(cannot_write(out, exc)) from None
    if out_is_file:  # as every --out says it ("output path exists and is not a folder")
        raise UsageError(f"--out: {out} is not a folder (an export writes its CSV files into a folder)")
    before = names_in(out)  # an earlier export's, as a rule (a folder that cannot be listed: a traceback)
    try:
        counts = export_book(db, args.out)
    except FileNotFoundError as exc:
        if cfg.storage.path:  # the file given is missing: "give the book's file with --db" would send them round
            raise UsageError(str(exc)) from None
        raise UsageError(f"{exc} (give the book's file with --db{'' if args.book == 'live' else ', or --book live'})") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for name, n in counts.items():  # other files in the folder are never touched
        print(f"{out / name}: {n:,} row(s){' (replaced the earlier file)' if name in before else ''}")
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from tui_trader.ui.launch import main_tui

    if getattr(args, "report", None) is not None:
        # the report viewer starts no engine: a market or live flag beside it was dropped without a word
        for dest in ("feed", "data", "interval", "symbols", "speed", "seed", "n_symbols", "live"):
            if getattr(args, dest, None) not in (None, False):
                raise UsageError(f"--{dest.replace('_', '-')} does not apply to --report: it shows the backtest "
                                 "reports stored in the database (--db) and starts no engine")
    cfg = load_cfg(args)
    check_feed_flags(args, cfg)
    if getattr(args, "live", False) and cfg.feed.kind != "binance":
        # before the replay's files are checked: `--live --data DIR` was told about DIR's interval first
        raise UsageError(f'--live: live trading needs the Binance market feed, not "{cfg.feed.kind}": orders '
                         "would be sized and checked on prices that are not the exchange's (drop --feed / --data)")
    if getattr(args, "report", None) is None:  # the report viewer starts no feed
        check_replay_data(args, cfg)
    check_db_path(args, cfg, writes=getattr(args, "report", None) is None)  # the report viewer only reads
    if getattr(args, "live", False) and cfg.feed.kind == "binance" and not _stdin_is_terminal():
        # the console reads its keys from stdin: `printf 'LIVE\\r' | tui-trader --live` typed the
        # confirmation from the pipe and traded live; with /dev/null the warning waited for ever
        raise UsageError("--live: the confirmation is typed at a terminal, and stdin is not one "
                         f"(live trading is never confirmed from a pipe or a script; {LIVE_UNATTENDED})")
    return main_tui(args, cfg)


#: How live trading runs unattended, said wherever it is refused without a terminal.
LIVE_UNATTENDED = "to keep it running after you log out, start `tui-trader --live` in tmux or screen"


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # a closed or odd stdin
        return False


#: The configuration field each command-line flag sets (see :func:`feed_overrides`).
FLAG_FIELDS = {"feed.kind": "feed", "feed.replay.path": "data", "feed.interval": "interval",
               "feed.symbols": "symbols", "feed.speed": "speed", "feed.sim.seed": "seed",
               "feed.sim.n_symbols": "n_symbols", "storage.path": "db", "broker.kind": "live"}


def _flag_of(args: argparse.Namespace, path: str) -> str | None:
    """The flag given on the command line that set the field ``path`` (a bad value of it is the
    flag's: it overrides the configuration files), else None."""
    field = next((f for f in FLAG_FIELDS if path == f or path.startswith(f + ".")), None)  # feed.symbols.0
    given = getattr(args, FLAG_FIELDS[field], None) if field else None
    if given is None or given is False or given == "":  # (not `in`: --seed 0 == False is given)
        return None
    return "--" + FLAG_FIELDS[field].replace("_", "-")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _early_stop_signals() -> dict[int, Any]:
    """SIGTERM and SIGHUP as Ctrl-C (``KeyboardInterrupt``: "interrupted", exit 130) while the
    arguments are parsed and, for ``run``, until its runner's own handlers are set (every other
    command gets its signals back as they were once parsed): before, one killed ``run`` in its
    first seconds (exit 143, no word). Only a signal at its default is
    taken: SIGHUP ignored (``nohup``) stays ignored. Returns what :func:`_restore_signals` puts back."""
    import signal

    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        try:
            if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _interrupt)
                previous[sig] = signal.SIG_DFL
        except (ValueError, OSError):  # not the main thread: left as it is
            pass
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    import signal

    for sig, handler in previous.items():
        try:
            if signal.getsignal(sig) is _interrupt:  # (not a handler a command put there since)
                signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    previous.clear()


def main(argv: list[str] | None = None) -> int:
    previous = _early_stop_signals()
    try:
        return _main(argv, previous)
    except KeyboardInterrupt:  # (Ctrl-C, SIGTERM or SIGHUP) while main imports or parses
        _say_interrupted()
        return 130
    finally:
        _restore_signals(previous)


def _main(argv: list[str] | None, early_signals: dict[int, Any]) -> int:
    from tui_trader.config import ConfigError
    from tui_trader.storage.schema import StorageError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(_join_signed_values(_normalise_argv(argv)))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    if args.command != "run":  # the console's and the other commands' signals are as they were
        _restore_signals(early_signals)
    handlers = {"tui": cmd_tui, "run": cmd_run, "backtest": cmd_backtest, "config": cmd_config, "data": cmd_data,
                "export": cmd_export}
    try:
        refuse_empty_values(args)
        code = handlers[args.command](args)
        if sys.stdout is not None:  # (None: started with stdout closed, `>&-`: a traceback after the work)
            sys.stdout.flush()  # a closed pipe fails here, not in the interpreter's flush at exit
        return code
    except ConfigError as exc:
        flags = [_flag_of(args, issue.path) for issue in exc.issues]
        if exc.issues and all(flags):  # the flags' own values: said as the flags, one line each
            for flag, issue in zip(flags, exc.issues, strict=True):
                print(f"error: {flag} ({issue.path}): {issue.message}", file=sys.stderr)
            return 2
        print(f"error: {exc}", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:  # --db names a file that is not a usable database (or a newer one)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _say_interrupted()
        return 130
    except BrokenPipeError:
        # stdout closed early (`tui-trader config show | head`): a traceback was printed. Quiet, as
        # rich's own output does it: stdout to /dev/null (for the flush at exit too), exit code 1.
        from tui_trader.monitor.terminal import to_devnull

        to_devnull(sys.stdout)
        return 1


def _say_interrupted() -> None:
    """"interrupted" on stderr, which a hang-up (SIGHUP after an SSH drop, which a sweep turns into
    KeyboardInterrupt) may have left a dead terminal: the write's EIO raised past the exit code, a
    traceback and exit 1 in place of 130. Its descriptor then goes to /dev/null, so the
    interpreter's flush at exit fails no more either."""
    from tui_trader.monitor.terminal import to_devnull

    if sys.stderr is None:  # started with it closed (`2>&-`)
        return
    try:
        print("interrupted", file=sys.stderr)
        sys.stderr.flush()
    except OSError:
        import contextlib

        with contextlib.suppress(OSError, ValueError, AttributeError):  # (a stream with no descriptor)
            to_devnull(sys.stderr)


def run_async(coro) -> Any:
    """asyncio.run for CLI entry points."""
    return asyncio.run(coro)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["main", "build_parser", "feed_overrides", "UsageError", "Path"]
