"""Benchmark of the operator console under load (headless, ``App.run_test``).

Usage: ``python benchmarks/ui.py [--json] [--seconds S] [--symbols N] [--rating-ms MS]``

Setup: the real engine on the seeded sim feed, N symbols (default 2,000) on
1 s candles in real time (4 price ticks + 1 candle per second, every symbol
each time), the default 5-minute rating period, a 160x45 terminal, the engine
running in the app's asyncio loop exactly as in production.

Figures (besides the run's ``symbols``, ``seconds``, UI ``ticks`` and ``klines`` through the engine):

* ``refresh_mean_ms`` / ``refresh_p99_ms`` / ``refresh_max_ms``: the UI timer's
  work per tick (``engine.snapshot()`` + numpy diff + writing the changed cells
  of every pane), ``ui.refresh_ms`` = 250 ms apart;
* ``paint_mean_ms`` / ``paint_p99_ms``: Textual's compositor update of the
  main screen (rendering the changed lines), per frame;
* ``key_to_effect_mean_ms`` / ``key_to_effect_p99_ms`` / ``key_to_effect_max_ms``:
  from pressing ``p`` (pilot) until the engine's state changed (pause/resume
  alternately), watched by a task polling every millisecond;
* ``first_frame_s``: from starting the app to Textual's Ready event (first
  frame on screen); ``first_data_s``: until the first frame with the engine's
  data (engine start-up with its warm-up included);
* ``timer_lag_p99_ms``: how late the 250 ms UI timer fired (loop starvation);
* ``cpu_pct``: the process's CPU time (user + system, engine included) over the streaming
  time, in percent of one core.

Targets (issue): refresh p99 <= 50 ms; key-to-effect <= 100 ms; first frame <= 1.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

try:
    import tui_trader  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _args import SIM_SYMBOLS, config_or_exit, int_range, json_line, positive_float

from tui_trader.config import Config
from tui_trader.models import EngineState
from tui_trader.runtime import build_engine
from tui_trader.ui.app import TuiTraderApp

TARGET_REFRESH_P99_MS = 50.0
TARGET_KEY_MS = 100.0
TARGET_FIRST_FRAME_S = 1.5


class _BenchApp(TuiTraderApp):
    first_frame_t: float | None = None

    def on_ready(self) -> None:
        self.first_frame_t = time.perf_counter()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def settings(n_symbols: int, rating_ms: int) -> dict:
    """The settings over the shipped configuration: the seeded sim market on 1 s candles in real time."""
    return {
        "feed": {"kind": "sim", "interval": "1s", "speed": 1.0,
                 "sim": {"n_symbols": n_symbols, "warmup_periods": 1, "seed": 7}},
        "data_processing": {"rating_calculation_interval_ms": rating_ms},
    }


async def run(seconds: float, n_symbols: int, rating_ms: int, presses: int) -> dict[str, float | int]:
    cfg = Config.model_validate(settings(n_symbols, rating_ms))
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(cfg, db_path=str(Path(tmp) / "bench.db"), session_kind="tui", autostart=True)
        app = _BenchApp(engine, cfg, handle_signals=False)
        app.animation_level = "none"
        t_start = time.perf_counter()
        paints: list[float] = []
        async with app.run_test(size=(160, 45)) as pilot:
            await asyncio.wait_for(app.engine_ready.wait(), 120)  # the first refresh follows at once
            await pilot.pause()
            first_data = time.perf_counter() - t_start
            screen = app.main_screen
            original = screen._compositor_refresh

            def timed_paint() -> None:
                t = time.perf_counter()
                original()
                paints.append(time.perf_counter() - t)

            screen._compositor_refresh = timed_paint
            app.refresh_times.clear()
            ticks: list[float] = []
            original_refresh = app._apply_main

            def apply_main(snap) -> None:
                ticks.append(time.perf_counter())
                original_refresh(snap)

            app._apply_main = apply_main
            r0, t0_cpu = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            await asyncio.sleep(seconds)
            r1, t1_cpu = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / (t1_cpu - t0_cpu)

            latencies: list[float] = []
            for i in range(presses):
                target = EngineState.PAUSED if engine.state == EngineState.RUNNING else EngineState.RUNNING
                t0 = time.perf_counter()

                async def watch(target=target) -> float:
                    while True:
                        if engine.state == target:
                            return time.perf_counter()
                        await asyncio.sleep(0.001)

                watcher = asyncio.create_task(watch())
                await pilot.press("p")
                latencies.append(await asyncio.wait_for(watcher, 10) - t0)
                await asyncio.sleep(0.3 + 0.07 * (i % 5))  # land at different points of the engine's cycle
            refresh = list(app.refresh_times)
            klines = engine.counters["klines"]
        interval = cfg.ui.refresh_ms / 1000
        lags = [max(0.0, b - a - interval) for a, b in zip(ticks, ticks[1:], strict=False)]
        first_frame = (app.first_frame_t or float("nan")) - t_start
    ms = 1000.0
    return {
        "symbols": n_symbols,  # counts are whole numbers (the JSON said 2000.0 symbols)
        "seconds": seconds,
        "ticks": len(refresh),
        "klines": int(klines),
        "refresh_mean_ms": _mean(refresh) * ms,
        "refresh_p99_ms": _pct(refresh, 0.99) * ms,
        "refresh_max_ms": max(refresh) * ms if refresh else float("nan"),
        "paint_mean_ms": _mean(paints) * ms,
        "paint_p99_ms": _pct(paints, 0.99) * ms,
        "key_to_effect_mean_ms": _mean(latencies) * ms,
        "key_to_effect_p99_ms": _pct(latencies, 0.99) * ms,
        "key_to_effect_max_ms": max(latencies) * ms if latencies else float("nan"),
        "first_frame_s": first_frame,
        "first_data_s": first_data,
        "timer_lag_p99_ms": _pct(lags, 0.99) * ms,
        "cpu_pct": cpu * 100.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true",
                    help="print one JSON line with all figures (null: not measured, e.g. --presses 0)")
    ap.add_argument("--seconds", type=positive_float, default=20.0, help="streaming time measured (default 20)")
    ap.add_argument("--symbols", type=int_range(*SIM_SYMBOLS), default=2000,
                    help=f"sim symbols, {SIM_SYMBOLS[0]} to {SIM_SYMBOLS[1]} (default 2000)")
    ap.add_argument("--rating-ms", type=int_range(1), default=300_000, help="rating period in ms (default 300000)")
    ap.add_argument("--presses", type=int_range(0), default=20, help="key presses timed (default 20)")
    args = ap.parse_args(argv)
    config_or_exit(ap, settings(args.symbols, args.rating_ms), "--symbols / --rating-ms")
    out = asyncio.run(run(args.seconds, args.symbols, args.rating_ms, args.presses))
    if args.json:
        print(json_line(out, sort_keys=True))
        return 0

    def ok(value: float, target: float) -> str:
        if value != value:  # NaN: nothing measured (e.g. --presses 0)
            return "not measured"
        return "ok" if value <= target else "OVER TARGET"

    print(f"{out['symbols']} symbols, 1 s candles, {out['seconds']:g} s, {out['ticks']} UI ticks, "
          f"{out['klines']} klines through the engine")
    print(f"UI refresh per tick   mean {out['refresh_mean_ms']:7.2f} ms  p99 {out['refresh_p99_ms']:7.2f} ms  "
          f"max {out['refresh_max_ms']:7.2f} ms   (p99 <= {TARGET_REFRESH_P99_MS:.0f} ms: "
          f"{ok(out['refresh_p99_ms'], TARGET_REFRESH_P99_MS)})")
    print(f"screen paint          mean {out['paint_mean_ms']:7.2f} ms  p99 {out['paint_p99_ms']:7.2f} ms")
    print(f"key to effect (p)     mean {out['key_to_effect_mean_ms']:7.2f} ms  p99 {out['key_to_effect_p99_ms']:7.2f} ms  "
          f"max {out['key_to_effect_max_ms']:7.2f} ms   (<= {TARGET_KEY_MS:.0f} ms: "
          f"{ok(out['key_to_effect_p99_ms'], TARGET_KEY_MS)})")
    print(f"first frame           {out['first_frame_s']:7.3f} s   (<= {TARGET_FIRST_FRAME_S} s: "
          f"{ok(out['first_frame_s'], TARGET_FIRST_FRAME_S)}); first frame with engine data "
          f"{out['first_data_s']:.3f} s")
    print(f"UI timer lag p99      {out['timer_lag_p99_ms']:7.2f} ms")
    print(f"CPU (engine + UI)     {out['cpu_pct']:7.1f} % of one core over the streaming time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
