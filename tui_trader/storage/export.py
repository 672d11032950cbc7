"""``tui-trader export``: a book's history as CSV files, for accounting, taxes or a spreadsheet.

Reads a paper or live database (it may be in use by a running engine: SQLite's WAL lets a reader
see the last committed state) and writes into a folder:

* ``fills.csv`` - every fill, oldest first: the trades as booked (price, quantity, fee);
* ``orders.csv`` - every order with its status, source (``strategy``, ``ui``, ``risk``,
  ``system``), reason and error;
* ``positions.csv`` - the open positions as last committed;
* ``equity.csv`` - the equity sampled each rating period, all sessions;
* ``audit.csv`` - every operator and system command and state change with its outcome;
* ``sessions.csv`` - every session (a console, a headless run, a backtest) with its start, its end
  and how it ended: ``clean`` (stopped, its summary written), ``unclean`` (killed or crashed: the
  next start closed it at the last time it committed a row) or ``open`` (running now, or killed
  and not started again since; ``unknown`` for an end whose summary cannot be read), and its
  summary as stored (JSON).

Money (prices, quantities, fees, PnL) is written as the exact decimals stored, never through a
binary float; the equity samples (float valuations) at 8 decimals; times as ms since the epoch
and ISO-8601 UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import json
import math
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from tui_trader.clock import iso_utc as _iso_utc
from tui_trader.outdir import OutLock, out_dir_problem, write_all_or_none
from tui_trader.storage.lock import DatabaseInUseError, commits_under_another_name, engine_by_another_name
from tui_trader.storage.queries import UNCLEAN_END_SUMMARY
from tui_trader.storage.schema import StorageError, failure_hint, file_in_the_way, unreadable_book

FILES = ("fills.csv", "orders.csv", "positions.csv", "equity.csv", "audit.csv", "sessions.csv")

# fee as booked (quote-valued; a third asset's, BNB's, as charged: what replays the book), fee_charged
# the amount of fee_asset the exchange took (a live buy's commission in the base asset: fee / price)
FILL_COLUMNS = ("ts_ms", "time", "client_order_id", "symbol", "side", "quantity", "price", "quote_qty", "fee",
                "fee_asset", "trade_id", "fee_charged")  # fmt: skip
ORDER_COLUMNS = ("created_ms", "created_time", "updated_ms", "client_order_id", "exchange_order_id", "symbol",
                 "side", "type", "status", "quantity", "limit_price", "executed_qty", "avg_price", "fees",
                 "realized_pnl", "source", "reason", "signal_id", "error")  # fmt: skip
POSITION_COLUMNS = ("symbol", "quantity", "avg_entry", "cost", "fees", "realized_pnl", "entry_ms", "entry_time")
EQUITY_COLUMNS = ("ts_ms", "time", "equity")
AUDIT_COLUMNS = ("ts_ms", "time", "source", "action", "args", "ok", "outcome")
SESSION_COLUMNS = ("id", "kind", "mode", "feed", "label", "started_ms", "started_time", "ended_ms", "ended_time",
                   "ended", "summary")  # fmt: skip


class _BadTime(ValueError):
    """A stored time that is no date (a hand edit, seconds or microseconds taken for ms)."""


def iso_utc(ts_ms: int) -> str:
    """The ISO-8601 text of a stored time; :class:`_BadTime` naming it when it is no date."""
    try:
        return _iso_utc(ts_ms)
    except (ValueError, OverflowError, OSError) as exc:  # OSError: beyond the platform's time_t
        raise _BadTime(f"the time {ts_ms} ms is no date: {exc}") from None


def _money(d: Decimal | None) -> str:
    return "" if d is None else f"{d:f}"


_EIGHT = Decimal("1e-8")


def _blank(v: Any) -> Any:
    return "" if v is None else v


def _how_ended(ended_ms: int | None, summary_json: str | None) -> str:
    """``open`` (no end stored), ``unclean`` (closed by a later start), ``clean``, or ``unknown``
    (an end whose summary cannot be read)."""
    if ended_ms is None:
        return "open"
    try:
        summary = json.loads(summary_json) if summary_json else {}
    except ValueError:
        return "unknown"
    unclean = UNCLEAN_END_SUMMARY["ended"]
    return unclean if isinstance(summary, dict) and summary.get("ended") == unclean else "clean"


def _equity(e: float) -> str:
    """An equity sample, a float valuation (cash + quantity x the float price), at the 8 decimals
    the book keeps its peak equity in: ``10023.58700025``, not the float sum's
    ``10023.587000250001``."""
    if not math.isfinite(e):
        return repr(float(e))
    with localcontext() as ctx:
        ctx.prec = 60  # an amount of any size keeps its 8 decimals
        return _money(Decimal(repr(float(e))).quantize(_EIGHT).normalize())


def _no_nul(v: Any) -> Any:
    """A text cell's NUL as ``\\x00`` (the log file's spelling): written raw, a reason or label
    holding one stopped older csv readers ("line contains NUL") and cut the line in C-based tools.
    Everything else (commas, line ends, quotes) is the csv module's to quote."""
    return v.replace("\x00", "\\x00") if isinstance(v, str) and "\x00" in v else v


