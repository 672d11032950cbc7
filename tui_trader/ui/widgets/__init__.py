"""Widgets of the console: tables, charts, status bar, log pane."""
