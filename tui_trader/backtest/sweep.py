"""Parameter sweeps and walk-forward analysis over backtests.

Parameters are written ``PATH=VALUES`` where ``PATH`` is a dotted configuration key
(``signal_generation.z_score_threshold``) and ``VALUES`` is either an inclusive range
``START:STOP:STEP`` (``1.5:3.0:0.25`` -> 1.5, 1.75, ..., 3.0; the stop is kept when it is
within a float tolerance of a step) or a comma list (``1,2,5``). Every path must exist in
:class:`~tui_trader.config.Config` and every value must validate there; errors name the path.

A sweep runs one backtest per grid point (the Cartesian product of one or two parameters)
in a :class:`concurrent.futures.ProcessPoolExecutor` ("spawn" start method, one process per
core by default; never more than one per point, nor :data:`MAX_PROCESSES_PER_CORE` per core). The work is a *runner function*: a top-level (picklable) function
``runner_fn(config_dict, data_spec) -> metrics dict`` where ``config_dict`` is a validated
``Config.model_dump(mode="json")`` and ``data_spec`` is whatever the caller passes (it must be
picklable; for walk-forward it is a dict whose ``start_ms``/``end_ms`` keys - a half-open
``[start_ms, end_ms)`` span - are set per window). The metrics dict uses the keys of
:func:`~tui_trader.backtest.metrics.compute_metrics`; a sweep reads ``total_return``,
``sharpe``, ``max_drawdown`` and ``n_trades``.

Walk-forward (:func:`walk_forward`): rolling windows (:func:`walk_forward_windows`); in each,
the grid point with the best in-sample Sharpe is chosen and then run on the following
out-of-sample span, so in-sample and out-of-sample figures can be compared side by side
(a large drop out of sample is the sign of over-fitting).

The two-parameter heat map is printed twice: as a rich table of the values whose cell
backgrounds run from red (lowest) through yellow to green (highest), and as a plotext chart
drawn with one filled rectangle per point on the same scale (:func:`heatmap_chart`; plotext's
own ``heatmap`` needs pandas and ``matrix_plot`` is grey, one character per cell). Without
colour the chart's cells are shades (``░▒▓█``) by quarter of the scale.
"""

from __future__ import annotations

import contextlib
import decimal
import itertools
import math
import multiprocessing
import os
import pickle
import re
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tui_trader.clock import MS_PER_DAY, utc_text
from tui_trader.config import Config, check, deep_merge

RunnerFn = Callable[[dict[str, Any], Any], Mapping[str, Any]]
Progress = Callable[[int, int], None]

MAX_VALUES_PER_PARAM = 1000
MAX_GRID_POINTS = 10_000
RANGE_TOLERANCE = 1e-9  # in steps: 3.0 is kept in 1.5:3.0:0.25 despite float rounding
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")

# ---------------------------------------------------------------------------
# Parsing and grids
# ---------------------------------------------------------------------------