def _write(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for row in rows:
            w.writerow([_no_nul(v) for v in row])
            n += 1
    return n


async def load_book(db_path: str, out_dir: Path | None = None, out_lock: OutLock | None = None) -> dict[str, Any]:
    """Every record the CSV files are made of, read from the database at ``db_path``, opened
    read-only (nothing in the file changes, not even its journal mode). With ``out_dir``, that
    folder is made ready (:func:`prepare_out`) once the database proved to be a tui-trader one
    and before anything is read, and ``out_lock`` takes it then."""
    from tui_trader.storage.db import Database

    async with await Database.open(db_path, start_writer=False, read_only=True) as db:
        if out_dir is not None:
            prepare_out(out_dir)
            if out_lock is not None and not out_lock.take(out_dir):
                raise ValueError(
                    f"--out: another tui-trader export is writing into {out_dir} now: run this one again once it is "
                    "done (no file of this export written)"
                )
        try:
            async with db.read_snapshot():  # a running engine's commits meanwhile: in none of the files
                eq_ts, eq = await db.load_equity()
                return {
                    "fills": await db.load_fills(),
                    "orders": sorted(await db.load_orders(limit=None), key=lambda o: (o.created_ms, o.client_order_id)),
                    "positions": await db.load_positions(),
                    "equity": list(zip(eq_ts.tolist(), eq.tolist(), strict=True)),
                    "audit": await db.load_audit(limit=None),
                    "sessions": await db.load_session_rows(),
                }
        except (ValueError, ArithmeticError) as exc:  # an amount or a state that is no longer readable
            raise unreadable_book(db_path, exc) from None
        except sqlite3.Error as exc:  # a damaged page in a table the open does not check, a lock...
            raise StorageError(f"{db_path}: the book cannot be read: {exc}{failure_hint(exc)}") from exc


def prepare_out(out: Path) -> None:
    """Create ``out`` if needed and make sure it takes files; ``ValueError`` naming it otherwise."""
    if problem := out_dir_problem(out, private=True):
        raise ValueError(problem)


def export_book(db_path: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write :data:`FILES` for the database at ``db_path`` into ``out_dir`` (created if needed).
    Returns file name -> rows written. Raises ``FileNotFoundError`` when there is no database
    (an export never creates one), ``ValueError`` when ``out_dir`` is a file or cannot be
    written, and the storage errors of :meth:`Database.open` for a file that is not a
    tui-trader database (then ``out_dir`` is not created)."""
    db_path, out = Path(db_path), Path(out_dir)
    if not db_path.is_file():
        why = file_in_the_way(db_path)
        raise FileNotFoundError(f"no database at {db_path}{f': {why}' if why else ''}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path exists and is not a folder: {out}")
    if (engine := engine_by_another_name(db_path)) is not None:
        pid, name = engine
        raise DatabaseInUseError(
            f"{db_path} is in use by a tui-trader{f' (pid {pid})' if pid else ''} that opened it as {name}, the "
            f"same file under another name (a hard link): SQLite keeps its last commits by that name, so this one "
            f"would export a stale book; export --db {name} instead",
            pid,
        )
    if (pending := commits_under_another_name(db_path)) is not None:
        raise StorageError(pending)
    made = not out.exists()
    out_lock = OutLock()  # another export into the folder meanwhile is refused: one export's files, not a mix
    try:
        return _export(db_path, out, made, out_lock)
    finally:
        out_lock.release()


def _export(db_path: Path, out: Path, made: bool, out_lock: OutLock) -> dict[str, int]:
    try:
        book = asyncio.run(load_book(str(db_path), out, out_lock))
    except StorageError:  # a book that cannot be read to the end: no empty --out folder left behind
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    try:
        return _write_book(book, out, out_lock)
    except (_BadTime, OSError) as exc:  # a time that is no date; the disk filled up, the folder went away...
        if made and out.is_dir() and not any(out.iterdir()):  # as a book that cannot be read leaves it
            with contextlib.suppress(OSError):
                out.rmdir()
        if isinstance(exc, _BadTime):
            raise unreadable_book(db_path, exc) from None
        raise ValueError(f"--out: cannot write {exc.filename or out}: {exc.strerror or exc} (no file of the export "
                         "written: the folder's files are as they were)") from None


def _write_book(book: dict[str, Any], out: Path, out_lock: OutLock | None = None) -> dict[str, int]:
    """Every file of :data:`FILES` into ``out``, all or none: each is written under a temporary name
    and renamed into place once all are written. A write failing partway (a full disk, a
    permission error on the third file, a stored time that is no date) left new files beside an
    earlier export's, a book of two moments; now the folder's files are as they were. An
    ``OSError`` names the file meant, not its temporary name."""
    rows = {
        "fills.csv": (FILL_COLUMNS, (
            (f.ts_ms, iso_utc(f.ts_ms), f.client_order_id, f.symbol, f.side.value, _money(f.quantity),
             _money(f.price), _money(f.quantity * f.price), _money(f.fee), f.fee_asset, f.trade_id,
             _money(f.charged_fee()[0]))
            for f in book["fills"])),
        "orders.csv": (ORDER_COLUMNS, (
            (o.created_ms, iso_utc(o.created_ms), o.updated_ms, o.client_order_id, o.exchange_order_id, o.symbol,
             o.side.value, o.type.value, o.status.value, _money(o.quantity), _money(o.price),
             _money(o.executed_qty), _money(o.avg_price), _money(o.fees), _money(o.realized_pnl), o.source.value,
             o.reason, "" if o.signal_id is None else o.signal_id, o.error)
            for o in book["orders"])),
        "positions.csv": (POSITION_COLUMNS, (
            (p.symbol, _money(p.quantity), _money(p.avg_entry), _money(p.cost), _money(p.fees),
             _money(p.realized_pnl), p.entry_ms, iso_utc(p.entry_ms))
            for _, p in sorted(book["positions"].items()))),
        "equity.csv": (EQUITY_COLUMNS, (
            (int(t), iso_utc(int(t)), _equity(e)) for t, e in book["equity"])),
        "audit.csv": (AUDIT_COLUMNS, (
            (a["ts_ms"], iso_utc(a["ts_ms"]), a["source"], a["action"], json.dumps(a["args"], sort_keys=True),
             int(a["ok"]), a["outcome"])
            for a in book["audit"])),
        "sessions.csv": (SESSION_COLUMNS, (
            (sid, kind, mode, feed, label, started, iso_utc(started), _blank(ended),
             "" if ended is None else iso_utc(ended), _how_ended(ended, summary), summary or "")
            for sid, kind, mode, feed, label, started, ended, summary in book["sessions"])),
    }  # fmt: skip
    return write_all_or_none(
        out, {name: functools.partial(_write, columns=rows[name][0], rows=rows[name][1]) for name in FILES}, out_lock
    )
