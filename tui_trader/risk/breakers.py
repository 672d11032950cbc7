"""Portfolio loss breakers: daily loss -> reducing, drawdown -> emergency stop.

:meth:`RiskBreakers.update` is called with equity that *includes unrealised
PnL* (quote asset) whenever equity changes:

* ``daily_loss`` - ``(day_start_equity - equity) / day_start_equity * 100 >=
  max_daily_loss_percent`` trips once per UTC day (day = ``ts_ms // 86_400_000``)
  with target state ``REDUCING`` (severity ``warning``). It re-arms on the next
  UTC day; :meth:`RiskBreakers.daily_active` tells the engine whether today's
  trip still holds and :meth:`RiskBreakers.daily_rearmed` is its negation
  (``True`` on a new day = time to leave ``reducing``).
* ``drawdown`` - ``(peak_equity - equity) / peak_equity * 100 >=
  max_drawdown_percent`` trips once with target state ``EMERGENCY_STOPPED``
  (severity ``critical``). It stays latched until :meth:`RiskBreakers.rearm_drawdown`
  (call it on the operator's emergency reset; if the drawdown still holds at the
  next update it trips again - reset the peak first if that is not wanted).

Boundaries are inclusive, with ``PCT_EPS`` (1e-9 percentage points) of
tolerance against float rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tui_trader.clock import MS_PER_DAY
from tui_trader.config import Config
from tui_trader.models import EngineState

PCT_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class BreakerTrip:
    code: str  # daily_loss | drawdown
    target_state: EngineState
    message: str
    severity: str  # warning | critical (as RiskAlert.severity)
    ts_ms: int = 0
    value_pct: float = 0.0  # the loss / drawdown that tripped it, percent


def utc_day(ts_ms: int) -> int:
    """Days since the epoch (UTC) of ``ts_ms``."""
    return int(ts_ms) // MS_PER_DAY


class RiskBreakers:
    """Daily-loss and drawdown breakers on ``cfg.risk_management`` limits (percent)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._daily_trip_day: int | None = None
        self._drawdown_tripped = False
        self.last_daily_loss_pct = 0.0
        self.last_drawdown_pct = 0.0

    @property
    def drawdown_tripped(self) -> bool:
        return self._drawdown_tripped

    def daily_active(self, ts_ms: int) -> bool:
        """True when the daily-loss breaker tripped on the UTC day of ``ts_ms``."""
        return self._daily_trip_day is not None and self._daily_trip_day == utc_day(ts_ms)

    def daily_rearmed(self, ts_ms: int) -> bool:
        """True when the daily-loss breaker is not holding on the UTC day of ``ts_ms``
        (never tripped, or tripped on an earlier day): time to leave ``reducing``.
        Call it after :meth:`update` for the same ``ts_ms``, so a loss that still
        exceeds the limit on the new day trips again first."""
        return not self.daily_active(ts_ms)

    def note_daily_trip(self, ts_ms: int) -> None:
        """Record a daily-loss trip on the UTC day of ``ts_ms`` without an alert
        (restoring ``reducing`` from a previous run of the same day)."""
        self._daily_trip_day = utc_day(ts_ms)

    def rearm_drawdown(self) -> None:
        self._drawdown_tripped = False

    def update(self, ts_ms: int, equity: float, day_start_equity: float, peak_equity: float) -> list[BreakerTrip]:
        """Evaluate both breakers; returns the trips that fire *now* (each fires once).

        Raises ``ValueError`` for non-finite inputs or a negative ``day_start_equity`` /
        ``peak_equity``; a reference of 0 (an empty account: a live book starts from the
        exchange's free quote balance) measures no loss.
        """
        equity, day_start, peak = float(equity), float(day_start_equity), float(peak_equity)
        for name, v in (("equity", equity), ("day_start_equity", day_start), ("peak_equity", peak)):
            if not math.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v!r}")
        if day_start < 0 or peak < 0:
            raise ValueError(
                f"day_start_equity and peak_equity must not be negative, got {day_start!r} and {peak!r}"
            )
        rm = self.cfg.risk_management
        trips: list[BreakerTrip] = []

        # a reference of 0 (an empty account) has nothing to lose: no loss, no trip
        loss = (day_start - equity) / day_start * 100.0 if day_start > 0 else 0.0
        self.last_daily_loss_pct = loss
        day = utc_day(ts_ms)
        if self._daily_trip_day != day and loss >= rm.max_daily_loss_percent - PCT_EPS:
            self._daily_trip_day = day
            trips.append(BreakerTrip(
                "daily_loss", EngineState.REDUCING,
                f"Daily loss {loss:.2f}% reached the limit of {rm.max_daily_loss_percent:.2f}%: "
                "only exits until the next UTC day",
                "warning", int(ts_ms), loss,
            ))

        dd = (peak - equity) / peak * 100.0 if peak > 0 else 0.0
        self.last_drawdown_pct = dd
        if not self._drawdown_tripped and dd >= rm.max_drawdown_percent - PCT_EPS:
            self._drawdown_tripped = True
            trips.append(BreakerTrip(
                "drawdown", EngineState.EMERGENCY_STOPPED,
                f"Drawdown {dd:.2f}% from the equity peak reached the limit of "
                f"{rm.max_drawdown_percent:.2f}%: emergency stop",
                "critical", int(ts_ms), dd,
            ))
        return trips
