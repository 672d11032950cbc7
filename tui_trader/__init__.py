"""tui-trader: a terminal operator console for a Glicko-2 rated crypto trading bot."""

__version__ = "0.1.0"
