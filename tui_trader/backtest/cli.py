"""``tui-trader backtest`` and ``tui-trader backtest sweep``: argument handling and output."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tui_trader.config import Config
from tui_trader.monitor.terminal import TerminalStream, display_only


def parse_time(text: str | None, what: str) -> int | None:
    """``--start`` / ``--end``: :func:`tui_trader.clock.parse_time` (``YYYY-MM-DD``,
    ``YYYY-MM-DDTHH:MM``, UTC unless an offset is named, or epoch milliseconds), a bad one
    a usage error naming the flag, and so is one no date can hold (epoch ms past the year 9999:
    every message that prints the span failed on it, a sweep's with a traceback)."""
    from tui_trader.cli import UsageError
    from tui_trader.clock import TimeReasonError, utc_text
    from tui_trader.clock import parse_time as parse_utc

    try:
        ms = parse_utc(text)
    except TimeReasonError as e:  # "ten digits are epoch seconds ...": the reason, not just the format
        raise UsageError(f"{what}: {e}") from None
    except ValueError:
        raise UsageError(f"{what}: expected YYYY-MM-DD[THH:MM] (UTC), got {text!r}") from None
    if ms is not None:
        try:
            utc_text(ms)
        except (ValueError, OverflowError, OSError):
            raise UsageError(f"{what}: {text!r} is out of range: a time from 0001-01-01 to 9999-12-31 "
                             "(UTC) is expected") from None
    return ms


def _progress(console: Console, label: str) -> tuple[Progress, Any]:
    p = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = p.add_task(label, total=None)

    def cb(done: int, total: int) -> None:
        p.update(task, completed=done, total=total)

    return p, cb


def _consoles() -> tuple[Console, Console]:
    """The report's console (stdout) and the messages' (stderr), on which a terminal gone while the
    run went on (an SSH drop with SIGHUP ignored, `trap '' HUP`) is no error: the finished run,
    stored in the database, exited 1 with a traceback on the dead terminal, as if it had failed."""
    return Console(file=TerminalStream(stderr=False)), Console(file=TerminalStream(stderr=True), stderr=True)  # type: ignore[arg-type]


def _print_out(text: str) -> None:
    """``text`` and a newline on stdout, as :func:`_consoles`' report console writes it."""
    TerminalStream(stderr=False).write(text + "\n")


def _print_error(text: str) -> None:
    """``error: text`` on stderr, as :func:`_consoles`' messages console writes it: on a terminal
    gone meanwhile, a plain ``print`` raised EIO past the exit code 2 (a traceback and exit 1)."""
    _print_err(f"error: {text}")


def _print_err(text: str) -> None:
    """``text`` and a newline on stderr, as :func:`_print_error` writes its line."""
    stream = TerminalStream(stderr=True)
    stream.write(text + "\n")
    stream.flush()


def _inputs(args: argparse.Namespace, cfg: Config) -> tuple[str, str, list[str] | None]:
    from tui_trader.cli import UsageError

    data = args.data or cfg.feed.replay.path
    if not data:
        raise UsageError("backtest needs --data PATH (a folder of kline files, or a file)")
    if not Path(data).exists():
        raise UsageError(f"{'--data' if args.data else 'feed.replay.path'}: no such file or folder: {data}")
    interval = args.interval or cfg.feed.interval
    symbols = list(cfg.feed.symbols) or None
    return data, interval, symbols


def _check_files(args: argparse.Namespace, data: str, interval: str, symbols: list[str] | None) -> None:
    """Before the run (after the flags' own checks), said as `run --feed replay` says it - the flag
    or the setting named: the loader's refusal named neither, nor --interval for the default one."""
    from tui_trader.cli import check_kline_files

    check_kline_files(args, data, interval, symbols)


def _check_out_dir(out: Path) -> None:
    """``--out``: a folder that exists (or can be made) and takes files, none of whose report
    names is taken by a folder (that failed after the whole run); UsageError otherwise."""
    from tui_trader.backtest.report import OUTPUT_FILES
    from tui_trader.cli import UsageError
    from tui_trader.outdir import out_dir_problem

    if problem := out_dir_problem(out, private=True):
        raise UsageError(problem)
    for name in OUTPUT_FILES:
        if (out / name).is_dir():
            raise UsageError(f"--out: cannot write {out / name}: it is a folder")


def _check_db(path: str | Path, name: str = "--db") -> None:
    """The database the finished run is stored in: opened (created, migrated) and closed again
    before the run, so that a path it cannot use fails at once, not after the whole replay.
    :class:`~tui_trader.storage.schema.StorageError` propagates (exit 2), and so does a
    :class:`~tui_trader.cli.UsageError` for a folder (``name`` is what gave the path), said as
    ``run`` and ``export`` say it, not as "unable to open database file"."""
    from tui_trader.backtest.runner import probe_db
    from tui_trader.cli import check_db_not_folder

    check_db_not_folder(path, name)
    asyncio.run(probe_db(path))


def main_backtest(args: argparse.Namespace, cfg: Config) -> int:
    from tui_trader.backtest.sweep import NotedStop

    if args.mode == "sweep":
        return main_sweep(args, cfg)
    # SIGTERM / SIGHUP stop it as Ctrl-C does (the folders it made removed, exit 130): it died
    # with the signal, its --out folders left behind
    stored = _Stored()
    try:
        with NotedStop() as stop:
            code = _backtest(args, cfg, stop, stored)
            stop.check()
            return code
    except KeyboardInterrupt:
        # after the replay the run is in the database (and maybe its files written): "interrupted"
        # alone left the operator unable to tell whether it was kept, or to find it
        stored.say_interrupted()
        raise


class _Stored:
    """What a backtest has kept so far: its run (id, database) once stored, its ``--out`` files."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.db_path: str = ""
        self.files: list[str] = []

    def say_interrupted(self) -> None:
        """On stderr, before the CLI's "interrupted": the run stored, under which id, where."""
        if self.run_id is None:
            return
        files = f"; its files are written: {', '.join(self.files)}" if self.files else ""
        text = (f"the run is stored as {self.run_id} in {self.db_path}{files} (`tui-trader --report "
                f"{shlex.quote(self.run_id)} --db {shlex.quote(self.db_path)}` shows it)")
        _print_err(text)


def remove_empty_book(path: str | Path) -> None:
    """Remove the database file ``path`` (and its ``-wal`` / ``-shm``) when none of its tables holds
    a row: the book a backtest made for its run and was stopped before storing it. A Ctrl-C left
    it behind, tables and no run. Anything else - a row anywhere, a file that is no SQLite
    database, an error reading it - leaves it as it is."""
    import sqlite3

    path = Path(path)
    if not path.is_file():
        return
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            if not tables or any(con.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() for t in tables):
                return
        finally:
            con.close()
    except sqlite3.Error:
        return
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)


