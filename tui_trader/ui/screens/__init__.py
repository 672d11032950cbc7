"""Screens of the console: main dashboard, symbol detail, help, dialogs, live gate."""
