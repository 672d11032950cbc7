"""Trading strategy: z-score signals (see :mod:`tui_trader.strategy.signals`)."""

from tui_trader.strategy.signals import SignalGenerator, actionable, prioritise

__all__ = ["SignalGenerator", "actionable", "prioritise"]