def _replay(stop: Any, run: Any, cb: Any) -> Any:
    """``asyncio.run`` of the backtest ``run(progress)`` returns, ``progress`` calling ``cb``. A
    SIGTERM / SIGHUP that ``stop`` notes while the klines replay cancels it (its engine stores
    nothing meanwhile; asyncio delivers the cancel at an ``await``, where it stops cleanly), once:
    a second signal does not cut the engine's stop short. After the replay, while the run is
    being stored, the signal waits for its end (``stop.check`` after this)."""
    replaying, cancelled = [True], [False]

    def progress(done: int, total: int) -> None:
        if done >= total:
            replaying[0] = False
        cb(done, total)

    async def go() -> Any:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None

        def cancel_if_replaying() -> None:
            # the replay may have ended between the signal and this turn of the loop (its last
            # batches ran without a pause): the run is being stored then, never cut short
            if replaying[0]:
                task.cancel()

        def cancel() -> None:  # (in the signal handler: only scheduled, never run there)
            if replaying[0] and not cancelled[0]:
                cancelled[0] = True
                loop.call_soon_threadsafe(cancel_if_replaying)

        stop.on_stop = cancel
        try:
            stop.check()
            return await run(progress)
        finally:
            stop.on_stop = None

    try:
        return asyncio.run(go())
    except asyncio.CancelledError:
        stop.check()  # cancelled by the signal: KeyboardInterrupt naming it
        raise