def _field_names(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def resolve_path(path: str) -> None:
    """Check that ``path`` names a leaf setting of :class:`Config`; ``ValueError`` if not."""
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise ValueError(f"bad parameter path {path!r}: expected e.g. signal_generation.z_score_threshold")
    model: type[BaseModel] = Config
    where = "the configuration"
    for i, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            raise ValueError(
                f"unknown parameter {path!r}: {part!r} is not a key of {where} "
                f"(keys: {', '.join(_field_names(model))})"
            )
        ann = fields[part].annotation
        is_section = isinstance(ann, type) and issubclass(ann, BaseModel)
        last = i == len(parts) - 1
        if last and is_section:
            raise ValueError(
                f"parameter {path!r} is a section, not a setting (keys: {', '.join(_field_names(ann))})"
            )
        if not last and not is_section:
            raise ValueError(
                f"unknown parameter {path!r}: {'.'.join(parts[: i + 1])!r} is a setting, not a section"
            )
        if not last:
            model = ann
            where = ".".join(parts[: i + 1])


#: What a sweep may vary: the settings of the strategy, its risk rules, its execution and its
#: simulated broker. The rest (the feed, which the sweep's own flags set; storage, the console,
#: Binance, monitoring; the broker kind, always paper) cannot change a backtest's figures, so a
#: grid over them would only repeat one run.
SWEPT_SECTIONS = ("signal_generation", "risk_management", "order_execution", "rating", "broker")
SWEPT_SETTINGS = frozenset({"data_processing.rating_calculation_interval_ms"})
NOT_SWEPT_SETTINGS = frozenset({"broker.kind"})


def check_swept(path: str) -> None:
    """``ValueError`` when ``path`` (a valid setting, :func:`resolve_path`) is one a backtest's
    figures do not depend on (see :data:`SWEPT_SECTIONS`)."""
    if path in SWEPT_SETTINGS or (path.split(".", 1)[0] in SWEPT_SECTIONS and path not in NOT_SWEPT_SETTINGS):
        return
    hint = " (use --interval, --symbols, --start or --end for the data)" if path.startswith("feed.") else ""
    raise ValueError(
        f"{path} has no effect on a backtest's figures, so a sweep does not vary it{hint}; a sweep varies "
        f"{', '.join(f'{s}.*' for s in SWEPT_SECTIONS)} (not {', '.join(sorted(NOT_SWEPT_SETTINGS))}) "
        f"and {', '.join(sorted(SWEPT_SETTINGS))}"
    )


def nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a.c": 2}`` -> ``{"a": {"b": 1, "c": 2}}``."""
    out: dict[str, Any] = {}
    for path, value in overrides.items():
        node = out
        *heads, leaf = path.split(".")
        for h in heads:
            node = node.setdefault(h, {})
        node[leaf] = value
    return out


def _get(cfg: Config, path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return node


def apply_overrides(base: Config | Mapping[str, Any], overrides: Mapping[str, Any]) -> Config:
    """``base`` with the dotted ``overrides`` laid on top, validated. ``ValueError`` naming
    every bad path otherwise."""
    for path in overrides:
        resolve_path(path)
    data = base.model_dump(mode="json") if isinstance(base, Config) else dict(base)
    res = check(deep_merge(data, nested(overrides)), require_keys=False)
    if res.errors or res.config is None:
        shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        raise ValueError(f"invalid configuration for {shown}: " + "; ".join(str(e) for e in res.errors))
    return res.config


def _float(text: str, path: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{path}: range {what} {text!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{path}: range {what} {text!r} must be finite")
    return v


def _range_values(path: str, spec: str) -> list[float]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise ValueError(f"{path}: range {spec!r} must be START:STOP:STEP")
    start, stop, step = (
        _float(p.strip(), path, w) for p, w in zip(parts, ("start", "stop", "step"), strict=True)
    )
    if step <= 0:
        raise ValueError(f"{path}: range step must be > 0, got {parts[2]!r}")
    if stop < start:
        raise ValueError(f"{path}: range stop {parts[1]!r} is below its start {parts[0]!r}")
    steps = (stop - start) / step + RANGE_TOLERANCE
    if not math.isfinite(steps):  # 0:1:1e-320: int() of it raised OverflowError, a traceback
        raise ValueError(f"{path}: range {spec!r} has more than {MAX_VALUES_PER_PARAM} values")
    if steps > MAX_VALUES_PER_PARAM + 1:  # too many anyway: said with the count of the floats
        n = int(math.floor(steps)) + 1
    else:  # counted on the decimals as written: in floats 1:1.000000000002:1e-12 made 1.99999 steps, its stop lost
        with decimal.localcontext(prec=60):
            start_d, stop_d, step_d = (Decimal(p.strip()) for p in parts)
            n = int((stop_d - start_d) // step_d) + 1
    if n > MAX_VALUES_PER_PARAM:
        raise ValueError(f"{path}: range {spec!r} has {n} values (at most {MAX_VALUES_PER_PARAM})")
    values = [round(start + k * step, 12) for k in range(n)]
    for a, b in itertools.pairwise(values):
        if a == b:  # a step below 1e-12, or below what a float tells apart at this size: points that
            # differed became one, and the grid lost them without a word
            raise ValueError(
                f"{path}: range {spec!r} repeats the value {a!r}: its step {parts[2].strip()!r} is finer than "
                "the values can tell apart (12 decimal places)"
            )
    return values


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``"path=1.5:3.0:0.25"`` or ``"path=1,2,5"`` -> ``(path, values)``.

    A spec is a range when it is numbers separated by colons; anything else is a comma
    list (so a time such as ``2024-01-01T00:00`` is one value).

    Values come back as the configuration types them (an int field gives ints); duplicates
    are dropped. Raises ``ValueError`` naming the path on an unknown path, a setting a sweep
    does not vary (:func:`check_swept`), a malformed spec or a value the configuration rejects.
    """
    if "=" not in text:
        raise ValueError(f"bad parameter {text!r}: expected PATH=START:STOP:STEP or PATH=V1,V2,...")
    path, spec = (s.strip() for s in text.split("=", 1))
    resolve_path(path)
    check_swept(path)
    if not spec:
        raise ValueError(f"{path}: no values given")
    raw: list[Any]
    if ":" in spec and all(_NUMBER.match(part) for part in spec.split(":")):
        raw = list(_range_values(path, spec))
    else:
        raw = [s.strip() for s in spec.split(",")]
        if any(not s for s in raw):
            raise ValueError(f"{path}: empty value in list {spec!r}")
        if len(raw) > MAX_VALUES_PER_PARAM:
            raise ValueError(f"{path}: {len(raw)} values (at most {MAX_VALUES_PER_PARAM})")
    values: list[Any] = []
    for v in raw:
        res = check(nested({path: v}), require_keys=False)
        if res.errors or res.config is None:
            msgs = "; ".join(e.message if e.path == path else str(e) for e in res.errors)
            raise ValueError(f"{path}: value {v!r} is not valid: {msgs}")
        typed = _get(res.config, path)
        if typed not in values:
            values.append(typed)
    return path, values


ParamSpec = tuple[str, Sequence[Any]] | str


def _params(params: Sequence[ParamSpec]) -> list[tuple[str, list[Any]]]:
    out = [parse_param(p) if isinstance(p, str) else (p[0], list(p[1])) for p in params]
    paths = [p for p, _ in out]
    if len(set(paths)) != len(paths):
        raise ValueError(f"a parameter is given twice: {paths}")
    for path, vals in out:
        resolve_path(path)
        if not vals:
            raise ValueError(f"{path}: no values")
    return out


def grid(params: Sequence[ParamSpec]) -> list[dict[str, Any]]:
    """Every combination of one or two parameters, as dotted-path override dicts; the first
    parameter varies slowest. Parameters are ``(path, values)`` pairs or ``PATH=VALUES`` text."""
    ps = _params(params)
    if not 1 <= len(ps) <= 2:
        raise ValueError(f"a sweep takes one or two parameters, got {len(ps)}")
    size = math.prod(len(v) for _, v in ps)
    if size > MAX_GRID_POINTS:
        raise ValueError(f"grid has {size} points (at most {MAX_GRID_POINTS})")
    paths = [p for p, _ in ps]
    return [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*(v for _, v in ps))]


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def default_processes() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: A sweep starts at most this many worker processes per core (:func:`default_processes`): a
#: backtest keeps its core busy, so more only add memory, each loading the data (``--processes
#: 10000`` on a 10,000-point grid started 10,000 processes).
MAX_PROCESSES_PER_CORE = 4


def pool_size(processes: int | None, n_jobs: int) -> tuple[int, str | None]:
    """The worker processes of a sweep of ``n_jobs`` runs asked for ``processes`` (None: one per
    core): at most one per run and :data:`MAX_PROCESSES_PER_CORE` per core. Returns the number and,
    when it is fewer than asked, why (else None). ``ValueError`` below 1."""
    cores = default_processes()
    asked = cores if processes is None else int(processes)
    if asked < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    cap = MAX_PROCESSES_PER_CORE * cores
    runs = max(1, n_jobs)
    n = min(asked, cap, runs)
    if n == asked:
        return n, None
    if n == runs and runs <= cap:
        return n, f"no more than the {runs} run{'' if runs == 1 else 's'}"
    return n, f"at most {MAX_PROCESSES_PER_CORE} per core, on {cores} core{'' if cores == 1 else 's'}"


def _call(runner_fn: RunnerFn, config_dict: dict[str, Any], data_spec: Any) -> dict[str, Any]:
    out = runner_fn(config_dict, data_spec)
    if not isinstance(out, Mapping):
        raise TypeError(f"runner returned {type(out).__name__}, expected a metrics dict")
    return dict(out)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


#: The error of a point whose worker process died under it (killed, out of memory, a crash in
#: native code). The other points run on: see :meth:`_Jobs.run`.
WORKER_DIED = "its worker process died (killed, out of memory or a crash in native code)"

#: Signals that end a sweep as Ctrl-C does (``KeyboardInterrupt``), so that its workers are
#: stopped with it, not left running, orphaned, then waiting forever on their queue.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _stop(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name}")


def _stopping(_signum: int, _frame: Any) -> None:
    """SIGTERM / SIGHUP while a sweep's workers are being stopped: nothing more to do."""


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (which the pool's queues need) ignoring SIGHUP, as
    it ignores SIGINT and SIGTERM itself: an SSH drop's SIGHUP to the process group killed it, the
    pool relaunched it and it printed a traceback for each of the pool's semaphores it had never
    seen ("KeyError: '/mp-...'") after the sweep's own "interrupted". An ignored signal stays
    ignored in the process it starts; the sweep's own handler is back at once."""
    from multiprocessing import resource_tracker

    hup = getattr(signal, "SIGHUP", None)
    if hup is None or threading.current_thread() is not threading.main_thread():
        resource_tracker.ensure_running()
        return
    old = signal.signal(hup, signal.SIG_IGN)
    try:
        resource_tracker.ensure_running()
    finally:
        signal.signal(hup, old)


class NotedStop:
    """SIGTERM / SIGHUP (``STOP_SIGNALS``) noted, never raised where they land (a KeyboardInterrupt
    raised at whatever line was running was swallowed by the cleanup it landed in): the work
    checks :meth:`check` at its safe points (between a one-process sweep's points, between a
    backtest's steps) and stops there as Ctrl-C does. Killed by them, such a run died with the
    signal, its ``--out`` folders left behind. ``on_stop``, set while a replay runs, may also cut
    it short where it can stop cleanly. Only a signal left at its default is trapped (an ignored
    one, `nohup` or `trap '' HUP`, stays ignored), and only in the main thread."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.on_stop: Callable[[], None] | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> NotedStop:
        if threading.current_thread() is threading.main_thread():
            try:
                for sig in STOP_SIGNALS:
                    if signal.getsignal(sig) is signal.SIG_DFL:
                        self._old[sig] = signal.signal(sig, self._note)
            except BaseException:  # (a Ctrl-C between the two): the one installed is given back
                self._restore()
                raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None = None, *exc: object) -> None:
        self._restore()
        if exc_type is None:  # a signal after the work's last check is not lost
            self.check()

    def _restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _note(self, signum: int, _frame: Any) -> None:
        self.name = self.name or signal.Signals(signum).name
        if self.on_stop is not None:
            self.on_stop()

    def check(self) -> None:
        """``KeyboardInterrupt`` (naming the signal) once one has come."""
        if self.name is not None:
            raise KeyboardInterrupt(self.name)


class _Jobs:
    """Runs ``runner_fn`` jobs inline (1 process) or in a spawn process pool of at most
    :func:`pool_size` workers.

    With a pool: a job whose worker process dies fails alone (the jobs caught in the broken pool
    run again, one at a time); an interrupt (Ctrl-C, or SIGTERM / SIGHUP while the pool runs,
    turned into ``KeyboardInterrupt``) stops the workers at once and propagates. Inline, SIGTERM /
    SIGHUP are noted (:class:`NotedStop`) and stop the sweep as ``KeyboardInterrupt`` between its
    points (a point is not cut short)."""

    def __init__(
        self, runner_fn: RunnerFn, processes: int | None, n_jobs: int, progress: Progress | None
    ) -> None:
        self.runner_fn = runner_fn
        self.processes = default_processes() if processes is None else int(processes)
        self.workers, _ = pool_size(self.processes, n_jobs)  # ValueError below 1
        self.total = n_jobs
        self.done = 0
        self.progress = progress
        self.pool: ProcessPoolExecutor | None = None
        self._handlers: dict[int, Any] = {}
        self._noted: NotedStop | None = None
        if self.processes > 1:
            try:
                pickle.dumps(runner_fn)
            except Exception as exc:  # noqa: BLE001 - any pickling failure means the same thing
                raise ValueError(
                    f"runner_fn must be a top-level (picklable) function to run in processes: {exc}"
                ) from None

    @staticmethod
    def _new_pool(workers: int) -> ProcessPoolExecutor:
        _start_resource_tracker()
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def __enter__(self) -> _Jobs:
        try:
            if self.processes > 1:
                self._trap_signals()
                self.pool = self._new_pool(self.workers)
            else:  # one process: a signal noted, the sweep stops between its points
                self._noted = NotedStop().__enter__()
            self._report()  # the total is known before the first job ends (a bar shows 0/N, not 0/?)
        except BaseException as exc:  # a failed start: its handlers given back, its pool stopped
            self.__exit__(type(exc))
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if self.pool is not None:
                if exc_type is not None and not issubclass(exc_type, Exception):
                    # a second SIGTERM / SIGHUP while they are stopped: the stop is under way, its
                    # KeyboardInterrupt cut it short, the workers left running (the exit then
                    # waiting for their points)
                    for sig in self._handlers:
                        signal.signal(sig, _stopping)
                    self._kill_workers()  # Ctrl-C: now, not once the running jobs are done
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.pool = None
        finally:
            self._restore_signals()
            if self._noted is not None:
                noted, self._noted = self._noted, None
                noted.__exit__(exc_type)

    def _trap_signals(self) -> None:
        """SIGTERM / SIGHUP -> ``KeyboardInterrupt`` while the pool runs, where they would end this
        process alone (only the main thread can, and only a default handler is replaced)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is signal.SIG_DFL:
                self._handlers[sig] = signal.signal(sig, _stop)

    def _restore_signals(self) -> None:
        for sig, old in self._handlers.items():
            signal.signal(sig, old)
        self._handlers.clear()

    def _kill_workers(self) -> None:
        assert self.pool is not None
        procs = list((getattr(self.pool, "_processes", None) or {}).values())  # no public way before 3.14
        for p in procs:
            with contextlib.suppress(OSError, ValueError):  # already gone, or closed
                p.terminate()
        for p in procs:
            p.join(timeout=10)

    def _tick(self) -> None:
        self.done += 1
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)

    def set_total(self, total: int) -> None:
        """The job count once it is known better (walk-forward: the out-of-sample runs)."""
        self.total = total
        self._report()

    def run(
        self, jobs: Sequence[tuple[dict[str, Any], Any]]
    ) -> list[tuple[dict[str, Any] | None, str | None]]:
        """(metrics, None) or (None, error text) per job, in job order."""
        results: list[tuple[dict[str, Any] | None, str | None]] = [(None, None)] * len(jobs)
        if self.pool is None:
            for i, (cfg, spec) in enumerate(jobs):
                if self._noted is not None:
                    self._noted.check()  # SIGTERM / SIGHUP during the last point: stop before the next
                try:
                    results[i] = (_call(self.runner_fn, cfg, spec), None)
                except Exception as exc:  # noqa: BLE001 - a failing point is reported, not fatal
                    results[i] = (None, _error_text(exc))
                self._tick()
            if self._noted is not None:
                self._noted.check()
            return results
        futures: dict[Future, int] = {
            self.pool.submit(_call, self.runner_fn, cfg, spec): i for i, (cfg, spec) in enumerate(jobs)
        }
        caught: list[int] = []
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = (fut.result(), None)
            except BrokenProcessPool:  # a worker died: this job may be innocent, run it again below
                caught.append(i)
                continue
            except Exception as exc:  # noqa: BLE001 - a failing point is reported, not fatal
                results[i] = (None, _error_text(exc))
            self._tick()
        if caught:
            self._run_alone(jobs, sorted(caught), results)
        return results

    def _run_alone(
        self,
        jobs: Sequence[tuple[dict[str, Any], Any]],
        idx: Sequence[int],
        results: list[tuple[dict[str, Any] | None, str | None]],
    ) -> None:
        """The jobs a dead worker's broken pool took down, one at a time in a one-process pool
        (a new one after each death), so that the job that kills its process is the only one
        to fail; then a fresh pool for the next :meth:`run`."""
        assert self.pool is not None
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None
        for i in idx:
            if self.pool is None:
                self.pool = self._new_pool(1)
            cfg, spec = jobs[i]
            try:
                results[i] = (self.pool.submit(_call, self.runner_fn, cfg, spec).result(), None)
            except BrokenProcessPool:
                results[i] = (None, WORKER_DIED)
                self.pool.shutdown(wait=True)
                self.pool = None
            except Exception as exc:  # noqa: BLE001 - a failing point is reported, not fatal
                results[i] = (None, _error_text(exc))
            self._tick()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.pool = self._new_pool(self.workers)


def _configs(base: Config | Mapping[str, Any], points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [apply_overrides(base, p).model_dump(mode="json") for p in points]


def run_sweep(
    base_config: Config | Mapping[str, Any],
    params: Sequence[ParamSpec],
    runner_fn: RunnerFn,
    processes: int | None = None,
    progress: Progress | None = None,
    data_spec: Any = None,
    console: Console | None = None,
    charts: bool = True,
) -> list[dict[str, Any]]:
    """Run ``runner_fn`` on every grid point (see module doc).

    Every point is validated before anything runs. Returns one row per point in grid order:
    ``{"point": {path: value}, "metrics": dict | None, "error": str | None}`` (a point whose
    run raised has ``metrics`` None and the error text). ``progress(done, total)`` is called
    after each point. With a ``console``, prints the results table and, for two parameters,
    the Sharpe heat map: the table (:func:`heatmap_tables`) and, unless ``charts`` is false, the
    plotext chart (:func:`print_heatmap_chart`).
    """
    ps = _params(params)
    points = grid(ps)
    configs = _configs(base_config, points)
    with _Jobs(runner_fn, processes, len(points), progress) as jobs:
        results = jobs.run([(c, data_spec) for c in configs])
    rows = [{"point": p, "metrics": m, "error": e} for p, (m, e) in zip(points, results, strict=True)]
    if console is not None:
        from tui_trader.backtest.report import fit_tables

        paths = [p for p, _ in ps]
        # each part of a table cut to the terminal's width keeps the point's parameters
        console.print(fit_tables(console, [lambda: sweep_table(rows, paths), lambda: sweep_table(rows, paths, True)],
                                 keep=len(paths)))  # fmt: skip
        if len(paths) == 2:
            for table in heatmap_tables(console, rows, paths, "sharpe"):
                console.print(table)
            if charts:
                print_heatmap_chart(console, rows, paths, "sharpe")
    return rows


def _metric(row_metrics: Mapping[str, Any] | None, key: str) -> float | None:
    if not row_metrics:
        return None
    v = row_metrics.get(key)
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def best_row(rows: Sequence[Mapping[str, Any]], metric: str = "sharpe") -> int | None:
    """Index of the row with the highest finite ``metric`` (first on ties), or None."""
    best, best_v = None, -math.inf
    for i, r in enumerate(rows):
        v = _metric(r.get("metrics"), metric)
        if v is not None and v > best_v:
            best, best_v = i, v
    return best


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v * 100:,.2f} %" if pct else f"{v:,.2f}"


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def sweep_table(rows: Sequence[Mapping[str, Any]], paths: Sequence[str], compact: bool = False) -> Table:
    """Return, Sharpe, max drawdown and trades per grid point; the best Sharpe in bold. The
    parameters' names are never cut (at 80 columns rich cut them to 'z_score_thre…'); ``compact``
    (a narrow terminal): no column rules, a name on several lines, broken after its underscores
    ("rating_calculation_interval_ms" took 30 columns). A failed point reads ``err [k]`` and note
    ``[k]`` under the table gives its error."""
    from tui_trader.backtest.report import table_frame

    t = table_frame("Sweep", compact)
    for p in paths:
        name = _short(p)
        if compact:
            lines = name.replace("_", "_\n").splitlines()
            cells = max((len(str(r["point"][p])) for r in rows), default=0)
            t.add_column("\n".join(lines), justify="right", width=max(cells, *(len(w) for w in lines)))
        else:
            t.add_column(name, justify="right", min_width=len(name))
    for col in ("Return", "Sharpe", "Max DD", "Trades"):
        t.add_column(col, justify="right", no_wrap=True)
    best = best_row(rows)
    # a failed point's error is a numbered note under the table: in an Error column its text
    # squeezed that column to nothing at 80 columns, and the error was lost
    notes: list[str] = []
    for i, r in enumerate(rows):
        m = r.get("metrics")
        trades = m.get("n_trades") if m else None
        ret = _fmt(_metric(m, "total_return"), pct=True)
        if r.get("error"):
            notes.append(f"[{len(notes) + 1}] {r['error']}")
            ret = f"err [{len(notes)}]"
        t.add_row(
            *(str(r["point"][p]) for p in paths),
            ret,
            _fmt(_metric(m, "sharpe")),
            _fmt(_metric(m, "max_drawdown"), pct=True),
            "–" if trades is None else str(trades),
            style="bold" if i == best else None,
        )
    if notes:
        t.caption = escape("\n".join(notes))  # an error's "[/x]" raised MarkupError, "[x]" was dropped
        t.caption_justify = "left"
    return t


def _points_label(points: Sequence[Mapping[str, Any]], total: int) -> str:
    if len(points) == total and total > 1:
        return f"all {total} points"
    return "; ".join(", ".join(f"{_short(k)}={v}" for k, v in p.items()) for p in points)


def _grouped(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Each warning of the ``rows``' runs (``metrics["warnings"]``) -> the points that logged it."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        for msg in (r.get("metrics") or {}).get("warnings") or ():
            out.setdefault(msg, []).append(r["point"])
    return out


def sweep_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The warnings the runs of a sweep (rows of :func:`run_sweep`) or of a walk-forward (rows
    of :func:`walk_forward`) logged, one line per warning and window, naming the runs it came
    from: ``"window 1 in-sample, all 4 points: backtest warm-up: ..."``."""
    if not any("window" in r for r in rows):
        return [f"{_points_label(points, len(rows))}: {msg}" for msg, points in _grouped(rows).items()]
    lines: list[str] = []
    for r in rows:
        where = f"window {r['window'] + 1}"
        grid_rows = r.get("grid") or []
        for msg, points in _grouped(grid_rows).items():
            lines.append(f"{where} in-sample, {_points_label(points, len(grid_rows))}: {msg}")
        for msg in (r.get("oos") or {}).get("warnings") or ():
            lines.append(f"{where} out-of-sample: {msg}")
    return lines


def _heat_t(value: float, lo: float, hi: float) -> float:
    """Where ``value`` lies on the scale from ``lo`` (0) to ``hi`` (1); 0.5 when all are equal."""
    return 0.5 if hi <= lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))


def heat_rgb(value: float, lo: float, hi: float) -> tuple[int, int, int]:
    """The colour of ``value`` on a red (``lo``) - yellow - green (``hi``) scale."""
    t = _heat_t(value, lo, hi)
    if t < 0.5:
        return 230, int(60 + 340 * t), 60
    return int(230 - 340 * (t - 0.5)), 230, 60


def heat_style(value: float | None, lo: float, hi: float) -> str:
    """Cell style for ``value`` on a red (``lo``) - yellow - green (``hi``) scale."""
    if value is None:
        return "dim"
    r, g, b = heat_rgb(value, lo, hi)
    return f"black on rgb({r},{g},{b})"


def heatmap_table(
    rows: Sequence[Mapping[str, Any]],
    paths: Sequence[str],
    metric: str = "sharpe",
    columns: slice | None = None,
    compact: bool = False,
) -> Table:
    """Two-parameter heat map of ``metric``: rows are values of ``paths[0]``, columns of ``paths[1]``
    (those in ``columns`` only, if given; the colour scale is the whole grid's). ``compact`` (a
    narrow terminal): no column rules, and the corner cell left empty (the title names both
    parameters). A cell is never narrower than its text: rich would cut it to '…'."""
    v0, v1, cell = _grid_cells(rows, paths, metric)
    p0, p1 = paths
    finite = [v for v in cell.values() if v is not None]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    title = f"{metric} by {_short(p0)} (rows) x {_short(p1)} (columns)"
    shown = v1 if columns is None else v1[columns]
    if len(shown) < len(v1):
        first = v1.index(shown[0]) + 1
        title += f", columns {first}-{first + len(shown) - 1} of {len(v1)}"
    if compact:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
    else:
        t = Table(title=title, title_justify="left")
    corner = "" if compact else f"{_short(p0)} \\ {_short(p1)}"
    t.add_column(corner, justify="right", style="bold", no_wrap=True, min_width=max(len(str(a)) for a in v0))
    for b in shown:
        width = max(len(str(b)), *(len(_fmt(cell.get((a, b)))) for a in v0))
        t.add_column(str(b), justify="center", no_wrap=True, min_width=width)
    for a in v0:
        cells = []
        for b in shown:
            v = cell.get((a, b))
            cells.append(Text(_fmt(v), style=heat_style(v, lo, hi)))
        t.add_row(str(a), *cells)
    return t


def heatmap_tables(
    console: Console, rows: Sequence[Mapping[str, Any]], paths: Sequence[str], metric: str = "sharpe"
) -> list[Table]:
    """The heat map as it fits ``console``: one table when it does, else compact tables of as many
    columns as fit side by side, one under the other (at 80 columns a 7 x 13 grid was cut to
    '-1…' in every cell)."""
    from rich.measure import Measurement

    def width(t: Table) -> int:
        return Measurement.get(console, console.options.update_width(10**4), t).maximum

    whole = heatmap_table(rows, paths, metric)
    if width(whole) <= console.width:
        return [whole]
    n = len(dict.fromkeys(r["point"][paths[1]] for r in rows))
    out: list[Table] = []
    i = 0
    while i < n:
        k = 1
        while i + k < n and width(heatmap_table(rows, paths, metric, slice(i, i + k + 1), compact=True)) <= console.width:
            k += 1
        out.append(heatmap_table(rows, paths, metric, slice(i, i + k), compact=True))
        i += k
    return out


#: A cell's character in the heat-map chart without colour, by quarter of the scale (lowest first).
HEAT_SHADES = "░▒▓█"
#: Rows of text the chart gives each cell at most, and the grid rows it draws at most (one row
#: of text each): a taller grid is left to the table.
MAX_ROWS_PER_CELL = 4
MAX_CHART_ROWS = 30
_CHART_CANVAS_ROWS = 16  # the cells' rows of text aimed at (the chart is 5 rows more)
_METRIC_LABELS = {"sharpe": "Sharpe", "total_return": "Return", "max_drawdown": "Max drawdown"}


def _shade(value: float, lo: float, hi: float) -> str:
    return HEAT_SHADES[min(len(HEAT_SHADES) - 1, int(_heat_t(value, lo, hi) * len(HEAT_SHADES)))]


def _grid_cells(
    rows: Sequence[Mapping[str, Any]], paths: Sequence[str], metric: str
) -> tuple[list[Any], list[Any], dict[tuple[Any, Any], float | None]]:
    if len(paths) != 2:
        raise ValueError("a heat map needs exactly two parameters")
    p0, p1 = paths
    v0 = list(dict.fromkeys(r["point"][p0] for r in rows))
    v1 = list(dict.fromkeys(r["point"][p1] for r in rows))
    cell = {(r["point"][p0], r["point"][p1]): _metric(r.get("metrics"), metric) for r in rows}
    return v0, v1, cell


def heatmap_chart(
    rows: Sequence[Mapping[str, Any]],
    paths: Sequence[str],
    metric: str = "sharpe",
    color: bool = False,
    width: int = 100,
) -> str:
    """The two-parameter heat map of ``metric`` as a plotext chart ``width`` characters wide:
    ``paths[0]``'s values up the y axis (the first at the bottom), ``paths[1]``'s along the x
    axis, one filled rectangle per point. With ``color`` a cell is red (lowest) - yellow - green
    (highest), as in :func:`heatmap_table`, else one of :data:`HEAT_SHADES` by quarter of the
    scale (the text is then plain, without escape codes). A point without a value (failed, or no
    defined ``metric``) is left blank. ``ValueError`` when the grid has more rows than
    :data:`MAX_CHART_ROWS` or more columns than the chart has characters across."""
    import plotext as plt

    v0, v1, cell = _grid_cells(rows, paths, metric)
    finite = [v for v in cell.values() if v is not None]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    y_labels = [str(a) for a in v0]
    canvas_w = width - max(len(y) for y in y_labels) - 2  # the y tick labels and the frame
    if len(v0) > MAX_CHART_ROWS:
        raise ValueError(f"{len(v0)} values of {_short(paths[0])} are more than the {MAX_CHART_ROWS} rows it draws")
    if len(v1) > canvas_w:
        raise ValueError(f"{len(v1)} values of {_short(paths[1])} are more than its {canvas_w} columns")
    per_cell = max(1, min(MAX_ROWS_PER_CELL, _CHART_CANVAS_ROWS // len(v0)))
    canvas_h = len(v0) * per_cell
    # cells on whole rows and columns of characters: plotext maps ``xlim``/``ylim`` onto the
    # first and last column (row), so coordinates are character indices and no cell overlaps another
    edges = [round(j * canvas_w / len(v1)) for j in range(len(v1) + 1)]
    x_labels = [str(b) for b in v1]
    step = max(1, math.ceil((max(len(x) for x in x_labels) + 1) / (canvas_w / len(v1))))  # labels that fit
    label = _METRIC_LABELS.get(metric, metric)
    y_name, x_name = _short(paths[0]), _short(paths[1])
    title = f"{label} by {y_name} (up) x {x_name} (across)"
    # plotext writes the y axis's name at the left of the x axis's, which it centres: when they
    # would overlap it drops one, so the y axis is then named in the title alone
    both = len(y_name) + 1 <= (width - len(x_name)) // 2
    if len(title) > canvas_w:  # plotext drops a longer title
        title = f"{label} heat map" if both else f"{label}, up: {y_name}"
        if len(title) > canvas_w:
            title = y_name
    plt.clear_figure()
    plt.limit_size(False, False)  # the width asked for (the console's), not plotext's guess of the terminal's
    plt.plotsize(width, canvas_h + 5)  # with the title, the frame, the x tick labels, the axis labels
    plt.theme("pro" if color else "clear")
    for i, a in enumerate(v0):
        ys = [i * per_cell, (i + 1) * per_cell - 1]
        for j, b in enumerate(v1):
            v = cell.get((a, b))
            if v is None:
                continue  # blank: no value
            xs = [edges[j], edges[j + 1] - 1]
            if color:
                plt.rectangle(xs, ys, fill=True, marker="█", color=heat_rgb(v, lo, hi))
            else:
                plt.rectangle(xs, ys, fill=True, marker=_shade(v, lo, hi))
    plt.xlim(0, canvas_w - 1)
    plt.ylim(0, canvas_h - 1)
    plt.xticks([(edges[j] + edges[j + 1] - 1) / 2 for j in range(0, len(v1), step)], x_labels[::step])
    plt.yticks([i * per_cell + (per_cell - 1) / 2 for i in range(len(v0))], y_labels)
    plt.title(title)
    plt.xlabel(x_name)
    if both:
        plt.ylabel(y_name)
    out = plt.build()
    plt.clear_figure()
    return out if color else plt.uncolorize(out)


def heatmap_chart_legend(
    rows: Sequence[Mapping[str, Any]], paths: Sequence[str], metric: str = "sharpe", color: bool = False
) -> Text:
    """The line under :func:`heatmap_chart`: its scale, and which cells are blank and why."""
    v0, v1, cell = _grid_cells(rows, paths, metric)
    finite = [v for v in cell.values() if v is not None]
    label = _METRIC_LABELS.get(metric, metric)
    out = Text("scale: ")
    if not finite:
        out.append(f"no point has a {label}")
    elif min(finite) == max(finite):
        out.append(f"every point {_fmt(finite[0])}")
    elif color:
        lo, hi = min(finite), max(finite)
        out.append("██", style=f"rgb{heat_rgb(lo, lo, hi)}".replace(" ", ""))
        out.append(f" {_fmt(lo)} (lowest) … ")
        out.append("██", style=f"rgb{heat_rgb(hi, lo, hi)}".replace(" ", ""))
        out.append(f" {_fmt(hi)} (highest)")
    else:
        lo, hi = min(finite), max(finite)
        out.append(f"{HEAT_SHADES[0]} {_fmt(lo)} (lowest) {' '.join(HEAT_SHADES[1:-1])} {HEAT_SHADES[-1]} {_fmt(hi)} (highest)")
    missing = len(v0) * len(v1) - len(finite)
    if missing and finite:
        failed = sum(1 for r in rows if r.get("error"))
        what = f"{missing} failed point" if failed == missing else f"{missing} point"
        out.append(f"; blank: {what}{'s' if missing != 1 else ''}")
        if failed != missing:
            out.append(f" without a {label}" + (f" ({failed} failed)" if failed else ""))
    return out


def print_heatmap_chart(
    console: Console, rows: Sequence[Mapping[str, Any]], paths: Sequence[str], metric: str = "sharpe"
) -> None:
    """:func:`heatmap_chart` and its legend on ``console``, as the backtest report prints its charts:
    as wide as the console (40 to 100 characters), in colour only on a colour terminal (not with
    ``NO_COLOR``); a grid too large for it gets a one-line note instead."""
    from tui_trader.backtest.report import CHART_WIDTH

    color = bool(console.is_terminal and console.color_system and not console.no_color)
    width = max(40, min(CHART_WIDTH, console.width))
    try:
        if all(_metric(r.get("metrics"), metric) is None for r in rows):
            raise ValueError(f"no point has a {_METRIC_LABELS.get(metric, metric)}")
        chart = heatmap_chart(rows, paths, metric, color, width)
    except ValueError as exc:
        console.print(f"(no heat-map chart: {exc}; the table above has every point)", soft_wrap=True)
        return
    console.print(Text.from_ansi(chart) if color else Text(chart), no_wrap=True, crop=True)
    console.print(heatmap_chart_legend(rows, paths, metric, color))


# ---------------------------------------------------------------------------
# Walk-forward
# ---------------------------------------------------------------------------


def walk_forward_windows(
    start_ms: int, end_ms: int, n_windows: int, in_sample_fraction: float, align_ms: int | None = None
) -> list[tuple[int, int, int, int]]:
    """Rolling walk-forward windows ``(is_start, is_end, oos_start, oos_end)`` (half-open ms).

    Each window is an in-sample span of length ``L_is`` followed by an out-of-sample span of
    length ``L_oos`` with ``L_is / (L_is + L_oos) = in_sample_fraction``; windows step by
    ``L_oos``, so the out-of-sample spans tile ``[start_ms + L_is, end_ms)`` without overlap
    and ``L_is + n_windows * L_oos = end_ms - start_ms``. Boundaries are rounded to the
    nearest ms (or down to a multiple of ``align_ms`` from ``start_ms``, e.g. the kline
    interval); the last ``oos_end`` is ``end_ms``.
    """
    if n_windows < 1:
        raise ValueError(f"n_windows must be >= 1, got {n_windows}")
    if not 0 < in_sample_fraction < 1:
        raise ValueError(f"in_sample_fraction must be between 0 and 1 (exclusive), got {in_sample_fraction}")
    if end_ms <= start_ms:
        raise ValueError(f"end {utc_text(end_ms)} UTC must be after start {utc_text(start_ms)} UTC")
    if align_ms is not None and align_ms <= 0:
        raise ValueError(f"align_ms must be > 0, got {align_ms}")
    span = end_ms - start_ms
    ratio = in_sample_fraction / (1.0 - in_sample_fraction)
    l_oos = span / (n_windows + ratio)
    l_is = l_oos * ratio

    def at(offset: float) -> int:
        if align_ms:
            return start_ms + int(math.floor(offset / align_ms + 1e-9)) * align_ms
        return start_ms + int(round(offset))

    out = []
    for k in range(n_windows):
        is_start = at(k * l_oos)
        is_end = at(k * l_oos + l_is)
        oos_end = end_ms if k == n_windows - 1 else at((k + 1) * l_oos + l_is)
        if not is_start < is_end < oos_end:
            raise ValueError(
                f"span of {span} ms is too short for {n_windows} windows with in-sample fraction "
                f"{in_sample_fraction}" + (f" aligned to {align_ms} ms" if align_ms else "")
            )
        out.append((is_start, is_end, is_end, oos_end))
    return out


def walk_forward(
    base_config: Config | Mapping[str, Any],
    params: Sequence[ParamSpec],
    runner_fn: RunnerFn,
    data_spec: Mapping[str, Any],
    start_ms: int,
    end_ms: int,
    n_windows: int,
    in_sample_fraction: float,
    processes: int | None = None,
    progress: Progress | None = None,
    console: Console | None = None,
    metric: str = "sharpe",
    align_ms: int | None = None,
) -> list[dict[str, Any]]:
    """For each window, pick the grid point with the best in-sample ``metric`` and run it out of
    sample. ``data_spec`` is a dict; each run gets a copy with ``start_ms``/``end_ms`` set.

    Returns one row per window: ``window`` (0-based), ``is_start_ms``, ``is_end_ms``,
    ``oos_start_ms``, ``oos_end_ms``, ``best`` (the chosen point or None), ``is`` and ``oos``
    (metrics dicts or None), ``error`` (why there is no choice or no out-of-sample result, else
    None) and ``grid`` (every in-sample row as :func:`run_sweep` returns them). With a
    ``console``, prints the in-sample vs out-of-sample table.
    """
    if not isinstance(data_spec, Mapping):
        raise ValueError("walk-forward needs data_spec to be a dict (start_ms/end_ms are set per window)")
    windows = walk_forward_windows(start_ms, end_ms, n_windows, in_sample_fraction, align_ms)
    ps = _params(params)
    points = grid(ps)
    configs = _configs(base_config, points)
    total = len(windows) * len(points) + len(windows)
    with _Jobs(runner_fn, processes, total, progress) as jobs:
        is_jobs = [(cfg, {**data_spec, "start_ms": w[0], "end_ms": w[1]}) for w in windows for cfg in configs]
        is_results = jobs.run(is_jobs)
        out: list[dict[str, Any]] = []
        oos_jobs: list[tuple[dict[str, Any], Any]] = []
        oos_of: list[int] = []
        for k, w in enumerate(windows):
            chunk = is_results[k * len(points) : (k + 1) * len(points)]
            rows = [{"point": p, "metrics": m, "error": e} for p, (m, e) in zip(points, chunk, strict=True)]
            b = best_row(rows, metric)
            why = f"no grid point gave a finite in-sample {metric}"
            errors = list(dict.fromkeys(r["error"] for r in rows if r["error"]))
            if b is None and errors and all(r["error"] for r in rows):
                # every run failed (a window inside a gap in the data): say with what
                more = f" (and {len(errors) - 1} other errors)" if len(errors) > 1 else ""
                why += f": every point failed: {errors[0]}{more}"
            out.append({
                "window": k,
                "is_start_ms": w[0],
                "is_end_ms": w[1],
                "oos_start_ms": w[2],
                "oos_end_ms": w[3],
                "best": None if b is None else dict(points[b]),
                "is": None if b is None else rows[b]["metrics"],
                "oos": None,
                "error": None if b is not None else why,
                "grid": rows,
            })  # fmt: skip
            if b is not None:
                oos_jobs.append((configs[b], {**data_spec, "start_ms": w[2], "end_ms": w[3]}))
                oos_of.append(k)
        jobs.set_total(len(is_jobs) + len(oos_jobs))
        for k, (m, e) in zip(oos_of, jobs.run(oos_jobs), strict=True):
            out[k]["oos"] = m
            out[k]["error"] = e
    if console is not None:
        from tui_trader.backtest.report import fit_tables

        paths = [p for p, _ in ps]
        console.print(fit_tables(console, [
            lambda: walk_forward_table(out, paths), lambda: walk_forward_table(out, paths, compact=True),
            lambda: walk_forward_table(out, paths, compact=True, lengths_in_title=True),
        ]))  # fmt: skip
    return out


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def walk_forward_table(
    rows: Sequence[Mapping[str, Any]], paths: Sequence[str], compact: bool = False, lengths_in_title: bool = False
) -> Table:
    """In-sample vs out-of-sample figures of the chosen point per window, with means.
    Spans are shown as their UTC start and length; ``compact`` (a narrow terminal) drops the
    column rules, the window numbers, the year and the parameters' names (both in the title)
    and the hours of the lengths; ``lengths_in_title`` (narrower still) also moves the lengths
    to the title when every window's in-sample, and every out-of-sample, length reads the same."""
    from tui_trader.backtest.report import fmt_duration, fmt_time, fmt_time_short, report_table

    def length(start: int, end: int) -> str:
        if not compact:
            return fmt_duration(end - start)
        days = round((end - start) / MS_PER_DAY)  # to the nearest day
        return f"{days}d" if days else fmt_duration(end - start)

    is_len = {length(r["is_start_ms"], r["is_end_ms"]) for r in rows}
    oos_len = {length(r["oos_start_ms"], r["oos_end_ms"]) for r in rows}
    shared = compact and lengths_in_title and len(is_len) == 1 and len(oos_len) == 1

    def span(start: int, end: int) -> str:
        if not compact:
            return f"{fmt_time(start)} +{length(start, end)}"
        return fmt_time_short(start) + ("" if shared else f" +{length(start, end)}")

    names = ", ".join(_short(p) for p in paths)
    title = "Walk-forward (in-sample choice, out-of-sample result)"
    if compact:
        years = sorted({utc_text(r[k], "%Y") for r in rows for k in ("is_start_ms", "oos_end_ms")})
        if years:
            title += f", {years[0]}" + (f"-{years[-1]}" if len(years) > 1 else "")
        if shared:
            title += f"; each {is_len.pop()} in sample, {oos_len.pop()} out of sample"
        title += f"; chosen: {names}"
    spec = [("#", "right"), ("In-sample (UTC)", "left"), ("Out-of-sample (UTC)", "left"),
            ("Chosen" if compact else f"Chosen {names}", "left")]
    spec += [(col, "right") for col in ("IS return", "IS Sharpe", "OOS return", "OOS Sharpe", "OOS max DD")]
    is_sh, oos_sh = [], []
    cells = []
    notes: list[str] = []
    for r in rows:
        best = r.get("best")
        chosen = ", ".join(str(best[p]) for p in paths) if best else "–"
        if r.get("error"):
            # a numbered note under the table: the error's text in the cell widened the Chosen
            # column until every number was cut to '…' at 80 columns
            notes.append(f"[{len(notes) + 1}] window {r['window'] + 1}: {r['error']}")
            chosen = f"{chosen} [{len(notes)}]"
        ism, oosm = r.get("is"), r.get("oos")
        if _metric(ism, "sharpe") is not None:
            is_sh.append(_metric(ism, "sharpe"))
        if _metric(oosm, "sharpe") is not None:
            oos_sh.append(_metric(oosm, "sharpe"))
        cells.append([
            str(r["window"] + 1),  # counted from 1, as the warnings name them (the JSON: from 0)
            span(r["is_start_ms"], r["is_end_ms"]),
            span(r["oos_start_ms"], r["oos_end_ms"]),
            chosen,
            _fmt(_metric(ism, "total_return"), pct=True),
            _fmt(_metric(ism, "sharpe")),
            _fmt(_metric(oosm, "total_return"), pct=True),
            _fmt(_metric(oosm, "sharpe")),
            _fmt(_metric(oosm, "max_drawdown"), pct=True),
        ])
    mean = ["mean", "", "", "", "", _fmt(_mean(is_sh)), "", _fmt(_mean(oos_sh)), ""]
    if compact:  # no window numbers: the rows are in order
        spec, cells, mean = spec[1:], [c[1:] for c in cells], mean[1:]
        mean[0] = "mean"
    t = report_table(title, compact, spec, cells)
    t.add_section()
    t.add_row(*mean, style="bold")
    if notes:
        t.caption = escape("\n".join(notes))  # an error's "[/x]" raised MarkupError, "[x]" was dropped
        t.caption_justify = "left"
    return t
