"""Parameter parsing, grids, process-pool sweeps and walk-forward windows."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from tui_trader.backtest.sweep import (
    apply_overrides,
    best_row,
    grid,
    heat_style,
    heatmap_table,
    parse_param,
    run_sweep,
    sweep_notes,
    walk_forward,
    walk_forward_windows,
)
from tui_trader.config import Config

Z = "signal_generation.z_score_threshold"
MA = "signal_generation.moving_average_period"


def toy_runner(config_dict: dict, data_spec: dict | None) -> dict:
    """Deterministic fake metrics from two parameters (top level: picklable)."""
    z = config_dict["signal_generation"]["z_score_threshold"]
    ma = config_dict["signal_generation"]["moving_average_period"]
    spec = data_spec or {}
    if spec.get("fail_z") == z:
        raise RuntimeError(f"boom at z={z}")
    if spec.get("die_z") == z:
        os._exit(3)  # the worker process dies, as when it is killed or runs out of memory
    if z in spec.get("hold_z", ()):  # announce this process, then hold it (bounded), then say it finished
        marks = Path(spec["marks"])
        (marks / f"started-{os.getpid()}").touch()
        time.sleep(spec.get("hold", 20.0))
        (marks / f"finished-{os.getpid()}").touch()
    target = spec.get("target", 2.0)
    if "start_ms" in spec:  # walk-forward: the best z moves with the window
        target = 1.5 + spec["start_ms"] / 1000
    warnings = [w.format(z=z) for w in spec.get("warn", ()) if "{z}" not in w or z in spec.get("warn_z", (z,))]
    return {
        "warnings": warnings,
        "total_return": z / 10,
        "sharpe": -((z - target) ** 2) + ma / 1000,
        "max_drawdown": 0.01 * z,
        "n_trades": ma,
        "span": [spec.get("start_ms"), spec.get("end_ms")],
        "pid": os.getpid(),
    }


# ---------------------------------------------------------------------------
# parse_param
# ---------------------------------------------------------------------------


def test_range_is_inclusive():
    path, values = parse_param(f"{Z}=1.5:3.0:0.25")
    assert path == Z
    assert values == [1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0]


def test_range_end_kept_despite_float_rounding():
    # (0.3 - 0.1) / 0.1 == 1.9999999999999998 in floats
    _, values = parse_param(f"{Z}=0.1:0.3:0.1")
    assert values == [0.1, 0.2, 0.3]
    _, values = parse_param(f"{Z}=1:2:0.3")  # 2 is not on the grid: stop before it
    assert values == [1.0, 1.3, 1.6, 1.9]


def test_values_take_the_configuration_types():
    _, values = parse_param(f"{MA}=50:200:50")
    assert values == [50, 100, 150, 200] and all(type(v) is int for v in values)
    _, values = parse_param("risk_management.max_total_positions=1, 2,5")
    assert values == [1, 2, 5]
    _, values = parse_param("order_execution.use_limit_orders=true,false")
    assert values == [True, False]
    with pytest.raises(ValueError, match="value '2024-01-01T00:00' is not valid"):  # colons but not a range
        parse_param(f"{Z}=2024-01-01T00:00")
    _, values = parse_param(f"{Z}=2,2.0,3")  # duplicates dropped
    assert values == [2.0, 3.0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("signal_generation.nope=1", r"signal_generation\.nope.*'nope' is not a key of signal_generation"),
        ("signal_generatio.z_score_threshold=1", "not a key of the configuration"),
        ("signal_generation=1", "is a section"),
        (f"{Z}.x=1", "is a setting, not a section"),
        (f"{Z}=-1", rf"{Z}: value '-1' is not valid"),
        (f"{Z}=abc", rf"{Z}: value 'abc' is not valid"),
        (f"{MA}=1.5:2.5:0.5", rf"{MA}: value 1.5 is not valid"),
        ("risk_management.max_position_percent=10,25", "safety limit"),
        (f"{Z}1.5", "expected PATH="),
        (f"{Z}=", "no values"),
        (f"{Z}=1:2", "START:STOP:STEP"),
        (f"{Z}=1:2:0", "step must be > 0"),
        (f"{Z}=3:2:0.5", "below its start"),
        (f"{Z}=1,,2", "empty value"),
        (f"{Z}=0.001:100:0.001", "at most"),
    ],
)
def test_bad_params_name_the_path(text, match):
    with pytest.raises(ValueError, match=match):
        parse_param(text)


# ---------------------------------------------------------------------------
# grid and overrides
# ---------------------------------------------------------------------------


def test_grid_size_and_order():
    g = grid([f"{Z}=1.5:3.0:0.25", f"{MA}=50,100,200"])
    assert len(g) == 7 * 3
    assert g[0] == {Z: 1.5, MA: 50} and g[1] == {Z: 1.5, MA: 100} and g[-1] == {Z: 3.0, MA: 200}
    assert grid([(Z, [2.0, 3.0])]) == [{Z: 2.0}, {Z: 3.0}]
    with pytest.raises(ValueError, match="one or two"):
        grid([(Z, [1.0]), (MA, [50]), ("risk_management.max_total_positions", [1])])
    with pytest.raises(ValueError, match="given twice"):
        grid([(Z, [1.0]), (Z, [2.0])])


def test_apply_overrides_validates_the_whole_config():
    base = Config()
    cfg = apply_overrides(base, {Z: 3.0, MA: 120})
    assert cfg.signal_generation.z_score_threshold == 3.0
    assert cfg.signal_generation.moving_average_period == 120
    assert cfg.risk_management == base.risk_management
    with pytest.raises(ValueError, match=MA):
        apply_overrides(base, {MA: 1})


# ---------------------------------------------------------------------------
# run_sweep
# ---------------------------------------------------------------------------


def test_run_sweep_over_two_processes():
    seen: list[tuple[int, int]] = []
    console = Console(record=True, width=120)
    rows = run_sweep(
        Config(),
        [f"{Z}=1.5:2.5:0.5", f"{MA}=100,200"],
        toy_runner,
        processes=2,
        progress=lambda done, total: seen.append((done, total)),
        data_spec={"fail_z": 2.5},
        console=console,
    )
    assert [r["point"] for r in rows] == grid([f"{Z}=1.5:2.5:0.5", f"{MA}=100,200"])
    assert seen == [(i, 6) for i in range(0, 7)]  # the total from the start: a bar shows 0/6, not 0/?
    ok = [r for r in rows if r["error"] is None]
    assert len(ok) == 4
    for r in ok:
        z, ma = r["point"][Z], r["point"][MA]
        assert r["metrics"]["sharpe"] == pytest.approx(-((z - 2.0) ** 2) + ma / 1000)
        assert r["metrics"]["n_trades"] == ma
        assert r["metrics"]["pid"] != os.getpid()  # ran in a worker process
    failed = [r for r in rows if r["error"]]
    assert [r["point"][Z] for r in failed] == [2.5, 2.5]
    assert all("boom at z=2.5" in r["error"] and r["metrics"] is None for r in failed)
    assert rows[best_row(rows)]["point"] == {Z: 2.0, MA: 200}
    text = console.export_text()
    assert "Sweep" in text and "sharpe by z_score_threshold (rows) x moving_average_period" in text
    assert "RuntimeError: boom at z=2.5" in text
    assert "0.20" in text  # best Sharpe: -(0)^2 + 0.2


def test_a_worker_that_dies_fails_its_own_point_only(tmp_path):
    # one point killing its process (out of memory, a crash in native code) broke the pool, and
    # every point still running or waiting was reported failed with it
    spec = {"die_z": 2.0, "hold_z": [1.0, 3.0, 4.0, 5.0], "marks": str(tmp_path), "hold": 0.5}
    rows = run_sweep(Config(), [(Z, [1.0, 2.0, 3.0, 4.0, 5.0])], toy_runner, processes=2, data_spec=spec)
    assert [r["point"][Z] for r in rows if r["error"]] == [2.0]
    assert "worker process died" in rows[1]["error"] and rows[1]["metrics"] is None
    for r in rows:
        if r["point"][Z] != 2.0:
            assert r["metrics"]["total_return"] == pytest.approx(r["point"][Z] / 10)


def test_walk_forward_goes_on_after_a_worker_died_in_sample(tmp_path):
    # the out-of-sample runs were submitted to the broken pool: BrokenProcessPool, a traceback
    spec = {"die_z": 2.5, "hold_z": [1.5, 2.0], "marks": str(tmp_path), "hold": 0.2}
    rows = walk_forward(Config(), [(Z, [1.5, 2.0, 2.5])], toy_runner, spec, 0, 1200, 3, 0.5, processes=2)
    assert [r["best"] for r in rows] == [{Z: 1.5}, {Z: 2.0}, {Z: 2.0}]
    assert all(r["error"] is None and r["oos"] is not None for r in rows)
    assert all("worker process died" in r["grid"][2]["error"] for r in rows)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _started(marks: Path, n: int) -> list[int]:
    """The pids of the ``n`` held workers once each has started (bounded wait)."""
    for _ in range(1200):
        pids = [int(p.name.split("-")[1]) for p in marks.glob("started-*")]
        if len(pids) >= n:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"the held points did not start: {sorted(p.name for p in marks.iterdir())}")


def test_ctrl_c_stops_the_running_points_at_once(tmp_path):
    # shutdown(wait=True) let the running points finish first: a Ctrl-C waited minutes per point
    def progress(done: int, total: int) -> None:
        if done:  # the quick point is in: interrupt while the other is held
            _started(tmp_path, 1)
            raise KeyboardInterrupt

    spec = {"hold_z": [2.0], "marks": str(tmp_path), "hold": 30.0}
    with pytest.raises(KeyboardInterrupt):
        run_sweep(Config(), [(Z, [1.0, 2.0])], toy_runner, processes=2, progress=progress, data_spec=spec)
    pids = _started(tmp_path, 1)
    assert not list(tmp_path.glob("finished-*"))  # stopped, not waited for
    assert not any(_alive(p) for p in pids)


SWEEP_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_backtest_sweep import Z, toy_runner
from tui_trader.backtest.sweep import run_sweep
from tui_trader.config import Config

if __name__ == "__main__":
    spec = {{"hold_z": [1.0, 2.0], "marks": {marks!r}, "hold": 30.0}}
    run_sweep(Config(), [(Z, [1.0, 2.0])], toy_runner, processes=2, data_spec=spec)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminated_sweep_leaves_no_worker_behind(tmp_path, sig):
    # `kill PID` (or `timeout`) ended the sweep's process at once and its workers ran on, orphaned,
    # then waited forever on their queue
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT.format(tests=str(Path(__file__).parent), marks=str(marks)))
    err = tmp_path / "stderr.txt"
    with err.open("wb") as fh:  # a file, not a pipe: orphaned workers would hold a pipe open
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=fh)
    pids: list[int] = []
    try:
        pids = _started(marks, 2)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) != 0
        assert [p for p in pids if _alive(p)] == [], err.read_text()
        assert not list(marks.glob("finished-*"))
    finally:
        proc.kill()
        proc.wait()
        for p in pids:  # the test's own workers, if the sweep left them
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_best_row_takes_the_first_of_equal_rows_and_skips_unusable_ones():
    rows = [
        {"metrics": None},  # the run failed
        {"metrics": {"sharpe": 0.5}},
        {"metrics": {"sharpe": math.nan}},
        {"metrics": {"sharpe": 0.7}},
        {"metrics": {"sharpe": math.inf}},
        {"metrics": {"sharpe": 0.7}},
    ]
    assert best_row(rows) == 3
    assert best_row(rows, "sortino") is None
    assert best_row([]) is None


def test_run_sweep_checks_every_point_before_running():
    calls = []

    def runner(cfg, spec):  # a closure: fine inline, never called here
        calls.append(cfg)
        return {}

    with pytest.raises(ValueError, match="safety limit"):
        run_sweep(Config(), [("risk_management.max_position_percent", [5.0, 30.0])], runner, processes=1)
    assert calls == []
    with pytest.raises(ValueError, match="top-level"):
        run_sweep(Config(), [(Z, [2.0])], runner, processes=2)


def test_runner_must_return_a_dict():
    rows = run_sweep(Config(), [(Z, [2.0])], lambda c, s: 3.0, processes=1)
    assert rows[0]["metrics"] is None and "expected a metrics dict" in rows[0]["error"]


def test_heatmap_colours_scale_with_the_value():
    assert heat_style(0.0, 0.0, 1.0) == "black on rgb(230,60,60)"  # lowest: red
    assert heat_style(1.0, 0.0, 1.0) == "black on rgb(60,230,60)"  # highest: green
    assert heat_style(0.5, 0.0, 1.0) == "black on rgb(230,230,60)"  # middle: yellow
    assert heat_style(None, 0.0, 1.0) == "dim"
    rows = [
        {"point": {Z: z, MA: ma}, "metrics": {"sharpe": z * ma}, "error": None}
        for z in (1.0, 2.0)
        for ma in (10, 20)
    ]
    rows[0]["metrics"] = None
    console = Console(record=True, width=100)
    console.print(heatmap_table(rows, [Z, MA]))
    text = console.export_text()
    assert "40.00" in text and "20.00" in text and "–" in text


# ---------------------------------------------------------------------------
# walk-forward
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["feed.interval", "feed.kind", "feed.replay.start", "storage.path", "ui.theme",
                                  "binance.rest_url", "monitoring.log_level", "broker.kind",
                                  "data_processing.max_batch_size"])
def test_a_setting_without_effect_on_a_backtest_is_not_swept(path: str):
    # feed.interval=1h,4h ran the same backtest twice and printed two identical rows
    with pytest.raises(ValueError, match=f"^{path} has no effect on a backtest's figures"):
        parse_param(f"{path}=a,b")
    for ok in ("rating.tau=0.3,0.5", "broker.fee_rate=0.001,0.002",
               "data_processing.rating_calculation_interval_ms=3600000,7200000"):
        assert len(parse_param(ok)[1]) == 2


def test_walk_forward_window_arithmetic():
    assert walk_forward_windows(0, 1200, 3, 0.5) == [
        (0, 300, 300, 600),
        (300, 600, 600, 900),
        (600, 900, 900, 1200),
    ]
    # fraction 0.75: L_is = 3 L_oos and L_is + 2 L_oos = 1000
    assert walk_forward_windows(0, 1000, 2, 0.75) == [(0, 600, 600, 800), (200, 800, 800, 1000)]
    assert walk_forward_windows(10, 110, 1, 0.7) == [(10, 80, 80, 110)]
    # fraction 0.6: L_oos = 1000 / (3 + 1.5) = 222.2, L_is = 333.3; aligned down to 10 ms steps
    assert walk_forward_windows(0, 1000, 3, 0.6, align_ms=10) == [
        (0, 330, 330, 550),
        (220, 550, 550, 770),
        (440, 770, 770, 1000),
    ]
    # the last out-of-sample window ends at the end, not at the alignment step below it:
    # L_oos = 1005 / 4.5 = 223.3, L_is = 335 -> the last window's end 3 L_oos + L_is = 1005
    assert walk_forward_windows(0, 1005, 3, 0.6, align_ms=10)[-1] == (440, 780, 780, 1005)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 1000, 0, 0.5), "n_windows"),
        ((0, 1000, 2, 1.0), "in_sample_fraction"),
        ((0, 1000, 2, 0.0), "in_sample_fraction"),
        ((1000, 1000, 2, 0.5), "must be after"),
        ((1893456000000, 1735686000001, 2, 0.5),  # times as UTC text, not raw ms
         "end 2024-12-31 23:00 UTC must be after start 2030-01-01 00:00 UTC"),
        ((0, 5, 10, 0.5), "too short"),
    ],
)
def test_walk_forward_window_errors(args, match):
    with pytest.raises(ValueError, match=match):
        walk_forward_windows(*args)


def test_walk_forward_picks_in_sample_best_and_reports_out_of_sample():
    console = Console(record=True, width=160)
    seen = []
    rows = walk_forward(
        Config(),
        [f"{Z}=1.5:2.5:0.5"],
        toy_runner,
        data_spec={"note": "x"},
        start_ms=0,
        end_ms=1200,
        n_windows=3,
        in_sample_fraction=0.5,
        processes=1,
        progress=lambda d, t: seen.append((d, t)),
        console=console,
    )
    assert seen[-1] == (12, 12)  # 3 windows x 3 points in sample + 3 out of sample
    assert seen[0] == (0, 12) and all(t == 12 for _, t in seen)  # known before the first run ends
    # toy target z = 1.5 + start/1000: in-sample starts 0, 300, 600 -> best 1.5, 2.0, 2.0
    assert [r["best"] for r in rows] == [{Z: 1.5}, {Z: 2.0}, {Z: 2.0}]
    for r, (a, b, c, d) in zip(rows, walk_forward_windows(0, 1200, 3, 0.5), strict=True):
        assert r["is"]["span"] == [a, b]
        assert r["oos"]["span"] == [c, d]  # the chosen point re-run on the next span
        z = r["best"][Z]
        assert r["oos"]["sharpe"] == pytest.approx(-((z - (1.5 + c / 1000)) ** 2) + 0.2)
        assert r["error"] is None and len(r["grid"]) == 3
    text = console.export_text()
    assert "Walk-forward" in text and "Chosen z_score_threshold" in text and "mean" in text
    assert "1970-01-01 00:00 +0s" in text  # spans shown as UTC start + length (600 ms rounds to 0s)


def test_walk_forward_reports_windows_without_a_choice():
    rows = walk_forward(Config(), [(Z, [2.0])], toy_runner, {"fail_z": 2.0}, 0, 100, 2, 0.5, processes=1)
    assert all(r["best"] is None and r["oos"] is None for r in rows)
    assert all("no grid point" in r["error"] for r in rows)
    with pytest.raises(ValueError, match="dict"):
        walk_forward(Config(), [(Z, [2.0])], toy_runner, None, 0, 100, 2, 0.5, processes=1)


def test_sweep_table_names_its_parameters_whole_at_80_columns():
    """rich cut 'z_score_threshold' to 'z_score_thre…' at 80 columns; the Error column (empty
    unless a point failed) took the room."""
    from tui_trader.backtest.sweep import sweep_table

    paths = ["signal_generation.z_score_threshold", "risk_management.stop_loss_percent"]
    metrics = {"total_return": -0.0365, "sharpe": -0.48, "max_drawdown": 0.1262, "n_trades": 862}
    rows = [{"point": {paths[0]: z, paths[1]: s}, "metrics": metrics, "error": None}
            for z in (2.0, 2.5) for s in (2, 3)]
    console = Console(record=True, width=80)
    console.print(sweep_table(rows, paths))
    text = console.export_text()
    assert "z_score_threshold" in text and "stop_loss_percent" in text and "…" not in text
    assert "err [" not in text
    rows[1] = {**rows[1], "metrics": None, "error": "ValueError: bad"}
    console = Console(record=True, width=160)
    console.print(sweep_table(rows, paths))
    text = console.export_text()
    assert "err [1]" in text and "[1] ValueError: bad" in text


def test_walk_forward_table_fits_80_columns():
    """At 80 columns the table went to '…' in every header and number; compact, the window
    numbers, the year and the parameter names move to the title and every cell is whole."""
    from tui_trader.backtest.report import fit
    from tui_trader.backtest.sweep import walk_forward_table

    day, t0 = 86_400_000, 1_704_067_200_000  # 2024-01-01
    rows = [{"window": i + 1, "best": {Z: 2.5}, "error": None,
             "is": {"total_return": 0.0241, "sharpe": 0.47},
             "oos": {"total_return": -0.0365, "sharpe": -0.48, "max_drawdown": 0.1262},
             "is_start_ms": t0 + i * 68 * day, "is_end_ms": t0 + (i * 68 + 160) * day,
             "oos_start_ms": t0 + (i * 68 + 160) * day, "oos_end_ms": t0 + (i * 68 + 228) * day}
            for i in range(3)]
    console = Console(record=True, width=80)
    console.print(fit(console, lambda compact: walk_forward_table(rows, [Z], compact)))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "2024; chosen: z_score_threshold" in " ".join(text.split())
    assert "01-01 00:00 +160d" in text and "06-09 00:00 +68d" in text and text.count("12.62 %") == 3
    console = Console(record=True, width=160)
    console.print(fit(console, lambda compact: walk_forward_table(rows, [Z], compact)))
    assert "2024-01-01 00:00 +160d" in console.export_text()


def test_sweep_notes_name_the_points_each_warning_came_from():
    spec = {"warn": ["warm-up short", "breaker at z={z}"], "warn_z": (2.0,)}
    rows = run_sweep(Config(), [f"{Z}=1.5:2.5:0.5"], toy_runner, processes=1, data_spec=spec)
    assert sweep_notes(rows) == [
        "all 3 points: warm-up short",  # logged by every run: said once
        "z_score_threshold=2.0: breaker at z=2.0",
    ]
    two = run_sweep(Config(), [f"{Z}=1.5,2.0", f"{MA}=10,20"], toy_runner, processes=1,
                    data_spec={"warn": ["breaker at z={z}"], "warn_z": (2.0,)})  # fmt: skip
    assert sweep_notes(two) == [
        "z_score_threshold=2.0, moving_average_period=10; z_score_threshold=2.0, moving_average_period=20: "
        "breaker at z=2.0"
    ]
    assert sweep_notes(run_sweep(Config(), [f"{Z}=1.5,2.0"], toy_runner, processes=1)) == []


def test_walk_forward_notes_say_window_and_sample():
    rows = walk_forward(Config(), [f"{Z}=1.5:2.5:0.5"], toy_runner,
                        {"warn": ["breaker at z={z}"], "warn_z": (1.5, 2.0)}, 0, 1200, 2, 0.5, processes=1)  # fmt: skip
    # window 1 picks z=1.5, window 2 z=2.0 (see the test above); both are re-run out of sample
    assert [r["best"] for r in rows] == [{Z: 1.5}, {Z: 2.0}]
    assert sweep_notes(rows) == [
        "window 1 in-sample, z_score_threshold=1.5: breaker at z=1.5",
        "window 1 in-sample, z_score_threshold=2.0: breaker at z=2.0",
        "window 1 out-of-sample: breaker at z=1.5",
        "window 2 in-sample, z_score_threshold=1.5: breaker at z=1.5",
        "window 2 in-sample, z_score_threshold=2.0: breaker at z=2.0",
        "window 2 out-of-sample: breaker at z=2.0",
    ]


# ---------------------------------------------------------------------------
# --db: each point's run is stored, as a plain backtest's
# ---------------------------------------------------------------------------


def _stored_runs(db: Path) -> dict[str, tuple[dict, dict, int]]:
    """run_id -> (config, summary, number of trades) of every run stored in ``db``."""
    import json
    import sqlite3

    con = sqlite3.connect(db)
    try:
        runs = con.execute("SELECT run_id, config_json, summary_json FROM backtest_runs").fetchall()
        trades = dict(con.execute("SELECT run_id, COUNT(*) FROM backtest_trades GROUP BY run_id").fetchall())
    finally:
        con.close()
    return {r: (json.loads(c), json.loads(s), trades.get(r, 0)) for r, c, s in runs}


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_sweep_with_db_stores_each_points_run(processes: str, klines_dir: Path, tmp_path: Path, capsys):
    # `backtest sweep --db PATH` was accepted and stored nothing
    import json

    from tui_trader.cli import main

    db = tmp_path / "sweep.db"
    code = main(["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--symbols",
                 "BTCUSDT,ETHUSDT,SOLUSDT", "--start", "2024-02-01", "--end", "2024-03-01",
                 "--param", f"{Z}=2,2.5", "--processes", processes, "--db", str(db), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = json.loads(out.out)
    stored = _stored_runs(db)
    assert sorted(stored) == sorted(r["metrics"]["run_id"] for r in rows) and len(stored) == 2
    for r in rows:
        cfg, summary, n_trades = stored[r["metrics"]["run_id"]]
        assert cfg["signal_generation"]["z_score_threshold"] == r["point"][Z]
        assert summary["metrics"]["total_return"] == r["metrics"]["total_return"]
        assert n_trades > 0
    assert f"stored 2 run(s) in {db.resolve()}" in out.err
    # the same run as a plain `backtest --db` of that point stores
    cfg_file = tmp_path / "z2.toml"
    cfg_file.write_text("[signal_generation]\nz_score_threshold = 2.0\n")
    plain = tmp_path / "plain.db"
    assert main(["backtest", "--data", str(klines_dir), "--interval", "1h", "--symbols", "BTCUSDT,ETHUSDT,SOLUSDT",
                 "--start", "2024-02-01", "--end", "2024-03-01", "--config", str(cfg_file), "--db", str(plain),
                 "--json"]) == 0
    capsys.readouterr()
    (_, p_summary, p_trades), = _stored_runs(plain).values()
    (_, s_summary, s_trades), = [v for v in stored.values() if v[0]["signal_generation"]["z_score_threshold"] == 2.0]
    assert (s_trades, s_summary["metrics"]) == (p_trades, p_summary["metrics"])


def test_a_walk_forward_with_db_stores_every_window_run(klines_dir: Path, tmp_path: Path, capsys):
    import json

    from tui_trader.cli import main

    db = tmp_path / "wf.db"
    code = main(["backtest", "sweep", "--data", str(klines_dir), "--interval", "1h", "--symbols",
                 "BTCUSDT,ETHUSDT", "--start", "2024-02-01", "--end", "2024-04-01", "--param", f"{Z}=2,2.5",
                 "--walk-forward", "2", "--processes", "1", "--db", str(db), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    windows = json.loads(out.out)
    ids = {w["oos"]["run_id"] for w in windows} | {g["metrics"]["run_id"] for w in windows for g in w["grid"]}
    assert set(_stored_runs(db)) == ids and len(ids) == 2 * (2 + 1)  # per window: each point in sample, the best out