def _backtest(args: argparse.Namespace, cfg: Config, stop: Any, stored: _Stored | None = None) -> int:
    from tui_trader.backtest.runner import run_backtest
    from tui_trader.cli import UsageError, check_db_not_folder
    from tui_trader.market.replay import ReplayError
    from tui_trader.outdir import missing_folders, names_in, remove_empty

    if args.param:  # it ran a sweep, which neither the help nor README says: `sweep` is the command
        given = " ".join(f"--param {shlex.quote(p)}" for p in args.param)
        raise UsageError(f"--param applies to a sweep only: `tui-trader backtest sweep {given}` (a plain "
                         "backtest is one run of the configuration)")
    for flag, given in (("--processes", args.processes), ("--walk-forward", args.walk_forward)):
        if given is not None:
            raise UsageError(f"{flag} applies to a sweep only: `tui-trader backtest sweep --param PATH=SPEC {flag} "
                             f"{given}` (a plain backtest is one run)")
    data, interval, symbols = _inputs(args, cfg)
    start_ms, end_ms = _span(args, cfg)
    made: list[Path] = []  # the --out folders this run makes, deepest first: a failed run leaves none
    if args.out:
        made = missing_folders(Path(args.out))
        try:
            _check_out_dir(Path(args.out))  # before the run, not after it
        except UsageError:  # refused: the folders the check made go too
            remove_empty(made)
            raise
    console, err = _consoles()
    new_book = False
    try:
        db_path = args.db or cfg.db_path()
        # the files first: a refused --interval or --symbols left a new, empty database behind;
        # the database is opened (created) by the run once its data has passed every check (a
        # --start or --end outside the data too), before the replay
        _check_files(args, data, interval, symbols)
        check_db_not_folder(db_path, "--db" if args.db else "storage.path")
        new_book = not Path(db_path).exists()
        stop.check()
        prog, cb = _progress(err, "backtest")
        with display_only(prog):  # its last draw on a terminal gone meanwhile: no error
            result = _replay(
                stop,
                lambda progress: run_backtest(
                    cfg, data, interval, symbols=symbols, start_ms=start_ms, end_ms=end_ms,
                    db_path=db_path, progress=progress, check_db=True,
                ),
                cb,
            )
        if stored is not None and result.run_id:
            stored.run_id, stored.db_path = result.run_id, str(db_path)
        stop.check()  # after the replay, while the run was stored: before any --out file
    except (ReplayError, ValueError) as exc:
        remove_empty(made)
        _print_error(str(exc))
        return 2
    except BaseException:  # a database it cannot use, Ctrl-C
        remove_empty(made)
        if new_book and (stored is None or stored.run_id is None):
            remove_empty_book(db_path)  # Ctrl-C before the run was stored: no book of tables and no run
        raise
    from tui_trader.backtest.report import render_report, report_json, write_outputs

    if args.out:
        out = Path(args.out)
        before = names_in(out)  # a folder it may write but not list (mode 0300): no earlier files to name
        try:
            paths = write_outputs(result, out)
        except OSError as exc:  # a full disk, say: checked up front, the folder took a file
            remove_empty(made)  # (write_outputs leaves no file of its own behind)
            _print_error(f"--out: cannot write {exc.filename or out}: {exc.strerror or exc} (the run is stored as "
                         f"{result.run_id})")
            return 2
        if stored is not None:
            stored.files = [str(p) for p in paths.values()]
        replaced = [p.name for p in paths.values() if p.name in before]  # an earlier report's, as a rule
        note = f" (replacing the earlier {', '.join(replaced)})" if replaced else ""
        # one line, as a log's; markup=False: a folder named "[v2]" was shown without it, "[/v2]" a traceback
        err.print(f"wrote {', '.join(str(p) for p in paths.values())}{note}", soft_wrap=True, markup=False)
    if args.json:
        _print_out(json.dumps(report_json(result), sort_keys=True, allow_nan=False))
    else:
        render_report(result, console, charts=not args.no_charts)
    return 0


#: The share of each walk-forward window that is in-sample.
IN_SAMPLE_FRACTION = 0.7


#: The fewest rating periods in sample that give a Sharpe ratio (two returns), by which
#: walk-forward chooses its point.
MIN_IN_SAMPLE_PERIODS = 2


