"""The operator console (Textual). Nothing outside this package imports Textual.

Public entry points: :func:`tui_trader.ui.app.run_tui`, :class:`tui_trader.ui.app.TuiTraderApp`
and :func:`tui_trader.ui.launch.main_tui` (the CLI's ``tui`` subcommand). Import them
from their modules; this package stays import-light so ``tui_trader`` never pulls
Textual in by accident.
"""
