"""Bad input on the command line: one clear line on stderr and exit code 2, before anything runs
(no traceback, no log lines, no console opened on the error)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_trader.cli import main
from tui_trader.ui.launch import main_tui  # the real one: the fixture stubs the module's


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert captured.out == ""
    return lines[0]


def klines(root: Path, interval: str = "1h") -> Path:
    folder = root / "klines" / "BTCUSDT" / interval
    folder.mkdir(parents=True)
    row = [1704067200000, "1", "2", "0.5", "1.5", "10", 1704070799999, "15", 5, "5", "7.5", "0"]
    (folder / "2024-01-01.json").write_text(json.dumps([row]))
    return root / "klines"


@pytest.mark.parametrize("command", [["run", "--speed", "max"], []])
def test_a_replay_path_that_is_not_there(command: list[str], quiet: Path, capsys) -> None:
    # run logged a warning and the error before its error line; the console opened on the error
    assert main([*command, "--data", str(quiet / "nowhere")]) == 2
    assert one_error_line(capsys) == f"error: --data: no such file or folder: {quiet / 'nowhere'}"
    assert not (quiet / "data").exists()  # no book was opened


@pytest.mark.parametrize("command", [["run", "--speed", "max"], []])
def test_a_replay_of_an_interval_the_files_do_not_have(command: list[str], quiet: Path, capsys) -> None:
    data = klines(quiet)
    assert main([*command, "--data", str(data), "--interval", "7m"]) == 2
    assert one_error_line(capsys) == f"error: --interval: no 7m klines in {data} (intervals found: 1h)"
    assert main([*command, "--data", str(data)]) == 2  # the shipped 1m, not given: say how to choose
    assert one_error_line(capsys) == (
        f"error: feed.interval: no 1m klines in {data} (intervals found: 1h; choose one with --interval)"
    )


@pytest.mark.parametrize("command", [["run", "--speed", "max"], []])
def test_a_replay_folder_without_kline_files(command: list[str], quiet: Path, capsys) -> None:
    (quiet / "empty").mkdir()
    assert main([*command, "--data", str(quiet / "empty")]) == 2
    assert one_error_line(capsys).startswith(f"error: --data: no kline files found in {quiet / 'empty'} (")


@pytest.mark.parametrize("command", [["run", "--speed", "max"], []])
def test_a_replay_without_a_path(command: list[str], quiet: Path, capsys) -> None:
    # the console opened on "replay feed needs a path (feed.replay.path or --path)": there is no --path
    assert main([*command, "--feed", "replay"]) == 2
    assert one_error_line(capsys) == "error: --feed replay needs --data PATH (or feed.replay.path)"


def test_a_replay_path_from_the_configuration_is_named_as_such(quiet: Path, capsys) -> None:
    cfg = quiet / "c.toml"
    cfg.write_text(f'[feed]\nkind = "replay"\n[feed.replay]\npath = "{quiet / "gone"}"\n')
    assert main(["run", "--config", str(cfg)]) == 2
    assert one_error_line(capsys) == f"error: feed.replay.path: no such file or folder: {quiet / 'gone'}"


def test_a_good_replay_still_runs(quiet: Path, capsys) -> None:
    data = klines(quiet)
    assert (
        main(
            [
                "run",
                "--data",
                str(data),
                "--interval",
                "1h",
                "--speed",
                "max",
                "--json",
                "--db",
                str(quiet / "x.db"),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["stopped_by"] == "data ended"


def test_a_count_of_sim_symbols_beside_their_names_is_refused(quiet: Path, capsys) -> None:
    # the sim market took the named symbols and dropped --n-symbols without a word
    db = quiet / "x.db"
    assert (
        main(["run", "--n-symbols", "5", "--symbols", "BTCUSDT,ETHUSDT", "--duration", "1s", "--db", str(db)])
        == 2
    )
    assert one_error_line(capsys) == (
        "error: --n-symbols is not used when --symbols names the sim market's symbols (2): give one of them"
    )
    cfg = quiet / "c.toml"
    cfg.write_text('[feed]\nsymbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]\n')
    assert main(["--config", str(cfg), "--n-symbols", "5"]) == 2
    assert one_error_line(capsys) == (
        "error: --n-symbols is not used when the configuration's feed.symbols names "
        "the sim market's symbols (3): give one of them"
    )
    assert not db.exists()


@pytest.mark.parametrize("command", [["run"], ["backtest", "--data", "x"]])
def test_a_negative_interval_gets_its_own_error(command: list[str], quiet: Path, capsys) -> None:
    # argparse took "-1h" for an option: "argument --interval: expected one argument"
    assert main([*command, "--interval", "-1h"]) == 2
    assert one_error_line(capsys).startswith("error: --interval (feed.interval): bad interval '-1h': ")


@pytest.mark.parametrize(
    "command", [["run", "--speed", "max", "--duration", "1s"], [], ["--report"], ["export", "--out", "o"]]
)
def test_a_db_that_is_a_folder(command: list[str], quiet: Path, capsys) -> None:
    # the console opened on "unable to open database file" under an error banner
    assert main([*command, "--db", str(quiet)]) == 2
    assert (
        one_error_line(capsys)
        == f"error: --db: {quiet} is a folder, not a database file (e.g. {quiet / 'tui-trader.db'})"
    )


def test_the_console_on_a_db_it_cannot_create_exits_2_before_drawing(
    quiet: Path, monkeypatch, capsys
) -> None:
    # a lock file that could not be created was "left for the engine to report": the console
    # opened on it under an error banner
    import tui_trader.ui.app

    monkeypatch.setattr("tui_trader.ui.launch.main_tui", main_tui)  # the real one; the app stubbed
    monkeypatch.setattr(tui_trader.ui.app, "run_tui", lambda *a, **k: pytest.fail("the console opened"))
    (quiet / "file").write_text("")
    db = quiet / "file" / "x.db"  # its folder is a file: nothing can be created there
    assert main(["--db", str(db)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: cannot create the lock file {db}.lock for the database: "), line


@pytest.mark.parametrize(
    "flag",
    [
        ["--feed", "replay"],
        ["--data", "d"],
        ["--interval", "1h"],
        ["--symbols", "BTCUSDT"],
        ["--speed", "max"],
        ["--seed", "3"],
        ["--n-symbols", "4"],
        ["--live"],
    ],
)
def test_report_refuses_the_flags_of_an_engine_it_does_not_start(
    flag: list[str], quiet: Path, capsys
) -> None:
    # `tui-trader --report --data d` opened the stored reports and dropped --data without a word
    assert main(["--report", *flag]) == 2
    assert one_error_line(capsys) == (
        f"error: {flag[0]} does not apply to --report: it shows the backtest reports "
        "stored in the database (--db) and starts no engine"
    )


@pytest.mark.parametrize("command", [["run", "--speed", "max"], []])
def test_a_replay_of_symbols_the_files_do_not_have(command: list[str], quiet: Path, capsys) -> None:
    # run logged two warnings and the error before its error line; the console opened on it
    data = klines(quiet)
    assert main([*command, "--data", str(data), "--interval", "1h", "--symbols", "ETHUSDT,SOLUSDT"]) == 2
    assert one_error_line(capsys) == (
        f"error: --symbols: none of ETHUSDT, SOLUSDT has 1h klines in {data} (symbols found: BTCUSDT)"
    )


@pytest.mark.parametrize("command", [["run", "--speed", "max"], [], ["backtest"]])
def test_a_replay_of_a_symbol_the_files_lack_beside_others_is_refused(command: list[str], quiet: Path,
                                                                       capsys) -> None:
    # a misspelt symbol beside a good one: the run traded the good one alone, exit 0
    data = klines(quiet)
    assert main([*command, "--data", str(data), "--interval", "1h", "--symbols", "BTCUSDT,BTCCUSDT,ETHUSDT"]) == 2
    assert one_error_line(capsys) == (
        f"error: --symbols: BTCCUSDT, ETHUSDT have no 1h klines in {data} (symbols found: BTCUSDT)"
    )
    assert main([*command, "--data", str(data), "--interval", "1h", "--symbols", "BTCUSDT,SOLUSDT"]) == 2
    assert one_error_line(capsys) == (
        f"error: --symbols: SOLUSDT has no 1h klines in {data} (symbols found: BTCUSDT)"
    )


@pytest.mark.parametrize("command", [["run", "--duration", "1s"], []])
def test_speed_on_the_exchanges_feed_is_refused(command: list[str], quiet: Path, capsys) -> None:
    # the binance feed runs in real time: --speed was dropped without a word
    assert main([*command, "--feed", "binance", "--speed", "max"]) == 2
    assert one_error_line(capsys) == (
        "error: --speed is for the sim and replay feeds, not the binance feed (it runs in real time)"
    )


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--speed", "0"], "--speed (feed.speed): must be a positive number or 'max' (got 0.0)"),
        (
            ["--n-symbols", "1"],
            "--n-symbols (feed.sim.n_symbols): Input should be greater than or equal to 2 (got 1)",
        ),
        (["--seed", "-1"], "--seed (feed.sim.seed): Input should be greater than or equal to 0 (got -1)"),
        (["--interval", "0m"], "--interval (feed.interval): bad interval '0m': must be positive (got '0m')"),
        (["--symbols", "FOO"], "--symbols (feed.symbols): FOO not quoted in broker.quote_asset 'USDT'"),
    ],
)
def test_a_bad_flag_value_is_one_line_naming_the_flag_and_its_field(
    flags: list[str], says: str, quiet: Path, capsys
) -> None:
    # it was two lines, "invalid configuration (from command-line options)" and then the field alone
    assert main(["run", "--duration", "1s", *flags]) == 2
    assert one_error_line(capsys) == f"error: {says}"


def test_a_bad_value_from_a_file_still_names_the_file(quiet: Path, capsys) -> None:
    cfg = quiet / "c.toml"
    cfg.write_text("[feed]\nspeed = 0\n")
    assert main(["run", "--duration", "1s", "--config", str(cfg), "--n-symbols", "1"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: invalid configuration (from {cfg}, command-line options)",
        "  feed.speed: must be a positive number or 'max' (got 0)",
        "  feed.sim.n_symbols: Input should be greater than or equal to 2 (got 1)",
    ]
