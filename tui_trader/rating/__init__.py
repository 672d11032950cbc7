"""Rating engine: performance scores -> game outcomes -> Glicko-2 -> rolling z-scores.

All functions work on numpy arrays indexed by symbol (float64).
"""

from tui_trader.rating.glicko2 import (
    confidence_interval,
    expected_score,
    g_factor,
    rate_period,
    rate_period_games,
)
from tui_trader.rating.matches import build_games, build_outcomes
from tui_trader.rating.performance import (
    performance_score,
    period_inputs,
    period_scores,
    price_change_pct,
    return_volatility,
    taker_ratio,
)
from tui_trader.rating.zscore import RollingZScore

__all__ = [
    "RollingZScore",
    "build_games",
    "build_outcomes",
    "confidence_interval",
    "expected_score",
    "g_factor",
    "performance_score",
    "period_inputs",
    "period_scores",
    "price_change_pct",
    "rate_period",
    "rate_period_games",
    "return_volatility",
    "taker_ratio",
]