def _check_windows(cfg: Config, params: list, interval: str, start_ms: int, end_ms: int, n: int) -> None:
    """Refuse walk-forward windows that cannot all run or choose: cut on kline times (as the sweep
    cuts them), a window must hold at least one kline out of sample, and its in-sample span
    ``MIN_IN_SAMPLE_PERIODS`` rating periods, else no point has an in-sample Sharpe there. (Each
    run warms its ratings and z-scores up on the klines before its window, as a plain backtest
    does, so the z-score window does not bound a window's length.) The in-sample check is skipped
    when the grid varies the rating period itself. The error names the most windows that would
    pass both checks."""
    from tui_trader.backtest.report import fmt_duration
    from tui_trader.backtest.sweep import walk_forward_windows
    from tui_trader.cli import UsageError
    from tui_trader.clock import interval_to_ms
    from tui_trader.rating.periods import period_ms_for

    if n < 1:
        raise UsageError(f"--walk-forward: needs 1 or more windows, got {n}")
    align = interval_to_ms(interval)
    varied = any(p == "data_processing.rating_calculation_interval_ms" for p, _ in params)
    need = 0 if varied else MIN_IN_SAMPLE_PERIODS * period_ms_for(cfg, align)

    span = end_ms - start_ms
    ratio = IN_SAMPLE_FRACTION / (1.0 - IN_SAMPLE_FRACTION)

    def shortest_in_sample(k: int) -> int | None:
        """The shortest in-sample span of ``k`` windows, or None when some window has no kline."""
        if k > span // align:  # more windows than klines: not built (10**8 of them took 16 GB)
            return None
        try:
            windows = walk_forward_windows(start_ms, end_ms, k, IN_SAMPLE_FRACTION, align)
        except ValueError:
            return None
        return min(w[1] - w[0] for w in windows)

    shortest = shortest_in_sample(n)
    if shortest is not None and shortest >= need:
        return
    if need:
        # the in-sample span before it is cut on kline times (that it is too short comes first), as
        # walk_forward_windows rounds it, without building the windows: every one is valid when
        # both spans are 1 ms or more
        l_oos = span / (n + ratio)
        if l_oos >= 1 and l_oos * ratio >= 1 and round(l_oos * ratio) < need:
            shortest = round(l_oos * ratio)
    # the most windows that pass: at most one out-of-sample kline and `need` in sample each
    most = min(n - 1, int(span / align - ratio) + 1, int(span * ratio / need - ratio) + 1 if need else n)
    while most >= 1 and not ((k := shortest_in_sample(most)) is not None and k >= need):
        most -= 1
    hint = f"use --walk-forward {most} or fewer" if most >= 1 else "the span is too short for any window"
    if shortest is None or shortest >= need:
        raise UsageError(
            f"--walk-forward {n}: {fmt_duration(span)} of {interval} klines cut into {n} windows "
            f"({IN_SAMPLE_FRACTION:.0%} in sample) leaves a window without a kline; {hint}"
        )
    raise UsageError(
        f"--walk-forward {n}: each in-sample window would span {fmt_duration(shortest)}, less than the "
        f"{MIN_IN_SAMPLE_PERIODS} rating periods ({fmt_duration(need)}) an in-sample Sharpe needs: no window "
        f"could choose a point; {hint}"
    )


def _span(args: argparse.Namespace, cfg: Config) -> tuple[int | None, int | None]:
    """``--start`` / ``--end`` in ms, each defaulting to ``[feed.replay] start`` / ``end`` of the
    configuration (as for ``run --feed replay``); the flags win. Checked by :func:`_check_span`."""
    start_ms = parse_time(args.start, "--start") if args.start else parse_time(cfg.feed.replay.start or None,
                                                                                "feed.replay.start")
    end_ms = parse_time(args.end, "--end") if args.end else parse_time(cfg.feed.replay.end or None, "feed.replay.end")
    _check_span(start_ms, end_ms, *_span_names(args))
    return start_ms, end_ms


def _span_names(args: argparse.Namespace) -> tuple[str, str]:
    """Where the start and the end of :func:`_span` came from: the flag, or the configuration's
    field (an end flag before a configured start blamed a ``--start`` never given)."""
    return (
        "--start" if args.start else "the configuration's feed.replay.start",
        "--end" if args.end else "the configuration's feed.replay.end",
    )


def _check_span(start_ms: int | None, end_ms: int | None, start_name: str = "--start", end_name: str = "--end") -> None:
    """The start before the end (end is exclusive); a usage error naming both (``start_name``,
    ``end_name``: where each came from) in UTC otherwise."""
    from tui_trader.cli import UsageError
    from tui_trader.clock import utc_text

    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise UsageError(f"{end_name} {utc_text(end_ms)} UTC must be after {start_name} {utc_text(start_ms)} UTC")


