"""The book: cash, positions, realised PnL, equity, daily PnL and drawdown."""

from tui_trader.portfolio.portfolio import Portfolio

__all__ = ["Portfolio"]
