"""The command line: help, version, exit codes, config commands, usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trader import __version__
from tui_trader.cli import _normalise_argv, feed_overrides, main

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "tui_trader", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env=e)


def test_version_and_help(capsys) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("tui", "run", "backtest", "config", "data", "Glicko-2", "paper"):
        assert word in out


@pytest.mark.parametrize("sub", ["tui", "run", "backtest", "config", "data", "export"])
def test_each_subcommand_has_help_with_common_options(sub: str, capsys) -> None:
    argv = [sub, "check", "--help"] if sub == "config" else [sub, "download", "--help"] if sub == "data" else [sub, "--help"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "--config" in out and "--db" in out


@pytest.mark.parametrize("command", [[], ["tui"], ["run"], ["backtest"], ["config", "check"], ["config", "show"],
                                     ["data", "download"], ["export"]])
def test_every_help_ends_with_examples_that_parse(command: list[str], capsys) -> None:
    # only the top-level help had examples; `config check --help` did not even say what it does
    import re
    import shlex

    from tui_trader.cli import _join_signed_values, build_parser

    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    head, sep, examples = out.partition("\nexamples:\n")
    description = re.split(r"\n(?:positional arguments|options):\n", head.split("\n\n", 1)[1])[0]
    assert sep and len(description) > 150, out  # says what the command does, after the usage
    lines = [ln.strip() for ln in examples.replace("\\\n", " ").splitlines() if ln.strip().startswith("tui-trader")]
    assert len(lines) >= 2, examples
    for line in lines:
        # the command without its comment (3 spaces, then no flag: a continued line's indent is no comment)
        argv = shlex.split(re.split(r"\s{3,}(?=[^\s-])", line)[0])[1:]
        if command:
            assert argv[:len(command)] == command or command == ["tui"], line
        # parsed as main() parses it: no usage error (exit 2) and no help (exit 0)
        build_parser().parse_args(_join_signed_values(_normalise_argv(argv)))


@pytest.mark.parametrize("flag", [["--speed", "1"], ["--seed", "3"], ["--n-symbols", "5"], ["--feed", "sim"]])
def test_backtest_refuses_flags_it_would_ignore(flag: list[str], capsys) -> None:
    # a backtest replays files at speed max: a sim or pacing flag must not be accepted and dropped
    assert main(["backtest", "--data", "x", *flag]) == 2
    err = capsys.readouterr().err
    assert f"{flag[0]} does not apply to a backtest" in err
    assert main(["backtest", "--help"]) == 0
    out = capsys.readouterr().out
    assert "report.json" in out and "--speed" not in out
    assert main(["run", "--help"]) == 0  # the engine's hosts keep them
    assert "--speed" in capsys.readouterr().out


def test_backtest_help_says_the_end_is_exclusive(capsys) -> None:
    # it said "--end  last open time", but the klines replayed are those with open_time < end
    assert main(["backtest", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--end END first open time NOT replayed: the end is exclusive" in out and "last open time" not in out


@pytest.mark.parametrize("flag", ["--processes", "--walk-forward"])
@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_sweep_counts_must_be_at_least_one(flag: str, value: str, capsys) -> None:
    # --processes -3 used to announce "2 point(s) on -3 process(es)" and fail after; 0 meant "all"
    assert main(["backtest", "sweep", "--data", "x", "--param", "a=1", flag, value]) == 2
    assert f"argument {flag}:" in capsys.readouterr().err


def test_default_subcommand_is_tui() -> None:
    assert _normalise_argv([]) == ["tui"]
    assert _normalise_argv(["--live"]) == ["tui", "--live"]
    assert _normalise_argv(["run", "--headless"]) == ["run", "--headless"]
    assert _normalise_argv(["--help"]) == ["--help"]


@pytest.mark.parametrize(
    ("argv", "normalised"),
    [
        (["--db", "x.db", "--help"], ["tui", "--db", "x.db", "--help"]),
        (["--report", "--help"], ["tui", "--report", "--help"]),
        (["--db", "x.db", "--help", "run"], ["run", "--db", "x.db", "--help"]),
    ],
)
def test_help_after_an_option_is_the_commands_help(argv: list[str], normalised: list[str], capsys) -> None:
    # `tui-trader --db x.db --help` said "invalid choice: 'x.db'" (exit 2), taking the value for the command
    assert _normalise_argv(argv) == normalised
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"usage: tui-trader {normalised[0]}" in out and "--db PATH" in out


def test_options_before_the_subcommand_go_after_it(tmp_path: Path, capsys) -> None:
    # `tui-trader --db x.db run` took x.db for the subcommand: "unrecognized arguments: run"
    assert _normalise_argv(["--db", "x.db", "run", "--headless"]) == ["run", "--db", "x.db", "--headless"]
    assert _normalise_argv(["--db", "run", "--live"]) == ["tui", "--db", "run", "--live"]  # a value, not a command
    assert _normalise_argv(["--db=x.db", "export", "--out", "o"]) == ["export", "--db=x.db", "--out", "o"]
    # --report's run id may be left out: the next option is no value of it
    assert _normalise_argv(["--report", "--db", "x.db"]) == ["tui", "--report", "--db", "x.db"]
    assert _normalise_argv(["--report", "bt-1", "--db", "x.db"]) == ["tui", "--report", "bt-1", "--db", "x.db"]
    db = tmp_path / "x.db"
    assert main(["--db", str(db), "config", "show"]) == 0
    assert f'path = "{db}"' in capsys.readouterr().out
    assert main(["--db", str(db), "run", "--feed", "sim", "--speed", "max", "--duration", "1s", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["fills"] >= 0 and db.is_file()


@pytest.mark.parametrize("argv", [["bakctest", "--data", "d"], ["--db", "x.db", "confg", "show"]])
def test_a_misspelt_command_is_named(argv: list[str], capsys) -> None:
    # it went to the console as `tui bakctest` and argparse said only "unrecognized arguments: bakctest"
    assert main(argv) == 2
    err = capsys.readouterr().err
    word = argv[0] if argv[0] != "--db" else argv[2]
    assert f"error: unknown command {word!r} (commands: tui, run, backtest, config, data, export;" in err, err


@pytest.mark.parametrize("unbuffered", ["1", ""])
@pytest.mark.parametrize("argv", [["config", "show"], ["config", "check", "config/default.toml"]])
def test_output_into_a_closed_pipe_is_no_traceback(argv: list[str], unbuffered: str, tmp_path: Path) -> None:
    # `tui-trader config show | head -1` printed a BrokenPipeError traceback
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "PYTHONUNBUFFERED": unbuffered}
    proc = subprocess.Popen([sys.executable, "-m", "tui_trader", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1 and err == ""


def test_python_dash_m_entry_point() -> None:
    r = run("--version")
    assert r.returncode == 0 and __version__ in r.stdout


def test_config_check_shipped_default_exits_zero() -> None:
    r = run("config", "check", "config/default.toml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout


def test_config_check_bad_file_names_fields_and_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[risk_management]\nmax_position_percent = 30\n[feed]\nkindd = 'sim'\n")
    r = run("config", "check", str(f))
    assert r.returncode == 2
    assert "risk_management.max_position_percent" in r.stdout
    assert "feed.kindd" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_config_check_warns_of_a_theme_that_does_not_exist(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    for theme, warned in (("tui-trader-nope", True), ("tui-trader-light", False), ("nord", False)):
        f.write_text(f"[ui]\ntheme = {theme!r}\n")
        r = run("config", "check", str(f))
        assert r.returncode == 0, r.stdout + r.stderr  # valid: the console falls back to the default
        line = f"warning: ui.theme: no theme named {theme!r} (tui-trader's: tui-trader-dark, tui-trader-light, "
        assert (line in r.stdout) == warned, r.stdout
        assert ("OK (1 warning(s))" if warned else "OK (0 warning(s))") in r.stdout


@pytest.mark.parametrize("content", [None, "this is = = not toml"])
def test_config_missing_or_malformed_is_one_line_exit_2(tmp_path: Path, content) -> None:
    f = tmp_path / "c.toml"
    if content is not None:
        f.write_text(content)
    r = run("config", "check", str(f))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_config_for_run_exits_2_naming_field(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[signal_generation]\nz_score_threshold = -1\n")
    r = run("run", "--headless", "--config", str(f), "--duration", "1s")
    assert r.returncode == 2
    assert "signal_generation.z_score_threshold" in r.stderr


def test_config_show_redacts_and_never_prints_env_secrets() -> None:
    r = run("config", "show", env={"BINANCE_API_KEY": "SUPERSECRETKEY123", "BINANCE_API_SECRET": "SHHH456"})
    assert r.returncode == 0
    assert "[signal_generation]" in r.stdout and "z_score_threshold = 2.5" in r.stdout
    assert "SUPERSECRETKEY123" not in r.stdout + r.stderr
    assert "SHHH456" not in r.stdout + r.stderr


def test_config_show_names_the_files_it_used_and_stays_valid_toml(tmp_path: Path, monkeypatch, capsys) -> None:
    # the README and --help said `config show` tells which files it used; it printed only TOML
    import tomllib

    from tui_trader.config import REPO_DEFAULT_CONFIG, Config, user_config_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first == f"# sources: {REPO_DEFAULT_CONFIG}, no user file at {user_config_path()}"
    user = user_config_path()
    user.parent.mkdir(parents=True)
    user.write_text("[signal_generation]\nz_score_threshold = 3.0\n")
    assert main(["config", "show", "--db", str(tmp_path / "x.db")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"# sources: {REPO_DEFAULT_CONFIG}, {user}, command-line options"
    cfg = Config.model_validate(tomllib.loads(out))  # still a configuration file
    assert cfg.signal_generation.z_score_threshold == 3.0 and cfg.storage.path == str(tmp_path / "x.db")


@pytest.mark.parametrize("action", ["check", "show"])
def test_config_check_or_show_takes_one_file(action: str, tmp_path: Path, capsys) -> None:
    # `config check a.toml --config b.toml` checked a.toml and dropped b.toml without a word
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("")
    b.write_text("[risk_management]\nstop_loss_percent = 200\n")
    assert main(["config", action, str(a), "--config", str(b)]) == 2
    assert capsys.readouterr().err == f"error: config {action}: two files given ({a} and --config {b}): give one\n"
    assert main(["config", action, str(a), "--config", str(a)]) == 0  # the same file twice is one


def test_usage_errors_exit_2() -> None:
    assert run("run", "--headless", "--speed", "fast").returncode == 2
    r = run("run", "--headless", "--speed", "-2")  # not "expected one argument": the value's own error
    assert r.returncode == 2 and "feed.speed" in r.stderr and "positive" in r.stderr, r.stderr
    assert run("run", "--headless", "--duration", "soon").returncode == 2
    assert run("nosuchcommand").returncode == 2


@pytest.mark.parametrize("limit", ["0", "0s", "--duration=-5", "-5s", "nan", "inf"])
def test_a_duration_that_would_end_the_run_at_once_is_refused(limit: str) -> None:
    args = [limit] if limit.startswith("--") else ["--duration", limit]
    r = run("run", "--headless", "--db", ":memory:", *args)
    assert r.returncode == 2, r.stderr
    assert "--duration" in r.stderr and "positive" in r.stderr
    assert "summary" not in r.stdout + r.stderr  # refused before any run


def test_parse_duration_units() -> None:
    from tui_trader.clock import parse_duration

    assert [parse_duration(t) for t in ("30s", "5m", "2h", "1d", "500ms", "1.5", " 2M ")] == [
        30.0, 300.0, 7200.0, 86400.0, 0.5, 1.5, 120.0]
    for bad in ("", "soon", "5x", "ms", "-1m"):
        with pytest.raises(ValueError, match="bad duration"):
            parse_duration(bad)


def test_utc_text_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from tui_trader.clock import UTC_SHORT, utc_text

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        ms = 1_704_164_645_000  # 2024-01-02 03:04:05 UTC (22:04 the day before in New York)
        assert utc_text(ms) == "2024-01-02 03:04"
        assert utc_text(ms, UTC_SHORT) == "01-02 03:04"
        assert utc_text(0, "%Y-%m-%d %H:%M:%SZ") == "1970-01-01 00:00:00Z"
    finally:
        monkeypatch.undo()  # TZ as it was, then the process's zone from it
        time.tzset()


def test_feed_overrides_from_flags() -> None:
    import argparse

    ns = argparse.Namespace(feed="replay", data="/d", interval="1h", symbols="btcusdt, ethusdt", speed="max",
                            seed=7, n_symbols=100, db="/x.db", live=False)
    o = feed_overrides(ns)
    assert o["feed"]["kind"] == "replay" and o["feed"]["replay"]["path"] == "/d"
    assert o["feed"]["symbols"] == ["BTCUSDT", "ETHUSDT"] and o["feed"]["speed"] == "max"
    assert o["feed"]["sim"] == {"seed": 7, "n_symbols": 100}
    assert o["storage"] == {"path": "/x.db"}


@pytest.mark.parametrize("argv", [
    ["run", "--feed", "sim", "--speed", "max", "--duration", ""],  # ran without end
    ["run", "--feed", "sim", "--speed", "max", "--duration", "1s", "--db", " "],  # the default book
    ["export", "--out", ""],  # wrote into the current folder
    ["backtest", "--data", "x", "--interval", ""],
    ["backtest", "--data", "x", "--start", ""],
    ["data", "download", "--symbols", "BTCUSDT", "--interval", "1h", "--start", "2024-01-01", "--out", ""],
    ["config", "check", ""],
])
def test_an_empty_option_value_is_a_usage_error(argv: list[str], tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    given = next(i for i, a in enumerate(argv) if not a.strip())
    name = "FILE" if argv[0] == "config" else argv[given - 1]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {name}: empty value {argv[given]!r}\n"
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing was written


@pytest.mark.parametrize("given", ["", ",", " , "])
def test_symbols_flag_without_a_symbol_is_a_usage_error(given: str, tmp_path: Path, capsys) -> None:
    # it was taken for no --symbols at all: the run went on with the universe rule's symbols
    db = tmp_path / "x.db"
    assert main(["run", "--feed", "sim", "--speed", "max", "--symbols", given, "--duration", "1s", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"error: --symbols: no symbols given in {given!r}" in err and "Traceback" not in err
    assert not db.exists()  # refused before anything ran


def test_live_trading_takes_the_live_flag_whatever_the_config_says(tmp_path: Path) -> None:
    import argparse

    keys = {"BINANCE_API_KEY": "k3y", "BINANCE_API_SECRET": "s3cret"}
    f = tmp_path / "live.toml"
    f.write_text('[broker]\nkind = "binance"\n[feed]\nkind = "binance"\n')
    db = tmp_path / "l.db"
    # headless: no typed confirmation, so a config file cannot make a run trade real money
    # (it did: the engine started in live mode on the exchange)
    r = run("run", "--headless", "--config", str(f), "--db", str(db), "--duration", "1s", env=keys)
    assert r.returncode == 2, r.stderr
    assert 'broker.kind = "binance"' in r.stderr and "--live" in r.stderr
    assert not db.exists()  # refused before anything was opened
    # the console: the config alone does not go live either; --live does (and asks to type LIVE)
    r = run("--config", str(f), "--db", str(db), env=keys)
    assert r.returncode == 2 and "needs the --live flag" in r.stderr, r.stderr
    # --live means the exchange's prices: a sim or replay market is refused, not traded live
    r = run("--live", "--feed", "sim", "--db", str(db), env=keys)
    assert r.returncode == 2 and "live trading needs the Binance market feed" in r.stderr, r.stderr
    assert not db.exists()
    o = feed_overrides(argparse.Namespace(live=True))
    assert o["broker"] == {"kind": "binance"} and o["feed"] == {"kind": "binance"}
    o = feed_overrides(argparse.Namespace(live=True, feed="replay"))
    assert o["feed"] == {"kind": "replay"}  # kept, and refused by the console


def test_a_db_that_is_not_a_usable_database_is_a_clear_error(tmp_path: Path) -> None:
    # garbage, a newer schema, a folder: one 'error:' line naming the file, exit 2
    import sqlite3

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all, " * 200)
    newer = tmp_path / "newer.db"
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version = 99")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for db, says in ((garbage, "not a usable SQLite database"), (newer, "schema version 99 is newer"),
                     (folder, "is a folder, not a database file")):
        r = run("run", "--headless", "--duration", "1s", "--db", str(db))
        assert r.returncode == 2, r.stderr
        assert "\nerror: " in "\n" + r.stderr and str(db) in r.stderr and says in r.stderr
        assert "Traceback" not in r.stderr
    assert garbage.read_bytes() == b"not a database at all, " * 200  # left as it was


def test_run_does_not_take_over_someone_elses_sqlite_file(tmp_path: Path) -> None:
    # a SQLite file with tables of its own is refused, untouched; an empty file becomes a book
    import sqlite3

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE foo (x)")
    con.commit()
    con.close()
    before = other.read_bytes()
    r = run("run", "--headless", "--feed", "sim", "--speed", "max", "--duration", "1s", "--db", str(other))
    assert r.returncode == 2, r.stderr
    assert f"error: {other} is not a tui-trader database: it holds other tables (foo)" in r.stderr
    assert "Traceback" not in r.stderr
    assert other.read_bytes() == before and not Path(f"{other}-wal").exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    r = run("run", "--headless", "--feed", "sim", "--speed", "max", "--duration", "1s", "--db", str(empty))
    assert r.returncode == 0, r.stderr


def test_a_damaged_book_is_a_clear_error_and_left_as_it_was(tmp_path: Path) -> None:
    # a stored amount or position that cannot be read back: one 'error:' line, exit 2, no trading
    import sqlite3

    db = tmp_path / "book.db"
    row = None
    for duration in ("2s", "4s", "8s", "16s", "32s"):  # wall time: a loaded machine may need longer
        r = run("run", "--headless", "--feed", "sim", "--speed", "max", "--duration", duration, "--db", str(db))
        assert r.returncode == 0, r.stderr
        with sqlite3.connect(db) as probe:
            row = probe.execute("SELECT symbol FROM positions ORDER BY symbol LIMIT 1").fetchone()
        if row is not None:
            break
    assert row is not None, "sim runs of 2 to 32 s opened no position"
    (sym,) = row
    con = sqlite3.connect(db)
    fills = con.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    con.close()
    for column, bad, says in (("quantity", "abc", "money column holds 'abc'"),
                              ("quantity", "-5", f"position {sym}: quantity must be positive"),
                              ("avg_entry", "NaN", "not a finite amount")):
        con = sqlite3.connect(db)
        con.execute(f"UPDATE positions SET {column} = ? WHERE symbol = ?", (bad, sym))
        con.commit()
        con.close()
        r = run("run", "--headless", "--feed", "sim", "--speed", "max", "--duration", "2s", "--db", str(db))
        assert r.returncode == 2, r.stderr
        assert f"error: {db}: the stored book cannot be read (" in r.stderr and says in r.stderr
        assert "Traceback" not in r.stderr and "summary" not in r.stdout
        con = sqlite3.connect(db)
        assert con.execute(f"SELECT {column} FROM positions WHERE symbol = ?", (sym,)).fetchone()[0] == bad
        assert con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == fills  # nothing traded
        con.execute("UPDATE positions SET quantity = '1', avg_entry = '1' WHERE symbol = ?", (sym,))
        con.commit()
        con.close()
    # the engine state (the emergency stop, locked symbols) is part of the book too
    con = sqlite3.connect(db)
    con.execute("UPDATE engine_state SET locked_symbols_json = '{bad'")
    con.commit()
    con.close()
    r = run("run", "--headless", "--feed", "sim", "--speed", "max", "--duration", "2s", "--db", str(db))
    assert r.returncode == 2 and "the stored book cannot be read (Expecting property name" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_backtest_out_that_cannot_be_written_fails_before_the_run(tmp_path: Path, klines_dir: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    db = tmp_path / "bt.db"
    r = run("backtest", "--data", str(klines_dir), "--interval", "1h", "--out", str(not_a_folder), "--db", str(db))
    assert r.returncode == 2
    assert f"error: --out: cannot write to {not_a_folder}" in r.stderr and "Traceback" not in r.stderr
    assert not db.exists()  # nothing was run or stored
    out = tmp_path / "new" / "reports"  # a folder that does not exist yet is made
    r = run("backtest", "--data", str(klines_dir), "--interval", "1h", "--start", "2024-03-01", "--end",
            "2024-03-08", "--out", str(out), "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert {p.name for p in out.iterdir()} == {"equity.csv", "trades.csv", "report.txt", "report.json"}
    # one line naming the files, for a log or grep (it was wrapped at 80 columns off a terminal)
    names = ", ".join(str(out / n) for n in ("trades.csv", "equity.csv", "report.txt", "report.json"))
    assert f"\nwrote {names}\n" in f"\n{r.stderr}", r.stderr


def test_backtest_db_that_cannot_be_used_fails_before_the_run(tmp_path: Path, klines_dir: Path, capsys) -> None:
    # it used to replay everything and only then say "cannot open the database"; had it started the
    # run, its JSON would be on stdout (the data's files are checked first: a refused --interval
    # creates no database, test_review30_docs_backtest_refusal_db)
    out = tmp_path / "out"
    code = main(["backtest", "--data", str(klines_dir), "--interval", "1h", "--start", "2024-03-01", "--end",
                 "2024-03-02", "--db", "/sys/tui-trader-bt.db", "--json", "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 2, cap.err
    assert cap.err.startswith("error: --db: the folder /sys cannot be written") and cap.out == ""
    assert not out.exists()  # no file written, and the --out folder it made is removed again


def test_walk_forward_windows_shorter_than_the_z_window_run(tmp_path: Path, klines_dir: Path) -> None:
    # each run warms up on the klines before its window, so 7d 12h in sample against a z-score
    # window of 200 hourly periods (8d 8h) trades; it was refused as "no window could trade"
    r = run("backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--db", str(tmp_path / "s.db"),
            "--start", "2024-03-01", "--end", "2024-03-31", "--param", "signal_generation.z_score_threshold=2,3",
            "--walk-forward", "7", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 7 and all(w["best"] is not None and w["oos"] is not None for w in rows)
    assert sum(w["is"]["n_trades"] for w in rows) > 0


def test_walk_forward_windows_without_an_in_sample_sharpe_are_refused(tmp_path: Path, klines_dir: Path) -> None:
    # 24 h in 30 rolling windows: 1h 43m in sample, one hourly return: no Sharpe to choose by
    r = run("backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--db", str(tmp_path / "s.db"),
            "--start", "2024-03-01", "--end", "2024-03-02", "--param", "signal_generation.z_score_threshold=2,3",
            "--walk-forward", "30")
    assert r.returncode == 2, r.stderr
    assert "--walk-forward 30: each in-sample window would span 1h 43m" in r.stderr
    assert "less than the 2 rating periods (2h 0m) an in-sample Sharpe needs" in r.stderr
    assert "use --walk-forward 22 or fewer" in r.stderr  # 23 or more leave a window without a kline
    assert "Traceback" not in r.stderr and "Walk-forward" not in r.stdout


@pytest.mark.parametrize("case", ["symbol", "empty", "after", "reversed", "walk-forward"])
def test_a_sweep_no_point_could_run_is_one_usage_error(case: str, tmp_path: Path, klines_dir: Path,
                                                       capsys) -> None:
    # every point used to be started in a worker and fail on its own (exit 1); raw ms in the
    # walk-forward message
    empty = tmp_path / "empty"
    empty.mkdir()
    data, extra, says = {
        "symbol": (klines_dir, ["--symbols", "FOOUSDT"], "--symbols: none of FOOUSDT has 1h klines"),
        "empty": (empty, [], "--data: no kline files found"),
        "after": (klines_dir, ["--start", "2030-01-01"], "no 1h klines to replay from 2030-01-01 00:00 UTC on"),
        "reversed": (klines_dir, ["--start", "2024-06-01", "--end", "2024-03-01"],
                     "--end 2024-03-01 00:00 UTC must be after --start 2024-06-01 00:00 UTC"),
        "walk-forward": (klines_dir, ["--start", "2030-01-01", "--walk-forward", "3"],
                         "no 1h klines to replay from 2030-01-01 00:00 UTC on"),
    }[case]
    if case != "symbol":
        extra += ["--symbols", "BTCUSDT"]
    code = main(["backtest", "sweep", "--data", str(data), "--interval", "1h", "--db", str(tmp_path / "s.db"),
                 "--param", "signal_generation.z_score_threshold=2,3", "--processes", "2", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"error: {says}" in err, err
    assert "point(s) on" not in err and "failed" not in err and "Traceback" not in err


@pytest.mark.parametrize(("flag", "argv"), [
    ("--out", ["backtest", "sweep", "--data", "x", "--param", "signal_generation.z_score_threshold=2,3",
               "--out", "o"]),
    ("--walk-forward", ["backtest", "--data", "x", "--walk-forward", "3"]),
    ("--processes", ["backtest", "--data", "x", "--processes", "2"]),
    ("--data", ["run", "--feed", "sim", "--data", "x", "--duration", "1s"]),
    ("--seed", ["run", "--feed", "replay", "--data", "x", "--seed", "3", "--duration", "1s"]),
])
def test_flags_the_chosen_mode_would_drop_are_usage_errors(flag: str, argv: list[str], tmp_path: Path,
                                                            capsys) -> None:
    # each used to be accepted and ignored: a sweep wrote no --out files, a --walk-forward without
    # --param ran one plain backtest, the sim feed dropped --data
    data = tmp_path / "data"
    data.mkdir()
    argv = [str(data) if a == "x" else str(tmp_path / "o") if a == "o" else a for a in argv]
    assert main([*argv, "--db", str(tmp_path / "t.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} ") and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "t.db").exists()


def test_backtest_and_sweep_take_start_and_end_from_the_config(tmp_path: Path, klines_dir: Path,
                                                                capsys) -> None:
    # `run --feed replay` honoured [feed.replay] start/end; a backtest replayed all the data
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[feed.replay]\nstart = "2024-03-01"\nend = "2024-03-08"\n')
    base = ["--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT", "--config", str(cfg),
            "--db", str(tmp_path / "b.db")]
    assert main(["backtest", *base, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["start_ms"] == 1709251200000 and rep["end_ms"] == 1709856000000  # 2024-03-01 .. 03-08
    assert main(["backtest", *base, "--json", "--end", "2024-03-05"]) == 0  # a flag wins
    assert json.loads(capsys.readouterr().out)["end_ms"] == 1709596800000
    cfg.write_text('[feed.replay]\nstart = "2030-01-01"\n')
    assert main(["backtest", "sweep", *base, "--param", "signal_generation.z_score_threshold=2,3"]) == 2
    assert "no 1h klines to replay from 2030-01-01 00:00 UTC on" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is a Linux call")
def test_a_sweep_uses_the_cores_it_may_run_on_not_the_hosts(tmp_path: Path, klines_dir: Path) -> None:
    # a container pinned to one core of a large host started one process per host core
    args = ["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT",
            "--start", "2024-01-01", "--end", "2024-01-05", "--param", "signal_generation.z_score_threshold=2,3",
            "--db", str(tmp_path / "s.db")]
    r = subprocess.run([sys.executable, "-m", "tui_trader", *args], capture_output=True, text=True, timeout=120,
                       cwd=REPO, preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "sweep: 2 point(s) on 1 process(es)" in r.stderr


def test_sweep_warnings_come_once_after_the_table_with_their_points(tmp_path: Path, klines_dir: Path) -> None:
    # the data starts 2024-01-01: every point's run starts without a warm-up; each worker printed
    # that, unlabelled, in the middle of the progress; now one line says which points it concerns
    r = run("backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT",
            "--start", "2024-01-01", "--end", "2024-01-15", "--param", "signal_generation.z_score_threshold=2,3",
            "--processes", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("backtest warm-up") == 1, r.stderr
    line = next(x for x in r.stderr.splitlines() if "warm-up" in x)
    assert line == ("warning: all 2 points: backtest warm-up: 0 of 201 klines before the start (the data begins "
                    "2024-01-01 00:00 UTC): ratings and z-scores settle inside the run")
    assert "Sweep" in r.stdout and "Traceback" not in r.stderr
    # --json: the JSON alone on stdout (the table went there too), the warnings in each run's metrics
    r = run("backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT",
            "--start", "2024-01-01", "--end", "2024-01-10", "--param", "signal_generation.z_score_threshold=2,3",
            "--processes", "1", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout)
    assert [row["point"] for row in rows] == [{"signal_generation.z_score_threshold": v} for v in (2.0, 3.0)]
    assert all("0 of 201 klines" in row["metrics"]["warnings"][0] for row in rows)
    assert r.stderr.count("backtest warm-up") == 1


def test_walk_forward_without_a_start_warms_up_first_and_cuts_windows_on_kline_times(
    tmp_path: Path, klines_dir: Path
) -> None:
    # window 1's in-sample run used to trade from the data's first kline, with no warm-up (a plain
    # backtest warms the ratings up on the first 201), and the windows were cut at 02:33 and such
    r = run("backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--db", str(tmp_path / "s.db"),
            "--symbols", "BTCUSDT,ETHUSDT,SOLUSDT", "--end", "2024-04-01",
            "--param", "signal_generation.z_score_threshold=2", "--walk-forward", "2", "--processes", "1", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout)
    hour = 3_600_000
    first = 1_704_067_200_000  # 2024-01-01T00:00Z, the data's first open time
    assert rows[0]["is_start_ms"] == first + 201 * hour  # as `backtest` over the same data
    bounds = [r_[k] for r_ in rows for k in ("is_start_ms", "is_end_ms", "oos_start_ms", "oos_end_ms")]
    assert all(b % hour == 0 for b in bounds), bounds
    assert [r_["window"] for r_ in rows] == [0, 1]