def _sweep_data(data: str, interval: str, symbols: list[str] | None, start_ms: int | None,
                end_ms: int | None, max_price_jump: float, blacklist: list[str] | None = None) -> Any:
    """The sweep's klines, loaded once here, before any worker starts: data that no point could
    replay (no files, none of the symbols, nothing from ``start_ms`` to ``end_ms``) is one
    :class:`~tui_trader.market.replay.ReplayError`, not a failure per point; so is ``blacklist``
    (``feed.universe.blacklist``) naming a symbol of ``symbols``, or every symbol. Returns the
    :class:`~tui_trader.market.replay.ReplayData`; a one-process sweep reuses it."""
    from tui_trader.backtest.runner import keep_data, no_klines_error
    from tui_trader.clock import utc_text
    from tui_trader.market.replay import load_klines

    loaded = load_klines(data, interval, symbols=symbols, max_price_jump=max_price_jump, blacklist=blacklist or ())
    ot = loaded.klines.open_time
    lo = -(2**62) if start_ms is None else start_ms
    hi = 2**62 if end_ms is None else end_ms
    if not ((ot >= lo) & (ot < hi)).any():
        dates = f"{utc_text(int(ot.min()))} to {utc_text(int(ot.max()))} UTC" if ot.size else ""  # none valid
        raise no_klines_error(interval, data, start_ms, end_ms, dates)
    keep_data(Path(data).resolve(), interval, symbols, loaded, max_price_jump, blacklist or ())  # an inline sweep loads nothing twice
    return loaded


def _stored_runs(db_path: str | None) -> set[str]:
    """The backtest run ids stored in ``db_path`` (none when there is no such database, or it
    cannot be read: only said after a stop, never a reason to fail)."""
    if db_path is None:
        return set()
    import sqlite3

    try:
        con = sqlite3.connect(f"{Path(db_path).as_uri()}?mode=ro", uri=True)
        try:
            return {r[0] for r in con.execute("SELECT run_id FROM backtest_runs")}
        finally:
            con.close()
    except (sqlite3.Error, ValueError, OSError):
        return set()


def _run_ids(rows: Any) -> list[str]:
    """The ``run_id`` of every stored run in a sweep's rows (walk-forward's nested ones too), once each."""
    out: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            rid = x.get("run_id")
            if isinstance(rid, str) and rid not in out:
                out.append(rid)
            for v in x.values():
                walk(v)
        elif isinstance(x, list | tuple):
            for v in x:
                walk(v)

    walk(rows)
    return out


