"""Health checks: plain functions from component snapshots to :class:`HealthCheck` rows.

The seed's monitor: database, exchange/feed connectivity, streams, memory and positions
vs limit, each ``healthy`` / ``warning`` / ``unhealthy``, some *critical*. The overall
status is ``unhealthy`` when a critical check is unhealthy, ``warning`` when any check
is not healthy, else ``healthy``. Nothing here does I/O except reading this process's
peak RSS.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tui_trader.events import HealthCheck

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

HEALTHY, WARNING, UNHEALTHY = "healthy", "warning", "unhealthy"

MEMORY_WARN_MB = 4096.0


#: The messages check warns until this long (engine time) has passed without a rejected message.
REJECTS_RECENT_MS = 15 * 60_000


class RejectWatch:
    """When the feed's count of rejected messages last grew, by the engine's clock, as the health
    checks saw it: one bad message on the first day left the messages check, and the overall
    health, amber for the weeks the bot then ran cleanly."""

    def __init__(self) -> None:
        self.total = 0
        self.grew_ms: int | None = None

    def quiet_ms(self, total: int, now_ms: int) -> int | None:
        """Milliseconds since the count last grew (None: never seen a rejected message)."""
        if total != self.total:  # grew; or fell (a new feed counts afresh) and any count is news
            self.total = total
            if total:
                self.grew_ms = now_ms
        return None if self.grew_ms is None else max(0, now_ms - self.grew_ms)


#: A feed connection reconnecting whose streams' last event is more recent than this (engine time)
#: warns; one silent longer fails (and alerts): a planned or quick reconnect raises no alarm.
RECONNECT_GRACE_MS = 60_000
#: The rating periods stopped although the feed reads connected: a warning after this many periods
#: without one, a failure after :data:`STALL_FAIL_PERIODS`.
STALL_WARN_PERIODS = 3
STALL_FAIL_PERIODS = 6


def _span(ms: int) -> str:
    return f"{ms // 1000} s" if ms < 120_000 else f"{ms // 60_000} min"


def _reconnecting(feed_health: Mapping[str, Any], now_ms: int | None) -> HealthCheck | None:
    """The feed row of a feed whose connections (the Binance feed's) are not all streaming: which
    ones and why, failing once their streams have been silent for :data:`RECONNECT_GRACE_MS`."""
    down = [c for c in feed_health.get("connections") or () if c.get("state") not in ("streaming", "backfilling")]
    if not down:
        return None
    which = {c.get("index") for c in down}
    streams = (feed_health.get("streams") or {}).values()
    newest = max((int(s.get("last_event_ms") or -1) for s in streams if s.get("connection") in which), default=-1)
    # (a clock that stepped back behind the last event: no data for 0 s, not for "-5 s")
    silent = max(0, now_ms - newest) if now_ms is not None and newest > 0 else None
    why = "; ".join(
        f"connection {c.get('index')} {c.get('state')}" + (f" after {c['last_reason']}" if c.get("last_reason") else "")
        for c in down[:3]
    )
    msg = f"reconnecting ({why})" + (f", no data for {_span(silent)}" if silent is not None else "")
    brief = silent is not None and silent < RECONNECT_GRACE_MS
    return HealthCheck("feed", WARNING if brief else UNHEALTHY, msg, critical=True)


#: The feed's counters an operator should see (``health()`` keys), only when not zero: price updates
#: dropped for a slow consumer, closed klines that came late (older than the newest emitted one), and
#: price levels far from the last one taken as new on confirmation. Each is otherwise only a
#: rate-limited log line.
FEED_COUNTERS = {
    "prices_dropped": "price update(s) dropped",
    "late_dropped": "late kline(s) dropped",
    "relevels": "new price level(s) taken",
}


def feed_counts(feed_health: Mapping[str, Any]) -> dict[str, int]:
    """The non-zero :data:`FEED_COUNTERS` of a feed's ``health()`` (a feed without one counts 0)."""
    out: dict[str, int] = {}
    for key in FEED_COUNTERS:
        try:
            n = int(feed_health.get(key) or 0)
        except (TypeError, ValueError, OverflowError):  # (OverflowError: an infinite float)
            continue
        if n > 0:
            out[key] = n
    return out


def describe_feed_counts(counts: Mapping[str, int]) -> str:
    """``12 price update(s) dropped, 3 late kline(s) dropped``."""
    return ", ".join(f"{counts[k]:,} {label}" for k, label in FEED_COUNTERS.items() if counts.get(k))


def with_feed_counts(checks: Iterable[HealthCheck], feed_health: Mapping[str, Any]) -> list[HealthCheck]:
    """``checks`` with the feed row ending in the non-zero :data:`FEED_COUNTERS`. The row's state
    stays its own, and its reason (a stall, a clean stop) comes first: the counts say what the
    feed let go, or took as new, and must not push the reason out of a narrow pane."""
    counts = feed_counts(feed_health)
    if not counts:
        return list(checks)
    text = describe_feed_counts(counts)
    return [HealthCheck(c.name, c.status, f"{c.message}; {text}", c.critical) if c.name == "feed" else c
            for c in checks]


def feed_checks(
    feed_health: Mapping[str, Any], kind: str, rejects_quiet_ms: int | None = None, now_ms: int | None = None,
    *, counts: bool = True,
) -> list[HealthCheck]:
    """Connection and staleness of the feed's streams, and rejected messages: a warning while
    they are recent (``rejects_quiet_ms``, from :class:`RejectWatch`, below
    :data:`REJECTS_RECENT_MS`; unknown: always), healthy with the total once they have stopped.
    ``now_ms`` (the engine's clock) dates a reconnection against the streams' last events. The
    feed row ends with the non-zero :data:`FEED_COUNTERS` (``counts``; the engine adds them
    itself with :func:`with_feed_counts` once the row's reason is complete)."""
    out: list[HealthCheck] = []
    connected = bool(feed_health.get("connected", False))
    stale = sorted(name for name, s in (feed_health.get("streams") or {}).items() if s.get("stale"))
    if not connected:
        err = feed_health.get("error")
        row = None if err else _reconnecting(feed_health, now_ms)
        out.append(row or HealthCheck("feed", UNHEALTHY, f"disconnected{': ' + str(err) if err else ''}", critical=True))
    elif stale:
        out.append(HealthCheck("feed", WARNING, f"stale: {', '.join(stale)}", critical=True))
    else:
        out.append(HealthCheck("feed", HEALTHY, f"{kind} connected", critical=True))
    if counts:
        out = with_feed_counts(out, feed_health)
    rejected = int(feed_health.get("rejected", 0) or 0)
    if rejected:
        by = feed_health.get("rejected_by_reason") or {}
        top = ", ".join(f"{r} {n}" for r, n in sorted(by.items(), key=lambda kv: -kv[1])[:3])
        msg = f"{rejected} malformed message(s) rejected"
        quiet = rejects_quiet_ms is not None and rejects_quiet_ms >= REJECTS_RECENT_MS
        if quiet:
            msg += f", none for {rejects_quiet_ms // 60_000} min"
        out.append(HealthCheck("messages", HEALTHY if quiet else WARNING, msg + (f" ({top})" if top else "")))
    return out


def progress_check(feed_row: HealthCheck, now_ms: int, last_period_ms: int, period_ms: int) -> HealthCheck:
    """The feed row, unless the rating periods have stopped while it reads healthy (klines that
    never close, an engine loop that stopped taking them): a feed can be connected and fresh and
    still move nothing forward in event time. ``last_period_ms`` 0: no period yet. A row that
    only warns (a stale stream the feed keeps for minutes while it backs off recreating it) is
    judged too: its warning hid a stall of any length, never failing nor alerting."""
    if feed_row.status == UNHEALTHY or last_period_ms <= 0 or period_ms <= 0:
        return feed_row
    lag = now_ms - last_period_ms
    if lag <= STALL_WARN_PERIODS * period_ms:
        return feed_row
    status = UNHEALTHY if lag > STALL_FAIL_PERIODS * period_ms else WARNING
    msg = f"{feed_row.message}, but no rating period for {_span(lag)} (one is due every {_span(period_ms)})"
    return HealthCheck(feed_row.name, status, msg, critical=feed_row.critical)


def database_check(
    persist: bool, is_open: bool, writer_stats: Mapping[str, Any] | None = None, lock_lost: str = "",
    failure: str = "",
) -> HealthCheck:
    """The book's storage. ``lock_lost``: why the engine no longer holds the book's lock (another
    engine took it): nothing more is traded, for good. ``failure``: the storage failure (a commit
    that failed: a full disk) whose emergency stop holds, until it is reset. Each read "connected",
    green."""
    if not persist:
        return HealthCheck("database", HEALTHY, "off (not persisted)", critical=True)
    if not is_open:
        return HealthCheck("database", UNHEALTHY, "closed", critical=True)
    if lock_lost:
        return HealthCheck("database", UNHEALTHY, f"lock lost: {lock_lost}; nothing more is traded", critical=True)
    if failure:
        return HealthCheck("database", UNHEALTHY, f"{failure} (an emergency stop: reset it once the book can be "
                           "written)", critical=True)
    stats = writer_stats or {}
    # the rows the writer holds while it fails (its backlog), and those it had to drop for its bound
    # (lost for good: ratings, klines, signal and equity rows; money never waits in the writer)
    pending = int(stats.get("pending", 0) or 0)
    dropped = sum(int(n) for n in (stats.get("dropped") or {}).values())
    lost = f"; {dropped:,} buffered row(s) dropped" if dropped else ""
    if stats.get("consecutive_failures"):
        return HealthCheck("database", WARNING, f"writer failing: {stats.get('last_error')}; "
                           f"{pending:,} row(s) waiting{lost}", critical=True)
    return HealthCheck("database", HEALTHY, f"connected{lost}", critical=True)


def broker_check(name: str, breaker_state: str, unsettled: int = 0) -> HealthCheck:
    """The order path: its circuit breaker, and orders whose outcome is unknown (their symbols take
    no new order until a lookup settles them). An open circuit sends no order at all, a stop loss
    neither: unhealthy (the health monitor alerts). Half open lets the next order through as a
    trial and stays so until an order is made, which in a quiet market can be weeks: healthy."""
    if breaker_state == "open":
        status = UNHEALTHY
    else:
        status = HEALTHY if breaker_state in ("closed", "half_open") and not unsettled else WARNING
    detail = f"{name} · order circuit {breaker_state}"
    if breaker_state == "open":
        detail += ": no order is sent until it cools off"
    elif breaker_state == "half_open":
        detail += ": the next order is a trial"
    if unsettled:
        detail += f" · {unsettled} order(s) of unknown outcome, looked up each period"
    return HealthCheck("broker", status, detail, critical=True)


#: The offset to the exchange's clock that warns: Binance refuses a signed request stamped more than
#: 1 s ahead of its clock, or older than ``recvWindow`` (5 s); past half of that, unhealthy.
CLOCK_WARN_MS = 1000


def clock_check(
    offset_ms: int | None, measured_ms: int | None, recv_window_ms: int, now_ms: int
) -> HealthCheck:
    """This machine's clock against the exchange's (a live broker's last measurement): requests are
    stamped with the measured offset, but drift since then, beyond ``recvWindow``, gets them refused
    (-1021), and the engine's own times (staleness, the log) are off by it. Warning above
    :data:`CLOCK_WARN_MS`, unhealthy above half of ``recvWindow``; not critical: the offset is
    measured again at the first refusal, and before that orders still go out."""
    if offset_ms is None:
        return HealthCheck("clock", HEALTHY, "offset to the exchange's clock not measured yet")
    size = abs(int(offset_ms))
    way = "behind" if offset_ms > 0 else "ahead of"
    ago = f", measured {_span(max(0, now_ms - measured_ms))} ago" if measured_ms is not None else ""
    msg = f"{size:,} ms {way} the exchange's clock{ago} (recvWindow {recv_window_ms:,} ms)"
    if size > recv_window_ms / 2:
        return HealthCheck("clock", UNHEALTHY, msg)
    return HealthCheck("clock", WARNING if size > CLOCK_WARN_MS else HEALTHY, msg)


def maxrss_mb(ru_maxrss: int, platform: str = sys.platform) -> float:
    """``getrusage``'s ``ru_maxrss`` in MB: Linux counts KiB, macOS bytes (read as KiB, a
    110 MB console showed as 112,640 MB and set the memory check to warning)."""
    return ru_maxrss / (1024.0 * 1024.0) if platform == "darwin" else ru_maxrss / 1024.0


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB; None where ``resource`` does not exist (Windows)."""
    if resource is None:  # pragma: no cover - Windows
        return None
    return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def current_rss_mb() -> float | None:
    """This process's resident memory now, in MB (Linux ``/proc``); None where it is not known."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def memory_check(rss_mb: float | None = None, warn_mb: float = MEMORY_WARN_MB) -> HealthCheck:
    """Resident memory against ``warn_mb``: the memory now where it can be read (the peak, shown
    beside it, never falls, so one spike read as a warning for the rest of a weeks-long run),
    else the peak. ``rss_mb`` gives the figure (tests)."""
    if rss_mb is not None:
        return HealthCheck("memory", HEALTHY if rss_mb < warn_mb else WARNING, f"{rss_mb:.0f} MB RSS")
    now, peak = current_rss_mb(), peak_rss_mb()
    mb = now if now is not None else peak
    if mb is None:  # pragma: no cover - Windows
        return HealthCheck("memory", HEALTHY, "RSS not measured on this platform")
    if now is None:
        detail = f"{mb:.0f} MB peak RSS"
    else:
        detail = f"{mb:.0f} MB RSS" + (f", {peak:.0f} MB peak" if peak is not None else "")
    return HealthCheck("memory", HEALTHY if mb < warn_mb else WARNING, detail)


def positions_check(open_positions: int, limit: int) -> HealthCheck:
    status = HEALTHY if open_positions <= limit else WARNING
    return HealthCheck("positions", status, f"{open_positions} / {limit} positions")


def engine_check(error: str) -> HealthCheck | None:
    return HealthCheck("engine", UNHEALTHY, error, critical=True) if error else None


def after_stop(checks: Iterable[HealthCheck], feed_kind: str) -> list[HealthCheck]:
    """The rows of an engine that stopped cleanly (its feed ended, or the operator quit): the feed
    and the database are closed on purpose, which is not a failure."""
    closed = {"feed": f"{feed_kind} stopped", "database": "closed"}
    return [HealthCheck(c.name, HEALTHY, closed[c.name], c.critical) if c.name in closed else c for c in checks]


#: The longest error text a failed check's row shows.
CHECK_ERROR_CHARS = 200


def checked(name: str, check: Callable[[], HealthCheck | Iterable[HealthCheck]], *, critical: bool = False) -> list[HealthCheck]:
    """The rows ``check`` gives (one check or several), or, when it raises, one unhealthy row
    ``name`` saying so with the error: one source that answers nonsense (a feed's health figure
    that is no number, a writer whose stats fail) took the whole snapshot down with it, so the
    console showed nothing new at all and logged a traceback at every refresh."""
    try:
        rows = check()
    except Exception as exc:  # noqa: BLE001 - a health view never fails for one check
        text = f"{type(exc).__name__}: {exc}"
        if len(text) > CHECK_ERROR_CHARS:
            text = text[: CHECK_ERROR_CHARS - 1] + "…"
        return [HealthCheck(name, UNHEALTHY, f"check failed: {text}", critical=critical)]
    return [rows] if isinstance(rows, HealthCheck) else list(rows)


def overall(checks: Iterable[HealthCheck]) -> str:
    checks = list(checks)
    if any(c.status == UNHEALTHY and c.critical for c in checks):
        return UNHEALTHY
    if any(c.status != HEALTHY for c in checks):
        return WARNING
    return HEALTHY
