"""Risk management: sizing, pre-trade checks, loss breakers and the trading state machine."""

from tui_trader.risk.breakers import BreakerTrip, RiskBreakers
from tui_trader.risk.checks import PreTradeChecks, TradeContext
from tui_trader.risk.sizing import position_size
from tui_trader.risk.state import TradingStateMachine, order_refusal

__all__ = [
    "BreakerTrip",
    "PreTradeChecks",
    "RiskBreakers",
    "TradeContext",
    "TradingStateMachine",
    "order_refusal",
    "position_size",
]