def main_sweep(args: argparse.Namespace, cfg: Config) -> int:
    import numpy as np

    from tui_trader.backtest.runner import sweep_runner, warmup_from_data, warmup_klines_needed
    from tui_trader.backtest.sweep import (
        default_processes,
        grid,
        parse_param,
        pool_size,
        run_sweep,
        sweep_notes,
        walk_forward,
    )
    from tui_trader.cli import UsageError
    from tui_trader.clock import interval_to_ms, utc_text
    from tui_trader.market.replay import ReplayError

    if not args.param:
        raise UsageError("backtest sweep needs at least one --param PATH=START:STOP:STEP (or PATH=a,b,c)")
    if len(args.param) > 2:
        raise UsageError("backtest sweep takes one or two --param")
    if args.out:
        raise UsageError("--out does not apply to a sweep: it writes no report files (use --json > FILE for its "
                         "rows, or a plain backtest with the chosen values and --out)")
    try:
        params = [parse_param(p) for p in args.param]
        points = grid(params)
    except ValueError as exc:
        raise UsageError(f"--param: {exc}") from None
    data, interval, symbols = _inputs(args, cfg)
    start_ms, end_ms = _span(args, cfg)
    _check_files(args, data, interval, symbols)
    # --db: every run is stored there, as a plain backtest's (a sweep without it stores none,
    # rather than filling the default database with its points)
    db_path = str(Path(args.db).resolve()) if args.db else None
    try:
        loaded = _sweep_data(data, interval, symbols, start_ms, end_ms, cfg.feed.max_price_jump,
                             cfg.feed.universe.blacklist)
    except ReplayError as exc:
        _print_error(str(exc))
        return 2
    spec = {"path": str(Path(data).resolve()), "interval": interval, "symbols": symbols,
            "start_ms": start_ms, "end_ms": end_ms, "max_price_jump": cfg.feed.max_price_jump,
            "said": True}  # _sweep_data said the data's warnings: a worker's load of it says them no more
    processes = args.processes or default_processes()  # the cores this process may use, not the host's
    runs = len(points) * (args.walk_forward or 1) + (args.walk_forward or 0)  # with each window's out-of-sample run
    workers, capped = pool_size(processes, runs)  # as the sweep sizes its pool
    out, err = _consoles()
    console = None if args.json else out  # --json: the JSON alone on stdout, as for a backtest
    base = cfg.model_dump(mode="json")
    if args.walk_forward:  # windows that cannot run are refused before the sweep is announced
        ot = np.unique(loaded.klines.open_time)
        first, after = int(ot[0]), int(ot[-1]) + 1
        start_name, end_name = _span_names(args)
        if start_ms is None:
            start_name = "the end of the warm-up"  # no start was given: the first klines warm the ratings up
            # as a plain backtest does: the first klines warm the ratings up, window 1's
            # in-sample run trades only after them (at most half of the data)
            warm = warmup_from_data(warmup_klines_needed(cfg, interval_to_ms(interval)), ot.size)
            start_ms = int(ot[warm])
        elif start_ms < first:
            # the windows are cut over the data, not over the span asked for: a --start a year
            # before the data left every in-sample window but the last without a kline
            err.print(f"walk-forward: the {interval} klines begin at {utc_text(first)} UTC, after --start: "
                      "the windows are cut from there", soft_wrap=True)
            start_ms = first
        end_ms = after if end_ms is None else min(end_ms, after)
        _check_span(start_ms, end_ms, start_name, end_name)
        _check_windows(cfg, params, interval, start_ms, end_ms, args.walk_forward)
    if db_path is not None:  # after the data's and the windows' refusals: a refused sweep makes no database
        _check_db(db_path)  # a file it cannot use fails now, not in every point after its run
        spec["db_path"] = db_path
    err.print(f"sweep: {len(points)} point(s) on {workers} process(es)"
              + (f" (--processes {args.processes}: {capped})" if capped and args.processes else ""), soft_wrap=True)
    prog, cb = _progress(err, "sweep")
    earlier = _stored_runs(db_path)
    try:
        with display_only(prog):  # a hang-up's KeyboardInterrupt, not the dead terminal's EIO
            if args.walk_forward:
                rows = walk_forward(base, params, sweep_runner, spec, start_ms, end_ms, args.walk_forward, IN_SAMPLE_FRACTION,
                                    processes=processes, progress=cb, console=console,
                                    align_ms=interval_to_ms(interval))
            else:
                rows = run_sweep(base, params, sweep_runner, processes=processes, progress=cb, data_spec=spec,
                                 console=console, charts=not args.no_charts)
    except (ReplayError, ValueError) as exc:
        _print_error(str(exc))
        return 2
    except KeyboardInterrupt:
        # the points that ended before the stop stored their runs (--db): "interrupted" alone left
        # the operator unable to tell, or to find them
        if db_path is not None and (kept := sorted(_stored_runs(db_path) - earlier)):
            _print_err(f"stored {len(kept)} run(s) in {db_path} before the stop: {', '.join(kept)} "
                       f"(`tui-trader --report --db {shlex.quote(db_path)}` shows them)")
        raise
    if args.json:
        from tui_trader.backtest.metrics import json_safe

        _print_out(json.dumps(json_safe(rows), sort_keys=True, allow_nan=False))
    for line in sweep_notes(rows):
        err.print(Text.assemble(("warning", "yellow"), f": {line}"), soft_wrap=True)  # one line each, for grep
    if db_path is not None:
        stored = _run_ids(rows)
        err.print(f"stored {len(stored)} run(s) in {db_path} (each point's run_id in --json; `tui-trader --report --db "
                  f"{db_path}` shows them)", soft_wrap=True, markup=False)  # (a path's "[v2]" is no markup)
    failed = [r for r in rows if isinstance(r, dict) and r.get("error")]
    for r in failed:
        what = f"window {r['window'] + 1}" if "window" in r else f"point {r.get('point')}"
        err.print(f"[red]{what} failed: {escape(r['error'])}")
    return 1 if failed and len(failed) == len(rows) else 0
