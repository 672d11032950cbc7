"""The benchmark scripts' command line and output shape (never their speed: the figures are
printed, not asserted). ``--json`` prints exactly one line of strict JSON on stdout; a bad option
or a missing data folder is a usage error (exit 2, a message naming it, no traceback) found
before any timing starts."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"


def bench(
    name: str, *args: str, data: Path | str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if data is not None:
        env["TUI_TRADER_SHARED_DATA"] = str(data)
    env["TUI_TRADER_LOG_FILE"] = "off"
    return subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)  # fmt: skip


def undocumented(name: str, out: object) -> set[str]:
    """The keys of a benchmark's JSON (nested ones too, but not the N of ``sizes``) that its
    docstring does not name as ``key``."""
    doc = ast.get_docstring(ast.parse((BENCH / f"{name}.py").read_text())) or ""
    found: set[str] = set()

    def walk(o: object) -> None:
        if isinstance(o, dict):
            found.update(k for k in o if not k.isdigit())
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(out)
    return {k for k in found if f"``{k}``" not in doc}


def one_json_line(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout[-2000:]
    return json.loads(lines[0], parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))


def test_storage_quick_json_has_the_documented_keys() -> None:
    out = one_json_line(bench("storage", "--quick", "--json"))
    assert set(out) == {
        "queue_ratings_us", "flush_10k_ratings_ms", "replay_s", "replay_no_klines_s", "replay_periods",
        "money_tx_ms_normal", "money_tx_ms_full", "load_history_ms",
    }  # fmt: skip
    assert all(isinstance(v, int | float) and v > 0 for v in out.values())
    assert undocumented("storage", out) == set()


def test_engine_replays_2024_twice_each_on_a_book_of_its_own(shared_data: Path) -> None:
    """The replay is timed twice (files parsed, then cached): the second run on the first's book
    was refused once a replay before a book's time was, and the benchmark ended in a traceback."""
    data = str(shared_data / "binance_spot_klines")
    out = one_json_line(bench("engine", "--sizes", "10", "--periods", "5", "--json", "--data", data))
    assert out["replay_fills"] == 733
    assert out["replay_final_equity"] == pytest.approx(10181.32772932, abs=1e-8)
    assert out["replay_wall_warm_s"] > 0 and out["replay_load_warm_s"] > 0


def test_engine_and_feed_json_keys_are_documented(tmp_path: Path) -> None:
    engine = one_json_line(bench("engine", "--sizes", "10", "--periods", "5", "--no-replay", "--json"))
    assert [row["n"] for row in engine["sim"]] == [10] and engine["sim"][0]["periods"] == 5
    assert undocumented("engine", engine) == set()
    feed = one_json_line(
        bench("feed", "--no-replay", "--sim-klines", "2", "--json", data=tmp_path / "absent")
    )
    assert "replay_klines" not in feed and feed["sim_symbols"] == 2000 and feed["sim_rejected"] == 0
    assert undocumented("feed", feed) == set()


@pytest.mark.parametrize(
    ("name", "args", "option"),
    [
        ("engine", ["--sizes", "abc"], "--sizes"),
        ("engine", ["--periods", "0"], "--periods"),
        (
            "engine",
            ["--sizes", "10", "--periods", "5", "--klines-per-period", "20000"],
            "rating_calculation_interval_ms",
        ),
        ("feed", ["--sim-klines", "0"], "--sim-klines"),
        ("backtest", ["--start", "2024-13-45"], "--start"),
        ("backtest", ["--interval", "7x"], "--interval"),
        ("backtest", ["--sim-symbols", "1"], "--sim-symbols"),
        ("ui", ["--seconds", "-1"], "--seconds"),
        ("ui", ["--presses", "-2"], "--presses"),
    ],
)
def test_a_bad_option_is_a_usage_error_naming_it(
    name: str, args: list[str], option: str, tmp_path: Path
) -> None:
    r = bench(name, *args, "--json", timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    assert option in r.stderr.splitlines()[-1]
    assert r.stdout == ""


@pytest.mark.parametrize(("name", "args"), [("feed", []), ("engine", ["--sizes", "10", "--periods", "5"]),
                                            ("backtest", ["--no-sim"])])  # fmt: skip
def test_a_missing_data_folder_is_named_before_any_work(name: str, args: list[str], tmp_path: Path) -> None:
    r = bench(name, *args, "--json", data=tmp_path / "absent", timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    last = r.stderr.splitlines()[-1]
    assert (
        "data folder not found" in last
        and str(tmp_path / "absent") in last
        and "TUI_TRADER_SHARED_DATA" in last
    )
    assert "usage:" in r.stderr  # refused by the argument check, before the sim sizes run
    assert r.stdout == ""


def test_a_data_file_is_refused_as_not_a_folder(tmp_path: Path) -> None:
    # it said "data folder not found" of a file that exists
    f = tmp_path / "BTCUSDT-1h.json"
    f.write_text("[]")
    r = bench("backtest", "--no-sim", "--data", str(f), "--json", timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert f"{f} is a file" in r.stderr.splitlines()[-1]


def test_backtest_data_that_cannot_be_replayed_is_a_usage_error(klines_dir: Path) -> None:
    r = bench("backtest", "--no-sim", "--symbols", "FOOUSDT", "--json", "--data", str(klines_dir))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "FOOUSDT" in r.stderr.splitlines()[-1]


def test_backtest_sim_universe_too_small_for_32_opponents_plays_round_robin(klines_dir: Path) -> None:
    """Fewer than 34 symbols: the engine rates such periods as a round robin, and so does the
    benchmark's rating step alone (it asserted sampled games and crashed)."""
    out = one_json_line(
        bench(
            "backtest",
            "--data",
            str(klines_dir),
            "--symbols",
            "BTCUSDT",
            "--start",
            "2024-12-01",
            "--sim-symbols",
            "20",
            "--sampled-periods",
            "10",
            "--allpairs-periods",
            "0",
            "--json",
        )
    )
    assert out["sampled32"]["symbols"] == 20 and out["sampled32"]["periods"] == 10
    assert out["sampled32"]["rating_ms"] > 0 and "allpairs" not in out
    assert undocumented("backtest", out) == set()


def test_ui_json_is_strict_when_nothing_was_measured() -> None:
    """--presses 0 times no key: the key figures are null, not the bare NaN json.dumps writes."""
    out = one_json_line(bench("ui", "--seconds", "0.2", "--symbols", "10", "--presses", "0", "--json"))
    assert out["key_to_effect_p99_ms"] is None and out["key_to_effect_max_ms"] is None
    assert out["symbols"] == 10 and out["first_frame_s"] > 0
    assert undocumented("ui", out) == set()


def test_rating_without_the_glicko2_package_says_what_to_install() -> None:
    """It timed the numpy side, then died with ModuleNotFoundError on the pure-Python one."""
    code = (
        "import runpy, sys; sys.modules['glicko2'] = None; sys.argv = ['rating.py', '--json']; "
        f"runpy.run_path({str(BENCH / 'rating.py')!r}, run_name='__main__')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert "glicko2" in r.stderr.splitlines()[-1] and ".[test]" in r.stderr
